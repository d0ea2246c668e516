"""kill -9 the nightly sync at ten places, one crash after another, against a real Medusa; each crashed run is
the rerun of the one before. After every crash the store holds exactly what Medusa applied, never a duplicate;
after the next run let through, it holds exactly the source's catalogue.

    make test-live          (tests/live/crash.py kills the run on cue, through a proxy in front of Medusa)
"""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from etl.slugs import slugify, unique_handle
from tests.sinks.medusa.harness import PRODUCTS
from tests.sinks.medusa.store import AdminStore
from tests.support.dummyjson import serve_dummyjson

from .crash import BATCH, CATEGORIES, LAST, PRODUCT_LIST, KillPoint, killed_run, run
from .test_medusa_sync import check_store_matches_the_catalogue

pytestmark = pytest.mark.live

SOURCE = {str(p["id"]): p for p in PRODUCTS}
CATEGORY = {key: slugify(p["category"]) for key, p in SOURCE.items()}


def clean_run_handles() -> dict[str, str]:
    """The handle each product gets on a first night with no crash: its title's slug, `-1` for a second one."""
    taken: set[str] = set()
    handles = {}
    for product in PRODUCTS:
        handles[str(product["id"])] = handle = unique_handle(slugify(product["title"]), taken)
        taken.add(handle)
    return handles


HANDLES = clean_run_handles()

CRASHES = [
    ("category sync: the 5th create never reaches Medusa", KillPoint("POST", CATEGORIES, 5, "sent")),
    ("category sync: the 10th create is applied, its answer lost", KillPoint("POST", CATEGORIES, 10, "applied")),
    ("reading the store's products", KillPoint("GET", PRODUCT_LIST, 1, "sent")),
    ("inside batch 1: applied, its answer lost", KillPoint("POST", BATCH, 1, "applied")),
    ("between batches 7 and 8", KillPoint("POST", BATCH, 7, "answered")),
    ("between batches 1 and 2", KillPoint("POST", BATCH, 1, "answered")),
    ("inside batch 2: it never reaches Medusa", KillPoint("POST", BATCH, 2, "sent")),
    ("inside batch 2: applied, its answer lost", KillPoint("POST", BATCH, 2, "applied")),
    ("the last batch: it never reaches Medusa", KillPoint("POST", BATCH, LAST, "sent")),
    ("right after the last batch: applied, its answer lost", KillPoint("POST", BATCH, LAST, "applied")),
]
"""In this order every crash still finds its request, whether a run rewrites the products that exist or skips
the unchanged ones: at most 12 of the 13 batches of the catalogue are written before the last two crashes."""


def check_consistent(store: AdminStore, when: str) -> tuple[set[str], set[str]]:
    """What must hold at any moment, crash or not: each product once, a source product, with the handle a clean
    run gives it and linked to exactly its category; each category once, active. The external_ids and
    category handles in the store."""
    products = store.products("id,external_id,handle,*categories")
    external_ids = Counter(p["external_id"] for p in products)
    handles = Counter(p["handle"] for p in products)
    assert [k for k, n in external_ids.items() if n > 1] == [], f"{when}: duplicate external_id"
    assert [h for h, n in handles.items() if n > 1] == [], f"{when}: duplicate handle"
    assert set(external_ids) <= SOURCE.keys(), f"{when}: a product that is not in the source"
    for product in products:
        key = product["external_id"]
        assert product["handle"] == HANDLES[key], f"{when}: product {key} has handle {product['handle']!r}"
        assert [c["handle"] for c in product["categories"]] == [CATEGORY[key]], f"{when}: product {key}'s categories"
    categories = store.categories()
    category_handles = Counter(c["handle"] for c in categories)
    assert [h for h, n in category_handles.items() if n > 1] == [], f"{when}: duplicate category"
    assert set(category_handles) <= set(CATEGORY.values()), f"{when}: a category that is not in the source"
    assert all(c["is_active"] for c in categories), f"{when}: an inactive category"
    return set(external_ids), set(category_handles)


def test_ten_crashes_in_a_row_leave_no_duplicate_and_the_next_run_completes_the_store(
        live_medusa, live_store, tmp_path):
    products: set[str] = set()
    categories: set[str] = set()
    with serve_dummyjson() as dummyjson:
        for n, (what, point) in enumerate(CRASHES, 1):
            applied = killed_run(live_medusa, point, dummyjson, tmp_path, f"crash-{n}")
            when = f"after crash {n} ({what})"
            assert not set(applied.creates) & products, f"{when}: a product that existed was created again"
            found = check_consistent(live_store, when)
            assert found == (products | set(applied.creates), categories | set(applied.categories)), (
                f"{when}: the store holds what Medusa applied, nothing more or less")
            products, categories = found
        final = run(live_medusa, dummyjson, tmp_path, "final")

    assert final.exit_code == 0, final.stderr
    report = final.report
    assert (report["fetched"], report["failed"], report["created"]) == (194, 0, 194 - len(products))
    assert report["updated"] + report["unchanged"] == len(products)
    assert f"Found {len(products)} existing products in Medusa" in final.stderr
    products, categories = check_consistent(live_store, "after the final run")
    assert sorted(products, key=int) == [str(i) for i in range(1, 195)], "exactly the source's products"
    assert categories == set(CATEGORY.values()) and len(categories) == 24
    check_store_matches_the_catalogue(live_store)


UPDATE_NIGHT_CRASHES = [
    ("inside batch 3: applied, its answer lost", KillPoint("POST", BATCH, 3, "applied")),
    ("between batches 5 and 6", KillPoint("POST", BATCH, 5, "answered")),
    ("the last batch: it never reaches Medusa", KillPoint("POST", BATCH, LAST, "sent")),
]


def prices(store: AdminStore) -> dict[str, float]:
    """Product id -> the price of its one variant."""
    return {p["id"]: p["variants"][0]["prices"][0]["amount"]
            for p in store.products("id,variants.prices.amount")}


def test_crashes_on_a_night_of_price_changes_create_nothing_and_the_next_run_finishes_the_update(
        live_medusa, live_store, tmp_path):
    with serve_dummyjson() as dummyjson:
        assert run(live_medusa, dummyjson, tmp_path, "first-night").exit_code == 0
    ids = {p["external_id"]: p["id"] for p in live_store.products("id,external_id")}
    raised = copy.deepcopy(PRODUCTS)
    for product in raised:
        product["price"] = round(product["price"] + 1, 2)
    new_price = {ids[str(p["id"])]: p["price"] for p in raised}

    updated: set[str] = set()
    with serve_dummyjson(raised) as dummyjson:
        for n, (what, point) in enumerate(UPDATE_NIGHT_CRASHES, 1):
            applied = killed_run(live_medusa, point, dummyjson, tmp_path, f"crash-{n}")
            when = f"after crash {n} ({what})"
            assert applied.creates == [], f"{when}: a product was created on a night that only updates"
            products, _ = check_consistent(live_store, when)
            assert len(products) == 194, f"{when}: products lost or added"
            updated |= set(applied.updates)
            now = prices(live_store)
            assert {i for i, amount in now.items() if amount == new_price[i]} == updated, (
                f"{when}: the new price is on exactly the products whose update Medusa applied")
        final = run(live_medusa, dummyjson, tmp_path, "final")

    assert final.exit_code == 0, final.stderr
    assert (final.report["created"], final.report["failed"]) == (0, 0)
    assert final.report["updated"] + final.report["unchanged"] == 194
    check_consistent(live_store, "after the final run")
    assert prices(live_store) == new_price, "every product has the new price"
