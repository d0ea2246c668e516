"""kill -9 on cue: `etl run` as a child process, as cron starts it, and a proxy in front of Medusa that kills it
at a chosen request, so every crash lands at the same place on every run of the tests.

A kill point is the nth request of a kind (e.g. the 3rd POST /admin/products/batch) and the moment it strikes:

    sent      the request reached the proxy; Medusa never sees it
    applied   Medusa applied it; its answer never reaches the run
    answered  the answer reached the run; it dies before its next request reaches Medusa

Nothing after the kill point is forwarded. The proxy keeps what Medusa applied, so a test can say exactly what
the store must hold after the crash.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import requests
import yaml

from tests.sinks.medusa.harness import PIPELINE, ROOT, Medusa

CATEGORIES = "/admin/product-categories"
PRODUCT_LIST = "/admin/products"
BATCH = "/admin/products/batch"
LAST = 0
"""As `nth` of a batch kill point: the last product batch of that run (read from the run's plan line)."""
BATCH_SIZE = int(yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))["sink"]["batch_size"])
RUN_TIMEOUT_S = 300
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}
_PLAN = re.compile(r"(\d+) products to create, (\d+) to update")

When = Literal["sent", "applied", "answered"]
Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class KillPoint:
    method: str
    path: str
    nth: int
    when: When

    def __str__(self) -> str:
        nth = "the last" if self.nth == LAST else f"#{self.nth}"
        return f"{self.method} {self.path} {nth}, {self.when}"


@dataclass
class Applied:
    """What Medusa accepted through the proxy: category handles created, product external_ids created, ids of
    the products updated."""

    categories: list[str] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)


@dataclass
class Finished:
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any]


class KillingProxy:
    def __init__(self, target: str, point: KillPoint, log: Path):
        self.target = target.rstrip("/")
        self.point = point
        self.log = log
        self.process: subprocess.Popen | None = None
        self.counts: Counter[tuple[str, str]] = Counter()
        self.applied = Applied()
        self.killed = False
        self.problem: str | None = None
        self._armed = threading.Event()
        self._dead = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"proxy": self}))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def arm(self, process: subprocess.Popen) -> None:
        self.process = process
        self._armed.set()

    def relay(self, handler: _Handler, method: str, path: str, headers: dict[str, str],
              body: bytes) -> Answer | None:
        """Medusa's answer, or None: the connection is then closed without one (the run is dead by then)."""
        self._armed.wait(RUN_TIMEOUT_S)
        route = path.split("?")[0]
        hit = False
        with self._lock:
            held = self._stopping
            if not held:
                self.counts[(method, route)] += 1
                hit = (method, route) == (self.point.method, self.point.path) and \
                    self.counts[(method, route)] == self._nth()
                self._stopping = hit
        if held:
            self._dead.wait(RUN_TIMEOUT_S)
            return None
        if not hit:
            return self._forward(method, path, route, headers, body)
        if self.point.when != "sent":
            answer = self._forward(method, path, route, headers, body)
            if self.point.when == "answered":
                handler.reply(answer)
        self._kill()
        return None

    def _nth(self) -> int:
        if self.point.nth != LAST:
            return self.point.nth
        if (self.point.method, self.point.path) != ("POST", BATCH):
            raise ValueError("only a product batch can be the last")
        found = _PLAN.search(self.log.read_text(encoding="utf-8"))
        if found is None:
            self.problem = "the run logged no plan line before its first batch"
            return -1
        return math.ceil((int(found.group(1)) + int(found.group(2))) / BATCH_SIZE)

    def _forward(self, method: str, path: str, route: str, headers: dict[str, str], body: bytes) -> Answer:
        upstream = requests.request(method, self.target + path, headers=headers, data=body or None, timeout=120)
        if upstream.status_code == 200 and method == "POST":
            sent = json.loads(body)
            if route == CATEGORIES:
                self.applied.categories.append(sent["handle"])
            elif route == BATCH:
                self.applied.creates.extend(str(p["external_id"]) for p in sent.get("create", []))
                self.applied.updates.extend(p["id"] for p in sent.get("update", []))
        return upstream.status_code, dict(upstream.headers), upstream.content

    def _kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.killed = True
        self._dead.set()

    def __enter__(self) -> KillingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._dead.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: KillingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = self.proxy.relay(self, self.command, self.path, headers, body)
        if answer is None:
            self.close_connection = True
            return
        self.reply(answer)

    def reply(self, answer: Answer) -> None:
        status, headers, content = answer
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = _relay


def _environment(medusa: Medusa, dummyjson: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDUSA_", "DUMMYJSON_", "ETL_"))}
    return {**env, **medusa.env(), "DUMMYJSON_URL": dummyjson, "ETL_STATE_DIR": str(workdir / "state")}


def _start(medusa: Medusa, dummyjson: str, workdir: Path, name: str) -> tuple[subprocess.Popen, Path, Path]:
    out, err = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    command = [sys.executable, "-m", "etl.cli", "run", str(PIPELINE), "--report", str(workdir / f"{name}.json")]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=_environment(medusa, dummyjson, workdir),
                                   stdout=stdout, stderr=stderr)
    return process, out, err


def run(medusa: Medusa, dummyjson: str, workdir: Path, name: str) -> Finished:
    """`etl run pipelines/dummyjson.yaml` to its end."""
    process, out, err = _start(medusa, dummyjson, workdir, name)
    code = process.wait(RUN_TIMEOUT_S)
    report = workdir / f"{name}.json"
    return Finished(code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"),
                    json.loads(report.read_text(encoding="utf-8")) if report.exists() else {})


def killed_run(medusa: Medusa, point: KillPoint, dummyjson: str, workdir: Path, name: str) -> Applied:
    """`etl run`, killed with SIGKILL at `point`; what Medusa applied before it died."""
    log = workdir / f"{name}.stderr"
    log.touch()
    with KillingProxy(medusa.url, point, log) as proxy:
        process, _, err = _start(Medusa(proxy.url, medusa.api_key, medusa.email, medusa.password), dummyjson,
                                 workdir, name)
        proxy.arm(process)
        code = process.wait(RUN_TIMEOUT_S)
    stderr = err.read_text(encoding="utf-8")
    assert proxy.killed and code == -signal.SIGKILL, (
        f"the run was not killed at {point} ({proxy.problem or f'it ended with exit {code}'}):\n{stderr}")
    return proxy.applied
