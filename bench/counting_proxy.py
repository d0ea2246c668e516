"""A forwarding proxy that counts HTTP calls by kind (method and route), times them, and keeps the bodies of
one kind of call (the batches a sync sent, for the floor to replay).

It sits between a client under test and Medusa, so the client runs unchanged, as a separate process. Ids in
paths are folded (`/admin/products/prod_01H...` counts as `/admin/products/{id}`), so "calls by kind" reads
like a list of routes. Every client measured goes through it, so its small cost is the same for all.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
              "proxy-connection"}
_ID = re.compile(r"/[a-z]+_[0-9A-Z]{20,}")


def kind(method: str, path: str) -> str:
    return f"{method} {_ID.sub('/{id}', urlsplit(path).path)}"


class CountingProxy:
    def __init__(self, target: str, capture: str | None = None):
        self.target = target.rstrip("/")
        self.capture = capture
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.captured: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self, capture: str | None = None) -> None:
        with self._lock:
            self.calls = Counter()
            self.seconds = Counter()
            self.captured = []
            self.capture = capture

    def writes(self) -> int:
        """Calls that change the store: a login posts, but writes nothing."""
        return sum(n for k, n in self.calls.items()
                   if not k.startswith(("GET ", "HEAD ", "OPTIONS ")) and not k.startswith("POST /auth/"))

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        with self._lock:
            self.calls[kind(method, path)] += 1
            if self.capture and body and kind(method, path) == self.capture:
                self.captured.append((path, body))
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        started = time.perf_counter()
        upstream = session.request(method, self.target + path, headers=headers, data=body or None, timeout=600,
                                   allow_redirects=False)
        with self._lock:
            self.seconds[kind(method, path)] += time.perf_counter() - started
        kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        return upstream.status_code, kept, upstream.content

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Answers in one write on a TCP_NODELAY socket: headers and body sent apart would meet the client's
    delayed ACK and cost ~40 ms a call, more than many of the calls being measured."""

    protocol_version = "HTTP/1.1"
    proxy: CountingProxy

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            status, kept, content = self.proxy.forward(self.command, self.path, headers, body)
        except requests.RequestException as exc:
            status, kept, content = 502, [("Content-Type", "text/plain")], str(exc).encode()
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}".rstrip()]
        head += [f"{name}: {value}" for name, value in kept]
        head += [f"Content-Length: {len(content)}", "", ""]
        self.wfile.write("\r\n".join(head).encode("latin-1") + content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    def log_message(self, format: str, *args: Any) -> None:
        return None
