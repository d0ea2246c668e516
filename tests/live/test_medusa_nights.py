"""The nights after the first against a real Medusa, checked through the Admin API: what changed upstream is
written and nothing else (each product's updated_at says so), `etl plan` says it beforehand, and products
that left the source are drafted or deleted, within the guard.
"""

from __future__ import annotations

import json

import pytest

from tests.sinks.medusa.harness import DRAFT, GONE, NEW_PRICES, PIPELINE, PRODUCTS, catalogue, run_etl

pytestmark = pytest.mark.live

SOURCE = {str(p["id"]): p for p in PRODUCTS}


def by_key(store) -> dict[str, dict]:
    return {p["external_id"]: p for p in store.products() if p["external_id"]}


def written(before: dict[str, dict], after: dict[str, dict]) -> set[str]:
    return {k for k, p in after.items() if k not in before or p["updated_at"] != before[k]["updated_at"]}


def price(product: dict) -> float:
    [variant] = product["variants"]
    [amount] = [p["amount"] for p in variant["prices"] if p["currency_code"] == "usd"]
    return amount


@pytest.fixture
def first_night(live_medusa, live_store, tmp_path) -> dict[str, dict]:
    result = run_etl("run", live_medusa, tmp_path)
    assert result.exit_code == 0 and result.counts["created"] == 194, result.stderr
    return by_key(live_store)


def test_five_new_prices_and_a_product_gone(live_medusa, live_store, tmp_path, first_night):
    made_by_hand = live_store.create_product("Made by hand", "made-by-hand")
    changed = catalogue(raised=NEW_PRICES, without=(GONE,))
    plan = run_etl("plan", live_medusa, tmp_path, *DRAFT, "--out", str(tmp_path / "plan.json"), products=changed)
    assert plan.exit_code == 0, plan.stderr
    assert plan.stdout.splitlines()[-1] == "Plan: 0 to create, 5 to update, 188 unchanged, 1 to prune"
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert {u["key"]: u["diff"] for u in saved["updates"]} == {
        k: {"variants.0.prices.0.amount": [SOURCE[k]["price"], round(SOURCE[k]["price"] + 1, 2)]}
        for k in NEW_PRICES}
    assert [p["key"] for p in saved["prunes"]] == [GONE]
    assert written(first_night, by_key(live_store)) == set(), "a plan writes nothing"

    result = run_etl("run", live_medusa, tmp_path, *DRAFT, products=changed)
    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 193, "created": 0, "updated": 5, "unchanged": 188, "failed": 0}
    assert result.report["pruned"] == 1
    after = by_key(live_store)
    assert written(first_night, after) == {*NEW_PRICES, GONE}, "exactly those products were written"
    assert {k: price(after[k]) for k in NEW_PRICES} == {k: round(SOURCE[k]["price"] + 1, 2) for k in NEW_PRICES}
    assert after[GONE]["status"] == "draft" and after[GONE]["id"] == first_night[GONE]["id"]
    assert sum(p["status"] == "published" for p in after.values()) == 193
    hand = next(p for p in live_store.products() if p["id"] == made_by_hand["id"])
    assert hand["status"] == "published", "a product made by hand is never pruned"

    again = run_etl("run", live_medusa, tmp_path, *DRAFT, products=changed)
    assert (again.counts["unchanged"], again.report["pruned"]) == (193, 0)
    assert written(after, by_key(live_store)) == set()

    back = run_etl("run", live_medusa, tmp_path, *DRAFT)
    assert back.counts == {"fetched": 194, "created": 0, "updated": 6, "unchanged": 188, "failed": 0}
    final = by_key(live_store)
    assert final[GONE]["status"] == "published", "back upstream, published again"
    assert all(price(final[k]) == SOURCE[k]["price"] for k in NEW_PRICES)


def test_prune_delete_and_the_product_coming_back(live_medusa, live_store, tmp_path, first_night):
    result = run_etl("run", live_medusa, tmp_path, "--set", "prune.action=delete", products=catalogue(without=(GONE,)))
    assert result.exit_code == 0 and result.report["pruned"] == 1, result.stderr
    after = by_key(live_store)
    assert len(after) == 193 and GONE not in after
    assert written(first_night, after) == set()

    back = run_etl("run", live_medusa, tmp_path, "--set", "prune.action=delete")
    assert back.counts["created"] == 1 and back.counts["unchanged"] == 193
    final = by_key(live_store)
    assert final[GONE]["handle"] == first_night[GONE]["handle"] and final[GONE]["id"] != first_night[GONE]["id"]


def test_a_mapping_edit_rewrites_the_products_it_changes(live_medusa, live_store, tmp_path, first_night):
    pipeline = tmp_path / "dummyjson.yaml"
    pipeline.write_text(PIPELINE.read_text(encoding="utf-8").replace(
        "brand: \"{{ record.brand | default(none) }}\"", "brand: \"{{ record.brand | default('Unbranded') }}\""))
    result = run_etl("run", live_medusa, tmp_path, pipeline=pipeline)
    assert result.exit_code == 0, result.stderr
    unbranded = {k for k, p in SOURCE.items() if "brand" not in p}
    assert result.counts["updated"] == len(unbranded) and result.counts["unchanged"] == 194 - len(unbranded)
    after = by_key(live_store)
    assert written(first_night, after) == unbranded
    assert {after[k]["metadata"]["brand"] for k in unbranded} == {"Unbranded"}


def test_a_mass_prune_is_refused_unless_allowed(live_medusa, live_store, tmp_path, first_night):
    refused = run_etl("run", live_medusa, tmp_path, *DRAFT, products=PRODUCTS[:100])
    assert refused.exit_code == 1
    assert "refusing to prune 94 of 194 items" in refused.stderr + refused.stdout
    assert all(p["status"] == "published" for p in by_key(live_store).values())

    planned = run_etl("plan", live_medusa, tmp_path, *DRAFT, products=PRODUCTS[:100])
    assert planned.exit_code == 1 and "pass --allow-mass-prune" in planned.stderr

    allowed = run_etl("run", live_medusa, tmp_path, *DRAFT, "--allow-mass-prune", products=PRODUCTS[:100])
    assert allowed.exit_code == 0 and allowed.report["pruned"] == 94, allowed.stderr
    drafts = {k for k, p in by_key(live_store).items() if p["status"] == "draft"}
    assert drafts == {str(i) for i in range(101, 195)}
