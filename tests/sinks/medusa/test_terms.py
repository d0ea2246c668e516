"""Categories and tags are found or created once, then products link to them by id; a failed sync leaves
every product's links alone rather than replace them with a partial set.

They are created a few at a time; against Medusa (cassettes recorded through tests/sinks/medusa/proxy.py),
a run still reports the failure a one-at-a-time loop would have stopped at, sends the same requests in every
replay, logs in call order, and counts a term another run created meanwhile as existing."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import requests

from etl.sinks.medusa.categories import Categories
from etl.sinks.medusa.client import MedusaError
from etl.sinks.medusa.tags import Tags
from etl.slugs import slugify

from .harness import PRODUCTS, Medusa, cassette, interactions, run_etl
from .proxy import UPSTREAM_MARK, Fault, MedusaProxy
from .store import AdminStore
from .traffic import accepted

TAGS = list(dict.fromkeys(t for p in PRODUCTS for t in p["tags"]))
"""In the order the run wants them: the order it creates them in, and a one-at-a-time loop's."""
CATEGORIES = list(dict.fromkeys(slugify(p["category"]) for p in PRODUCTS))
AT_ONCE = 4
RUN = ("--set", f"sink.concurrency={AT_ONCE}", "--set", "sink.retry.backoff.initial=0.2s")


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


@contextmanager
def through(medusa: Medusa, store: AdminStore | None, proxy: Callable[[str], MedusaProxy]) -> Iterator[Medusa]:
    """While recording: an empty store, and the proxy between the sink and Medusa; in replay the cassette
    has both."""
    if store is None:
        yield medusa
        return
    store.reset()
    with proxy(medusa.url) as running:
        yield replace(medusa, url=running.url)


def created(sent, route: str) -> list:
    return [i for i in sent if i.method == "POST" and i.path == route]


def test_the_first_tag_refused_in_order_is_reported_even_when_a_later_one_was_refused_sooner(medusa, store,
                                                                                              tmp_path):
    """Tag 10 is refused with a 503 (retried: 1.4 s before it fails), tag 12 with a 400 at once: a loop would
    have stopped at tag 10, so the run reports tag 10's failure, and no product gets a tag."""
    first, later = TAGS[9], TAGS[11]
    faults = (Fault("POST", "/admin/product-tags", 503, times=1000, body={"value": first}),
              Fault("POST", "/admin/product-tags", 400, times=1000, body={"value": later}))
    with through(medusa, store, lambda url: MedusaProxy(url, *faults)) as target, \
            cassette("medusa-tag-refused-in-order.yaml"):
        result = run_etl("run", target, tmp_path, *RUN)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    warning = ("Tag sync failed: Medusa answered 503 to POST /admin/product-tags: injected 503 by the test "
               "proxy. Products are synced without tags this run")
    assert result.report["warnings"] == [warning]
    assert "Categories synced: 24 created, 0 existing" in result.stderr
    retries = re.findall(r"Attempt (\d)/4 failed: 503 .*product-tags.*", result.stderr)
    assert retries == ["1", "2", "3"], "tag 10's retries, logged in order"

    sent = interactions("medusa-tag-refused-in-order.yaml")
    tried = Counter(i.body["value"] for i in created(sent, "/admin/product-tags"))
    assert tried == {**dict.fromkeys(TAGS[:9 + AT_ONCE], 1), first: 4}, (
        "the tags up to tag 10 and the three beside it: the same requests whatever the timing, none after")
    assert {i.status for i in created(sent, "/admin/product-tags") if i.body["value"] == later} == {400}
    creates = accepted(sent, "create")
    assert len(creates) == 194 and all("tags" not in c and len(c["categories"]) == 1 for c in creates), (
        "no product is linked to the tags that were created: all or none")


class RacingProxy(MedusaProxy):
    """Another run creates some of the terms between this run's look-up and its own create: just before
    the sink's request for one of them reaches Medusa, the proxy sends Medusa the same request itself."""

    def __init__(self, target: str, taken: dict[str, set[str]]):
        super().__init__(target)
        self.taken = {route: set(values) for route, values in taken.items()}

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        route = path.split("?")[0]
        if method == "POST" and route in self.taken:
            sent = json.loads(body)
            value = sent.get("value", sent.get("handle"))
            with self._lock:
                racing = value in self.taken[route]
                self.taken[route].discard(value)
            if racing:
                requests.post(self.target + path, headers={**headers, UPSTREAM_MARK: "1"}, data=body,
                              timeout=60).raise_for_status()
        return super().answer(method, path, headers, body)


def test_terms_another_run_created_meanwhile_are_found_and_counted_existing(medusa, store, tmp_path):
    taken = {"/admin/product-categories": {CATEGORIES[1], CATEGORIES[5]}, "/admin/product-tags": {TAGS[2], TAGS[7]}}
    with through(medusa, store, lambda url: RacingProxy(url, taken)) as target, \
            cassette("medusa-terms-created-meanwhile.yaml"):
        result = run_etl("run", target, tmp_path, *RUN)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    assert "Categories synced: 22 created, 2 existing" in result.stderr
    assert f"Tags synced: {len(TAGS) - 2} created, 2 existing" in result.stderr
    assert result.report["warnings"] == []

    sent = interactions("medusa-terms-created-meanwhile.yaml")
    ids: dict[str, str] = {}
    for route, key, plural, singular in (("/admin/product-categories", "handle", "product_categories",
                                          "product_category"),
                                         ("/admin/product-tags", "value", "product_tags", "product_tag")):
        posts = created(sent, route)
        assert sorted(i.body[key] for i in posts) == sorted(CATEGORIES if key == "handle" else TAGS)
        refused = {i.body[key] for i in posts if i.status == 400}
        assert refused == taken[route]
        assert all("already exists" in i.answer["message"] for i in posts if i.status == 400)
        for i in posts:
            if i.status == 200:
                ids[i.answer[singular]["id"]] = i.answer[singular][key]
        lookups = [i for i in sent if i.method == "GET" and i.path == route and f"{key}=" in i.query]
        assert len(lookups) == 2
        for i in lookups:
            [row] = i.answer[plural]
            ids[row["id"]] = row[key]
    source = {str(p["id"]): p for p in PRODUCTS}
    for body in accepted(sent, "create"):
        product = source[body["external_id"]]
        assert [ids[c["id"]] for c in body["categories"]] == [slugify(product["category"])]
        assert [ids[t["id"]] for t in body["tags"]] == product["tags"], "linked to the term another run made"
