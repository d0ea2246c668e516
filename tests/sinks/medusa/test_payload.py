"""The bodies sent to Medusa: what a new product needs to be valid and linked, and what an update must
leave alone (variants, prices, the handle, links it could not resolve)."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.catalog import Price, Product, Variant
from etl.sinks.medusa.payload import body_size, create_body, match_variants, merge_prices, update_body

MAPPED = {
    "title": "Red Lipstick",
    "handle": "red-lipstick",
    "status": "published",
    "external_id": "4",
    "weight": "2",
    "categories": [{"handle": "beauty", "name": "Beauty"}],
    "tags": [{"value": "beauty"}, {"value": "lipstick"}],
    "options": [{"title": "Default option", "values": ["Default option value"]}],
    "variants": [{"title": "Default variant", "sku": "BEA-CHI-LIP-004", "manage_inventory": False,
                  "options": {"Default option": "Default option value"},
                  "prices": [{"currency_code": "usd", "amount": 12.99}]}],
    "metadata": {"brand": "Chic Cosmetics"},
}


LINKS = {"categories": [{"id": "pcat_beauty"}], "tags": [{"id": "ptag_beauty"}, {"id": "ptag_lipstick"}]}


def create(data: dict, **overrides) -> dict:
    args = {"key": "4", "handle": "red-lipstick", "links": LINKS,
            "sales_channel_ids": ("sc_default",), "shipping_profile_id": "sp_default",
            "markers": {"etl_pipeline": "nightly", "etl_key": "4", "etl_hash": "abc"}, **overrides}
    return create_body(data, **args)


def test_a_new_product_is_linked_and_marked():
    body = create(MAPPED)
    assert body["categories"] == [{"id": "pcat_beauty"}]
    assert body["tags"] == [{"id": "ptag_beauty"}, {"id": "ptag_lipstick"}]
    assert body["sales_channels"] == [{"id": "sc_default"}]
    assert body["shipping_profile_id"] == "sp_default"
    assert body["metadata"] == {"brand": "Chic Cosmetics", "etl_pipeline": "nightly", "etl_key": "4",
                                "etl_hash": "abc"}
    assert body["weight"] == 2, "numbers must be JSON numbers"
    assert MAPPED["weight"] == "2" and "sales_channels" not in MAPPED, "the mapped data is not changed"


@pytest.mark.parametrize("mapped, expected_options, expected_variant", [
    pytest.param({"title": "Bare"}, [{"title": "Default option", "values": ["Default option value"]}],
                 {"title": "Default variant", "manage_inventory": False, "prices": [],
                  "options": {"Default option": "Default option value"}},
                 id="no options, no variants: Medusa's minimum is added"),
    pytest.param({"title": "T", "variants": [{"title": "V", "prices": [{"currency_code": "usd",
                                                                        "amount": "10.50"}]}]},
                 [{"title": "Default option", "values": ["Default option value"]}],
                 {"title": "V", "manage_inventory": False,
                  "options": {"Default option": "Default option value"},
                  "prices": [{"currency_code": "usd", "amount": 10.5}]},
                 id="a variant without option values gets the only value (else Medusa answers 500)"),
    pytest.param({"title": "T", "options": [{"title": "Size", "values": ["S", "M"]}],
                  "variants": [{"title": "S", "options": {"Size": "S"}, "manage_inventory": True,
                                "prices": []}]},
                 [{"title": "Size", "values": ["S", "M"]}],
                 {"title": "S", "options": {"Size": "S"}, "manage_inventory": True,
                  "prices": []},
                 id="mapped options and inventory are kept"),
])
def test_every_new_product_has_an_option_and_a_variant(mapped, expected_options, expected_variant):
    body = create(mapped, links={})
    assert body["options"] == expected_options
    assert body["variants"] == [expected_variant]
    assert "categories" not in body


@pytest.mark.parametrize("mapped, expected", [
    ({"title": "T", "sales_channels": [{"id": "sc_b2b"}]}, [{"id": "sc_b2b"}]),
    ({"title": "T"}, [{"id": "sc_default"}]),
], ids=["the mapping's channels win", "the store's default"])
def test_sales_channels(mapped, expected):
    assert create(mapped)["sales_channels"] == expected


EXISTING = Product(
    id="prod_1", handle="red-lipstick-1", external_id="4", metadata={"etl_key": "4"},
    variants=(Variant("variant_1", "BEA-CHI-LIP-004", "Default variant",
                      (Price("price_usd", "usd", True), Price("price_eur", "eur", True),
                       Price("price_usd_vip", "usd", False))),),
)


def update(data: dict, existing: Product = EXISTING, links: dict | None = None) -> dict:
    return update_body(data, existing, {} if links is None else links, {"etl_hash": "abc"})


def test_an_update_keeps_the_handle_sends_no_options_and_stores_the_hash():
    body = update(MAPPED, links=LINKS)
    assert "handle" not in body and "options" not in body
    assert body["categories"] == [{"id": "pcat_beauty"}] and body["tags"] == LINKS["tags"]
    assert body["title"] == "Red Lipstick" and body["weight"] == 2
    assert body["metadata"] == {"brand": "Chic Cosmetics", "etl_hash": "abc"}, "Medusa merges metadata"


@pytest.mark.parametrize("links, sent", [
    ({"categories": None, "tags": LINKS["tags"]}, {"tags"}),
    ({"categories": LINKS["categories"], "tags": None}, {"categories"}),
    ({}, set()),
], ids=["categories failed", "tags failed", "neither resolved"])
def test_an_update_leaves_links_alone_when_they_could_not_be_resolved(links, sent):
    assert update(MAPPED, links=links).keys() & {"categories", "tags"} == sent
    assert create(MAPPED, links=links).keys() & {"categories", "tags"} == sent


def test_an_update_changes_the_variant_and_its_price_in_place_and_keeps_the_others():
    body = update(MAPPED)
    assert body["variants"] == [{
        "id": "variant_1", "title": "Default variant", "sku": "BEA-CHI-LIP-004", "manage_inventory": False,
        "prices": [{"id": "price_usd", "currency_code": "usd", "amount": 12.99}, {"id": "price_eur"},
                   {"id": "price_usd_vip"}],
    }]


def test_an_update_names_every_existing_variant_so_none_is_deleted():
    two = Product("prod_2", "shirt", "9", None,
                  (Variant("variant_s", "SH-S", "S"), Variant("variant_m", "SH-M", "M")))
    body = update({"variants": [{"title": "M", "sku": "SH-M", "prices": []}]}, two)
    assert body["variants"] == [{"id": "variant_m", "title": "M", "sku": "SH-M", "prices": []},
                                {"id": "variant_s"}]


def test_a_new_variant_on_update_goes_last_with_its_options():
    one = Product("prod_3", "shirt", "9", None, (Variant("variant_s", "SH-S", "S"),))
    mapped = [{"title": "S", "sku": "SH-S"}, {"title": "L", "sku": "SH-L", "options": {"Size": "L"}}]
    body = update({"variants": mapped}, one)
    assert body["variants"] == [{"id": "variant_s", "title": "S", "sku": "SH-S"},
                                {"title": "L", "sku": "SH-L", "options": {"Size": "L"}}]


@pytest.mark.parametrize("mapped, existing, expected", [
    ([{"sku": "B"}], [("v1", "A", "x"), ("v2", "B", "y")], ["v2"]),
    ([{"sku": "NEW", "title": "y"}], [("v1", "A", "x"), ("v2", "B", "y")], ["v2"]),
    ([{"sku": "NEW", "title": "new"}], [("v1", "A", "x")], ["v1"]),
    ([{"sku": "NEW", "title": "new"}], [("v1", "A", "x"), ("v2", "B", "y")], [None]),
    ([{"sku": "A"}, {"sku": "Z"}], [("v1", "A", "x")], ["v1", None]),
], ids=["same sku", "same title", "the only one left (a changed sku)", "ambiguous: a new variant",
        "more mapped than existing"])
def test_which_existing_variant_a_mapped_one_describes(mapped, existing, expected):
    variants = tuple(Variant(*v) for v in existing)
    assert [v.id if v else None for v in match_variants(mapped, variants)] == expected


@pytest.mark.parametrize("mapped, expected", [
    ([{"currency_code": "USD", "amount": 5}],
     [{"currency_code": "USD", "amount": 5, "id": "p_usd"}, {"id": "p_eur"}]),
    ([{"currency_code": "gbp", "amount": 4}],
     [{"currency_code": "gbp", "amount": 4}, {"id": "p_usd"}, {"id": "p_eur"}]),
    ([], [{"id": "p_usd"}, {"id": "p_eur"}]),
], ids=["in place, any case", "a new currency is added", "nothing mapped: every price kept"])
def test_prices_are_merged_never_wiped(mapped, expected):
    assert merge_prices(mapped, (Price("p_usd", "usd", True), Price("p_eur", "eur", True))) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2", 2), ("2.50", 2.5), (" 7 ", 7), ("N/A", "N/A"), ("nan", "nan"), (3.25, 3.25), (None, None),
])
def test_numbers_sent_as_text_become_numbers(raw, expected):
    body = create({"title": "T", "weight": raw}, links={})
    assert body["weight"] == expected and type(body["weight"]) is type(expected)


def test_body_size_counts_bytes_as_sent():
    assert body_size({"title": "é"}) == len('{"title": "\\u00e9"}')
