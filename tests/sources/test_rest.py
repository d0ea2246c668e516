"""RestSource reading whole catalogues from local servers: every record once, in order, or a loud error."""

from __future__ import annotations

import json
import logging
from itertools import islice
from pathlib import Path

import pytest

from etl import registry
from etl.adapters import Context, Source
from etl.errors import HttpError, PaginationError, ResponseError, SpecError
from etl.registry import UnknownAdapter
from etl.sources.rest import RestSource
from etl.spec import AdapterSpec, load_spec
from tests.support.dummyjson import serve_dummyjson
from tests.support.faulty_server import FaultyServer, Reply, Script, catalogue

ROOT = Path(__file__).resolve().parents[2]
LOGGER = "tests.sources.rest"
ITEMS = [{"id": i, "title": f"Product {i}"} for i in range(1, 195)]
OFFSET = {"type": "offset", "limit": 30, "limit_param": "limit", "offset_param": "skip", "total": "total"}
NO_WAIT = {"backoff": {"initial": 0}}


@pytest.fixture(scope="module")
def dummyjson():
    with serve_dummyjson() as base_url:
        yield base_url


@pytest.fixture
def logs(caplog):
    """(level, message) pairs the source and its client logged."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return lambda level=logging.INFO: [r.getMessage() for r in caplog.records if r.levelno == level]


def source(url: str, **config) -> RestSource:
    context = Context("test", Path("pipeline.yaml"), Path("state"), logging.getLogger(LOGGER))
    return RestSource({"url": url, **config}, context)


def test_the_dummyjson_catalogue_at_limit_30_is_read_whole_in_order(dummyjson, logs):
    src = source(f"{dummyjson}/products", records="products", pagination=OFFSET)
    records = list(src.read())
    assert len(records) == 194
    assert [r["id"] for r in records] == list(range(1, 195))
    assert (src.stats.fetched, src.stats.pages, src.stats.expected, src.stats.complete) == (194, 7, 194, True)
    assert logs() == [*(f"Page {n + 1}: 30 records (skip={n * 30})" for n in range(6)),
                      "Page 7: 14 records (skip=180)", "Fetched 194 records in 7 pages"]
    assert logs(logging.WARNING) == []


@pytest.mark.parametrize("limit", [0, 1000])
def test_the_dummyjson_catalogue_in_one_page(dummyjson, limit, logs):
    src = source(f"{dummyjson}/products", records="products", pagination={**OFFSET, "limit": limit})
    assert [r["id"] for r in src.read()] == list(range(1, 195))
    assert (src.stats.pages, src.stats.complete) == (1, True)
    assert logs()[-1] == "Fetched 194 records in 1 page"


def test_records_pass_through_untouched(dummyjson):
    records = list(source(f"{dummyjson}/products", records="products", pagination=OFFSET).read())
    expected = json.loads((ROOT / "tests/data/dummyjson/products.json").read_text(encoding="utf-8"))
    assert records == expected
    assert "brand" not in records[15]


def test_the_nightly_pipelines_source_block_reads_the_catalogue(dummyjson):
    spec = load_spec(ROOT / "pipelines/dummyjson.yaml", env={"DUMMYJSON_URL": dummyjson},
                     sink=AdapterSpec("jsonl", {"path": "out.jsonl"}), compile_mapping=False)
    context = Context(spec.name, spec.path, Path("state"), logging.getLogger(LOGGER))
    src = registry.sources.get(spec.source.type)(spec.source.config, context)
    assert isinstance(src, Source)
    assert [r["id"] for r in src.read()] == list(range(1, 195))
    assert src.stats.complete


def test_records_stream_page_by_page():
    with FaultyServer(catalogue(ITEMS)) as server:
        records = source(f"{server.url}/products", records="products", pagination=OFFSET).read()
        first = list(islice(records, 1))
        assert (first, len(server.requests)) == ([ITEMS[0]], 1)
        list(islice(records, 30))
        assert len(server.requests) == 2


def test_a_failed_page_is_retried_and_the_read_stays_whole(logs):
    script = Script(fallback=catalogue(ITEMS)).on("/products", {"skip": "30"}, Reply.error(500))
    with FaultyServer(script) as server:
        src = source(f"{server.url}/products", records="products", pagination=OFFSET, retry=NO_WAIT)
        assert [r["id"] for r in src.read()] == list(range(1, 195))
    assert src.stats.complete and src.stats.pages == 7
    assert logs(logging.WARNING) == [f"Attempt 1/4 failed: 500 Internal Server Error "
                                     f"(GET {server.url}/products?limit=30&skip=30); retrying in 0.0s"]


def test_a_page_that_fails_for_good_ends_the_read_incomplete():
    script = Script(fallback=catalogue(ITEMS)).on("/products", {"skip": "30"}, Reply.error(404))
    with FaultyServer(script) as server:
        src = source(f"{server.url}/products", records="products", pagination=OFFSET)
        seen = []
        with pytest.raises(HttpError, match=r"skip=30 failed: 404 Not Found"):
            seen.extend(src.read())
    assert (len(seen), src.stats.fetched, src.stats.complete) == (30, 30, False)


def test_fewer_records_than_the_reported_total_is_a_warning_and_an_incomplete_read(logs):
    def overstated(request):
        reply = catalogue(ITEMS)(request)
        return Reply.json({**json.loads(reply.body), "total": 200})

    with FaultyServer(overstated) as server:
        src = source(f"{server.url}/products", records="products", pagination=OFFSET)
        assert len(list(src.read())) == 194
    assert (src.stats.fetched, src.stats.expected, src.stats.complete) == (194, 200, False)
    assert logs(logging.WARNING) == ["Fetched 194 records but the source reported total 200"]


def test_max_pages_fails_loudly_instead_of_truncating():
    with FaultyServer(catalogue(ITEMS)) as server:
        src = source(f"{server.url}/products?api_key=SECRET", records="products", pagination=OFFSET,
                     max_pages=3)
        seen = []
        with pytest.raises(PaginationError) as info:
            seen.extend(src.read())
    assert str(info.value) == (f"max_pages 3 reached at {server.url}/products?api_key=***&limit=30&skip=90: "
                               f"raise source.max_pages or check the pagination settings")
    assert len(seen) == 90 and not src.stats.complete


def test_max_pages_equal_to_the_pages_needed_is_enough():
    with FaultyServer(catalogue(ITEMS)) as server:
        src = source(f"{server.url}/products", records="products", pagination=OFFSET, max_pages=7)
        assert len(list(src.read())) == 194


PAGE_1 = {"products": ITEMS[:30], "total": 32, "skip": 0, "limit": 30}


@pytest.mark.parametrize("records,replies,message", [
    ("products", [Reply.json({"items": [], "total": 0})],
     "no 'products' in the response from {url}?api_key=***&limit=30&skip=0 (keys present: items, total): "
     "set source.records to the key that holds the records"),
    ("", [Reply.json({"products": [], "total": 0})],
     "the response from {url}?api_key=***&limit=30&skip=0 is an object, not a list (keys present: products, "
     "total): set source.records to the records key"),
    ("products", [Reply.json({"products": {"id": 1}, "total": 1})],
     "'products' in the response from {url}?api_key=***&limit=30&skip=0 is an object, not a list"),
    ("products", [Reply.json({"products": [{"id": 1}, 2], "total": 2})],
     "record 1 on page 1 ({url}?api_key=***&limit=30&skip=0) is a number, not an object: 2"),
    ("products", [Reply.json(PAGE_1), Reply.json({"products": [None, {"id": 32}], "total": 32})],
     "record 0 on page 2 ({url}?api_key=***&limit=30&skip=30) is null, not an object: None"),
], ids=["records key missing", "body is not the list", "records not a list", "record not an object",
        "bad record on page 2"])
def test_a_response_without_records_where_the_spec_says(records, replies, message):
    with FaultyServer(replies) as server:
        url = f"{server.url}/products"
        with pytest.raises(ResponseError) as info:
            list(source(f"{url}?api_key=SECRET", records=records, pagination=OFFSET).read())
    assert str(info.value) == message.format(url=url)


def test_without_pagination_one_page_is_the_whole_body(logs):
    with FaultyServer([Reply.json([{"id": 1}, {"id": 2}])]) as server:
        src = source(f"{server.url}/categories")
        assert list(src.read()) == [{"id": 1}, {"id": 2}]
    assert (src.stats.pages, src.stats.expected, src.stats.complete) == (1, None, True)
    assert logs() == ["Page 1: 2 records", "Fetched 2 records in 1 page"]


def test_params_and_headers_go_with_every_page():
    with FaultyServer(catalogue(ITEMS[:40])) as server:
        src = source(f"{server.url}/products", records="products", pagination=OFFSET,
                     params={"select": "id,title", "flag": True, "n": 2}, headers={"X-Token": "t0k3n"})
        list(src.read())
    expected = {"select": "id,title", "flag": "true", "n": "2", "limit": "30"}
    assert [r.query for r in server.requests] == [{**expected, "skip": "0"}, {**expected, "skip": "30"}]
    assert all(r.headers["X-Token"] == "t0k3n" for r in server.requests)


@pytest.mark.parametrize("timeout", [0, "0s", "0ms"])
def test_a_zero_timeout_is_refused(timeout):
    with pytest.raises(SpecError, match=r"pipeline.yaml: source.timeout: must be more than 0s"):
        source("http://127.0.0.1:9/x", timeout=timeout)


def test_an_unknown_paginator_lists_the_known_ones():
    with pytest.raises(UnknownAdapter, match=r"unknown paginator 'offest' \(known: .*offset"):
        source("http://127.0.0.1:9/x", pagination={"type": "offest"})


def test_the_rest_source_is_registered():
    assert registry.sources.get("rest") is RestSource


SPEC = """\
version: 1
source:
  type: rest
  url: http://127.0.0.1:8000/products
  records: products
  pagination: {type: offset, limit: 30, offset_param: skip}
  timeout: 15s
  retry: {attempts: 4, backoff: {initial: 1s, factor: 2, max: 30s, jitter: true}, retry_on: [429, 503]}
mapping:
  key: "{{ record.id }}"
  fields: {title: "{{ record.title }}"}
sink: {type: jsonl, path: out.jsonl}
"""


@pytest.mark.parametrize("old,new,path,message", [
    ("limit: 30", "limit: thirty", "source.pagination.limit", "expected an integer, got a string 'thirty'"),
    ("offset_param", "offest_param", "source.pagination.offest_param",
     "unknown key 'offest_param' (did you mean 'offset_param'?)"),
    ("type: offset, ", "", "source.pagination", "missing required key 'type'"),
    ("type: offset, limit: 30, offset_param: skip", "type: cursor", "source.pagination",
     "missing required key 'cursor_path'"),
    ("timeout: 15s", "timeout: 15 seconds", "source.timeout",
     "expected a duration such as 250ms, 15s, 2m, 1h or a number of seconds; got '15 seconds'"),
    ("attempts: 4", "attempts: 0", "source.retry.attempts", "must be >= 1, got 0"),
    ("[429, 503]", "[429, 600]", "source.retry.retry_on.1", "must be <= 599, got 600"),
    ("initial: 1s", "initial: soon", "source.retry.backoff.initial", "expected a duration"),
    ("records: products", "max_pages: 0", "source.max_pages", "must be >= 1, got 0"),
    ("records: products", "params: {q: {nested: 1}}", "source.params.q",
     "expected a string or number or boolean"),
    ("records: products", "headers: {X-Id: 5}", "source.headers.X-Id", "expected a string, got an integer 5"),
    ("records: products", "recrods: products", "source.recrods",
     "unknown key 'recrods' (did you mean 'records'?)"),
])
def test_the_spec_loader_checks_the_source_block(write_spec, old, new, path, message):
    assert old in SPEC
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(SPEC.replace(old, new)), env={})
    found = [(p.path, p.message) for p in info.value.problems]
    assert any(p == path and message in m for p, m in found), found


def test_the_spec_loader_accepts_the_source_block(write_spec):
    spec = load_spec(write_spec(SPEC), env={})
    src = RestSource(spec.source.config, Context("t", spec.path, Path("s"), logging.getLogger(LOGGER)))
    assert src.client.timeout == 15.0
    assert src.client.retry.jitter and src.client.retry.retry_on == {429, 503}
    assert src.paginator.config == {"limit": 30, "offset_param": "skip"}
