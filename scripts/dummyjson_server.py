"""A local stand-in for the DummyJSON products API, faithful to its quirks.

The nightly sync and its tests must run without internet, and a client is only as good as the server it
was tried against: this one reproduces the upstream parsing of `limit`/`skip` (JavaScript `Number()` then
`parseInt`), the envelope whose `limit` is the page size, case-sensitive stable sorting, silent `select`,
301s for trailing slashes, HTML 404s, weak ETags, gzip and the per-IP rate limit, so a client that copes
here copes with dummyjson.com.

    python scripts/dummyjson_server.py [--host 127.0.0.1] [--port 8000] [--data products.json]
                                       [--no-rate-limit] [--quiet]

`--port 0` picks a free port; the first line on stdout is always `Serving DummyJSON on http://HOST:PORT`.
From Python: `make_server(host, port, products)` returns a server with `.url`; run `serve_forever()` in
a thread and stop it with `shutdown()` then `server_close()`.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import hashlib
import html
import json
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "dummyjson" / "products.json"
CATEGORY_URL = "https://dummyjson.com/products/category/"
DEFAULT_LIMIT = "30"
MAX_DELAY_MS = 5000
JSON_TYPE = "application/json; charset=utf-8"
RATE_LIMITED = "request limit exceeded, please wait a few seconds"

_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)", re.ASCII)
_RADIX = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")
_LEADING_INT = re.compile(r"[+-]?\d+", re.ASCII)


class _Undefined:
    """JavaScript's `undefined`: a missing key, which compares and serialises unlike `null`."""

    def __repr__(self) -> str:
        return "undefined"


MISSING: Any = _Undefined()


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# JavaScript semantics the upstream server relies on without saying so.

def js_number(value: Any) -> float:
    """`Number(value)` for a query value: a repeated parameter arrives as a list, which is NaN."""
    if not isinstance(value, str):
        return math.nan
    text = value.strip(_JS_SPACE)
    if not text:
        return 0.0
    radix = _RADIX.fullmatch(text)
    if radix:
        base, digits = next((k, v) for k, v in radix.groupdict().items() if v)
        return float(int(digits, {"x": 16, "o": 8, "b": 2}[base]))
    if not _DECIMAL.fullmatch(text):
        return math.nan
    return float(text.replace("Infinity", "inf"))


def js_parse_int(value: Any) -> int | None:
    """`parseInt(value, 10)`; None stands for NaN."""
    match = _LEADING_INT.match(value.lstrip(_JS_SPACE)) if isinstance(value, str) else None
    return int(match.group()) if match else None


def js_truthy(value: Any) -> bool:
    if value is MISSING or value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def _js_string(value: Any) -> str:
    if value is None or value is MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(_js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_primitive(value: Any) -> Any:
    return _js_string(value) if isinstance(value, (list, dict)) else value


def _js_to_number(value: Any) -> float:
    if value is MISSING:
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, str):
        return js_number(value)
    return float(value)


def js_less(a: Any, b: Any) -> bool:
    """`a < b`: strings compare by UTF-16 code unit, anything else as numbers, NaN never compares."""
    a, b = _js_primitive(a), _js_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a.encode("utf-16-be") < b.encode("utf-16-be")
    return _js_to_number(a) < _js_to_number(b)


def js_strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)) or MISSING in (a, b) or None in (a, b):
        return a is b
    if isinstance(a, str) != isinstance(b, str) or isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def js_sort(items: list[dict], field: str, order: str) -> list[dict]:
    """The upstream comparator, fed to the same TimSort V8 uses, so even odd fields order the same way."""

    def compare(a: dict, b: dict) -> int:
        x, y = a.get(field, MISSING), b.get(field, MISSING)
        if js_strict_equal(x, y):
            return 0
        if order == "asc":
            return 1 if js_less(y, x) else -1
        return 1 if js_less(x, y) else -1

    if not any(field in item for item in items):
        return items
    return sorted(items, key=functools.cmp_to_key(compare))


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _js_float(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


# The catalogue and the query options, as the upstream request cleaner and controller handle them.

class Catalogue:
    """The products in file order, each serialised once so a full page is a join, not a dump."""

    def __init__(self, products: Sequence[dict]):
        self.products = list(products)
        self.by_id = {str(p["id"]): p for p in self.products}
        self._json = {id(p): dumps(p) for p in self.products}
        slugs = list(dict.fromkeys(p["category"] for p in self.products))
        self.category_list = dumps(slugs)
        self.categories = dumps([{"slug": s, "name": _title(s), "url": CATEGORY_URL + s} for s in slugs])

    @classmethod
    def load(cls, path: str | Path) -> Catalogue:
        return cls(json.loads(Path(path).read_text(encoding="utf-8"), parse_float=_js_float))

    def page(self, products: list[dict], options: Options) -> bytes:
        """Processing order as upstream: filter (done by the caller), total, sort, skip, limit, select."""
        total = len(products)
        if options.sort_by is not None:
            products = js_sort(products, options.sort_by, options.order)
        if options.skip is not None and options.skip > 0:
            products = products[options.skip:]
        limit = options.limit
        if limit is None:
            products = []
        elif limit != 0 and limit <= len(products):
            products = products[:limit]
        if options.select:
            rows = [dumps(subset(p, options.select)) for p in products]
        else:
            rows = [self._json[id(p)] for p in products]
        tail = dumps({"total": total, "skip": options.skip, "limit": len(rows)})
        return b'{"products":[' + b",".join(rows) + b"]," + tail[1:]

    def one(self, product: dict, options: Options) -> bytes:
        return dumps(subset(product, options.select)) if options.select else self._json[id(product)]


def _title(slug: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in slug.split("-"))


def subset(product: dict, keys: Iterable[str]) -> dict:
    return {key: product[key] for key in dict.fromkeys(keys) if key in product}


class Options:
    """Query parameters checked in upstream order; a repeated parameter is a list, as Express parses it."""

    def __init__(self, query: dict[str, str | list[str]]):
        limit, skip = query.get("limit", DEFAULT_LIMIT), query.get("skip", "0")
        if math.isnan(js_number(limit)):
            raise ApiError(400, "Invalid 'limit' - must be a number")
        if math.isnan(js_number(skip)):
            raise ApiError(400, "Invalid 'skip' - must be a number")
        q = query.get("q", "")
        if not isinstance(q, str):
            raise ApiError(400, "Invalid 'q' - must be a string")
        delay = query.get("delay")
        if delay:
            if math.isnan(js_number(delay)):
                raise ApiError(400, "Delay must be a number in milliseconds")
            if js_number(delay) > MAX_DELAY_MS:
                raise ApiError(400, "Delay cannot be greater than 5 seconds")
            if js_number(delay) < 0:
                raise ApiError(400, "Delay cannot be less than 0")
        select = query.get("select")
        sort_by, order = query.get("sortBy"), query.get("order")
        if order and sort_by:
            if not isinstance(order, str):
                raise ApiError(500, "order.toLowerCase is not a function")
            order = order.lower()
            if order not in ("asc", "desc"):
                raise ApiError(400, "Order can be: 'asc' or 'desc'")
        self.limit = js_parse_int(limit)
        self.skip = js_parse_int(skip)
        self.delay_ms = js_parse_int(delay) or 0
        self.q = q.strip(_JS_SPACE).lower().replace("-", " ")
        if isinstance(select, list):
            self.select: list[str] | None = ["id", *select]
        else:
            self.select = ["id", *select.split(",")] if select else None
        self.sort_by = ",".join(sort_by) if isinstance(sort_by, list) else sort_by
        self.order = order if isinstance(order, str) and order else "asc"


def parse_query(raw: str) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        seen = query.get(key)
        query[key] = value if seen is None else [*seen, value] if isinstance(seen, list) else [seen, value]
    return query


# HTTP.

class RateLimiter:
    """A fixed window per client IP, like express-rate-limit: every request counts, refused ones too."""

    def __init__(self, limit: int = 100, window: float = 10.0):
        self.limit, self.window = limit, window
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, ip: str) -> tuple[bool, list[tuple[str, str]]]:
        now = time.time()
        with self._lock:
            start, count = self._hits.get(ip, (now, 0))
            if now >= start + self.window:
                start, count = now, 0
            count += 1
            self._hits[ip] = (start, count)
        headers = [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(max(0, self.limit - count))),
            ("X-RateLimit-Reset", str(math.ceil(start + self.window))),
        ]
        if count > self.limit:
            headers.append(("Retry-After", str(math.ceil(self.window))))
        return count <= self.limit, headers


def weak_etag(body: bytes) -> str:
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag.removeprefix("W/") for t in tags)


def _wants_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=")
            return not params or js_number(q) > 0
    return False


@functools.lru_cache(maxsize=32)
def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: DummyJSONServer

    def version_string(self) -> str:
        return "DummyJSON"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _serve(self, method: str) -> None:
        self._extra: list[tuple[str, str]] = []
        body = self._read_body()
        if self.server.limiter:
            allowed, headers = self.server.limiter.hit(self.client_address[0])
            self._extra += headers
            if not allowed:
                self._json(method, 429, dumps({"message": RATE_LIMITED}))
                return
        path, _, raw_query = self.path.partition("?")
        if path.endswith("/") and len(path) > 1:
            location = re.sub("/+", "/", path[:-1]) + self.path[len(path):]
            self._send(method, 301, f"Moved Permanently. Redirecting to {location}".encode(),
                       "text/plain; charset=utf-8", [("Location", location)])
            return
        try:
            options = Options(parse_query(raw_query))
            if options.delay_ms > 0:
                time.sleep(options.delay_ms / 1000)
            content_type = self.headers.get("Content-Type", "")
            found = route(self.server.catalogue, method, path, options, body, content_type)
        except ApiError as error:
            self._json(method, error.status, dumps({"message": str(error)}))
            return
        except Exception as error:  # the upstream error middleware answers 500 with the error text
            self._json(method, 500, dumps({"message": str(error)}))
            return
        if found is None:
            verb = "GET" if method == "HEAD" else method
            page = _NOT_FOUND.format(html.escape(f"{verb} {path}")).encode()
            self._send(method, 404, page, "text/html; charset=utf-8", _HTML_HEADERS)
            return
        self._json(method, *found)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, method: str, status: int, body: bytes) -> None:
        etag = weak_etag(body)
        headers = [("ETag", etag)]
        conditional = method in ("GET", "HEAD") and 200 <= status < 300
        if conditional and _matches(self.headers.get("If-None-Match", ""), etag):
            self._send(method, 304, b"", None, headers)
            return
        headers.append(("Vary", "Accept-Encoding"))
        if body and method != "HEAD" and _wants_gzip(self.headers.get("Accept-Encoding", "")):
            body = _gzip(body)
            headers.append(("Content-Encoding", "gzip"))
        self._send(method, status, body, JSON_TYPE, headers)

    def _send(self, method: str, status: int, body: bytes, content_type: str | None,
              headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in [*headers, *self._extra]:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and status != 304:
            self.wfile.write(body)


_HTML_HEADERS = [("Content-Security-Policy", "default-src 'none'"), ("X-Content-Type-Options", "nosniff")]
_NOT_FOUND = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Error</title>
</head>
<body>
<pre>Cannot {}</pre>
</body>
</html>
"""


def route(catalogue: Catalogue, method: str, path: str, options: Options, body: bytes,
          content_type: str) -> tuple[int, bytes] | None:
    """(status, JSON body) for a products route; None when nothing matches, which is an HTML 404."""
    parts = [unquote(p) for p in path.split("/")[1:]]
    if not parts or parts[0].lower() not in ("products", "product"):
        return None
    rest, verb = parts[1:], "GET" if method == "HEAD" else method
    head = rest[0].lower() if rest else None
    if verb == "GET":
        if not rest:
            return 200, catalogue.page(catalogue.products, options)
        if len(rest) == 1 and head == "search":
            found = [p for p in catalogue.products
                     if options.q in p["title"].lower() or options.q in p["description"].lower()]
            return 200, catalogue.page(found, options)
        if len(rest) == 1 and head == "category-list":
            return 200, catalogue.category_list
        if len(rest) == 1 and head == "categories":
            return 200, catalogue.categories
        if len(rest) == 1:
            return 200, catalogue.one(_product(catalogue, rest[0]), options)
        if len(rest) == 2 and head == "category":
            slug = rest[1].lower()
            found = [p for p in catalogue.products if p["category"].lower() == slug]
            return 200, catalogue.page(found, options)
        return None
    if verb == "POST" and len(rest) == 1 and head == "add":
        return 201, dumps(_pick({**_payload(body, content_type), "id": len(catalogue.products) + 1}))
    if verb in ("PUT", "PATCH") and len(rest) == 1:
        product, data = _product(catalogue, rest[0]), _payload(body, content_type)
        changed = {k: data[k] if js_truthy(data.get(k, MISSING)) else product.get(k, MISSING)
                   for k in _ECHOED}
        return 200, dumps(_pick({"id": int(rest[0]), **changed}))
    if verb == "DELETE" and len(rest) == 1:
        deleted_on = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return 200, dumps({**_product(catalogue, rest[0]), "isDeleted": True, "deletedOn": deleted_on})
    return None


_ECHOED = ("title", "price", "discountPercentage", "stock", "rating", "images", "thumbnail", "description",
           "brand", "category")


def _product(catalogue: Catalogue, product_id: str) -> dict:
    product = catalogue.by_id.get(product_id)
    if product is None:
        raise ApiError(404, f"Product with id '{product_id}' not found")
    return product


def _payload(body: bytes, content_type: str) -> dict:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" and body.strip():
        try:
            data = json.loads(body)
        except ValueError as error:
            raise ApiError(400, f"Unexpected token in JSON: {error}") from None
        return data if isinstance(data, dict) else {}
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_query(body.decode("utf-8", "replace")))
    return {}


def _pick(data: dict) -> dict:
    return {"id": data["id"], **{k: data[k] for k in _ECHOED if data.get(k, MISSING) is not MISSING}}


class DummyJSONServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], catalogue: Catalogue, *, rate_limit: bool, quiet: bool):
        self.catalogue, self.quiet = catalogue, quiet
        self.limiter: RateLimiter | None = RateLimiter() if rate_limit else None
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.quiet and not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


def make_server(host: str = "127.0.0.1", port: int = 0, products: str | Path | Sequence[dict] | None = None,
                rate_limit: bool = True, quiet: bool = True) -> DummyJSONServer:
    """A bound server, not yet serving; `products` is a data file (default: tests/data's copy) or records."""
    if products is None or isinstance(products, (str, Path)):
        catalogue = Catalogue.load(products or DEFAULT_DATA)
    else:
        catalogue = Catalogue(products)
    return DummyJSONServer((host, port), catalogue, rate_limit=rate_limit, quiet=quiet)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the DummyJSON products API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="products JSON file")
    parser.add_argument("--rate-limit", action=argparse.BooleanOptionalAction, default=True,
                        help="100 requests per 10 s per client IP, then 429 (default: on)")
    parser.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.data, rate_limit=args.rate_limit, quiet=args.quiet)
    print(f"Serving DummyJSON on {server.url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
