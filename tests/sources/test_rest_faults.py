"""A whole run through the CLI against a source that misbehaves: what arrives, the counts, the exit code, the log.

The pipeline reads 25 products in pages of 10 (skip=0, 10, 20) and previews them with `--to out.jsonl`. Page 2
misbehaves as each row says; the other pages are served by a well-behaved catalogue.

- A fault that a retry can cure (5xx, 429, a connection cut short, a read timeout) costs one
  "Attempt n/4 failed" warning per retry and nothing else: exit 0, every record, in order.
- A fault no retry can cure (a 404, retries exhausted, a complete response that is not the JSON the spec
  describes, pagination that would loop or lose records) fails the run: exit 1, one line naming the URL or the
  page, and no out.jsonl at all, since half a preview would look complete. A two-pass sink (the Medusa one)
  has not been written to at all: it sees the first item only once the source has been read to the end.
- A read that ends short of the reported total, or that meets an id twice, finishes (exit 0) with a warning in
  the log, the summary and the report; a short read is marked incomplete, so nothing is pruned after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from etl.cli import main
from tests.support.faulty_server import FaultyServer, Reply, Script, catalogue

ITEMS = [{"id": i, "title": f"Product {i}"} for i in range(1, 26)]
PAGE_2 = {"skip": "10"}
PIPELINE = """\
version: 1
name: faults
source:
  type: rest
  url: {url}/products
  records: products
  pagination: {{type: offset, limit: 10, limit_param: limit, offset_param: skip, total: total}}
  timeout: 50ms
  retry: {{attempts: 4, backoff: {{initial: 1ms, factor: 2}}, max_retry_after: 20ms}}
mapping:
  key: "{{{{ record.id }}}}"
  fields:
    title: "{{{{ record.title }}}}"
sink: {{type: jsonl, path: unused.jsonl}}
"""


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    logs: list[tuple[str, str]]
    records: list[dict[str, Any]] | None
    report: dict[str, Any]
    page_2: str
    leftovers: list[str]

    def messages(self, level: str) -> list[str]:
        return [message for lvl, message in self.logs if lvl == level]


def run_pipeline(tmp_path: Path, handler: Any, *args: str) -> Run:
    """`etl run --to out.jsonl --report r.json --log-format json` over a FaultyServer serving `handler`."""
    out, report = tmp_path / "out.jsonl", tmp_path / "r.json"
    with FaultyServer(handler) as server:
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(PIPELINE.format(url=server.url), encoding="utf-8")
        result = CliRunner().invoke(main, ["run", str(pipeline), "--to", str(out), "--report", str(report),
                                           "--log-format", "json", *args])
    assert "Traceback" not in result.output
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else None
    return Run(result.exit_code, result.stdout, result.stderr, [(e["level"], e["message"]) for e in logs],
               records, json.loads(report.read_text()), f"{server.url}/products?limit=10&skip=10",
               sorted(p.name for p in tmp_path.iterdir() if p.name not in ("pipeline.yaml", "r.json", "out.jsonl")))


def page_2_replies(*replies: Reply, items: list[dict[str, Any]] = ITEMS) -> Script:
    return Script(fallback=catalogue(items)).on("/products", PAGE_2, *replies)


BODY_2 = json.dumps({"products": ITEMS[10:20], "total": 25, "skip": 10, "limit": 10}).encode()
IN_AN_HOUR = datetime.now(timezone.utc) + timedelta(hours=1)

RECOVERED = [
    ("500 twice then OK", [Reply.error(500), Reply.error(500)],
     ["Attempt 1/4 failed: 500 Internal Server Error (GET {page_2}); retrying in 1ms",
      "Attempt 2/4 failed: 500 Internal Server Error (GET {page_2}); retrying in 2ms"]),
    ("503 then 502 then OK", [Reply.error(503), Reply.error(502)],
     ["Attempt 1/4 failed: 503 Service Unavailable (GET {page_2}); retrying in 1ms",
      "Attempt 2/4 failed: 502 Bad Gateway (GET {page_2}); retrying in 2ms"]),
    # Retry-After asks for 5 s (or an hour): the wait is that, capped by retry.max_retry_after (20ms), not the
    # 1ms backoff, so the header was read
    ("429 with Retry-After in seconds", [Reply.rate_limited(5)],
     ["Attempt 1/4 failed: 429 Too Many Requests (GET {page_2}); retrying in 20ms"]),
    ("429 with Retry-After as an HTTP date", [Reply.rate_limited(IN_AN_HOUR)],
     ["Attempt 1/4 failed: 429 Too Many Requests (GET {page_2}); retrying in 20ms"]),
    ("connection closed mid-body", [Reply.reset_mid_body(BODY_2[:50], len(BODY_2))],
     [f"Attempt 1/4 failed: response cut short: Connection broken: IncompleteRead(50 bytes read, "
      f"{len(BODY_2) - 50} more expected) (GET {{page_2}}); retrying in 1ms"]),
    ("connection reset mid-body", [Reply.reset_mid_body(BODY_2[:50], len(BODY_2), rst=True)],
     ["Attempt 1/4 failed: response cut short: Connection broken: ConnectionResetError(104, 'Connection reset "
      "by peer') (GET {page_2}); retrying in 1ms"]),
    ("connection closed before any response", [Reply.unframed(b"")],
     ["Attempt 1/4 failed: connection error: Connection aborted: Remote end closed connection without response "
      "(GET {page_2}); retrying in 1ms"]),
    ("read timeout", [Reply.hang(30)],
     ["Attempt 1/4 failed: read timeout after 50ms (GET {page_2}); retrying in 1ms"]),
]


@pytest.mark.parametrize("replies,warnings", [c[1:] for c in RECOVERED], ids=[c[0] for c in RECOVERED])
def test_a_fault_that_a_retry_cures_loses_nothing(tmp_path, replies, warnings):
    run = run_pipeline(tmp_path, page_2_replies(*replies))
    assert run.exit_code == 0, run.stdout
    assert run.records == [{"title": f"Product {i}"} for i in range(1, 26)]
    assert run.messages("warning") == [w.format(page_2=run.page_2) for w in warnings]
    assert run.messages("error") == []
    assert {k: run.report[k] for k in ("status", "fetched", "created", "failed", "source_complete", "warnings")} \
        == {"status": "ok", "fetched": 25, "created": 25, "failed": 0, "source_complete": True, "warnings": []}
    assert "Sync completed: faults" in run.stdout


def test_500_twice_then_ok(tmp_path):
    """The issue's first case, spelled out: two 500s on page 2, then the page; three requests for it."""
    script = page_2_replies(Reply.error(500), Reply.error(500))
    with FaultyServer(script) as server:
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(PIPELINE.format(url=server.url), encoding="utf-8")
        result = CliRunner().invoke(main, ["run", str(pipeline), "--to", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0
    assert [r.query["skip"] for r in server.requests] == ["0", "10", "10", "10", "20"]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 25
    assert result.stderr.count("WARNING Attempt ") == 2


PAGE_1 = {"products": ITEMS[:10], "total": 25, "skip": 0, "limit": 10}
CURSOR = ["--set", "source.pagination={type: cursor, cursor_path: next}"]

FAILED = [
    ("500 on every attempt", page_2_replies(*[Reply.error(500)] * 4), [],
     "GET {page_2} failed after 4 attempts: 500 Internal Server Error"),
    ("404 is not retried", page_2_replies(Reply.error(404, "no such page")), [],
     "GET {page_2} failed: 404 Not Found: no such page"),
    ("truncated JSON with a correct Content-Length",
     page_2_replies(Reply.truncated_json({"products": ITEMS[10:20], "total": 25}, keep=120)), [],
     "GET {page_2}: the response is not JSON: truncated JSON at char 120 (application/json, 120 bytes)"),
    ("HTML instead of JSON", page_2_replies(Reply.raw(b"<html>maintenance</html>", 200, {"Content-Type": "text/html"})),
     [], "GET {page_2}: the response is not JSON: invalid JSON at char 0: Expecting value (text/html)"),
    ("a page that repeats", page_2_replies(Reply.json(PAGE_1)), [],
     "page 2 (skip=10) returned the same records as page 1 (skip=0): the API seems to ignore the pagination "
     "parameters (does the API take the offset as 'skip'? check pagination.offset_param)"),
    ("a cursor that cycles",
     Script().on("/products", {"cursor": "b"}, Reply.json({"products": ITEMS[10:20], "next": "b"}))
             .on("/products", None, Reply.json({"products": ITEMS[:10], "next": "b"})),
     CURSOR,
     "page 2 points to cursor='b', which already fetched page 2: stopping instead of looping (the API keeps "
     "returning the same cursor; check pagination.cursor_path and cursor_param)"),
    ("the total changes between pages", page_2_replies(Reply.json({"products": ITEMS[10:20], "total": 26})), [],
     "the reported total changed from 25 to 26 at page 2 (skip=10): the data changed during the read, so "
     "records may be missing or repeated; run again"),
    ("the records key is missing", page_2_replies(Reply.json({"items": ITEMS[10:20], "total": 25})), [],
     "no 'products' in the response from {page_2} (keys present: items, total): set source.records to the key "
     "that holds the records"),
    ("the records are not a list", page_2_replies(Reply.json({"products": {"id": 11}, "total": 25})), [],
     "'products' in the response from {page_2} is an object, not a list"),
    ("a record that is not an object", page_2_replies(Reply.json({"products": [ITEMS[10], "oops"], "total": 25})),
     [], "record 1 on page 2 ({page_2}) is a string, not an object: 'oops'"),
    ("a record that is null", page_2_replies(Reply.json({"products": [None], "total": 25})), [],
     "record 0 on page 2 ({page_2}) is null, not an object: None"),
]


@pytest.mark.parametrize("handler,args,error", [c[1:] for c in FAILED], ids=[c[0] for c in FAILED])
def test_a_fault_no_retry_cures_fails_the_run_and_leaves_no_partial_preview(tmp_path, handler, args, error):
    run = run_pipeline(tmp_path, handler, *args)
    error = error.format(page_2=run.page_2)
    not_written = f"{tmp_path / 'out.jsonl'} was not written: the run failed, and a partial preview would look complete"
    assert run.exit_code == 1
    assert run.records is None and run.leftovers == []
    assert run.messages("error") == [f"faults failed: {error}"]
    assert run.messages("warning")[-1] == not_written
    assert "Sync FAILED: faults\n" in run.stdout
    assert f"Error:      {error}\n" in run.stdout
    assert f"Warning:    {not_written}\n" in run.stdout
    assert {k: run.report[k] for k in ("status", "exit_code", "error", "fetched", "created", "source_complete")} \
        == {"status": "failed", "exit_code": 1, "error": error, "fetched": 10, "created": 0, "source_complete": False}


def test_a_failed_run_leaves_the_last_complete_preview_in_place(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"title": "from the last good run"}\n', encoding="utf-8")
    run = run_pipeline(tmp_path, page_2_replies(Reply.error(404)))
    assert run.exit_code == 1
    assert run.records == [{"title": "from the last good run"}]


def test_a_source_that_fails_writes_nothing_to_a_two_pass_sink(tmp_path, fakes, write_spec):
    _, sink = fakes
    with FaultyServer(page_2_replies(Reply.error(404))) as server:
        spec = PIPELINE.format(url=server.url).replace("{type: jsonl, path: unused.jsonl}",
                                                       "{type: fake, two_pass: true}")
        result = CliRunner().invoke(main, ["run", str(write_spec(spec))])
    assert result.exit_code == 1
    assert f"Error:      GET {server.url}/products?limit=10&skip=10 failed: 404 Not Found" in result.stdout
    assert (sink.prepared, sink.batches, sink.store) == (0, [], {})


def test_a_short_page_before_the_total_is_an_incomplete_read_and_nothing_is_pruned(tmp_path):
    script = Script(fallback=catalogue(ITEMS)).on("/products", {"skip": "20"}, Reply.json({"products": [],
                                                                                          "total": 25}))
    run = run_pipeline(tmp_path, script, "--set", "prune.action=delete")
    short = "Fetched 20 records but the source reported total 25"
    pruning = "Pruning skipped: the source read was incomplete (or limited), so absence proves nothing"
    assert run.exit_code == 0
    assert run.records == [{"title": f"Product {i}"} for i in range(1, 21)]
    assert run.messages("warning") == [short, pruning]
    assert f"Warning:    {short}\nWarning:    {pruning}\n" in run.stdout
    assert {k: run.report[k] for k in ("status", "fetched", "created", "pruned", "source_complete", "warnings")} \
        == {"status": "ok", "fetched": 20, "created": 20, "pruned": 0, "source_complete": False,
            "warnings": [short, pruning]}


def test_the_same_id_on_two_pages_is_kept_once_with_a_warning(tmp_path):
    again = {"id": 5, "title": "Product 5, listed again"}
    run = run_pipeline(tmp_path, catalogue([*ITEMS, again]))
    duplicate = "Duplicate key '5' in the source: kept the first record, skipped this one"
    assert run.exit_code == 0
    assert run.records == [{"title": f"Product {i}"} for i in range(1, 26)]
    assert run.messages("warning") == [duplicate]
    assert f"Warning:    {duplicate}\n" in run.stdout
    assert {k: run.report[k] for k in ("status", "fetched", "created", "duplicates", "source_complete", "warnings")} \
        == {"status": "ok", "fetched": 26, "created": 25, "duplicates": 1, "source_complete": True,
            "warnings": [duplicate]}


def test_a_source_that_is_down_fails_after_every_attempt(tmp_path):
    with FaultyServer([]) as server:
        url = server.url
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(url=url), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(pipeline), "--to", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.count("WARNING Attempt ") == 3
    assert (f"Error:      GET {url}/products?limit=10&skip=0 failed after 4 attempts: connection error: "
            in result.stdout)
    assert not (tmp_path / "out.jsonl").exists()
