"""The local DummyJSON server behaves as DUMMYJSON.md says dummyjson.com does, checked against the data."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.support.dummyjson import SCRIPT, load_server_module, serve_dummyjson

DATA = Path(__file__).resolve().parents[1] / "data" / "dummyjson"
PRODUCTS: list[dict[str, Any]] = json.loads((DATA / "products.json").read_text(encoding="utf-8"))
CATEGORIES: list[dict[str, str]] = json.loads((DATA / "categories.json").read_text(encoding="utf-8"))
IDS = [p["id"] for p in PRODUCTS]
ECHOED = ("title", "price", "discountPercentage", "stock", "rating", "images", "thumbnail", "description",
          "brand", "category")


@dataclass
class Got:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(base: str, target: str, method: str = "GET", headers: dict[str, str] | None = None,
          body: bytes | None = None) -> Got:
    """http.client, not requests: redirects are not followed and gzip is not undone behind our back."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Got(response.status, response.headers, response.read())
    finally:
        conn.close()


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def pick(product: dict, *keys: str) -> dict:
    return {k: product[k] for k in dict.fromkeys(("id", *keys)) if k in product}


def search(q: str) -> list[dict]:
    needle = q.strip().lower().replace("-", " ")
    return [p for p in PRODUCTS if needle in p["title"].lower() or needle in p["description"].lower()]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_dummyjson() as url:
        yield url


def test_the_whole_catalogue_is_served_compact_in_file_order(base: str) -> None:
    got = fetch(base, "/products?limit=0")
    assert (got.status, got.headers["Content-Type"]) == (200, "application/json; charset=utf-8")
    assert got.body == compact({"products": PRODUCTS, "total": 194, "skip": 0, "limit": 194})
    assert (len(PRODUCTS), IDS) == (194, list(range(1, 195)))


def test_paging_at_30_takes_7_requests_and_the_last_page_reports_its_own_size(base: str) -> None:
    pages, skip = [], 0
    while True:
        page = fetch(base, f"/products?limit=30&skip={skip}").json()
        pages.append(page)
        skip += len(page["products"])
        if not page["products"] or skip >= page["total"]:
            break
    assert [p["skip"] for p in pages] == list(range(0, 181, 30))
    assert [p["limit"] for p in pages] == [30] * 6 + [len(PRODUCTS) - 180]
    assert {p["total"] for p in pages} == {len(PRODUCTS)}
    assert [x["id"] for p in pages for x in p["products"]] == IDS


@pytest.mark.parametrize(
    ("query", "ids", "skip"),
    [
        ("", IDS[:30], 0),
        ("limit=0", IDS, 0),
        ("limit=1000", IDS, 0),
        ("limit=2.7", IDS[:2], 0),
        ("limit=1e1", IDS[:1], 0),
        ("limit=0x10", IDS, 0),
        ("limit=%205%20", IDS[:5], 0),
        ("limit=", [], 0),
        ("limit=-5", IDS[:-5], 0),
        ("limit=-500", [], 0),
        ("skip=-3&limit=2", IDS[:2], -3),
        ("skip=2.9&limit=2", IDS[2:4], 2),
        ("skip=1e2&limit=1", IDS[1:2], 1),
        ("skip=0x10&limit=1", IDS[:1], 0),
        ("skip=", IDS[:30], None),
        ("skip=190&limit=10", IDS[190:], 190),
        ("skip=194", [], 194),
        ("skip=1000&limit=5", [], 1000),
    ],
)
def test_limit_and_skip_parse_like_javascript(base: str, query: str, ids: list[int], skip: int | None):
    page = fetch(base, f"/products?{query}&select=id").json()
    assert page == {"products": [{"id": i} for i in ids], "total": 194, "skip": skip, "limit": len(ids)}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/products/1?select=title,price", pick(PRODUCTS[0], "title", "price")),
        ("/products/1?select=price,id,nope,title,price", pick(PRODUCTS[0], "price", "title")),
        ("/products/16?select=brand", {"id": 16}),
        ("/products/1?select=", PRODUCTS[0]),
        ("/products/1?select=dimensions.width", {"id": 1}),
        ("/products?limit=2&select=title&select=brand", [pick(p, "title", "brand") for p in PRODUCTS[:2]]),
        ("/products/category/groceries?limit=2&select=brand,sku", [pick(p, "sku") for p in PRODUCTS if
                                                                 p["category"] == "groceries"][:2]),
    ],
)
def test_select_puts_id_first_and_drops_what_does_not_exist(base: str, target: str, expected: Any) -> None:
    got = fetch(base, target).json()
    got = got["products"] if isinstance(expected, list) else got
    assert got == expected
    assert [list(x) for x in (got if isinstance(got, list) else [got])] == [
        list(x) for x in (expected if isinstance(expected, list) else [expected])
    ]


def ordered(products: list[dict], key: str | None, reverse: bool = False) -> list[int]:
    chosen = sorted(products, key=lambda p: p[key], reverse=reverse) if key else products
    return [p["id"] for p in chosen]


@pytest.mark.parametrize(
    ("target", "ids"),
    [
        ("/products?sortBy=title", ordered(PRODUCTS, "title")),
        ("/products?sortBy=title&order=DESC", ordered(PRODUCTS, "title", reverse=True)),
        ("/products?sortBy=price&order=desc", ordered(PRODUCTS, "price", reverse=True)),
        ("/products?sortBy=stock&order=Asc", ordered(PRODUCTS, "stock")),
        ("/products?sortBy=rating", ordered(PRODUCTS, "rating")),
        ("/products?sortBy=nope&order=desc", IDS),
        ("/products?sortBy=dimensions.width", IDS),
        ("/products?order=desc", IDS),
        ("/products?order=sideways", IDS),
        ("/products/search?q=phone&sortBy=price", ordered(search("phone"), "price")),
        ("/products/category/smartphones?sortBy=rating&order=desc",
         ordered([p for p in PRODUCTS if p["category"] == "smartphones"], "rating", reverse=True)),
    ],
)
def test_sorting_is_server_side_stable_and_case_sensitive(base: str, target: str, ids: list[int]) -> None:
    page = fetch(base, f"{target}&limit=0&select=id").json()
    assert [p["id"] for p in page["products"]] == ids


def test_sorting_happens_before_skip_and_puts_digits_then_capitals_then_lowercase_first(base: str) -> None:
    by_title = ordered(PRODUCTS, "title")
    page = fetch(base, "/products?sortBy=title&skip=10&limit=5&select=title").json()
    assert [p["id"] for p in page["products"]] == by_title[10:15]
    titles = [p["title"] for p in fetch(base, "/products?sortBy=title&limit=0").json()["products"]]
    assert titles[0] == "300 Touring"
    assert titles[-1][0].islower() and titles[-2][0].islower()
    stock = [(p["stock"], p["id"]) for p in fetch(base, "/products?sortBy=stock&limit=0").json()["products"]]
    assert stock == sorted(stock) and len({s for s, _ in stock}) < len(stock)


@pytest.mark.parametrize(
    "q", ["phone", "PHONE", "  phone ", "lash-princess", "long-lasting", "sautéing", "", "zzzz"]
)
def test_search_matches_title_or_description_ignoring_case(base: str, q: str) -> None:
    page = fetch(base, f"/products/search?q={quote(q)}&limit=0&select=id").json()
    expected = search(q)
    assert page == {"products": [{"id": p["id"]} for p in expected], "total": len(expected), "skip": 0,
                    "limit": len(expected)}


def test_search_totals_from_the_reference(base: str) -> None:
    assert fetch(base, "/products/search?q=phone").json()["total"] == len(search("phone")) == 23
    assert fetch(base, "/products/search").json()["total"] == len(PRODUCTS)
    hyphenated = [p for p in PRODUCTS if "long-lasting" in p["description"]]
    assert hyphenated and fetch(base, "/products/search?q=long-lasting").json()["total"] == 0


@pytest.mark.parametrize("slug", [c["slug"] for c in CATEGORIES])
def test_each_category_lists_its_products(base: str, slug: str) -> None:
    page = fetch(base, f"/products/category/{slug}?limit=0&select=category").json()
    expected = [pick(p, "category") for p in PRODUCTS if p["category"] == slug]
    assert page == {"products": expected, "total": len(expected), "skip": 0, "limit": len(expected)}


@pytest.mark.parametrize(
    ("target", "total"),
    [
        ("/products/category/SMARTPHONES", sum(p["category"] == "smartphones" for p in PRODUCTS)),
        ("/products/category/Home-Decoration", sum(p["category"] == "home-decoration" for p in PRODUCTS)),
        ("/product/category/beauty", sum(p["category"] == "beauty" for p in PRODUCTS)),
        ("/products/category/nope", 0),
        ("/products/category/beauty%20", 0),
    ],
)
def test_category_slugs_ignore_case_and_unknown_ones_are_empty(base: str, target: str, total: int) -> None:
    got = fetch(base, target)
    assert (got.status, got.json()["total"]) == (200, total)
    if not total:
        assert got.body == b'{"products":[],"total":0,"skip":0,"limit":0}'


def test_category_endpoints_list_the_24_categories_in_order_of_first_appearance(base: str) -> None:
    first_seen = list(dict.fromkeys(p["category"] for p in PRODUCTS))
    assert fetch(base, "/products/categories").json() == CATEGORIES
    assert fetch(base, "/products/category-list").json() == [c["slug"] for c in CATEGORIES] == first_seen
    assert len(CATEGORIES) == 24


@pytest.mark.parametrize(
    ("target", "index"), [("/products/1", 0), ("/product/16", 15), ("/products/%31%39%34", 193)]
)
def test_one_product_by_id(base: str, target: str, index: int) -> None:
    got = fetch(base, target)
    assert (got.status, got.body) == (200, compact(PRODUCTS[index]))


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("/products?limit=abc", 400, "Invalid 'limit' - must be a number"),
        ("/products?limit=5&limit=5", 400, "Invalid 'limit' - must be a number"),
        ("/products?limit=1_0", 400, "Invalid 'limit' - must be a number"),
        ("/products/categories?limit=x", 400, "Invalid 'limit' - must be a number"),
        ("/products?skip=x", 400, "Invalid 'skip' - must be a number"),
        ("/products?skip=1&skip=2", 400, "Invalid 'skip' - must be a number"),
        ("/products?sortBy=title&order=up", 400, "Order can be: 'asc' or 'desc'"),
        ("/products?delay=soon", 400, "Delay must be a number in milliseconds"),
        ("/products?delay=5001", 400, "Delay cannot be greater than 5 seconds"),
        ("/products?delay=-1", 400, "Delay cannot be less than 0"),
        ("/products/search?q=a&q=b", 400, "Invalid 'q' - must be a string"),
        ("/products/195", 404, "Product with id '195' not found"),
        ("/products/0", 404, "Product with id '0' not found"),
        ("/products/01", 404, "Product with id '01' not found"),
        ("/products/1.0", 404, "Product with id '1.0' not found"),
        ("/products/abc", 404, "Product with id 'abc' not found"),
        ("/products/category", 404, "Product with id 'category' not found"),
    ],
)
def test_errors_are_json_messages(base: str, target: str, status: int, message: str) -> None:
    got = fetch(base, target)
    assert (got.status, got.headers["Content-Type"], got.json()) == (
        status, "application/json; charset=utf-8", {"message": message})


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/products/", "/products"),
        ("/products/?limit=5&skip=10", "/products?limit=5&skip=10"),
        ("/products/1/", "/products/1"),
        ("/products/category/beauty/?select=title", "/products/category/beauty?select=title"),
    ],
)
def test_a_trailing_slash_is_a_301_to_the_path_without_it(base: str, target: str, location: str) -> None:
    got = fetch(base, target)
    assert (got.status, got.headers["Location"]) == (301, location)
    assert got.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/"), ("GET", "/users"), ("GET", "/products/1/reviews"), ("POST", "/products"),
     ("GET", "/productsx")],
)
def test_unknown_paths_are_html_404s(base: str, method: str, target: str) -> None:
    got = fetch(base, target, method=method)
    assert (got.status, got.headers["Content-Type"]) == (404, "text/html; charset=utf-8")
    assert got.body.startswith(b"<!DOCTYPE html>")


@pytest.mark.parametrize("target", ["/products?limit=3", "/products/1", "/products/categories"])
def test_a_matching_if_none_match_gets_an_empty_304(base: str, target: str) -> None:
    first = fetch(base, target)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = fetch(base, target, headers={"If-None-Match": etag})
    assert (again.status, again.body, again.headers["ETag"]) == (304, b"", etag)
    assert fetch(base, target, headers={"If-None-Match": '"other"'}).body == first.body


def test_different_bodies_have_different_etags(base: str) -> None:
    targets = ["/products?limit=3", "/products?limit=4", "/products/1", "/products/2", "/product/2?select=id"]
    assert len({fetch(base, t).headers["ETag"] for t in targets}) == len(targets)


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [("gzip", True), ("gzip, deflate, br", True), ("br;q=1, gzip;q=0.5", True), ("gzip;q=0", False),
     ("identity", False), ("", False)],
)
def test_gzip_only_when_asked(base: str, accept_encoding: str, gzipped: bool) -> None:
    plain = fetch(base, "/products?limit=5").body
    got = fetch(base, "/products?limit=5", headers={"Accept-Encoding": accept_encoding})
    assert (got.headers.get("Content-Encoding") == "gzip") is gzipped
    assert (gzip.decompress(got.body) if gzipped else got.body) == plain


def test_head_has_the_headers_of_get_and_no_body(base: str) -> None:
    get, head = fetch(base, "/products/1"), fetch(base, "/products/1", method="HEAD")
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", str(len(get.body)))


@pytest.mark.parametrize(
    ("method", "target", "payload", "status", "expected"),
    [
        ("POST", "/products/add", {"title": "Lamp", "price": 5, "id": 7, "colour": "red"}, 201,
         {"id": len(PRODUCTS) + 1, "title": "Lamp", "price": 5}),
        ("PUT", "/products/1", {"title": "Renamed"}, 200,
         {**pick(PRODUCTS[0], *ECHOED), "title": "Renamed"}),
        ("PATCH", "/products/16", {"price": 0}, 200, pick(PRODUCTS[15], *ECHOED)),
        ("PUT", "/products/195", {"title": "x"}, 404, {"message": "Product with id '195' not found"}),
        ("DELETE", "/products/195", None, 404, {"message": "Product with id '195' not found"}),
    ],
)
def test_writes_are_simulated_and_change_nothing(
    base: str, method: str, target: str, payload: Any, status: int, expected: dict
) -> None:
    body = None if payload is None else json.dumps(payload).encode()
    got = fetch(base, target, method=method, body=body, headers={"Content-Type": "application/json"})
    assert (got.status, got.json()) == (status, expected)
    assert list(got.json()) == list(expected)
    assert fetch(base, "/products?limit=0").json()["products"] == PRODUCTS


def test_delete_echoes_the_product_marked_deleted(base: str) -> None:
    got = fetch(base, "/products/2", method="DELETE").json()
    assert {k: v for k, v in got.items() if k not in ("isDeleted", "deletedOn")} == PRODUCTS[1]
    assert got["isDeleted"] is True and got["deletedOn"].endswith("Z")


@pytest.mark.parametrize(("delay", "at_least"), [("300", 0.3), ("0", 0.0), ("1e3", 0.0)])
def test_delay_holds_the_response(base: str, delay: str, at_least: float) -> None:
    started = time.monotonic()
    assert fetch(base, f"/products/1?delay={delay}").status == 200
    elapsed = time.monotonic() - started
    assert at_least <= elapsed < at_least + 0.25


def test_the_rate_limit_refuses_the_101st_request_in_10_seconds() -> None:
    with serve_dummyjson(rate_limit=True) as url:
        conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=10)
        seen = []
        for _ in range(101):
            conn.request("GET", "/products/1?select=id")
            response = conn.getresponse()
            response.read()
            seen.append(response)
        conn.close()
    assert [r.status for r in seen] == [200] * 100 + [429]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in seen] == [*range(99, -1, -1), 0]
    refused = seen[-1]
    assert (refused.headers["Retry-After"], refused.headers["X-RateLimit-Limit"]) == ("10", "100")
    assert 0 < int(refused.headers["X-RateLimit-Reset"]) - time.time() <= 11


def test_without_rate_limit_nothing_is_refused(base: str) -> None:
    statuses = {fetch(base, "/products/1?select=id").status for _ in range(120)}
    assert statuses == {200}


def test_a_server_built_from_records_serves_them() -> None:
    records = [{"id": 1, "title": "b", "category": "x-y"}, {"id": 2, "title": "a", "category": "z"}]
    server = load_server_module().make_server("127.0.0.1", 0, records, rate_limit=False)
    with server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            assert fetch(server.url, "/products?sortBy=title").json()["products"] == records[::-1]
            assert fetch(server.url, "/products/categories").json()[0]["name"] == "X Y"
        finally:
            server.shutdown()
        thread.join()


def test_the_command_line_prints_its_url_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "few.json"
    data.write_text(json.dumps(PRODUCTS[:3]), encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", "0", "--data", str(data), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Serving DummyJSON on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert fetch(url, "/products").json()["total"] == 3
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert (process.returncode, stderr) == (0, "")
