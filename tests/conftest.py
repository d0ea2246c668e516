"""Shared fixtures: every test gets its own state directory; adapters have in-memory fakes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr

from etl import registry
from etl.redact import MASK, _secrets, is_secret_param, redact, redact_url

from .fakes import FakeSink, FakeSource

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "dummyjson"
CASSETTES = ROOT / "cassettes"
RECORD = os.environ.get("RECORD") == "1"
DUMMYJSON_RECORD_PORT = 18080


def make_vcr(**overrides) -> vcr.VCR:
    """Replays only (record_mode none: an unrecorded request fails) unless RECORD=1 (make record).

    A cassette keeps no credential: secret-looking query parameters and headers are masked, and every value
    registered as a secret is masked in URLs and bodies, both ways (after any hooks passed in)."""
    options = dict(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORD else "none",
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=["authorization", "cookie", "set-cookie", "x-api-key"],
        decode_compressed_response=True,
    )
    options.update(overrides)
    options["before_record_request"] = _then(options.get("before_record_request"), _scrub_request)
    options["before_record_response"] = _then(options.get("before_record_response"), _scrub_response)
    return vcr.VCR(**options)


def _then(first: Callable[[Any], Any] | None, second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if first is None:
        return second

    def both(value: Any) -> Any:
        value = first(value)
        return None if value is None else second(value)

    return both


def _scrub_text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return redact(value.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return value
    return redact(value) if isinstance(value, str) else value


def _scrub_request(request: Any) -> Any:
    request.uri = redact_url(request.uri)
    for name in list(request.headers):
        if is_secret_param(name):
            request.headers[name] = MASK
    if isinstance(request.body, (bytes, str)):
        request.body = _scrub_text(request.body)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body") or {}
    if "string" in body:
        body["string"] = _scrub_text(body["string"])
    for name, values in (response.get("headers") or {}).items():
        response["headers"][name] = [MASK if is_secret_param(name) else _scrub_text(v) for v in values]
    return response


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
