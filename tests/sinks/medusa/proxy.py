"""A forwarding proxy in front of the real Medusa that breaks chosen answers, the way a load balancer does.

Medusa itself never times out on cue, so the faults a nightly job must survive are injected here, between
the sink and a real Medusa: a write that Medusa applied but whose answer was lost (`forward=True` with a
504), or a route that keeps failing (`forward=False`). Everything else is Medusa's own answer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

UPSTREAM_MARK = "X-Test-Proxy-Upstream"
"""Set on the proxy's own requests to Medusa, so a recording keeps only what the sink sent."""
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Fault:
    method: str
    path: str
    status: int
    times: int = 1
    forward: bool = False
    """Send the request to Medusa first (so its effect is real), then answer `status` instead of Medusa."""
    body: dict[str, Any] | None = None
    """Only requests whose JSON body holds these items: the sink sends categories and tags several at a
    time, so "the first request to this route" is whichever thread got there first; "the tag with this
    value" is the same request in every run."""
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        return (self.hits < self.times and method == self.method and path.split("?")[0] == self.path
                and (self.body is None or _holds(body, self.body)))


def _holds(body: bytes, items: dict[str, Any]) -> bool:
    try:
        sent = json.loads(body)
    except ValueError:
        return False
    return isinstance(sent, dict) and all(sent.get(k) == v for k, v in items.items())


class MedusaProxy:
    def __init__(self, target: str, *faults: Fault):
        self.target = target.rstrip("/")
        self.faults = list(faults)
        self.seen: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"proxy": self}))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            fault = next((f for f in self.faults if f.matches(method, path, body)), None)
            if fault is not None:
                fault.hits += 1
        if fault is None or fault.forward:
            upstream = requests.request(method, self.target + path, headers={**headers, UPSTREAM_MARK: "1"},
                                        data=body or None, timeout=120)
            reply = (upstream.status_code, dict(upstream.headers), upstream.content)
        if fault is not None:
            message = {"message": f"injected {fault.status} by the test proxy", "type": "unknown_error"}
            reply = (fault.status, {"Content-Type": "application/json"}, json.dumps(message).encode())
        self.seen.append((method, path, reply[0]))
        return reply

    def __enter__(self) -> MedusaProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: MedusaProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        status, reply_headers, content = self.proxy.answer(self.command, self.path, headers, body)
        self.send_response(status)
        for name, value in reply_headers.items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = _relay
