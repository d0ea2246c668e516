"""How writes are cut into requests, and how Medusa's schema errors point at one product."""

from __future__ import annotations

import json
import logging

import pytest

from etl.http.retry import RetryPolicy
from etl.sinks.medusa.writer import BatchWriter, Op, _named_item, batch_body, by_size


def op(key: str, kind: str = "create", size: int = 100) -> Op:
    if kind == "delete":
        return Op.of(key, kind, {"id": f"prod_{key}"})
    body = {"title": key, "external_id": key, "description": "x" * size}
    if kind == "update":
        body["id"] = f"prod_{key}"
    return Op.of(key, kind, body)


@pytest.mark.parametrize("sizes, limit, expected", [
    ([100, 100, 100], 10_000, [3]),
    ([4000, 4000, 4000], 10_000, [2, 1]),
    ([20_000, 100], 10_000, [1, 1]),
], ids=["all fit", "split to stay under the limit", "a product over the limit goes alone"])
def test_batches_are_split_by_body_size(sizes, limit, expected):
    ops = [op(str(i), size=s) for i, s in enumerate(sizes)]
    chunks = list(by_size(ops, limit))
    assert [len(c) for c in chunks] == expected
    assert [o for c in chunks for o in c] == ops
    for chunk in chunks:
        if len(chunk) > 1:
            assert len(json.dumps(batch_body(chunk)).encode()) <= limit


def test_a_batch_body_has_creates_updates_and_deletes_apart():
    body = batch_body([op("1"), op("2", "update"), op("3"), op("4", "delete")])
    assert [b["external_id"] for b in body["create"]] == ["1", "3"]
    assert [b["id"] for b in body["update"]] == ["prod_2"]
    assert body["delete"] == ["prod_4"], "Medusa takes the ids of products to delete"
    assert batch_body([op("1")]).keys() == {"create"}


@pytest.mark.parametrize("message, expected", [
    ("Invalid request: Field 'create, 1, title' is required", "3"),
    ("Invalid request: Field 'update, 0, variants, 0, prices, 0, amount' is required", "2"),
    ("Invalid request: Field 'create, 9, title' is required", None),
    ("Product with handle: x, already exists.", None),
], ids=["a create by position", "an update by position", "a position out of range", "no position"])
def test_schema_errors_name_the_product(message, expected):
    ops = [op("1"), op("2", "update"), op("3")]
    named = _named_item(ops, message)
    assert (named.key if named else None) == expected


class Answering:
    """A client whose batch route answers like Medusa: created by handle, updated and deleted by id."""

    def __init__(self):
        self.sent = []

    def post(self, route, body, params=None, retry=None):
        self.sent.append(body)
        return {"created": [{"id": f"prod_new_{b['external_id']}", "handle": b.get("handle")}
                            for b in body.get("create", [])],
                "updated": [{"id": b["id"]} for b in body.get("update", [])],
                "deleted": {"ids": body.get("delete", []), "object": "product", "deleted": True}}


def test_outcomes_are_matched_by_id_and_a_delete_is_a_prune():
    client = Answering()
    writer = BatchWriter(client, RetryPolicy.from_config(None), 1_000_000, logging.getLogger("test"), lambda _: None)
    outcomes = writer.write([op("2", "update"), op("4", "delete")])
    assert len(client.sent) == 1
    assert {k: (o.result, o.id) for k, o in outcomes.items()} == {"2": ("updated", "prod_2"),
                                                                  "4": ("pruned", "prod_4")}
