"""Each paginator on bare `requests.Response`s: the requests it asks for, where it stops, what it refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from jsonschema import Draft202012Validator

from etl import registry
from etl.errors import PaginationError
from etl.http.pagination import (
    MISSING,
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
    lookup,
)

URL = "http://api.test/items"
ITEMS = [{"id": i} for i in range(1, 195)]


def response(body: Any = None, *, url: str = URL, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = 200
    r.url = url
    r._content = json.dumps(body).encode()
    r.headers.update({"Content-Type": "application/json", **(headers or {})})
    return r


Page = tuple[requests.Response, Any, list]


def walk(paginator: Paginator, serve: Callable[[str, dict], Page], params: dict | None = None,
         limit: int = 50) -> list[tuple[str, dict]]:
    """Every request the paginator makes against `serve`, as the source would drive it."""
    made = []
    request = paginator.first(URL, dict(params or {}))
    while request is not None:
        assert len(made) < limit, f"no end after {limit} requests: {made[-3:]}"
        made.append(request)
        request = paginator.next(*serve(*request))
    return made


def envelope(items=ITEMS, *, key="products", total: Any = "len", cap: int | None = None,
             skip_param="skip", limit_param="limit", total_key="total") -> Callable[[str, dict], Page]:
    """A DummyJSON-like list endpoint: limit 0 means all, the body's `limit` is the page's size."""

    def serve(url: str, params: dict) -> Page:
        skip = int(params.get(skip_param, 0))
        limit = int(params.get(limit_param, 30))
        if cap is not None:
            limit = min(limit or cap, cap)
        page = items[skip:] if limit == 0 else items[skip: skip + limit]
        body = {key: page, "skip": skip, "limit": len(page)}
        if total != "omit":
            body[total_key] = len(items) if total == "len" else total
        return response(body, url=f"{url}?{urlencode(params)}"), body, page

    return serve


def offsets(made: list[tuple[str, dict]], name: str = "skip") -> list[Any]:
    return [params.get(name) for _, params in made]


DUMMYJSON = {"limit": 30, "limit_param": "limit", "offset_param": "skip", "total": "total"}


@pytest.mark.parametrize("config,serve,expected", [
    (DUMMYJSON, envelope(), [0, 30, 60, 90, 120, 150, 180]),
    ({**DUMMYJSON, "limit": 0}, envelope(), [0]),
    ({**DUMMYJSON, "limit": 1000}, envelope(), [0]),
    ({**DUMMYJSON, "limit": 194}, envelope(), [0]),
    ({**DUMMYJSON, "limit": 100}, envelope(cap=20), [0, 20, 40, 60, 80, 100, 120, 140, 160, 180]),
    ({**DUMMYJSON, "total": None}, envelope(ITEMS[:60], total="omit"), [0, 30, 60]),
    ({**DUMMYJSON, "total": None}, envelope(ITEMS[:50], total="omit"), [0, 30]),
    ({**DUMMYJSON, "total": None, "limit": 0}, envelope(ITEMS[:50], total="omit"), [0, 50]),
    ({**DUMMYJSON, "start": 150}, envelope(), [150, 180]),
    (DUMMYJSON, envelope([]), [0]),
    ({**DUMMYJSON, "total": "meta.count"}, lambda u, p: _nested_total(envelope()(u, p)),
     [0, 30, 60, 90, 120, 150, 180]),
], ids=["dummyjson limit 30: 7 pages", "limit 0 is everything", "limit above total", "limit == total",
        "server caps the page size: offsets follow what arrived", "no total: stops on the empty page",
        "no total: stops on the short page", "no total, limit 0: one more request", "start offset",
        "empty collection", "nested total path"])
def test_offset_requests(config, serve, expected):
    assert offsets(walk(OffsetPaginator(config), serve)) == expected


def _nested_total(page: Page) -> Page:
    resp, body, records = page
    body = {**body, "meta": {"count": body.pop("total")}}
    return resp, body, records


def test_offset_sends_limit_and_offset_after_the_sources_params():
    made = walk(OffsetPaginator(DUMMYJSON), envelope(), params={"select": "id,title"})
    assert made[1] == (URL, {"select": "id,title", "limit": 30, "skip": 30})
    assert list(made[1][1]) == ["select", "limit", "skip"]


def test_offset_reports_the_total():
    paginator = OffsetPaginator(DUMMYJSON)
    assert paginator.total is None
    walk(paginator, envelope())
    assert paginator.total == 194


def test_offset_total_excludes_records_before_start():
    paginator = OffsetPaginator({**DUMMYJSON, "start": 150})
    walk(paginator, envelope())
    assert paginator.total == 44


def test_offset_without_limit_sends_none():
    made = walk(OffsetPaginator({"offset_param": "skip"}), envelope())
    assert made[0] == (URL, {"skip": 0})
    assert len(made) == 7


def test_offset_position_names_the_offset():
    paginator = OffsetPaginator(DUMMYJSON)
    paginator.first(URL, {})
    assert paginator.position == "skip=0"


def test_a_missing_total_key_says_what_to_set():
    with pytest.raises(PaginationError, match=r"no 'count' in the response from http://api.test/items\?limit=30"
                       r"&skip=0 \(keys present: products, skip, limit, total\): set pagination.total"):
        walk(OffsetPaginator({**DUMMYJSON, "total": "count"}), envelope())


@pytest.mark.parametrize("value", ["many", -1, True, 1.5, None])
def test_a_total_that_is_not_a_count_is_refused(value):
    with pytest.raises(PaginationError, match="'total' in the response is .*, not a count"):
        walk(OffsetPaginator(DUMMYJSON), envelope(total=value))


def test_a_total_given_as_a_string_is_read():
    paginator = OffsetPaginator(DUMMYJSON)
    assert len(walk(paginator, envelope(total="194"))) == 7
    assert paginator.total == 194


def test_a_total_that_changes_between_pages_is_an_error():
    serve = envelope()

    def growing(url, params):
        resp, body, records = serve(url, params)
        return resp, {**body, "total": 194 + params["skip"] // 30}, records

    with pytest.raises(PaginationError, match=r"the reported total changed from 194 to 195 at page 2 "
                                              r"\(skip=30\): the data changed during the read"):
        walk(OffsetPaginator(DUMMYJSON), growing)


def test_an_api_that_ignores_the_offset_is_caught_not_looped():
    with pytest.raises(PaginationError, match=r"page 2 \(offset=30\) returned the same records as page 1 "
                                              r"\(offset=0\).*'offset'\? check pagination.offset_param"):
        walk(OffsetPaginator({"limit": 30}), envelope())


@pytest.mark.parametrize("drift", [
    pytest.param(lambda n, page: page, id="the same page"),
    pytest.param(lambda n, page: [page[0], {**page[1], "stock": n}, *page[2:]], id="a stock moving in between"),
    pytest.param(lambda n, page: [dict(reversed(r.items())) for r in page] if n > 1 else page,
                 id="keys in another order"),
])
def test_a_page_sent_again_is_caught_even_when_it_changed_in_between(drift):
    calls = []

    def ignores_skip(url, params):
        calls.append(params)
        page = drift(len(calls), [{"id": i, "title": f"thing {i}", "stock": 5} for i in range(1, 31)])
        body = {"products": page, "total": len(ITEMS), "skip": 0, "limit": 30}
        return response(body, url=url), body, page

    with pytest.raises(PaginationError, match=r"page 2 \(skip=30\) returned the same records as page 1"):
        walk(OffsetPaginator(DUMMYJSON), ignores_skip)
    assert len(calls) == 2


def pages(*bodies: dict, headers: list[dict] | None = None, key: str = "items") -> Callable[..., Page]:
    """Serves `bodies` in order, whatever is asked; `headers` go with them."""
    queue = list(bodies)
    extra = list(headers or [{}] * len(bodies))

    def serve(url: str, params: dict) -> Page:
        body, head = queue.pop(0), extra.pop(0)
        full = f"{url}?{urlencode(params)}" if params else url
        return response(body, url=full, headers=head), body, body.get(key, [])

    return serve


def items(*ids: int) -> list[dict]:
    return [{"id": i} for i in ids]


@pytest.mark.parametrize("config,bodies,expected", [
    ({}, [{"items": items(1, 2)}, {"items": items(3)}, {"items": []}], [1, 2, 3]),
    ({"total_pages": "meta.pages"},
     [{"items": items(1), "meta": {"pages": 2}}, {"items": items(2), "meta": {"pages": 2}}], [1, 2]),
    ({"size": 2}, [{"items": items(1, 2)}, {"items": items(3)}], [1, 2]),
    ({"total": "count"}, [{"items": items(1, 2), "count": 3}, {"items": items(3), "count": 3}], [1, 2]),
    ({"start": 0}, [{"items": items(1)}, {"items": []}], [0, 1]),
    ({"page_param": "p"}, [{"items": items(1)}, {"items": []}], [1, 2]),
], ids=["stops on the empty page", "total_pages", "short page", "total records", "zero-based", "page_param"])
def test_page_number_requests(config, bodies, expected):
    paginator = PageNumberPaginator(config)
    name = config.get("page_param", "page")
    assert [params[name] for _, params in walk(paginator, pages(*bodies))] == expected


def test_page_number_sends_the_size_when_told_its_parameter():
    made = walk(PageNumberPaginator({"size": 2, "size_param": "per_page"}),
                pages({"items": items(1, 2)}, {"items": []}), params={"q": "x"})
    assert made == [(URL, {"q": "x", "per_page": 2, "page": 1}), (URL, {"q": "x", "per_page": 2, "page": 2})]


def test_page_number_with_size_alone_sends_no_size():
    made = walk(PageNumberPaginator({"size": 2}), pages({"items": items(1)}))
    assert made == [(URL, {"page": 1})]


def test_page_number_ignored_by_the_api_is_caught():
    with pytest.raises(PaginationError, match=r"page 2 \(page=2\) returned the same records as page 1"):
        walk(PageNumberPaginator({}), pages({"items": items(1)}, {"items": items(1)}))


def test_cursor_follows_the_token_until_there_is_none():
    made = walk(CursorPaginator({"cursor_path": "meta.next", "cursor_param": "after", "total": "meta.total"}),
                pages({"items": items(1), "meta": {"next": "a1", "total": 3}},
                      {"items": items(2), "meta": {"next": "b2", "total": 3}},
                      {"items": items(3), "meta": {"next": None, "total": 3}}),
                params={"q": "x"})
    assert made == [(URL, {"q": "x"}), (URL, {"q": "x", "after": "a1"}), (URL, {"q": "x", "after": "b2"})]


@pytest.mark.parametrize("last", [{"items": items(2)}, {"items": items(2), "next": ""},
                                  {"items": items(2), "next": None}], ids=["absent", "empty", "null"])
def test_cursor_ends_without_a_token(last):
    made = walk(CursorPaginator({"cursor_path": "next"}), pages({"items": items(1), "next": 7}, last))
    assert made[1] == (URL, {"cursor": 7})
    assert len(made) == 2


def test_a_repeated_cursor_is_an_error_naming_it():
    with pytest.raises(PaginationError, match=r"page 2 points to cursor='c1', which already fetched page 2"):
        walk(CursorPaginator({"cursor_path": "next"}),
             pages({"items": items(1), "next": "c1"}, {"items": items(2), "next": "c1"}))


def test_next_url_resolves_relative_links_and_drops_the_first_params():
    made = walk(NextUrlPaginator({"next_url_path": "links.next"}),
                pages({"items": items(1), "links": {"next": "/items?page=2"}},
                      {"items": items(2), "links": {"next": "http://api.test/items?page=3"}},
                      {"items": items(3), "links": {"next": None}}),
                params={"per_page": 1})
    assert made == [(URL, {"per_page": 1}), ("http://api.test/items?page=2", {}),
                    ("http://api.test/items?page=3", {})]


def test_a_repeated_next_url_is_an_error_naming_it_redacted():
    link = "http://api.test/items?page=2&api_key=SECRET"
    serve = pages({"items": items(1), "next": link}, {"items": items(2), "next": link})
    with pytest.raises(PaginationError, match=r"URL http://api.test/items\?page=2&api_key=\*\*\*,") as info:
        walk(NextUrlPaginator({}), serve)
    assert "SECRET" not in str(info.value)


def test_a_next_url_that_is_not_text_is_an_error():
    with pytest.raises(PaginationError, match="the next page link is dict, not a URL"):
        walk(NextUrlPaginator({}), pages({"items": items(1), "next": {"href": "/x"}}))


def link(url: str, rel: str = "next") -> dict[str, str]:
    return {"Link": f'<{url}>; rel="{rel}", <http://api.test/items?page=1>; rel="first"'}


def test_link_header_follows_rel_next():
    paginator = LinkHeaderPaginator({"total_header": "X-Total-Count"})
    made = walk(paginator, pages({"items": items(1)}, {"items": items(2)}, {"items": items(3)},
                                 headers=[{**link("/items?page=2"), "X-Total-Count": "3"},
                                          {**link("http://api.test/items?page=3"), "X-Total-Count": "3"},
                                          {"X-Total-Count": "3"}]))
    assert [u for u, _ in made] == [URL, "http://api.test/items?page=2", "http://api.test/items?page=3"]
    assert paginator.total == 3


def test_link_header_without_next_is_the_last_page():
    made = walk(LinkHeaderPaginator({}), pages({"items": items(1)}, headers=[link("/x", rel="prev")]))
    assert len(made) == 1


def test_a_repeated_link_is_an_error():
    with pytest.raises(PaginationError, match=r"page 2 points to the URL http://api.test/items\?page=2,"):
        walk(LinkHeaderPaginator({}), pages({"items": items(1)}, {"items": items(2)},
                                            headers=[link("/items?page=2"), link("/items?page=2")]))


def test_single_page_makes_one_request_with_the_params():
    paginator = SinglePagePaginator({})
    assert walk(paginator, pages({"items": items(1, 2)}), params={"a": 1}) == [(URL, {"a": 1})]
    assert paginator.total is None


def test_first_starts_over():
    paginator = CursorPaginator({"cursor_path": "next"})
    serve = {"items": items(1), "next": "c1"}
    for _ in range(2):
        assert walk(paginator, pages(serve, {"items": items(2)}))[1] == (URL, {"cursor": "c1"})


@pytest.mark.parametrize("cls,config,message", [
    (OffsetPaginator, {"limit": -1}, "limit: -1 is less than the minimum of 0"),
    (OffsetPaginator, {"limit": "30"}, "limit: '30' is not of type 'integer'"),
    (OffsetPaginator, {"offset": "skip"}, "'offset' was unexpected"),
    (PageNumberPaginator, {"size": 0}, "size: 0 is less than the minimum of 1"),
    (CursorPaginator, {}, "'cursor_path' is a required property"),
    (SinglePagePaginator, {"limit": 1}, "'limit' was unexpected"),
])
def test_bad_configs_are_refused(cls, config, message):
    with pytest.raises(ValueError, match=message):
        cls(config)


@pytest.mark.parametrize("name,cls", [
    ("offset", OffsetPaginator), ("page_number", PageNumberPaginator), ("cursor", CursorPaginator),
    ("next_url", NextUrlPaginator), ("link_header", LinkHeaderPaginator),
    ("single_page", SinglePagePaginator),
])
def test_each_kind_is_registered_with_a_closed_schema(name, cls):
    assert registry.paginators.get(name) is cls
    Draft202012Validator.check_schema(cls.config_schema)
    assert cls.config_schema["additionalProperties"] is False
    assert "type" not in cls.config_schema["properties"]


@pytest.mark.parametrize("path,expected", [
    ("", {"a": {"b": [10, {"c": 3}]}}),
    ("a.b.0", 10),
    ("a.b.1.c", 3),
    ("a.x", MISSING),
    ("a.b.5", MISSING),
    ("a.b.c", MISSING),
])
def test_lookup(path, expected):
    assert lookup({"a": {"b": [10, {"c": 3}]}}, path) == expected
