"""Change detection: which mapped changes make a product differ (and which do not), and the diff a plan
shows, with the store's old values, read the way Medusa returns them."""

from __future__ import annotations

import copy

import pytest

from etl.sinks.medusa.catalog import Product
from etl.sinks.medusa.changes import content_hash, diff, product_content, stored_content

MAPPED = {
    "title": "Red Lipstick",
    "handle": "red-lipstick",
    "status": "published",
    "weight": 1,
    "images": [{"url": "https://cdn/1.webp"}, {"url": "https://cdn/2.webp"}],
    "categories": [{"handle": "beauty", "name": "Beauty"}],
    "tags": [{"value": "lipstick"}, {"value": "beauty"}],
    "options": [{"title": "Default option", "values": ["Default option value"]}],
    "variants": [{"title": "Default variant", "sku": "BEA-4", "manage_inventory": False,
                  "options": {"Default option": "Default option value"},
                  "prices": [{"currency_code": "usd", "amount": 12.99}]}],
    "metadata": {"brand": "Chic Cosmetics", "rating": 4.5},
}

ROW = {
    "id": "prod_4", "handle": "red-lipstick-1", "external_id": "4", "title": "Red Lipstick", "status": "published",
    "weight": 1,
    "images": [{"url": "https://cdn/2.webp", "rank": 1}, {"url": "https://cdn/1.webp", "rank": 0}],
    "categories": [{"id": "pcat_1", "handle": "beauty"}],
    "tags": [{"id": "ptag_1", "value": "beauty"}, {"id": "ptag_2", "value": "lipstick"}],
    "variants": [{"id": "variant_1", "sku": "BEA-4", "title": "Default variant", "manage_inventory": False,
                  "prices": [
                      {"id": "price_vip", "currency_code": "usd", "amount": 9, "rules": {"customer_group_id": "vip"}},
                      {"id": "price_1", "currency_code": "usd", "amount": 12.99, "rules": {}},
                      {"id": "price_eur", "currency_code": "eur", "amount": 11, "rules": {}}]}],
    "metadata": {"brand": "Chic Cosmetics", "rating": 4.5, "etl_key": "4", "etl_hash": "old"},
}


def changed(**edits) -> dict:
    data = copy.deepcopy(MAPPED)
    for path, value in edits.items():
        node = data
        *parents, last = path.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return data


@pytest.mark.parametrize("edited, differs", [
    (changed(variants__0__prices__0__amount=13.99), True),
    (changed(title="Red Lipstick (new)"), True),
    (changed(metadata__brand=None), True),
    (changed(categories=[{"handle": "makeup", "name": "Makeup"}]), True),
    (changed(tags=[{"value": "lipstick"}]), True),
    (changed(weight="1"), False),
    (changed(handle="red-lipstick-2"), False),
    (changed(options=[{"title": "Colour", "values": ["Red"]}]), False),
    (changed(categories=[{"handle": "beauty", "name": "Make-up"}]), False),
    (changed(tags=[{"value": "beauty"}, {"value": "lipstick"}]), False),
    (changed(variants__0__options={"Colour": "Red"}), False),
], ids=["a price", "a title", "a metadata value", "another category", "a tag less",
        "a number as text: sent as the same number", "the handle: an update keeps it",
        "options: an update never sends them", "a category's name: categories are created once",
        "tags in another order", "a variant's option values"])
def test_what_changes_the_hash(edited, differs):
    assert (content_hash(product_content(edited)) != content_hash(product_content(MAPPED))) is differs


def test_the_hash_does_not_depend_on_key_order():
    reordered = dict(reversed(list(MAPPED.items())))
    assert content_hash(product_content(reordered)) == content_hash(product_content(MAPPED))


def test_what_could_not_be_linked_is_left_out_of_the_stored_hash():
    without = product_content(MAPPED, without=["categories"])
    assert "categories" not in without
    assert content_hash(without) != content_hash(product_content(MAPPED)), "the next run links them"


def test_an_unchanged_product_shows_no_difference_with_the_store():
    content = product_content(MAPPED)
    assert diff(stored_content(Product.from_api(ROW, keep_row=True), content), content) == {}


@pytest.mark.parametrize("edited, expected", [
    (changed(variants__0__prices__0__amount=13.99), {"variants.0.prices.0.amount": [12.99, 13.99]}),
    (changed(metadata__rating=4.6, status="draft"), {"status": ["published", "draft"],
                                                     "metadata.rating": [4.5, 4.6]}),
    (changed(images=[{"url": "https://cdn/1.webp"}]), {"images.1": ["https://cdn/2.webp", None]}),
    (changed(tags=[{"value": "beauty"}, {"value": "red"}]), {"tags.1": ["lipstick", "red"]}),
    (changed(metadata__barcode="0478"), {"metadata.barcode": [None, "0478"]}),
], ids=["the plain usd price, not the vip one", "top-level and metadata fields", "an image fewer",
        "a tag replaced", "a new metadata key"])
def test_the_diff_shows_old_and_new_values(edited, expected):
    content = product_content(edited)
    assert diff(stored_content(Product.from_api(ROW, keep_row=True), content), content) == expected


def test_a_variant_the_store_does_not_have_shows_as_new():
    content = product_content(changed(variants__0__sku="BEA-4-NEW", variants__0__title="Gift set"))
    old = stored_content(Product.from_api({**ROW, "variants": ROW["variants"] * 2}, keep_row=True), content)
    assert old["variants"] == [None]
    assert diff(old, content)["variants.0.sku"] == [None, "BEA-4-NEW"]
