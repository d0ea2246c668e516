"""The nightly pipeline (pipelines/dummyjson.yaml, previewed with --to) over a catalogue of awkward products.

Each row is one product: a real DummyJSON product with a few values changed. It either maps to the output the
row states, or fails alone with the row's message, naming its key and field, in the summary, the report and the
quarantine file; the run goes on and ends with exit 3. Decisions the rows pin down:

- values pass through as the source gives them: a price "9.99" stays text and a null price stays null (the
  store decides whether it accepts them); a missing optional value read with `default(none)` (brand) is null;
- a handle comes from the title's letters and digits: accents are dropped and emoji skipped, and a title with
  none of them ("🎉🎉", "東京タワー") has no handle, so its record fails; handles that collide get -1, -2;
- half an emoji (a lone UTF-16 surrogate, as an API that cuts text at a byte count sends it) is kept: the
  preview writes it as the JSON escape it arrived as;
- a number JSON cannot hold (1e999 reads as infinity) fails its record at the sink, naming the field.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from etl.cli import main
from tests.conftest import DATA, ROOT
from tests.support.faulty_server import JSON, FaultyServer, Reply, Request, catalogue

PIPELINE = ROOT / "pipelines" / "dummyjson.yaml"
BASE = json.loads((DATA / "products.json").read_text(encoding="utf-8"))[0]
GONE = object()
TOO_BIG = "1e999"
LONG_TITLE = "Ab " * 3333 + "A"
SLUG = "{{ record.title | slug }}"

# (name, changes to the product, what the output row holds, or the failure message)
ROWS: list[tuple[str, dict[str, Any], dict[str, Any] | str]] = [
    ("a 10,000-character title", {"title": LONG_TITLE},
     {"title": LONG_TITLE, "handle": "-".join(["ab"] * 3333 + ["a"])}),
    ("a 300,000-character description", {"description": "word " * 60000},
     {"description": "word " * 60000}),
    ("accents", {"title": "Crème Brûlée"}, {"title": "Crème Brûlée", "handle": "creme-brulee"}),
    ("an emoji among words", {"title": "Party 🎉 Pack"}, {"title": "Party 🎉 Pack", "handle": "party-pack"}),
    ("full-width letters and a ligature", {"title": "Ｆｕｌｌ ｗｉｄｔｈ ﬁne"}, {"handle": "full-width-fine"}),
    ("a newline and a tab", {"title": "Line\nBreak\tTab"}, {"title": "Line\nBreak\tTab", "handle": "line-break-tab"}),
    ("half an emoji", {"title": "Half \ud83c emoji"}, {"title": "Half \ud83c emoji", "handle": "half-emoji"}),
    ("only emoji", {"title": "🎉🎉"},
     f"record '{{key}}': field 'handle': the slug of '🎉🎉' is empty: it has no letter or digit (template: {SLUG})"),
    ("a script with no latin letters", {"title": "東京タワー"},
     f"record '{{key}}': field 'handle': the slug of '東京タワー' is empty: it has no letter or digit "
     f"(template: {SLUG})"),
    ("a blank title", {"title": "   "},
     f"record '{{key}}': field 'handle': the slug of '   ' is empty: it has no letter or digit (template: {SLUG})"),
    ("a null title", {"title": None},
     f"record '{{key}}': field 'handle': slug needs text, got null (template: {SLUG})"),
    ("no title", {"title": GONE},
     "record '{key}': field 'title': 'dict object' has no attribute 'title' (template: {{ record.title }})"),
    ("a list as title", {"title": ["a", "b"]},
     f"record '{{key}}': field 'handle': slug needs text, got a list (template: {SLUG})"),
    ("a null price", {"price": None}, {"variants.0.prices.0.amount": None}),
    ("a price as text", {"price": "9.99"}, {"variants.0.prices.0.amount": "9.99"}),
    ("an id as text", {"id": "id-as-text"}, {"external_id": "id-as-text"}),
    ("no brand", {"brand": GONE}, {"metadata.brand": None}),
    ("null images", {"images": None},
     "record '{key}': field 'images': objects needs a list, got null (template: {{ record.images | objects('url') }})"),
    ("no dimensions", {"dimensions": GONE},
     "record '{key}': field 'width': 'dict object' has no attribute 'dimensions' "
     "(template: {{ record.dimensions.width }})"),
    ("a null category", {"category": None},
     "record '{key}': field 'categories.0.handle': slug needs text, got null (template: {{ record.category | slug }})"),
    ("a price JSON cannot hold", {"price": TOO_BIG},
     "field 'variants.0.prices.0.amount' is inf: JSON has no infinity or NaN"),
    ("no id", {"id": GONE},
     "a record whose key is unknown: field 'key': 'dict object' has no attribute 'id' (template: {{ record.id }})"),
    ("a title that slugs like the next two", {"title": "A & B"}, {"handle": "a-b"}),
    ("a title that slugs like the one before", {"title": "A-B"}, {"handle": "a-b-1"}),
    ("a third title with the same slug", {"title": "a b"}, {"handle": "a-b-2"}),
]


def product(number: int, changes: dict[str, Any]) -> dict[str, Any]:
    item = {**copy.deepcopy(BASE), "id": number, "title": f"Product {number}"}
    for key, value in changes.items():
        if value is GONE:
            del item[key]
        else:
            item[key] = value
    return item


PRODUCTS = [product(n, changes) for n, (_, changes, _) in enumerate(ROWS, 1)]


def key_of(number: int) -> str | None:
    return None if "id" not in PRODUCTS[number - 1] else str(PRODUCTS[number - 1]["id"])


def serve(request: Request) -> Reply:
    reply = catalogue(PRODUCTS)(request)
    return Reply.raw(reply.body.replace(f'"{TOO_BIG}"'.encode(), TOO_BIG.encode()), reply.status, JSON)


@dataclass
class Preview:
    exit_code: int
    output: str
    rows: dict[str, dict[str, Any]]
    report: dict[str, Any]
    quarantine: list[dict[str, Any]]


@pytest.fixture(scope="module")
def preview(tmp_path_factory) -> Preview:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    out, report, quarantine = tmp / "out.jsonl", tmp / "report.json", tmp / "quarantine.jsonl"
    with FaultyServer(serve) as server:
        result = CliRunner().invoke(main, ["run", str(PIPELINE), "--to", str(out), "--report", str(report),
                                           "--quarantine", str(quarantine)], env={"DUMMYJSON_URL": server.url})
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return Preview(result.exit_code, result.output, {row["external_id"]: row for row in rows},
                   json.loads(report.read_text(encoding="utf-8")),
                   [json.loads(line) for line in quarantine.read_text(encoding="utf-8").splitlines()])


def dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


@pytest.mark.parametrize("number,expected", [(n, row[2]) for n, row in enumerate(ROWS, 1)],
                         ids=[row[0] for row in ROWS])
def test_each_awkward_product_maps_or_fails_alone(preview, number, expected):
    key = key_of(number)
    if isinstance(expected, dict):
        row = preview.rows[key]
        assert {path: dig(row, path) for path in expected} == expected
        assert key not in {f["key"] for f in preview.report["failures"]}
    else:
        message = expected.replace("{key}", str(key))
        stage = "sink" if "JSON has no" in message else "mapping"
        assert key not in preview.rows
        assert {"key": key, "stage": stage, "message": message} in preview.report["failures"]
        assert [(q["error"], q["record"].get("title")) for q in preview.quarantine if q["key"] == key] == [
            (message, PRODUCTS[number - 1].get("title"))]
        assert f"ERROR   Record {key or '?'} failed ({stage}): {message}" in preview.output


def test_the_run_goes_on_past_every_bad_product_and_exits_3(preview):
    failing = [n for n, row in enumerate(ROWS, 1) if isinstance(row[2], str)]
    assert preview.exit_code == 3
    assert "Traceback" not in preview.output
    assert {k: preview.report[k] for k in ("status", "fetched", "created", "failed")} == {
        "status": "partial", "fetched": len(ROWS), "created": len(ROWS) - len(failing), "failed": len(failing)}
    assert len(preview.quarantine) == len(failing)
    assert f"  ... and {len(failing) - 10} more (see the report or quarantine file)" in preview.output
    assert list(preview.rows) == [key_of(n) for n in range(1, len(ROWS) + 1) if n not in failing]
