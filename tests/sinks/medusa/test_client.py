"""Credentials and reachability: the failures that stop a nightly run, and a login that outlives a day."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from etl.adapters import Context
from etl.errors import AuthError, SinkError
from etl.redact import redact
from etl.sinks.medusa import MedusaSink
from etl.sinks.medusa.client import MedusaClient, _jwt_expiry
from etl.sinks.medusa.config import Settings

from .harness import REPLAY_TOKEN, cassette, interactions, run_etl


def context() -> Context:
    return Context("test", Path("test.yaml"), Path("state"), logging.getLogger("etl.test"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_medusa_that_is_down_stops_the_run_after_the_retries():
    port = closed_port()
    waits: list[float] = []
    config = {"url": f"http://127.0.0.1:{port}", "api_key": "sk_test"}
    sink = MedusaSink(config, context(), sleep=waits.append)
    with pytest.raises(SinkError) as caught:
        sink.open()
    assert str(caught.value) == (f"cannot reach Medusa at http://127.0.0.1:{port}: connection refused "
                                 "(is it running? scripts/medusa-dev.sh up)")
    assert waits == [1.0, 2.0, 4.0]


def test_the_key_never_shows_in_what_is_printed():
    MedusaSink({"url": "http://127.0.0.1:1", "api_key": "sk_0123456789abcdef"}, context())
    assert redact("key sk_0123456789abcdef, header c2tfMDEyMzQ1Njc4OWFiY2RlZjo=") == "key ***, header ***"


@pytest.mark.parametrize("token, expected", [
    (REPLAY_TOKEN, 4102444800.0),
    ("not-a-jwt", 99.0),
    ("a.!!!.c", 99.0),
], ids=["exp claim", "not a JWT", "undecodable"])
def test_when_a_token_expires(token, expected):
    assert _jwt_expiry(token, default=99.0) == expected


def login_client(medusa, password: str | None = None, clock=None) -> MedusaClient:
    settings = Settings.from_config({"url": medusa.url, "email": medusa.email,
                                     "password": password or medusa.password})
    return MedusaClient(settings, sleep=lambda _: None, clock=clock or (lambda: 0.0))


def test_the_login_is_renewed_before_the_token_expires(medusa):
    now = [0.0]
    with cassette("medusa-login-renewal.yaml"):
        client = login_client(medusa, clock=lambda: now[0])
        client.get("/admin/stores", {"fields": "id"})
        client.get("/admin/stores", {"fields": "id"})
        now[0] = client.auth.expires - 60
        client.get("/admin/stores", {"fields": "id"})
    paths = [i.path for i in interactions("medusa-login-renewal.yaml")]
    assert paths == ["/auth/user/emailpass", "/admin/stores", "/admin/stores", "/auth/user/emailpass",
                     "/admin/stores"]


def test_a_wrong_password_stops_at_once(medusa):
    with cassette("medusa-login-rejected.yaml"), pytest.raises(AuthError) as caught:
        login_client(medusa, password="not-the-password").get("/admin/stores", {"fields": "id"})
    assert str(caught.value) == ("Medusa rejected the credentials (401): check the email and password of "
                                 f"{medusa.email}")
    assert [(i.path, i.status) for i in interactions("medusa-login-rejected.yaml")] == [
        ("/auth/user/emailpass", 401)]


@pytest.mark.parametrize("links, name, what", [
    ({"sales_channel_ids": ["sc_nope"]}, "medusa-unknown-sales-channel.yaml", "sales channel sc_nope"),
    ({"shipping_profile_id": "sp_nope"}, "medusa-unknown-shipping-profile.yaml", "shipping profile sp_nope"),
], ids=["sales channel (Medusa: 404)", "shipping profile (Medusa: 200 and {})"])
def test_links_named_in_the_spec_must_exist_before_anything_is_written(medusa, links, name, what):
    sink = MedusaSink({"url": medusa.url, "api_key": medusa.api_key, **links}, context())
    with cassette(name), pytest.raises(SinkError) as caught:
        sink.open()
    assert str(caught.value) == f"the sink's {what} does not exist in Medusa at {medusa.url}"


def test_a_large_list_is_read_in_larger_pages_after_the_first(medusa, store, tmp_path):
    """The first page is the usual size (a small store costs one cheap request); the first answer's count
    then lets the rest come in one page here, in pages of up to LARGE_PAGE_SIZE in a large store."""
    if store is not None:
        store.reset()
    with cassette("medusa-pages.yaml"):
        assert run_etl("run", medusa, tmp_path).exit_code == 0
        client = MedusaClient(Settings.from_config({"url": medusa.url, "api_key": medusa.api_key}))
        rows = list(client.pages("/admin/products", "products", {"fields": "id,external_id"}, page_size=50))
    assert sorted(int(row["external_id"]) for row in rows) == list(range(1, 195))
    assert len({row["id"] for row in rows}) == 194
    reads = [i.query for i in interactions("medusa-pages.yaml")
             if i.path == "/admin/products" and i.query.startswith("fields=id%2Cexternal_id&limit=")]
    assert [(q.split("limit=")[1].split("&")[0], q.split("offset=")[1].split("&")[0]) for q in reads] == \
        [("50", "0"), ("144", "50")]
