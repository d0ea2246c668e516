"""Shared fixtures: every test gets its own state directory; adapters have in-memory fakes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import vcr

from etl import registry
from etl.redact import _secrets

from .fakes import FakeSink, FakeSource

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "dummyjson"
CASSETTES = ROOT / "cassettes"
RECORD = os.environ.get("RECORD") == "1"
DUMMYJSON_RECORD_PORT = 18080


def make_vcr(**overrides) -> vcr.VCR:
    """Replays only (record_mode none: an unrecorded request fails) unless RECORD=1 (make record)."""
    options = dict(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORD else "none",
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=["authorization", "cookie", "set-cookie", "x-api-key"],
        decode_compressed_response=True,
    )
    options.update(overrides)
    return vcr.VCR(**options)


@pytest.fixture
def dummyjson_url() -> Iterator[str]:
    """The DummyJSON base URL the source cassettes were recorded at; when recording, our local server
    (faithful to the real API, serving the real catalogue) answers there."""
    url = f"http://127.0.0.1:{DUMMYJSON_RECORD_PORT}"
    if not RECORD:
        yield url
        return
    from .support.dummyjson import load_server_module

    server = load_server_module().make_server("127.0.0.1", DUMMYJSON_RECORD_PORT, None, rate_limit=False)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


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
