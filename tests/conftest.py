"""Shared fixtures: every test gets its own state directory; adapters have in-memory fakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etl import registry
from etl.redact import _secrets

from .fakes import FakeSink, FakeSource

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "dummyjson"


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_STATE_DIR", str(tmp_path / "state"))
    for name in [n for n in os.environ if n.startswith(("DUMMYJSON_", "MEDUSA_"))]:
        monkeypatch.delenv(name, raising=False)
    saved = set(_secrets)
    yield
    _secrets.clear()
    _secrets.update(saved)


@pytest.fixture
def fakes():
    """Registers the fake source and sink under the names `fake` for one test."""
    registry.sources.register("fake", FakeSource)
    registry.sinks.register("fake", FakeSink)
    FakeSource.records = []
    FakeSink.reset()
    yield FakeSource, FakeSink
    registry.sources._loaded.pop("fake", None)
    registry.sinks._loaded.pop("fake", None)


@pytest.fixture
def write_spec(tmp_path: Path):
    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
