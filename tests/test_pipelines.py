"""pipelines/dummyjson.yaml, the example users copy, previewed over the recorded DummyJSON catalogue."""

from __future__ import annotations

import json
from collections import Counter

from click.testing import CliRunner

from etl.cli import main

from .conftest import DATA, ROOT, make_vcr

PIPELINE = str(ROOT / "pipelines" / "dummyjson.yaml")


def test_preview_writes_every_product_mapped_for_medusa(dummyjson_url, tmp_path):
    out = tmp_path / "out.jsonl"
    with make_vcr().use_cassette("dummyjson-catalogue.yaml") as cassette:
        result = CliRunner().invoke(main, ["run", PIPELINE, "--to", str(out), "--report", str(tmp_path / "r.json")],
                                    env={"DUMMYJSON_URL": dummyjson_url})
    assert result.exit_code == 0, result.output
    assert [r.uri.split("?")[1] for r in cassette.requests] == [f"limit=30&skip={s}" for s in range(0, 181, 30)]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    source = json.loads((DATA / "products.json").read_text())
    assert len(rows) == 194
    assert [r["external_id"] for r in rows] == [str(i) for i in range(1, 195)]
    assert len({r["handle"] for r in rows}) == 194
    assert len({r["categories"][0]["handle"] for r in rows}) == 24
    by_id = {r["external_id"]: r for r in rows}
    assert by_id["96"]["handle"] == "rolex-cellini-moonphase"
    assert by_id["191"]["handle"] == "rolex-cellini-moonphase-1"
    assert by_id["92"]["handle"] == "sports-sneakers-off-white-red-1"
    for product, row in zip(source, rows, strict=True):
        assert row["title"] == product["title"]
        assert row["description"] == product["description"]
        assert row["thumbnail"] == product["thumbnail"]
        assert [i["url"] for i in row["images"]] == product["images"]
        assert row["variants"][0]["prices"][0]["amount"] == product["price"]
        assert row["variants"][0]["sku"] == product["sku"]
        assert row["metadata"]["barcode"] == product["meta"]["barcode"]
        assert row["metadata"]["brand"] == product.get("brand")
    assert Counter(r["categories"][0]["handle"] for r in rows)["kitchen-accessories"] == 30
    assert by_id["6"]["categories"] == [{"handle": "fragrances", "name": "Fragrances"}]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["status"], report["fetched"], report["created"], report["failed"]) == ("ok", 194, 194, 0)


def test_the_example_pipeline_validates():
    result = CliRunner().invoke(main, ["validate", PIPELINE], env={"MEDUSA_API_KEY": "sk_test"})
    assert result.exit_code == 0, result.output


def test_the_schema_file_editors_use_is_current():
    """pipelines/pipeline.schema.json is what `etl schema` prints (regenerate: make schema)."""
    result = CliRunner().invoke(main, ["schema"])
    assert json.loads((ROOT / "pipelines" / "pipeline.schema.json").read_text()) == json.loads(result.output)
