"""The nightly sync, end to end, replayed from cassettes recorded against a real Medusa 2.21: the first night,
bad products, failures of the store, credentials, and a second run while one is going.

Each test runs `etl run pipelines/dummyjson.yaml` in-process, as cron does, and checks what an operator
checks: the exit code, the counts in the report, the log lines, and in the cassette what was actually sent
to Medusa and what Medusa answered. Cassettes named `medusa-fault-*` and `medusa-tag-sync-failed` were
recorded through a proxy that broke some of Medusa's answers on purpose (tests/sinks/medusa/proxy.py).
Later nights (change detection, plans, pruning) are in test_nights.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from etl.lock import RunLock
from etl.slugs import slugify

from .harness import (
    PIPELINE,
    PRODUCTS,
    RECORDING,
    SCRUBBED,
    Medusa,
    cassette,
    interactions,
    recorder,
    run_etl,
)
from .proxy import Fault, MedusaProxy
from .store import AdminStore
from .traffic import accepted, batches, calls, defaults

SOURCE = {str(p["id"]): p for p in PRODUCTS}
CATEGORY_HANDLES = sorted({slugify(p["category"]) for p in PRODUCTS})
TAG_VALUES = sorted({t for p in PRODUCTS for t in p["tags"]})
FAST_RETRIES = ("--set", "sink.retry.backoff.initial=0")
CONCURRENCY = 4
AT_ONCE = ("--set", f"sink.concurrency={CONCURRENCY}")
"""Pinned where a fault in the category or tag phase makes what is sent depend on it (parallel.py)."""
HASH = re.compile(r"[0-9a-f]{64}")


@contextmanager
def through(medusa: Medusa, *faults: Fault) -> Iterator[Medusa]:
    """While recording, put the fault proxy between the sink and Medusa; in replay the cassette has it."""
    if not RECORDING:
        yield medusa
        return
    with MedusaProxy(medusa.url, *faults) as proxy:
        yield replace(medusa, url=proxy.url)


def fresh(store: AdminStore | None) -> None:
    """While recording: empty the store, as on the first night."""
    if store is not None:
        store.reset()


def test_the_first_night_fills_an_empty_store(medusa, store, tmp_path):
    fresh(store)
    with cassette("medusa-first-run.yaml"):
        result = run_etl("run", medusa, tmp_path)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    for line in ["Categories synced: 24 created, 0 existing", f"Tags synced: {len(TAG_VALUES)} created, 0 existing",
                 "Found 0 existing products in Medusa", "194 products to create, 0 to update",
                 "Batch 1: created 15 products (15/194)", "Batch 13: created 14 products (194/194)"]:
        assert line in result.stderr

    sent = interactions("medusa-first-run.yaml")
    assert calls(sent) == {"GET /admin/stores": 1, "GET /admin/shipping-profiles": 1,
                           "GET /admin/product-categories": 1, "POST /admin/product-categories": 24,
                           "GET /admin/product-tags": 1, "POST /admin/product-tags": len(TAG_VALUES),
                           "GET /admin/products": 1, "POST /admin/products/batch": 13}
    new_categories = [i for i in sent if i.method == "POST" and i.path == "/admin/product-categories"]
    assert sorted(i.body["handle"] for i in new_categories) == CATEGORY_HANDLES
    assert all(i.body["is_active"] is True and i.status == 200 for i in new_categories)
    category_handle = {i.answer["product_category"]["id"]: i.body["handle"] for i in new_categories}
    new_tags = [i for i in sent if i.method == "POST" and i.path == "/admin/product-tags"]
    assert sorted(i.body["value"] for i in new_tags) == TAG_VALUES, "each tag created once"
    assert all(i.status == 200 for i in new_tags)
    tag_value = {i.answer["product_tag"]["id"]: i.body["value"] for i in new_tags}

    assert len(batches(sent)) == 13 and all(i.status == 200 for i in batches(sent))
    creates = accepted(sent, "create")
    assert sorted(int(c["external_id"]) for c in creates) == list(range(1, 195))
    handles = Counter(c["handle"] for c in creates)
    assert max(handles.values()) == 1
    assert {"rolex-cellini-moonphase", "rolex-cellini-moonphase-1"} <= set(handles)
    channel, profile = defaults(sent)
    for body in creates:
        source = SOURCE[body["external_id"]]
        assert [category_handle[c["id"]] for c in body["categories"]] == [slugify(source["category"])]
        assert [tag_value[t["id"]] for t in body["tags"]] == source["tags"]
        marks = {k: v for k, v in body["metadata"].items() if k.startswith("etl_")}
        assert marks.keys() == {"etl_pipeline", "etl_key", "etl_hash"} and HASH.fullmatch(marks["etl_hash"])
        assert (marks["etl_pipeline"], marks["etl_key"]) == ("dummyjson-to-medusa", body["external_id"])
        assert body["metadata"]["brand"] == source.get("brand")
        assert (body["title"], body["description"], body["thumbnail"]) == (
            source["title"], source["description"], source["thumbnail"])
        assert [image["url"] for image in body["images"]] == source["images"]
        assert body["sales_channels"] == [{"id": channel}] and body["shipping_profile_id"] == profile
        assert body["options"] and len(body["variants"]) == 1
        variant = body["variants"][0]
        assert variant["prices"] == [{"currency_code": "usd", "amount": source["price"]}]
        assert variant["manage_inventory"] is False and variant["sku"] == source["sku"]
    returned = [p for i in batches(sent) for p in i.answer["created"]]
    assert len({p["id"] for p in returned}) == 194


def test_a_bad_product_fails_alone_and_is_quarantined(medusa, store, tmp_path):
    products = copy.deepcopy(PRODUCTS)
    products[6]["sku"] = products[2]["sku"]
    products[19]["price"] = "N/A"
    fresh(store)
    with cassette("medusa-invalid-product.yaml"):
        result = run_etl("run", medusa, tmp_path, products=products)

    assert result.exit_code == 3, "some records failed: cron sees exit 3"
    assert result.counts == {"fetched": 194, "created": 192, "updated": 0, "unchanged": 0, "failed": 2}
    failures = {f["key"]: f["message"] for f in result.report["failures"]}
    assert failures.keys() == {"7", "20"}
    assert f"Product variant with sku: {products[2]['sku']}, already exists." in failures["7"]
    assert "prices, 0, amount' is required" in failures["20"]
    assert re.search(r"Batch 1: created 14\b.*\b1 failed\b.*\(15/194\)", result.stderr)
    assert re.search(r"Batch 2: created 14\b.*\b1 failed\b.*\(30/194\)", result.stderr)

    quarantined = [json.loads(line) for line in Path(result.report["quarantine"]).read_text().splitlines()]
    assert {q["key"]: q["record"]["id"] for q in quarantined} == {"7": 7, "20": 20}
    assert all(q["error"] == failures[q["key"]] for q in quarantined)

    sent = interactions("medusa-invalid-product.yaml")
    landed = {c["external_id"] for c in accepted(sent, "create")}
    assert landed == set(SOURCE) - {"7", "20"}, "the rest of each refused batch landed"
    refused = [i for i in batches(sent) if i.status != 200]
    assert refused and all(i.status == 400 for i in refused)


def test_when_categories_cannot_be_synced_products_still_are(medusa, store, tmp_path):
    fresh(store)
    with through(medusa, Fault("POST", "/admin/product-categories", 503, times=1000)) as target, \
            cassette("medusa-fault-category-sync.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES, *AT_ONCE)

    assert result.exit_code == 0, result.stderr
    assert result.counts["created"] == 194 and result.counts["failed"] == 0
    warning = ("Category sync failed: Medusa answered 503 to POST /admin/product-categories: injected 503 by "
               "the test proxy. Products are synced without categories this run")
    assert warning in result.stderr and result.report["warnings"] == [warning], "the summary shows it too"
    sent = interactions("medusa-fault-category-sync.yaml")
    tried = [i for i in sent if i.path == "/admin/product-categories" and i.method == "POST"]
    assert [i.status for i in tried] == [503] * 4 * CONCURRENCY
    first = in_order_seen(lambda p: [slugify(p["category"])])[:CONCURRENCY]
    assert Counter(i.body["handle"] for i in tried) == dict.fromkeys(first, 4), (
        "the first categories, as many as are sent at once, each tried with the retries; none after them")
    assert all("categories" not in c for c in accepted(sent, "create"))


def test_an_answer_lost_after_a_create_does_not_duplicate(medusa, store, tmp_path):
    fresh(store)
    with through(medusa, Fault("POST", "/admin/products/batch", 504, forward=True)) as target, \
            cassette("medusa-fault-lost-answer.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    assert "Attempt 1/4 to write 15 products failed (504: injected 504 by the test proxy)" in result.stderr
    assert "15 of them had been created before the failure: not sending them again" in result.stderr

    sent = interactions("medusa-fault-lost-answer.yaml")
    lost = batches(sent)[0]
    assert lost.status == 504
    lookup = next(i for i in sent if i.path == "/admin/products" and "external_id=" in i.query)
    assert sorted(p["external_id"] for p in lookup.answer["products"]) == sorted(
        c["external_id"] for c in lost.body["create"])
    every_create = [c["external_id"] for i in batches(sent) for c in i.body.get("create", [])]
    assert sorted(map(int, every_create)) == list(range(1, 195)), "no product was sent twice"
    if store is not None:
        assert sorted(int(p["external_id"]) for p in store.products("id,external_id")) == list(range(1, 195))


def test_rejected_credentials_stop_the_run_at_once(medusa, tmp_path):
    wrong = replace(medusa, api_key="sk_wrong_key_for_the_test")
    with cassette("medusa-401.yaml"):
        result = run_etl("run", wrong, tmp_path)

    assert result.exit_code == 1
    assert result.report["error"] == "Medusa rejected the credentials (401): check MEDUSA_API_KEY"
    assert result.report["fetched"] == 0, "nothing is read when the store cannot be written"
    for text in (result.stdout, result.stderr, json.dumps(result.report)):
        assert "sk_wrong_key_for_the_test" not in text
    sent = interactions("medusa-401.yaml")
    assert [(i.path, i.status) for i in sent] == [("/admin/stores", 401)], "a 401 is never retried"


def test_plan_shows_the_first_night_and_writes_nothing(medusa, store, tmp_path):
    fresh(store)
    with cassette("medusa-plan.yaml"):
        result = run_etl("plan", medusa, tmp_path)

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Plan: 194 to create, 0 to update, 0 unchanged, 0 to prune"
    categories = in_order_seen(lambda p: [slugify(p["category"])])
    tags = in_order_seen(lambda p: p["tags"])
    assert lines[:2] == [f"24 categories to create: {', '.join(categories)}",
                         f"{len(TAG_VALUES)} tags to create: {', '.join(tags)}"]
    assert "+ create     194  Women's Wrist Watch (women-s-wrist-watch)" in lines
    assert {i.method for i in interactions("medusa-plan.yaml")} == {"GET"}


def in_order_seen(values_of) -> list[str]:
    return list(dict.fromkeys(v for p in PRODUCTS for v in values_of(p)))


def test_when_tags_cannot_be_synced_products_are_written_without_them(medusa, store, tmp_path):
    fresh(store)
    with through(medusa, Fault("POST", "/admin/product-tags", 503, times=1000)) as target, \
            cassette("medusa-tag-sync-failed.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES, *AT_ONCE)

    assert result.exit_code == 0, result.stderr
    assert result.counts["created"] == 194 and result.counts["failed"] == 0
    warning = ("Tag sync failed: Medusa answered 503 to POST /admin/product-tags: injected 503 by the test "
               "proxy. Products are synced without tags this run")
    assert result.report["warnings"] == [warning] and warning in result.stderr
    assert "Categories synced: 24 created, 0 existing" in result.stderr

    sent = interactions("medusa-tag-sync-failed.yaml")
    tried = [i for i in sent if i.path == "/admin/product-tags" and i.method == "POST"]
    assert [i.status for i in tried] == [503] * 4 * CONCURRENCY
    first = in_order_seen(lambda p: p["tags"])[:CONCURRENCY]
    assert Counter(i.body["value"] for i in tried) == dict.fromkeys(first, 4)
    creates = {c["external_id"]: c for c in accepted(sent, "create")}
    assert all("tags" not in c and len(c["categories"]) == 1 for c in creates.values())
    linked = {c["external_id"]: c for c in accepted(interactions("medusa-first-run.yaml"), "create")}
    assert all(creates[k]["metadata"]["etl_hash"] != linked[k]["metadata"]["etl_hash"] for k in creates), (
        "the hash stored does not claim the tags: the next night sees a change and links them")


def test_a_second_run_while_one_is_going_is_refused_and_sends_nothing(medusa, tmp_path):
    state = tmp_path / "state" / "dummyjson-to-medusa"
    with RunLock(state, "dummyjson-to-medusa"), \
            recorder().use_cassette(str(tmp_path / "no-requests.yaml"), record_mode="none") as cas:
        result = run_etl("run", medusa, tmp_path)

    assert result.exit_code == 4
    assert re.search(r"^error: another run of dummyjson-to-medusa is in progress \(pid \d+, started [^)]+\): "
                     r"not starting a second one \(lock: .*run\.lock\)$", result.stderr, re.M)
    assert len(cas) == 0 and result.report == {}, "nothing was read or written, no report was made"


@pytest.fixture
def password_pipeline(tmp_path: Path) -> Path:
    text = PIPELINE.read_text(encoding="utf-8").replace(
        "api_key: ${MEDUSA_API_KEY}", "email: ${MEDUSA_ADMIN_EMAIL}\n  password: ${MEDUSA_ADMIN_PASSWORD}")
    path = tmp_path / "dummyjson-login.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_admin_login_works_instead_of_a_key(medusa, store, tmp_path, password_pipeline):
    fresh(store)
    with cassette("medusa-login.yaml"):
        result = run_etl("run", medusa, tmp_path, "--limit", "3", pipeline=password_pipeline)

    assert result.exit_code == 0, result.stderr
    assert result.counts["created"] == 3
    sent = interactions("medusa-login.yaml")
    logins = [i for i in sent if i.path == "/auth/user/emailpass"]
    assert len(logins) == 1 and logins[0].body == {"email": medusa.email, "password": SCRUBBED}
    assert medusa.password not in result.stderr + result.stdout
