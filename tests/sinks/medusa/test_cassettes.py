"""Recorded traffic is committed: it must carry no credential, and replay wherever Medusa ran."""

from __future__ import annotations

import re

import pytest
import yaml

from .harness import CASSETTE_URL, CASSETTES, REPLAY_TOKEN, SCRUBBED, interactions

MEDUSA_CASSETTES = sorted(p.name for p in CASSETTES.glob("medusa-*.yaml"))
SECRET_KEY = re.compile(r"sk_[0-9a-f]{32,}")


def test_every_scenario_has_a_cassette():
    assert len(MEDUSA_CASSETTES) >= 10


@pytest.mark.parametrize("name", MEDUSA_CASSETTES)
def test_a_cassette_holds_no_credentials(name):
    text = (CASSETTES / name).read_text(encoding="utf-8")
    assert not SECRET_KEY.search(text), "a secret API key was recorded"
    data = yaml.safe_load(text)
    for entry in data["interactions"]:
        request, response = entry["request"], entry["response"]
        assert request["uri"].startswith(CASSETTE_URL + "/")
        assert not {h.lower() for h in request["headers"]} & {"authorization", "cookie", "x-api-key"}
        assert "set-cookie" not in {h.lower() for h in response["headers"]}
    for sent in interactions(name):
        if sent.path.startswith("/auth"):
            assert sent.body.get("password") == SCRUBBED
            if sent.status == 200:
                assert sent.answer["token"] == REPLAY_TOKEN
