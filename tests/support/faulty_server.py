"""A local HTTP server that misbehaves on cue, for testing how a client survives a bad network.

Each request is recorded, then answered with the `Reply` the handler returns. A handler is any callable
`Request -> Reply`, a list of replies served in order, or a `Script` (replies queued per path and query,
with an optional fallback):

    with FaultyServer([Reply.error(500), Reply.error(500), Reply.json({"ok": True})]) as server:
        ...                                                  # two 500s, then the answer
        assert [r.path for r in server.requests] == ["/x", "/x", "/x"]

    script = Script(fallback=catalogue(products)).on(
        "/products", {"skip": "30"}, Reply.error(500), Reply.rate_limited(retry_after=2))
    with FaultyServer(script) as server:                     # a paged catalogue whose page 2 fails twice
        ...

Faults: `Reply.error` (any status with a JSON message), `Reply.rate_limited` (429 with Retry-After in
seconds or as an HTTP date), `Reply.reset_mid_body` (headers promise more bytes than are sent, then the
connection closes, or resets with `rst=True`), `Reply.hang` (silence longer than the client's read
timeout), `Reply.truncated_json` (a complete HTTP response whose JSON is cut short), `Reply.raw` (any
body) and `Reply.unframed` (bytes sent as they are, no HTTP framing). Every response closes its connection, so
one request is one connection and a fault never leaks into the next request. A request nothing was
scripted for gets 501 with a message saying so.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.message import Message
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Request:
    """What the server saw; `headers` is case-insensitive, `query` keeps the last of repeated names."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_length: int | None = None
    delay: float = 0.0
    wire: bytes | None = None
    rst: bool = False

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls.raw(json.dumps(obj).encode(), status, {**JSON, **(headers or {})})

    @classmethod
    def raw(cls, body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status=status, body=body, headers=tuple((headers or {}).items()))

    @classmethod
    def error(cls, status: int = 500, message: str | None = None,
              headers: Mapping[str, str] | None = None) -> Reply:
        return cls.json({"message": message or HTTPStatus(status).phrase}, status, headers)

    @classmethod
    def rate_limited(cls, retry_after: float | datetime = 1) -> Reply:
        """429; a datetime is sent as an HTTP date, a number as whole seconds."""
        if isinstance(retry_after, datetime):
            value = format_datetime(retry_after.astimezone(timezone.utc), usegmt=True)
        else:
            value = str(int(retry_after))
        return cls.error(429, "request limit exceeded, please wait a few seconds", {"Retry-After": value})

    @classmethod
    def reset_mid_body(cls, partial: bytes, claimed_length: int, status: int = 200, *,
                       rst: bool = False) -> Reply:
        """Announces `claimed_length` bytes, sends `partial`, then closes (FIN), or resets (RST) if `rst`."""
        return replace(cls.raw(partial, status, JSON), content_length=claimed_length, rst=rst)

    @classmethod
    def hang(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Says nothing for `seconds`, then sends `then`, or closes without a response."""
        return replace(then or cls(wire=b""), delay=seconds)

    @classmethod
    def truncated_json(cls, obj: Any, keep: int | None = None, status: int = 200) -> Reply:
        """A well-framed response (Content-Length matches) whose JSON text stops after `keep` bytes."""
        text = json.dumps(obj).encode()
        return cls.raw(text[: len(text) // 2 if keep is None else keep], status, JSON)

    @classmethod
    def unframed(cls, data: bytes) -> Reply:
        """`data` goes on the socket as it is: a broken status line, a half header, nothing at all."""
        return cls(wire=data)


Handler = Callable[[Request], Reply]


def _not_scripted(request: Request) -> Reply:
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    target = f"{request.path}?{query}" if query else request.path
    return Reply.error(501, f"nothing scripted for {request.method} {target}")


class Script:
    """Replies queued per route, taken in order.

    A request takes the next reply of the first route whose path matches (None matches any path) and whose
    query items are all in the request's query, among routes with replies left. When none has, the fallback
    answers (by default a 501 that names the request).
    """

    def __init__(self, fallback: Handler | None = None):
        self.fallback = fallback or _not_scripted
        self._routes: list[tuple[str | None, dict[str, str], deque[Reply]]] = []

    def on(self, path: str | None, query: Mapping[str, str] | None = None, *replies: Reply) -> Script:
        self._routes.append((path, dict(query or {}), deque(replies)))
        return self

    def __call__(self, request: Request) -> Reply:
        for path, query, replies in self._routes:
            if replies and path in (None, request.path) and query.items() <= request.query.items():
                return replies.popleft()
        return self.fallback(request)


def catalogue(items: Sequence[Any], *, path: str = "/products", key: str = "products",
              default_limit: int = 30) -> Handler:
    """A well-behaved DummyJSON-style list endpoint: `skip`/`limit` (0 = all) and the same envelope."""

    def serve(request: Request) -> Reply:
        if request.path != path:
            return Reply.error(404, f"no route {request.path}")
        skip = int(request.query.get("skip") or 0)
        limit = int(request.query.get("limit") or default_limit)
        page = list(items[skip:]) if limit == 0 else list(items[skip: skip + limit])
        return Reply.json({key: page, "total": len(items), "skip": skip, "limit": len(page)})

    return serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-response is the point of most tests here, not an error."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    owner: FaultyServer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.close_connection = True
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Request(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                          self.headers, body)
        reply = self.owner.take(request)
        if reply.delay and self.owner.stopping.wait(reply.delay):
            return
        if reply.wire is not None:
            self.wfile.write(reply.wire)
        else:
            self.wfile.write(_head(reply) + (b"" if self.command == "HEAD" else reply.body))
        if reply.rst:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


def _head(reply: Reply) -> bytes:
    try:
        phrase = HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    length = len(reply.body) if reply.content_length is None else reply.content_length
    lines = [f"HTTP/1.1 {reply.status} {phrase}", *(f"{k}: {v}" for k, v in reply.headers),
             f"Content-Length: {length}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class FaultyServer:
    """Serves on 127.0.0.1 on a free port while inside `with`; `.url` has no trailing slash."""

    def __init__(self, handler: Handler | Sequence[Reply]):
        self.handler: Handler = handler if callable(handler) else Script().on(None, None, *handler)
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        handler_class = type("Handler", (_RequestHandler,), {"owner": self})
        self._server = _Server(("127.0.0.1", 0), handler_class)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="faulty-server",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            try:
                return self.handler(request)
            except Exception as error:
                return Reply.error(500, f"handler failed: {error!r}")

    def __enter__(self) -> FaultyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
