"""Running the nightly pipeline in-process against Medusa, recorded or replayed.

Cassettes hold only Medusa's traffic (paths under /admin and /auth); the DummyJSON stand-in is ours and runs
in every test. Recorded requests are rewritten to one base URL (http://127.0.0.1:9000), so a replay does not
care where Medusa ran; credentials are dropped from headers, passwords and tokens from bodies.

    RECORD=1 pytest tests/sinks/medusa     re-records every cassette from the Medusa that
                                           scripts/medusa-dev.sh runs (make record)
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import vcr
import yaml
from click.testing import CliRunner
from requests.adapters import HTTPAdapter
from vcr.errors import CannotOverwriteExistingCassetteException

from etl.cli import main
from tests.support.dummyjson import serve_dummyjson

from .proxy import UPSTREAM_MARK

ROOT = Path(__file__).resolve().parents[3]
CASSETTES = ROOT / "cassettes"
PIPELINE = ROOT / "pipelines" / "dummyjson.yaml"
PRODUCTS = json.loads((ROOT / "tests" / "data" / "dummyjson" / "products.json").read_text(encoding="utf-8"))
RECORDING = os.environ.get("RECORD") == "1"
CASSETTE_URL = "http://127.0.0.1:9000"
SCRUBBED = "***"
_ENV_AT_IMPORT = {k: v for k, v in os.environ.items() if k.startswith("MEDUSA_")}


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2NydWJiZWQ"


REPLAY_TOKEN = _jwt({"actor_id": "user_scrubbed", "actor_type": "user", "exp": 4102444800})


@dataclass(frozen=True)
class Medusa:
    """Where the tests find Medusa: the real one when recording or live, the cassettes' one otherwise."""

    url: str
    api_key: str = field(repr=False)
    email: str = ""
    password: str = field(default="", repr=False)

    def env(self) -> dict[str, str]:
        return {"MEDUSA_URL": self.url, "MEDUSA_API_KEY": self.api_key,
                "MEDUSA_ADMIN_EMAIL": self.email, "MEDUSA_ADMIN_PASSWORD": self.password}


REPLAY = Medusa(CASSETTE_URL, "sk_replay_not_a_key", "admin@example.com", "replay-password")


def real_medusa() -> Medusa:
    """MEDUSA_URL and MEDUSA_API_KEY from the environment, else from `scripts/medusa-dev.sh env`."""
    env = dict(_ENV_AT_IMPORT)
    if not env.get("MEDUSA_API_KEY"):
        out = subprocess.run(["bash", str(ROOT / "scripts" / "medusa-dev.sh"), "env"], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'\"")
    return Medusa(env["MEDUSA_URL"].rstrip("/"), env["MEDUSA_API_KEY"],
                  env.get("MEDUSA_ADMIN_EMAIL", "admin@example.com"), env.get("MEDUSA_ADMIN_PASSWORD", ""))


def _medusa_only(request: Any) -> Any:
    parts = urlsplit(request.uri)
    if not parts.path.startswith(("/admin", "/auth")) or UPSTREAM_MARK in request.headers:
        return None
    fixed = urlsplit(CASSETTE_URL)
    request.uri = urlunsplit((fixed.scheme, fixed.netloc, parts.path, parts.query, ""))
    if parts.path.startswith("/auth") and request.body:
        body = json.loads(request.body)
        if isinstance(body, dict) and "password" in body:
            body["password"] = SCRUBBED
            request.body = json.dumps(body).encode()
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() != "set-cookie"}
    text = response["body"]["string"]
    if b'"token"' in text:
        body = json.loads(text)
        if isinstance(body, dict) and "token" in body:
            body["token"] = REPLAY_TOKEN
            response["body"]["string"] = json.dumps(body).encode()
    return response


def _same_body(r1: Any, r2: Any) -> None:
    """Bodies compared as JSON, without vcrpy's diff of every mismatch (slow on 30 kB batch bodies)."""
    if _decode(r1.body) != _decode(r2.body):
        raise AssertionError("the bodies differ")


def recorder() -> vcr.VCR:
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORDING else "none",
        match_on=["method", "path", "query", "json_body"],
        filter_headers=["authorization", "cookie", "x-api-key"],
        before_record_request=_medusa_only,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("json_body", _same_body)
    return recorder


@dataclass
class Interaction:
    method: str
    path: str
    query: str
    body: Any
    status: int
    answer: Any


def interactions(name: str) -> list[Interaction]:
    """A cassette as what was sent and what Medusa answered, bodies decoded."""
    data = yaml.safe_load((CASSETTES / name).read_text(encoding="utf-8"))
    out = []
    for entry in data["interactions"]:
        request, response = entry["request"], entry["response"]
        parts = urlsplit(request["uri"])
        out.append(Interaction(request["method"], parts.path, parts.query, _decode(request["body"]),
                               response["status"]["code"], _decode(response["body"]["string"])))
    return out


def _decode(body: Any) -> Any:
    if body in (None, "", b""):
        return None
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body


@dataclass
class SyncResult:
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.report[k] for k in ("fetched", "created", "updated", "unchanged", "failed")}


def run_etl(command: str, medusa: Medusa, workdir: Path, *args: str, products: Sequence[dict] | None = None,
            pipeline: Path = PIPELINE) -> SyncResult:
    """`etl COMMAND pipeline ARGS` as cron runs it, with the catalogue served on 127.0.0.1."""
    report = workdir / f"report-{len(list(workdir.glob('report-*.json')))}.json"
    extra = ["--report", str(report)] if command == "run" else []
    with serve_dummyjson(list(products) if products is not None else None) as dummyjson:
        env = {**medusa.env(), "DUMMYJSON_URL": dummyjson}
        result = CliRunner().invoke(main, [command, str(pipeline), *extra, *args], env=env,
                                    catch_exceptions=False)
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return SyncResult(result.exit_code, result.stdout, result.stderr, data)


_VCR_LOCK = threading.Lock()


@contextmanager
def one_request_at_a_time() -> Iterator[list[str]]:
    """The sink sends a few requests at once (categories and tags), but vcrpy is not thread-safe: to build a
    connection, or to record, it puts the real connection classes back for the whole process for a moment,
    and a request another thread sends meanwhile goes to the real server, unrecorded, or in a replay to
    whatever listens on the cassette's port. So the sink's requests go through vcrpy one at a time, each
    still matched by its own method, path, query and body; its threads run concurrently all the same. The
    fault proxy's own requests to Medusa are left out: the sink request they serve holds the lock.

    Yields the requests a replay did not find in the cassette: the sink may have met the error in a worker
    thread and set it aside, behind an earlier failure, so the run alone would not show it."""
    send = HTTPAdapter.send
    unrecorded: list[str] = []

    def one_at_a_time(adapter: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        if UPSTREAM_MARK in request.headers:
            return send(adapter, request, *args, **kwargs)
        with _VCR_LOCK:
            try:
                return send(adapter, request, *args, **kwargs)
            except CannotOverwriteExistingCassetteException:
                unrecorded.append(f"{request.method} {request.url} {request.body!r}")
                raise

    HTTPAdapter.send = one_at_a_time  # type: ignore[method-assign]
    try:
        yield unrecorded
    finally:
        HTTPAdapter.send = send  # type: ignore[method-assign]


@contextmanager
def cassette(name: str) -> Iterator[Any]:
    """Replays `cassettes/NAME`. When recording, records afresh and replaces the file only if the run
    raised nothing. In replay every recorded request must be made again: a run that skips a request the
    real Medusa saw has changed behaviour."""
    path = CASSETTES / name
    target = path.with_name(f".{name}.recording") if RECORDING else path
    if RECORDING:
        target.unlink(missing_ok=True)
    with one_request_at_a_time() as unrecorded, \
            recorder().use_cassette(str(target), allow_playback_repeats=False) as cas:
        yield cas
    if RECORDING:
        target.replace(path)
    else:
        assert not unrecorded, f"{name}: requests not in the cassette: {unrecorded}"
        assert cas.all_played, f"{name}: {len(cas.data) - cas.play_count} recorded requests were not made"


NEW_PRICES = ("3", "42", "77", "120", "150")
"""The nights after the first: these five products get a new price, GONE leaves the source."""
GONE = "100"
DRAFT = ("--set", "prune.action=draft")


def catalogue(raised: tuple[str, ...] = (), without: tuple[str, ...] = ()) -> list[dict]:
    """The real catalogue with the prices of `raised` up by 1 and the products `without` gone."""
    products = copy.deepcopy(PRODUCTS)
    for product in products:
        if str(product["id"]) in raised:
            product["price"] = round(product["price"] + 1, 2)
    return [p for p in products if str(p["id"]) not in without]
