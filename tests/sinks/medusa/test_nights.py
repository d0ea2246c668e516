"""The nights after the first, replayed from cassettes recorded against a real Medusa 2.21: a product is written
only when its mapped content changed, `etl plan` says beforehand what a run will do, field by field, and
products that left the source are drafted or deleted, within the guard.

Each scenario starts from a store the first night filled (see traffic.after), with the catalogue served
as the test says: the same, five prices raised and one product gone, or only the first 100 products.
"""

from __future__ import annotations

import json
import re

from .harness import DRAFT, GONE, NEW_PRICES, PIPELINE, PRODUCTS, cassette, catalogue, interactions, run_etl
from .traffic import accepted, after, batches, calls, listed, writes

SOURCE = {str(p["id"]): p for p in PRODUCTS}
READS = {"GET /admin/stores": 1, "GET /admin/shipping-profiles": 1, "GET /admin/product-categories": 1,
         "GET /admin/product-tags": 1, "GET /admin/products": 1}


CHANGED = catalogue(raised=NEW_PRICES, without=(GONE,))
PRICES = {k: (SOURCE[k]["price"], round(SOURCE[k]["price"] + 1, 2)) for k in NEW_PRICES}


def test_a_night_without_upstream_changes_only_reads(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    with cassette("medusa-second-run.yaml"):
        result = run_etl("run", medusa, tmp_path)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 0, "updated": 0, "unchanged": 194, "failed": 0}
    assert "Unchanged:  194" in result.stdout
    for line in ["Categories synced: 0 created, 24 existing", "Tags synced: 0 created, 138 existing",
                 "Found 194 existing products in Medusa", "0 products to create, 0 to update, 194 unchanged"]:
        assert line in result.stderr
    sent = interactions("medusa-second-run.yaml")
    assert calls(sent) == READS, "five reads, not one write"
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["metadata"]["etl_hash"]) for p in listed(sent).values())


def test_full_rewrites_every_product_in_place(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    with cassette("medusa-full-run.yaml"):
        result = run_etl("run", medusa, tmp_path, "--full")

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 0, "updated": 194, "unchanged": 0, "failed": 0}
    assert "Batch 13: updated 14 products (194/194)" in result.stderr
    sent = interactions("medusa-full-run.yaml")
    assert calls(sent) == {**READS, "POST /admin/products/batch": 13}
    existing = listed(sent)
    updates = accepted(sent, "update")
    assert sorted(int(u["external_id"]) for u in updates) == list(range(1, 195))
    for update in updates:
        product = existing[update["external_id"]]
        assert update["id"] == product["id"]
        assert "handle" not in update and "options" not in update, "an update keeps the handle, never options"
        current = product["variants"][0]
        assert [v["id"] for v in update["variants"]] == [current["id"]], "the variant is updated in place"
        assert [p.get("id") for p in update["variants"][0]["prices"]] == [p["id"] for p in current["prices"]]
        assert update["metadata"]["etl_hash"] == product["metadata"]["etl_hash"], "the content is the same"
        assert "etl_pipeline" not in update["metadata"], "an update leaves the pipeline's marks as they are"


def test_a_mapping_edit_rewrites_the_products_it_changes(medusa, store, tmp_path):
    pipeline = tmp_path / "dummyjson.yaml"
    pipeline.write_text(PIPELINE.read_text(encoding="utf-8").replace(
        "brand: \"{{ record.brand | default(none) }}\"", "brand: \"{{ record.brand | default('Unbranded') }}\""))
    unbranded = sorted(k for k, p in SOURCE.items() if "brand" not in p)
    after(store, medusa, tmp_path, None)
    with cassette("medusa-mapping-edit.yaml"):
        result = run_etl("run", medusa, tmp_path, pipeline=pipeline)

    assert result.exit_code == 0, result.stderr
    assert len(unbranded) == 92
    assert result.counts == {"fetched": 194, "created": 0, "updated": 92, "unchanged": 102, "failed": 0}
    sent = interactions("medusa-mapping-edit.yaml")
    updates = accepted(sent, "update")
    assert sorted(u["external_id"] for u in updates) == unbranded
    assert {u["metadata"]["brand"] for u in updates} == {"Unbranded"}
    existing = listed(sent)
    assert all(u["metadata"]["etl_hash"] != existing[u["external_id"]]["metadata"]["etl_hash"] for u in updates)


def test_five_new_prices_and_a_product_gone_plan_then_run(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    if store is not None:
        store.create_product("Made by hand", "made-by-hand")
        store.create_product("Another pipeline's", "another-pipelines", external_id="9999",
                             metadata={"etl_pipeline": "erp-to-medusa", "etl_key": "9999"})
    with cassette("medusa-change-plan.yaml"):
        plan = run_etl("plan", medusa, tmp_path, *DRAFT, "--out", str(tmp_path / "plan.json"), products=CHANGED)

    assert plan.exit_code == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[-1] == "Plan: 0 to create, 5 to update, 188 unchanged, 1 to prune"
    for key, (old, new) in PRICES.items():
        at = lines.index(f"~ update  {key:>6}  {SOURCE[key]['title']}")
        assert lines[at + 1] == f"      variants.0.prices.0.amount: {old} -> {new}"
    assert f"- prune   {GONE:>6}  Apple Airpods (apple-airpods)" in lines
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert {u["key"]: u["diff"] for u in saved["updates"]} == {
        k: {"variants.0.prices.0.amount": list(v)} for k, v in PRICES.items()}
    assert [p["key"] for p in saved["prunes"]] == [GONE]
    assert calls(interactions("medusa-change-plan.yaml")) == READS, "a plan only reads"

    with cassette("medusa-change-run.yaml"):
        result = run_etl("run", medusa, tmp_path, *DRAFT, products=CHANGED)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 193, "created": 0, "updated": 5, "unchanged": 188, "failed": 0}
    assert result.report["pruned"] == 1 and "Pruned:     1" in result.stdout
    sent = interactions("medusa-change-run.yaml")
    existing = listed(sent)
    assert {"made-by-hand", "another-pipelines"} <= {p["handle"] for p in existing.values()}
    [prices, prune] = batches(sent)
    assert calls(sent) == {**READS, "POST /admin/products/batch": 2}
    assert sorted(u["external_id"] for u in prices.body["update"]) == sorted(NEW_PRICES)
    for update in prices.body["update"]:
        current = existing[update["external_id"]]["variants"][0]["prices"][0]
        assert update["variants"][0]["prices"] == [{"id": current["id"], "currency_code": "usd",
                                                    "amount": PRICES[update["external_id"]][1]}]
    assert prune.body == {"update": [{"id": existing[GONE]["id"], "status": "draft", "metadata": {"etl_hash": ""}}]}
    assert prune.status == 200 and prune.answer["updated"][0]["id"] == existing[GONE]["id"]
    untouched = {p["id"] for p in existing.values() if p["handle"] in ("made-by-hand", "another-pipelines")}
    assert len(untouched) == 2 and not untouched & {u["id"] for u in accepted(sent, "update")}


def test_a_drafted_product_stays_drafted_and_comes_back_published(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    if store is not None:
        assert run_etl("run", medusa, tmp_path / "setup", *DRAFT, products=CHANGED).report["pruned"] == 1
    with cassette("medusa-change-rerun.yaml"):
        again = run_etl("run", medusa, tmp_path, *DRAFT, products=CHANGED)
    with cassette("medusa-change-back.yaml"):
        back = run_etl("run", medusa, tmp_path, *DRAFT)

    assert again.exit_code == 0 and back.exit_code == 0, again.stderr + back.stderr
    assert again.counts == {"fetched": 193, "created": 0, "updated": 0, "unchanged": 193, "failed": 0}
    assert again.report["pruned"] == 0, "a product already drafted is not drafted again"
    rerun = interactions("medusa-change-rerun.yaml")
    assert calls(rerun) == READS
    gone = listed(rerun)[GONE]
    assert gone["status"] == "draft" and "etl_hash" not in gone["metadata"]

    assert back.counts == {"fetched": 194, "created": 0, "updated": 6, "unchanged": 188, "failed": 0}
    updates = {u["external_id"]: u for u in accepted(interactions("medusa-change-back.yaml"), "update")}
    assert sorted(updates) == sorted([*NEW_PRICES, GONE])
    assert updates[GONE]["id"] == gone["id"] and updates[GONE]["status"] == "published"
    assert re.fullmatch(r"[0-9a-f]{64}", updates[GONE]["metadata"]["etl_hash"])


def test_prune_delete_removes_the_product(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    with cassette("medusa-prune-delete.yaml"):
        result = run_etl("run", medusa, tmp_path, "--set", "prune.action=delete", products=catalogue(without=(GONE,)))

    assert result.exit_code == 0, result.stderr
    assert result.counts["unchanged"] == 193 and result.report["pruned"] == 1
    assert "Pruned 1 products (delete)" in result.stderr
    sent = interactions("medusa-prune-delete.yaml")
    gone = listed(sent)[GONE]["id"]
    assert [i.body for i in writes(sent)] == [{"delete": [gone]}]
    assert batches(sent)[0].answer["deleted"]["ids"] == [gone]


def test_a_mass_prune_is_refused_and_nothing_is_pruned(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    with cassette("medusa-mass-prune.yaml"):
        result = run_etl("run", medusa, tmp_path, *DRAFT, products=PRODUCTS[:100])

    assert result.exit_code == 1
    assert result.report["error"] == ("refusing to prune 94 of 194 items (48% > prune.max_fraction 10%): check the "
                                      "source, or pass --allow-mass-prune")
    assert result.report["pruned"] == 0 and result.counts["unchanged"] == 100
    assert calls(interactions("medusa-mass-prune.yaml")) == READS


def test_a_mass_prune_goes_ahead_when_allowed(medusa, store, tmp_path):
    after(store, medusa, tmp_path, None)
    with cassette("medusa-mass-prune-allowed.yaml"):
        result = run_etl("run", medusa, tmp_path, *DRAFT, "--allow-mass-prune", products=PRODUCTS[:100])

    assert result.exit_code == 0, result.stderr
    assert result.report["pruned"] == 94
    sent = interactions("medusa-mass-prune-allowed.yaml")
    existing = listed(sent)
    drafted = accepted(sent, "update")
    assert [len(i.body["update"]) for i in batches(sent)] == [15] * 6 + [4], "in batches of sink.batch_size"
    assert sorted(u["id"] for u in drafted) == sorted(existing[str(k)]["id"] for k in range(101, 195))
    assert all(u["status"] == "draft" for u in drafted)
