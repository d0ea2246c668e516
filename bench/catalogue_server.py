"""A synthetic DummyJSON catalogue of any size, fast enough that it is never what a benchmark measures.

`/n/<N>/products?limit=L&skip=S` answers with the DummyJSON envelope over N products cycled from the
recorded catalogue (ids 1..N, titles and SKUs made unique per cycle). Pages are serialised once, up front
for the sizes and page size given, so a request costs a dict lookup and a socket write; any other page size
is built on first use and then cached. Point a pipeline at it with `DUMMYJSON_URL=http://HOST:PORT/n/<N>`.

    python bench/catalogue_server.py --sizes 1000,10000,100000 [--limit 100] [--port 0] [--prefix bench]

The first line on stdout is `Serving catalogue on http://HOST:PORT` once every page is ready.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SEED = Path(__file__).resolve().parent.parent / "tests" / "data" / "dummyjson" / "products.json"
_ROUTE = re.compile(r"^/n/(\d+)/products/?$")


def synthetic_products(n: int, *, prefix: str = "", id_offset: int = 0, seed: Path = SEED) -> list[dict[str, Any]]:
    """N products cycled from the seed; the first cycle keeps its titles unless a prefix asks otherwise.

    Titles, SKUs and ids are what a store keys on, so each cycle gets its own; the prefix (on titles, SKUs,
    categories and tags) keeps a run's products apart from the real catalogue when they share a store.
    """
    base = json.loads(seed.read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        cycle, product = divmod(i, len(base))
        record = deepcopy(base[product])
        record["id"] = id_offset + i + 1
        suffix = f" {cycle + 1}" if cycle else ""
        head = f"{prefix} " if prefix else ""
        record["title"] = f"{head}{record['title']}{suffix}"
        sku_head = f"{prefix.upper()}-" if prefix else ""
        record["sku"] = f"{sku_head}{record['sku']}" + (f"-{cycle + 1}" if cycle else "")
        if prefix:
            record["category"] = f"{prefix}-{record['category']}"
            record["tags"] = [f"{prefix}-{tag}" for tag in record.get("tags") or []]
        out.append(record)
    return out


class Catalogue:
    """Pre-serialised pages per (size, page size); thread-safe lazy building for page sizes not prepared."""

    def __init__(self, sizes: list[int], limit: int, prefix: str = "", id_offset: int = 0):
        largest = max(sizes)
        self._products = synthetic_products(largest, prefix=prefix, id_offset=id_offset)
        self._sizes = set(sizes)
        self._pages: dict[tuple[int, int], list[bytes]] = {}
        self._lock = threading.Lock()
        for n in sizes:
            self.pages(n, limit)

    def pages(self, n: int, limit: int) -> list[bytes] | None:
        if n not in self._sizes or limit < 1:
            return None
        key = (n, limit)
        pages = self._pages.get(key)
        if pages is None:
            with self._lock:
                pages = self._pages.get(key)
                if pages is None:
                    pages = self._pages[key] = [self._page(n, skip, limit) for skip in range(0, n, limit)]
        return pages

    def _page(self, n: int, skip: int, limit: int) -> bytes:
        products = self._products[skip:min(skip + limit, n)]
        body = {"products": products, "total": n, "skip": skip, "limit": len(products)}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def answer(self, n: int, skip: int, limit: int) -> bytes | None:
        pages = self.pages(n, limit)
        if pages is None:
            return None
        if skip % limit == 0 and skip // limit < len(pages):
            return pages[skip // limit]
        products = self._products[skip:min(skip + limit, n)] if skip < n else []
        body = {"products": products, "total": n, "skip": skip, "limit": len(products)}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """Keep-alive, and each answer in one write on a TCP_NODELAY socket: headers and body sent apart would
    meet the client's delayed ACK, and the server would be the bottleneck it must never be."""

    protocol_version = "HTTP/1.1"
    catalogue: Catalogue

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = _ROUTE.match(parts.path)
        query = dict(parse_qsl(parts.query))
        body = None
        if match:
            try:
                limit, skip = int(query.get("limit", "30")), int(query.get("skip", "0"))
            except ValueError:
                limit, skip = -1, -1
            if limit > 0 and skip >= 0:
                body = self.catalogue.answer(int(match.group(1)), skip, limit)
        if body is None:
            self._send(404, b'{"message":"not found"}')
        else:
            self._send(200, body)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes) -> None:
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n")
        self.wfile.write(head.encode("ascii") + body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def make_server(host: str, port: int, catalogue: Catalogue) -> ThreadingHTTPServer:
    handler = type("CatalogueHandler", (Handler,), {"catalogue": catalogue})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sizes", default="1000,10000,100000", help="catalogue sizes, comma-separated")
    parser.add_argument("--limit", type=int, default=100, help="the page size to pre-serialise")
    parser.add_argument("--prefix", default="", help="prefix for titles and SKUs")
    parser.add_argument("--id-offset", type=int, default=0, help="ids start after this number")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    catalogue = Catalogue(sizes, args.limit, prefix=args.prefix, id_offset=args.id_offset)
    server = make_server(args.host, args.port, catalogue)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    print(f"Serving catalogue on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


@contextmanager
def running(sizes: list[int], limit: int, *, prefix: str = "", id_offset: int = 0) -> Iterator[str]:
    """The server in its own process, so it never shares a CPU core's time with what is measured;
    yields its base URL once every page is ready."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--sizes", ",".join(map(str, sizes)),
            "--limit", str(limit), "--prefix", prefix, "--id-offset", str(id_offset)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("Serving catalogue on "):
            raise RuntimeError(f"the catalogue server did not start: {line!r}")
        yield line.split(" on ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
