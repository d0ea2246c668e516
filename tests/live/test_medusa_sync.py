"""The nightly job against a real Medusa, checked the way a store operator checks it: through the Admin API.
The first nights, what an update keeps, bad products and a store that fails; later nights (change detection,
plans, pruning) are in test_medusa_nights.py, two runs at once in test_medusa_cron.py.

    make test-live          (starts Medusa with scripts/medusa-dev.sh, then runs these)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import requests

from etl.slugs import slugify
from tests.sinks.medusa.harness import PIPELINE, PRODUCTS, run_etl
from tests.sinks.medusa.proxy import Fault, MedusaProxy

pytestmark = pytest.mark.live

SOURCE = {str(p["id"]): p for p in PRODUCTS}
TAG_VALUES = {t for p in PRODUCTS for t in p["tags"]}


def check_store_matches_the_catalogue(store, tags: bool = True) -> dict[str, dict]:
    products = store.products()
    categories = store.categories()
    channel, profile = store.store_defaults()
    assert len(products) == 194
    assert sorted(int(p["external_id"]) for p in products) == list(range(1, 195)), "external_ids are 1..194"
    assert len({p["handle"] for p in products}) == 194, "handles are unique"
    assert len(categories) == 24 and all(c["is_active"] for c in categories)
    assert {c["handle"] for c in categories} == {slugify(p["category"]) for p in PRODUCTS}
    if tags:
        assert sorted(t["value"] for t in store.tags()) == sorted(TAG_VALUES), "each tag exists once"
    for product in products:
        source = SOURCE[product["external_id"]]
        assert [c["handle"] for c in product["categories"]] == [slugify(source["category"])]
        assert sorted(t["value"] for t in product["tags"]) == (sorted(source["tags"]) if tags else [])
        assert (product["title"], product["description"], product["thumbnail"]) == (
            source["title"], source["description"], source["thumbnail"])
        assert sorted(i["url"] for i in product["images"]) == sorted(source["images"])
        assert product["status"] == "published"
        assert [c["id"] for c in product["sales_channels"]] == [channel]
        assert product["shipping_profile"]["id"] == profile
        [variant] = product["variants"]
        assert [(p["currency_code"], p["amount"]) for p in variant["prices"]] == [("usd", source["price"])]
        assert variant["sku"] == source["sku"] and variant["manage_inventory"] is False
        assert product["metadata"]["etl_key"] == product["external_id"]
        assert product["metadata"]["etl_pipeline"] == "dummyjson-to-medusa"
        assert product["metadata"]["brand"] == source.get("brand")
    return {p["external_id"]: p for p in products}


def test_two_nights_into_an_empty_store(live_medusa, live_store, tmp_path):
    first = run_etl("run", live_medusa, tmp_path)
    assert first.exit_code == 0, first.stderr
    assert first.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    before = check_store_matches_the_catalogue(live_store)
    assert {before["96"]["handle"], before["191"]["handle"]} == {"rolex-cellini-moonphase",
                                                                  "rolex-cellini-moonphase-1"}

    second = run_etl("run", live_medusa, tmp_path)
    assert second.exit_code == 0, second.stderr
    assert second.counts == {"fetched": 194, "created": 0, "updated": 0, "unchanged": 194, "failed": 0}
    assert "Categories synced: 0 created, 24 existing" in second.stderr
    assert f"Tags synced: 0 created, {len(TAG_VALUES)} existing" in second.stderr
    unchanged = check_store_matches_the_catalogue(live_store)
    assert {k: p["updated_at"] for k, p in unchanged.items()} == {k: p["updated_at"] for k, p in before.items()}, (
        "not one product was written")

    full = run_etl("run", live_medusa, tmp_path, "--full")
    assert full.exit_code == 0, full.stderr
    assert full.counts == {"fetched": 194, "created": 0, "updated": 194, "unchanged": 0, "failed": 0}
    after = check_store_matches_the_catalogue(live_store)
    for key, product in after.items():
        assert (product["id"], product["handle"]) == (before[key]["id"], before[key]["handle"])
        assert product["variants"][0]["id"] == before[key]["variants"][0]["id"]


def test_an_update_keeps_what_the_operator_added(live_medusa, live_store, tmp_path):
    assert run_etl("run", live_medusa, tmp_path, "--limit", "3").counts["created"] == 3
    product = next(p for p in live_store.products() if p["external_id"] == "1")
    variant = product["variants"][0]
    session, base = live_store.session, live_medusa.url
    session.post(f"{base}/admin/products/{product['id']}/variants/{variant['id']}", timeout=30, json={
        "prices": [{"currency_code": "usd", "amount": 1}, {"currency_code": "eur", "amount": 8.5}]},
    ).raise_for_status()
    session.post(f"{base}/admin/products/{product['id']}/variants", timeout=30, json={
        "title": "Gift set", "sku": "GIFT-1", "manage_inventory": False,
        "prices": [{"currency_code": "usd", "amount": 30}]},
    ).raise_for_status()

    assert run_etl("run", live_medusa, tmp_path, "--limit", "3", "--full").counts["updated"] == 3
    product = next(p for p in live_store.products() if p["external_id"] == "1")
    variants = {v["sku"]: v for v in product["variants"]}
    assert variants.keys() == {SOURCE["1"]["sku"], "GIFT-1"}, "no variant was deleted"
    assert variants[SOURCE["1"]["sku"]]["id"] == variant["id"]
    prices = {p["currency_code"]: p["amount"] for p in variants[SOURCE["1"]["sku"]]["prices"]}
    assert prices == {"usd": SOURCE["1"]["price"], "eur": 8.5}, "the usd price is the source's, eur is kept"


def test_a_duplicate_external_id_is_a_conflict_not_a_third_product(live_medusa, live_store, tmp_path):
    assert run_etl("run", live_medusa, tmp_path, "--limit", "5").counts["created"] == 5
    live_store.session.post(f"{live_medusa.url}/admin/products", timeout=30, json={
        "title": "Copy made by hand", "handle": "copy-made-by-hand", "external_id": "5",
        "options": [{"title": "Default option", "values": ["Default option value"]}]}).raise_for_status()

    result = run_etl("run", live_medusa, tmp_path, "--limit", "5")
    assert result.exit_code == 3
    assert result.counts["unchanged"] == 4 and result.counts["failed"] == 1
    [failure] = result.report["failures"]
    assert failure["key"] == "5"
    assert failure["message"].startswith("conflict: 2 products in Medusa have external_id '5'")
    assert Counter(p["external_id"] for p in live_store.products("id,external_id"))["5"] == 2


def test_bad_products_fail_alone(live_medusa, live_store, tmp_path):
    products = [dict(p) for p in PRODUCTS]
    products[6]["sku"] = products[2]["sku"]
    products[19]["price"] = "N/A"
    result = run_etl("run", live_medusa, tmp_path, products=products)
    assert result.exit_code == 3
    assert {f["key"] for f in result.report["failures"]} == {"7", "20"}
    assert sorted(int(p["external_id"]) for p in live_store.products("id,external_id")) == [
        i for i in range(1, 195) if i not in (7, 20)]


def test_a_lost_answer_creates_nothing_twice(live_medusa, live_store, tmp_path):
    faults = [Fault("POST", "/admin/products/batch", 504, forward=True, times=2),
              Fault("POST", "/admin/products/batch", 502, times=1)]
    with MedusaProxy(live_medusa.url, *faults) as proxy:
        result = run_etl("run", replace(live_medusa, url=proxy.url), tmp_path,
                         "--set", "sink.retry.backoff.initial=0")
    assert result.exit_code == 0, result.stderr
    assert result.counts["created"] == 194
    check_store_matches_the_catalogue(live_store)


def test_tags_that_could_not_be_synced_are_linked_the_next_night(live_medusa, live_store, tmp_path):
    with MedusaProxy(live_medusa.url, Fault("POST", "/admin/product-tags", 503, times=1000)) as proxy:
        failed = run_etl("run", replace(live_medusa, url=proxy.url), tmp_path, "--set", "sink.retry.attempts=1")
    assert failed.exit_code == 0, failed.stderr
    assert failed.report["warnings"][0].startswith("Tag sync failed: Medusa answered 503")
    assert "Warning:    Tag sync failed" in failed.stdout
    check_store_matches_the_catalogue(live_store, tags=False)

    next_night = run_etl("run", live_medusa, tmp_path)
    assert next_night.counts["updated"] == 194, "the hash stored the first night did not claim the tags"
    check_store_matches_the_catalogue(live_store)
    assert run_etl("run", live_medusa, tmp_path).counts["unchanged"] == 194


def test_an_admin_login_instead_of_a_key(live_medusa, live_store, tmp_path):
    pipeline = tmp_path / "login.yaml"
    pipeline.write_text(PIPELINE.read_text(encoding="utf-8").replace(
        "api_key: ${MEDUSA_API_KEY}", "email: ${MEDUSA_ADMIN_EMAIL}\n  password: ${MEDUSA_ADMIN_PASSWORD}"))
    result = run_etl("run", live_medusa, tmp_path, "--limit", "10", pipeline=pipeline)
    assert result.exit_code == 0, result.stderr
    assert len(live_store.products("id")) == 10


class ExpiringProxy(MedusaProxy):
    """A login token that expires during the tag phase, while several tags are being created at once: from
    the first tag create on, Medusa's 401 to every request that carries it."""

    def __init__(self, target: str):
        super().__init__(target)
        self.expired: str | None = None
        self.logins = 0

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        token = headers.get("Authorization")
        with self._lock:
            self.logins += path.startswith("/auth/user/emailpass")
            if self.expired is None and method == "POST" and path.startswith("/admin/product-tags"):
                self.expired = token
            expired = token is not None and token == self.expired
        if expired:
            self.seen.append((method, path, 401))
            return 401, {"Content-Type": "application/json"}, b'{"message": "Unauthorized"}'
        return super().answer(method, path, headers, body)


def test_a_token_that_expires_while_tags_are_created_at_once_is_renewed_once(live_medusa, live_store, tmp_path):
    pipeline = tmp_path / "login.yaml"
    pipeline.write_text(PIPELINE.read_text(encoding="utf-8").replace(
        "api_key: ${MEDUSA_API_KEY}", "email: ${MEDUSA_ADMIN_EMAIL}\n  password: ${MEDUSA_ADMIN_PASSWORD}"))
    with ExpiringProxy(live_medusa.url) as proxy:
        result = run_etl("run", replace(live_medusa, url=proxy.url), tmp_path, "--set", "sink.concurrency=8",
                         pipeline=pipeline)
    assert result.exit_code == 0, result.stderr
    assert result.counts["created"] == 194
    refused = [p for m, p, status in proxy.seen if status == 401]
    assert refused and all(p.startswith("/admin/product-tags") for p in refused)
    assert proxy.logins == 2, "one login at the start, one when the token expired: not one per thread refused"
    check_store_matches_the_catalogue(live_store)


def test_medusa_down_stops_the_run_with_a_hint(live_medusa, tmp_path):
    with MedusaProxy(live_medusa.url) as proxy:
        url = proxy.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    result = run_etl("run", replace(live_medusa, url=url), tmp_path, "--set", "sink.retry.attempts=2",
                     "--set", "sink.retry.backoff.initial=0")
    assert result.exit_code == 1
    assert result.report["error"] == (f"cannot reach Medusa at {url}: connection refused "
                                      "(is it running? scripts/medusa-dev.sh up)")
