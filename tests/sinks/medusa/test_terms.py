"""Categories and tags are found or created once, then products link to them by id; a failed sync leaves
every product's links alone rather than replace them with a partial set."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.categories import Categories
from etl.sinks.medusa.client import MedusaError
from etl.sinks.medusa.tags import Tags


class Client:
    """Answers like Medusa's list and create routes; `refuse` makes every create fail like a 503."""

    def __init__(self, known: dict[str, str], refuse: bool = False):
        self.known = dict(known)
        self.refuse = refuse
        self.created: list[dict] = []

    def pages(self, route, plural, params):
        key = params["fields"].split(",")[1]
        return [{"id": term_id, key: value} for value, term_id in self.known.items()]

    def post(self, route, body, params=None):
        if self.refuse:
            raise MedusaError("Medusa answered 503", 503, "unavailable")
        self.created.append(body)
        singular = "product_tag" if "tags" in route else "product_category"
        return {singular: {"id": f"new_{len(self.created)}"}}


@pytest.mark.parametrize("dry_run, expected_ids, created", [
    (False, {"beauty": "pcat_b", "mascara": "new_1"}, 1),
    (True, {"beauty": "pcat_b", "mascara": "(new tag mascara)"}, 0),
], ids=["run", "plan"])
def test_only_missing_terms_are_created(dry_run, expected_ids, created):
    tags, client = Tags(), Client({"beauty": "pcat_b"})
    tags.collect([{"value": "beauty"}, {"value": "mascara"}])
    assert tags.sync(client, dry_run) == ["mascara"]
    assert tags.ids == expected_ids and len(client.created) == created
    assert tags.summary(dry_run, ["mascara"]) == (
        "Tags: 1 to create, 1 existing" if dry_run else "Tags synced: 1 created, 1 existing")


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


def test_a_failed_sync_links_nothing():
    categories = Categories()
    categories.collect([{"handle": "beauty"}])
    with pytest.raises(MedusaError):
        categories.sync(Client({}, refuse=True))
    assert categories.failed == "Medusa answered 503"
    assert categories.resolve([{"handle": "beauty"}]) is None
    assert categories.resolve([{"id": "pcat_known"}]) is None, "not even a set given by id: all or nothing"
