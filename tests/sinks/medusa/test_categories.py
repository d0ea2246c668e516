"""Categories as the mapping names them, and what a new one is created with."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.categories import Categories
from etl.sinks.medusa.terms import Ref

BEAUTY = (("name", "Beauty"), ("handle", "beauty"), ("is_active", True))


@pytest.mark.parametrize("value, expected", [
    ([{"handle": "beauty", "name": "Beauty"}], [Ref("beauty", BEAUTY)]),
    ("beauty", [Ref("beauty", BEAUTY)]),
    ([{"id": "pcat_1"}], [Ref(id="pcat_1")]),
    ([{"name": "no handle"}, "", None], []),
    (None, []),
], ids=["handle and name", "a handle alone", "an id", "nothing usable", "absent"])
def test_mapped_categories(value, expected):
    assert Categories.refs(value) == expected


def test_new_categories_are_active_named_from_the_handle_and_the_first_name_wins():
    categories = Categories()
    categories.collect([{"handle": "home-decoration"}])
    categories.collect([{"handle": "beauty", "name": "Beauty"}, {"handle": "beauty", "name": "Other"}])
    assert categories.wanted == {
        "home-decoration": {"name": "Home Decoration", "handle": "home-decoration", "is_active": True},
        "beauty": {"name": "Beauty", "handle": "beauty", "is_active": True},
    }
