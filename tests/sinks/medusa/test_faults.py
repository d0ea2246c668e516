"""Faults of the store side, replayed from cassettes recorded through tests/sinks/medusa/proxy.py in front of a
real Medusa 2.21: a batch answered 500 once, a body limit that refuses a batch (413), updates Medusa refuses,
the API key revoked halfway, a batch Medusa applies after the gateway gave up on it, and a Medusa that cannot
be reached when the night starts.

Covered elsewhere, not repeated here: invalid products on create and a 401 at the start (test_sync.py), a
lost 504 answer and a failing category sync (test_sync.py, medusa-fault-*), the client's retries when Medusa
is down (test_client.py).
"""

from __future__ import annotations

import copy
import json
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from etl.sinks.medusa.payload import body_size

from .harness import PRODUCTS, RECORDING, REPLAY, Interaction, Medusa, cassette, interactions, run_etl
from .proxy import Fault, MedusaProxy
from .store import AdminStore

SOURCE_KEYS = [str(p["id"]) for p in PRODUCTS]
FAST_RETRIES = ("--set", "sink.retry.backoff.initial=0")
BATCH = "/admin/products/batch"
BODY_LIMIT = 50_000
"""Far above any batch of the first night (28 kB at most): only a batch holding an outsized product goes over."""
TOO_LARGE = {"message": "request entity too large", "type": "unknown_error"}


@dataclass
class NthFault(Fault):
    """Breaks the `nth` matching request (and the `times - 1` after it) instead of the first."""

    nth: int = 1
    seen: int = field(default=0, init=False)

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        """Counting is deterministic here: the sink sends batches one after the other."""
        if method != self.method or path.split("?")[0] != self.path:
            return False
        self.seen += 1
        return self.seen >= self.nth and self.hits < self.times


class BodyLimitProxy(MedusaProxy):
    """A gateway with a smaller body limit than Medusa's: a larger request gets Medusa's own 413 answer."""

    def __init__(self, target: str, limit: int):
        super().__init__(target)
        self.limit = limit

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        if len(body) > self.limit:
            self.seen.append((method, path, 413))
            return 413, {"Content-Type": "application/json"}, json.dumps(TOO_LARGE).encode()
        return super().answer(method, path, headers, body)


class LateProxy(MedusaProxy):
    """A gateway that gives up on the first batch at once (504) while Medusa is still working on it: Medusa
    applies that batch only after it has answered the sink's next request, the look-up by external_id."""

    def __init__(self, target: str):
        super().__init__(target)
        self.held: tuple[str, str, dict[str, str], bytes] | None = None
        self.gave_up = False

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        if method == "POST" and path.split("?")[0] == BATCH and not self.gave_up:
            self.gave_up, self.held = True, (method, path, headers, body)
            self.seen.append((method, path, 504))
            return 504, {"Content-Type": "text/html"}, b"<html><body><h1>504 Gateway Time-out</h1></body></html>"
        reply = super().answer(method, path, headers, body)
        if self.held is not None and method == "GET":
            late, self.held = self.held, None
            assert super().answer(*late)[0] == 200
        return reply


@contextmanager
def through(medusa: Medusa, proxy: Callable[[str], MedusaProxy]) -> Iterator[Medusa]:
    """While recording, the sink talks to Medusa through the faulty proxy; in replay the cassette has it."""
    if not RECORDING:
        yield medusa
        return
    with proxy(medusa.url) as running:
        yield replace(medusa, url=running.url)


def fresh(store: AdminStore | None) -> None:
    if store is not None:
        store.reset()


def batches(sent: list[Interaction]) -> list[Interaction]:
    return [i for i in sent if i.method == "POST" and i.path == BATCH]


def keys(batch: Interaction, kind: str = "create") -> list[str]:
    return [b["external_id"] for b in batch.body.get(kind, [])]


def landed(sent: list[Interaction], kind: str = "create") -> list[str]:
    """external_ids in the batches Medusa accepted, one entry per time a product was accepted."""
    return [key for i in batches(sent) if i.status == 200 for key in keys(i, kind)]


def quarantined(result) -> dict[str, dict]:
    path = result.report.get("quarantine")
    if not path:
        return {}
    return {q["key"]: q for q in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines())}


def test_a_batch_answered_500_once_is_sent_again_and_everything_lands(medusa, store, tmp_path):
    fresh(store)
    fault = NthFault("POST", BATCH, 500, nth=3)
    with through(medusa, lambda url: MedusaProxy(url, fault)) as target, cassette("medusa-fault-batch-500.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES)

    assert result.exit_code == 0, result.stderr
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    retried = re.findall(r"Attempt \d+/\d+ to write .*", result.stderr)
    assert retried == ["Attempt 1/4 to write 15 products failed (500: injected 500 by the test proxy); "
                       "retrying in 0.0s"]
    assert "had been created before the failure" not in result.stderr
    assert "Batch 3: created 15 products (45/194)" in result.stderr
    assert result.report["quarantine"] is None

    sent = interactions("medusa-fault-batch-500.yaml")
    assert [i.status for i in batches(sent)] == [200, 200, 500] + [200] * 11
    refused, again = batches(sent)[2:4]
    assert again.body == refused.body, "the same 15 products are sent again"
    lookup = sent[sent.index(refused) + 1]
    assert (lookup.method, lookup.path) == ("GET", "/admin/products"), "a 500 is ambiguous: look before resending"
    assert sorted(re.findall(r"external_id=(\d+)", lookup.query)) == sorted(keys(refused))
    assert lookup.answer["products"] == []
    assert sorted(landed(sent), key=int) == SOURCE_KEYS, "every product created exactly once"


def test_a_medusa_that_breaks_mid_run_stops_the_run_instead_of_isolating_every_product(medusa, store, tmp_path):
    """From the third batch on, every batch answers 500: the batch is retried, split, its products sent alone;
    five 500s in a row for lone products and the run stops, the first two batches kept, nothing duplicated."""
    fresh(store)
    fault = NthFault("POST", BATCH, 500, nth=3, times=1000)
    with through(medusa, lambda url: MedusaProxy(url, fault)) as target, cassette("medusa-fault-broken.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES)

    assert result.exit_code == 1, result.stderr
    assert ("Medusa answered 500 to 5 products in a row, each sent alone (injected 500 by the test proxy): it "
            "looks broken, so the run stops here; check Medusa's log, then run again") in result.report["error"]
    assert (result.report["created"], result.report["failed"]) == (30, 0)
    sent = interactions("medusa-fault-broken.yaml")
    statuses = [i.status for i in batches(sent)]
    assert statuses == [200, 200] + [500] * (len(statuses) - 2)
    lone = [i for i in batches(sent)[2:] if len(keys(i)) == 1]
    assert [len(keys(i)) for i in batches(sent)[2:]] == [15] * 4 + [7, 3, 1, 2, 1, 1, 4, 2, 1, 1], \
        "four attempts, then halves until five products failed alone: not 164 products one by one"
    assert len(lone) == 5
    assert sorted(landed(sent), key=int) == SOURCE_KEYS[:30]
    if store is not None:
        assert sorted(int(p["external_id"]) for p in store.products("id,external_id")) == list(range(1, 31))


def test_a_batch_applied_after_the_gateway_gave_up_is_not_reported_failed(medusa, store, tmp_path):
    fresh(store)
    with through(medusa, LateProxy) as target, cassette("medusa-fault-late-apply.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES)

    sent = interactions("medusa-fault-late-apply.yaml")
    first, again = batches(sent)[:2]
    assert (first.status, again.status, again.body) == (504, 400, first.body), "resent after an empty look-up"
    assert "Product with handle: " in again.answer["message"], "the first attempt had landed after all"
    if store is not None:
        assert sorted(int(p["external_id"]) for p in store.products("id,external_id")) == list(range(1, 195))
    assert result.counts == {"fetched": 194, "created": 194, "updated": 0, "unchanged": 0, "failed": 0}
    assert result.exit_code == 0 and result.report["quarantine"] is None


def with_description(size: int) -> list[dict]:
    """The catalogue with product 5 described at length: `size` characters."""
    products = copy.deepcopy(PRODUCTS)
    products[4]["description"] = ("A very long description. " * (size // 25 + 1))[:size]
    return products


@pytest.mark.parametrize("description, name, exit_code, failed", [
    (30_000, "medusa-fault-body-limit.yaml", 0, set()),
    (52_000, "medusa-fault-product-too-large.yaml", 3, {"5"}),
], ids=["a batch over the limit is split and lands", "a product over the limit on its own fails alone"])
def test_a_body_too_large_is_split_until_it_fits(medusa, store, tmp_path, description, name, exit_code, failed):
    fresh(store)
    with through(medusa, lambda url: BodyLimitProxy(url, BODY_LIMIT)) as target, cassette(name):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES, products=with_description(description))

    assert result.exit_code == exit_code, result.stderr
    assert result.counts == {"fetched": 194, "created": 194 - len(failed), "updated": 0, "unchanged": 0,
                             "failed": len(failed)}
    sent = interactions(name)
    refused = [i for i in batches(sent) if i.status == 413]
    assert [keys(i) for i in refused][0] == SOURCE_KEYS[:15], "batch 1, with product 5, was refused whole"
    splits = re.findall(r"Medusa refused a batch of (\d+) products \(413: request entity too large\): "
                        r"splitting it", result.stderr)
    assert list(map(int, splits)) == [len(keys(i)) for i in refused if len(keys(i)) > 1]
    assert sorted(landed(sent), key=int) == [k for k in SOURCE_KEYS if k not in failed], "each one, once"

    assert {f["key"] for f in result.report["failures"]} == failed
    assert quarantined(result).keys() == failed
    for key in failed:
        [body] = [b for i in refused if keys(i) == [key] for b in i.body["create"]]
        message = f"the product's body is {body_size(body)} bytes: too large for Medusa (request entity too large)"
        assert [f["message"] for f in result.report["failures"] if f["key"] == key] == [message]
        assert quarantined(result)[key]["record"]["description"] == with_description(description)[4]["description"]


def next_night(products: list[dict]) -> list[dict]:
    """Every price up by one (so every product is written again), one weight that is not a number, and one
    SKU taken from the next product."""
    changed = copy.deepcopy(products)
    for product in changed:
        product["price"] = round(product["price"] + 1, 2)
    changed[40]["weight"] = "heavy"
    changed[70]["sku"] = changed[71]["sku"]
    return changed


def test_updates_medusa_refuses_fail_alone_and_the_rest_is_updated(medusa, store, tmp_path):
    if store is not None:
        store.reset()
        assert run_etl("run", medusa, tmp_path).counts["created"] == 194
    products = next_night(PRODUCTS)
    with cassette("medusa-fault-invalid-update.yaml"):
        result = run_etl("run", medusa, tmp_path, products=products)

    assert result.exit_code == 3, "some records failed: cron sees exit 3"
    assert result.counts == {"fetched": 194, "created": 0, "updated": 192, "unchanged": 0, "failed": 2}
    failures = {f["key"]: f["message"] for f in result.report["failures"]}
    assert failures.keys() == {"41", "71"}
    assert re.fullmatch(r"Medusa refused it \(400\): Invalid request: Field 'update, \d+, weight' is required",
                        failures["41"])
    assert failures["71"] == (f"Medusa refused it (400): Product variant with sku: {products[71]['sku']}, "
                              "already exists.")
    assert "Batch 3: updated 14 products, 1 failed (45/194)" in result.stderr
    assert "Batch 5: updated 14 products, 1 failed (75/194)" in result.stderr
    assert {k: q["record"]["weight"] for k, q in quarantined(result).items()} == {"41": "heavy",
                                                                                 "71": PRODUCTS[70]["weight"]}

    sent = interactions("medusa-fault-invalid-update.yaml")
    assert {i.status for i in batches(sent)} == {200, 400}
    assert sorted(landed(sent, "update"), key=int) == [k for k in SOURCE_KEYS if k not in ("41", "71")]
    if store is not None:
        kept = {p["external_id"]: p for p in store.products("id,external_id,weight,variants.sku")}
        assert kept["71"]["variants"][0]["sku"] == PRODUCTS[70]["sku"], "the refused update left it as it was"
        assert kept["41"]["weight"] == PRODUCTS[40]["weight"]


def test_a_key_revoked_during_the_run_stops_it_at_once(medusa, store, tmp_path):
    fresh(store)
    fault = NthFault("POST", BATCH, 401, nth=4)
    with through(medusa, lambda url: MedusaProxy(url, fault)) as target, \
            cassette("medusa-fault-key-revoked.yaml"):
        result = run_etl("run", target, tmp_path, *FAST_RETRIES)

    assert result.exit_code == 1
    assert result.report["error"] == "Medusa rejected the credentials (401): check MEDUSA_API_KEY"
    assert result.counts == {"fetched": 194, "created": 45, "updated": 0, "unchanged": 0, "failed": 0}
    assert "Batch 3: created 15 products (45/194)" in result.stderr and "Batch 4" not in result.stderr
    assert result.report["quarantine"] is None, "nothing is wrong with the products: the next run writes them"
    sent = interactions("medusa-fault-key-revoked.yaml")
    assert [i.status for i in batches(sent)] == [200, 200, 200, 401]
    assert sent[-1] == batches(sent)[-1], "a 401 is neither retried nor followed by another request"


@pytest.mark.parametrize("how, error", [
    ("refused", "cannot reach Medusa at {url}: connection refused (is it running? scripts/medusa-dev.sh up)"),
    ("gateway 502", "Medusa answered 502 to GET /admin/stores: injected 502 by the test proxy"),
], ids=["nothing listens", "a gateway answers 502"])
def test_a_medusa_down_at_the_start_fails_the_run_before_anything_is_read(tmp_path, free_port, how, error):
    down = f"http://127.0.0.1:{free_port}"
    with MedusaProxy(down, Fault("GET", "/admin/stores", 502, times=100)) as gateway:
        url = down if how == "refused" else gateway.url
        result = run_etl("run", replace(REPLAY, url=url), tmp_path, *FAST_RETRIES)

    message = error.format(url=url)
    assert result.exit_code == 1
    assert result.report["error"] == message
    assert f"Error:      {message}\n" in result.stdout
    assert f"ERROR   dummyjson-to-medusa failed: {message}\n" in result.stderr
    assert len(re.findall(r"Attempt \d/4 failed", result.stderr)) == 3, "tried 4 times, then gave up"
    assert "Traceback" not in result.stdout + result.stderr
    assert result.counts == {"fetched": 0, "created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    assert not list((tmp_path / "state").rglob("quarantine-*")), "nothing read, nothing quarantined"
    if how == "gateway 502":
        assert [(m, p.split("?")[0], s) for m, p, s in gateway.seen] == [("GET", "/admin/stores", 502)] * 4


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
