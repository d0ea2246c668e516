"""Categories as the mapping names them, and what a product links to."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.categories import Categories, CategoryRef, category_refs


@pytest.mark.parametrize("value, expected", [
    ([{"handle": "beauty", "name": "Beauty"}], [CategoryRef("beauty", "Beauty")]),
    ("laptops", [CategoryRef("laptops")]),
    ([{"id": "pcat_1"}], [CategoryRef(id="pcat_1")]),
    ([{"name": "no handle"}, "", None], []),
    (None, []),
], ids=["handle and name", "a handle alone", "an id", "nothing usable", "absent"])
def test_mapped_categories(value, expected):
    assert category_refs(value) == expected


def test_names_default_to_the_handle_made_readable_and_the_first_name_wins():
    categories = Categories()
    categories.collect([{"handle": "home-decoration"}])
    categories.collect([{"handle": "beauty", "name": "Beauty"}, {"handle": "beauty", "name": "Other"}])
    assert categories.wanted == {"home-decoration": "Home Decoration", "beauty": "Beauty"}


@pytest.mark.parametrize("value, expected", [
    ([{"handle": "beauty"}], [{"id": "pcat_beauty"}]),
    ([{"handle": "beauty"}, "beauty", {"id": "pcat_beauty"}], [{"id": "pcat_beauty"}]),
    ([{"handle": "beauty"}, {"handle": "unknown"}], None),
    ([], []),
], ids=["by handle", "the same category once", "one unknown: the product's links are left alone",
        "explicitly none"])
def test_what_a_product_links_to(value, expected):
    categories = Categories(ids={"beauty": "pcat_beauty"})
    assert categories.resolve(value) == expected
