"""What the store holds, indexed the way the sync needs it: by external_id, with every handle in use."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.catalog import Catalog

ROWS = [
    {"id": "prod_a", "handle": "iphone-9", "external_id": "1", "metadata": None,
     "variants": [{"id": "variant_a", "sku": "A", "title": "Default variant",
                   "prices": [{"id": "price_a", "currency_code": "USD", "rules": {}, "min_quantity": None},
                              {"id": "price_b2b", "currency_code": "usd",
                               "rules": {"customer_group_id": "cg"}}]}]},
    {"id": "prod_b", "handle": "iphone-x", "external_id": "2", "metadata": {}},
    {"id": "prod_c", "handle": "iphone-x-copy", "external_id": "2", "metadata": {}},
    {"id": "prod_d", "handle": "made-by-hand", "external_id": None},
]


def test_products_are_found_by_external_id_and_duplicates_are_conflicts():
    catalog = Catalog.of(ROWS)
    assert catalog.count == 4
    assert [p.id for p in catalog.find("1")] == ["prod_a"]
    assert catalog.find("3") == []
    assert {k: [p.id for p in v] for k, v in catalog.conflicts().items()} == {"2": ["prod_b", "prod_c"]}
    assert "made-by-hand" in catalog.handles, "products without an external_id still hold their handle"


def test_only_prices_for_everyone_are_plain():
    prices = Catalog.of(ROWS).find("1")[0].variants[0].prices
    assert [(p.id, p.currency_code, p.plain) for p in prices] == [("price_a", "usd", True),
                                                                   ("price_b2b", "usd", False)]


@pytest.mark.parametrize("taken, wanted, expected", [
    ([], ["watch"], ["watch"]),
    (["watch"], ["watch"], ["watch-1"]),
    (["watch", "watch-1"], ["watch"], ["watch-2"]),
    ([], ["rolex-cellini-moonphase", "rolex-cellini-moonphase"],
     ["rolex-cellini-moonphase", "rolex-cellini-moonphase-1"]),
    (["watch-1"], ["watch", "watch"], ["watch", "watch-2"]),
], ids=["free", "taken in the store", "taken twice", "twice in one run", "a suffix already taken"])
def test_handles_are_made_unique_the_seed_way(taken, wanted, expected):
    catalog = Catalog.of({"id": f"p{i}", "handle": h} for i, h in enumerate(taken))
    assert [catalog.reserve_handle(w) for w in wanted] == expected


def test_only_products_with_a_pipelines_marks_can_be_pruned():
    rows = [{"id": "prod_mine", "handle": "a", "metadata": {"etl_pipeline": "nightly", "etl_key": "1"}},
            {"id": "prod_half", "handle": "b", "metadata": {"etl_pipeline": "nightly"}},
            {"id": "prod_hand", "handle": "c", "metadata": {"brand": "x"}},
            {"id": "prod_bare", "handle": "d", "metadata": None}]
    assert [p.id for p in Catalog.of(rows).marked] == ["prod_mine"]
