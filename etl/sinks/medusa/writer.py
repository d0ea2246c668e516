"""Writes through /admin/products/batch (creates, updates, and the deletes of a prune), so that one bad
product costs only itself.

Medusa applies a batch all or nothing, answers unordered, and rarely says which product it refused. So:
- results are matched by handle (creates) and id (updates, deletes), never by position;
- a refused batch is split in halves, again and again, until each bad product is alone; the good ones land,
  each bad one fails with Medusa's message (when Medusa names the item, `create, 3, ...`, it is taken out
  directly, without splitting);
- batches are also split to stay under the body size limit;
- an answer that never came (timeout, connection reset, a 5xx) is ambiguous: the products may exist now.
  Before trying again, the creates are looked up by external_id, and the ones found count as created, so
  a retry never makes a duplicate;
- Medusa answers some invalid input with a 500, so a 500 that survives the retries is treated as a refusal
  (split, isolate); a 502/503/504 or no answer at all, after the retries, means Medusa is down: the run stops.
  So does a Medusa that answers 500 to product after product sent alone: it is broken, not the products,
  and isolating every remaining one would take the night and quarantine the catalogue.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ...adapters import Outcome, Result
from ...errors import SinkError
from ...http.retry import RetryPolicy
from .client import MedusaClient, MedusaError, Unreachable
from .payload import body_size

ROUTE = "/admin/products/batch"
LOOKUP = "/admin/products"
RESULT_FIELDS = "id,handle,external_id"
ENVELOPE = len('{"create": [], "update": [], "delete": []}')
_ITEM = re.compile(r"\b(create|update|delete), (\d+)\b")
Kind = Literal["create", "update", "delete"]
BROKEN_AFTER = 5
"""Products that, sent alone, got a 500 in a row: past this, Medusa is broken and the run stops."""
DONE: dict[str, Result] = {"create": "created", "update": "updated", "delete": "pruned"}
"""What each kind of write is once done: a delete only ever comes from a prune."""


class MedusaBroken(SinkError):
    """Medusa answers 500 to every product, even one at a time."""


@dataclass(frozen=True)
class Op:
    """One product to write; for a delete, `body` is just {"id"}."""

    key: str
    kind: Kind
    body: dict[str, Any]
    size: int

    @classmethod
    def of(cls, key: str, kind: Kind, body: dict[str, Any]) -> Op:
        return cls(key, kind, body, body_size(body))


def by_size(ops: Sequence[Op], limit: int) -> Iterator[list[Op]]:
    chunk: list[Op] = []
    size = ENVELOPE
    for op in ops:
        if chunk and size + op.size + 2 > limit:
            yield chunk
            chunk, size = [], ENVELOPE
        chunk.append(op)
        size += op.size + 2
    if chunk:
        yield chunk


def batch_body(ops: Sequence[Op]) -> dict[str, list[Any]]:
    body: dict[str, list[Any]] = {}
    for kind in ("create", "update", "delete"):
        listed = [op.body["id"] if kind == "delete" else op.body for op in ops if op.kind == kind]
        if listed:
            body[kind] = listed
    return body


class BatchWriter:
    def __init__(self, client: MedusaClient, retry: RetryPolicy, max_body_bytes: int, log: logging.Logger,
                 sleep: Callable[[float], None]):
        self.client = client
        self.retry = retry
        self.max_body_bytes = max_body_bytes
        self.log = log
        self.sleep = sleep
        self.requests = 0
        self._lone_500s = 0

    def write(self, ops: Sequence[Op]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for chunk in by_size(ops, self.max_body_bytes):
            self._send(chunk, outcomes, retry_500=True)
        return outcomes

    def _send(self, ops: list[Op], outcomes: dict[str, Outcome], retry_500: bool, ambiguous: bool = False) -> None:
        """`ambiguous`: an earlier attempt of these products got no answer, so Medusa may still apply it."""
        attempt = 0
        while ops:
            attempt += 1
            try:
                self.requests += 1
                answer = self.client.post(ROUTE, batch_body(ops), params={"fields": RESULT_FIELDS},
                                          retry=None)
            except Unreachable as exc:
                if attempt >= self.retry.attempts:
                    raise
                ops = self._before_retry(ops, outcomes, attempt, str(exc))
                ambiguous = True
            except MedusaError as exc:
                retryable = self.retry.is_retryable_status(exc.status) and (exc.status != 500 or retry_500)
                if retryable and attempt < self.retry.attempts:
                    ops = self._before_retry(ops, outcomes, attempt, f"{exc.status}: {exc.message}")
                    ambiguous = True
                    continue
                if retryable and exc.status != 500:
                    raise
                if ambiguous and exc.status == 400 and "already exists" in exc.message:
                    remaining = self._landed_late(ops, outcomes)
                    if len(remaining) < len(ops):
                        ops = remaining
                        continue
                self._isolate(ops, outcomes, exc, ambiguous)
                return
            else:
                self._record(ops, answer, outcomes)
                return

    def _before_retry(self, ops: list[Op], outcomes: dict[str, Outcome], attempt: int, why: str) -> list[Op]:
        delay = self.retry.backoff_delay(attempt)
        self.log.warning("Attempt %d/%d to write %d products failed (%s); retrying in %.1fs", attempt,
                         self.retry.attempts, len(ops), why, delay)
        self.sleep(delay)
        return self._without_landed(ops, outcomes, "had been created before the failure: not sending them again")

    def _landed_late(self, ops: list[Op], outcomes: dict[str, Outcome]) -> list[Op]:
        """A resent create refused as "already exists": Medusa applied the unanswered attempt after all (a
        gateway gave up on it while Medusa worked). Those products are created, not failed."""
        return self._without_landed(ops, outcomes, "were created by the attempt that got no answer: counted as "
                                    "created")

    def _without_landed(self, ops: list[Op], outcomes: dict[str, Outcome], note: str) -> list[Op]:
        creates = {str(op.body.get("external_id")): op for op in ops if op.kind == "create"}
        if not creates:
            return ops
        landed = self._lookup(list(creates))
        for external_id, product in landed.items():
            op = creates[external_id]
            outcomes[op.key] = Outcome(op.key, "created", id=product["id"])
        if landed:
            self.log.warning("%d of them %s", len(landed), note)
        return [op for op in ops if not (op.kind == "create" and str(op.body.get("external_id")) in landed)]

    def _lookup(self, external_ids: list[str]) -> dict[str, dict[str, Any]]:
        answer = self.client.get(LOOKUP, {"external_id": external_ids, "fields": RESULT_FIELDS,
                                          "limit": len(external_ids) * 2 + 10})
        return {str(p["external_id"]): p for p in answer.get("products") or []}

    def _isolate(self, ops: list[Op], outcomes: dict[str, Outcome], exc: MedusaError, ambiguous: bool) -> None:
        if len(ops) == 1:
            outcomes[ops[0].key] = Outcome(ops[0].key, "failed", message=_reason(ops[0], exc))
            self._lone_500s = self._lone_500s + 1 if exc.status >= 500 else 0
            if self._lone_500s >= BROKEN_AFTER:
                raise MedusaBroken(
                    f"Medusa answered {exc.status} to {self._lone_500s} products in a row, each sent alone "
                    f"({exc.message}): it looks broken, so the run stops here; check Medusa's log, then run "
                    f"again (what was not written is synced then)")
            return
        named = _named_item(ops, exc.message)
        if named is not None:
            outcomes[named.key] = Outcome(named.key, "failed", message=_reason(named, exc))
            self._send([op for op in ops if op is not named], outcomes, retry_500=False, ambiguous=ambiguous)
            return
        purpose = "to fit" if exc.status == 413 else "to find the bad ones"
        self.log.warning("Medusa refused a batch of %d products (%d: %s): splitting it %s",
                         len(ops), exc.status, exc.message, purpose)
        half = len(ops) // 2
        self._send(ops[:half], outcomes, retry_500=False, ambiguous=ambiguous)
        self._send(ops[half:], outcomes, retry_500=False, ambiguous=ambiguous)

    def _record(self, ops: list[Op], answer: dict[str, Any], outcomes: dict[str, Outcome]) -> None:
        self._lone_500s = 0
        created = {p.get("handle"): p["id"] for p in answer.get("created") or []}
        done = {"update": {p["id"] for p in answer.get("updated") or []},
                "delete": set((answer.get("deleted") or {}).get("ids") or [])}
        for op in ops:
            if op.kind == "create":
                product_id = created.get(op.body.get("handle"))
            else:
                product_id = op.body["id"] if op.body["id"] in done[op.kind] else None
            if product_id is None:
                what = f"handle {op.body.get('handle')!r}" if op.kind == "create" else f"id {op.body['id']}"
                outcomes[op.key] = Outcome(op.key, "failed", message="Medusa accepted the batch but did not "
                                           f"return this product ({what})")
            else:
                outcomes[op.key] = Outcome(op.key, DONE[op.kind], id=product_id)


def _named_item(ops: list[Op], message: str) -> Op | None:
    """The product a schema error names by position, e.g. "Field 'create, 1, title' is required"."""
    match = _ITEM.search(message)
    if match is None:
        return None
    kind, index = match.group(1), int(match.group(2))
    same = [op for op in ops if op.kind == kind]
    return same[index] if index < len(same) else None


def _reason(op: Op, exc: MedusaError) -> str:
    if exc.status == 413:
        return f"the product's body is {op.size} bytes: too large for Medusa ({exc.message})"
    return f"Medusa refused it ({exc.status}): {exc.message}"
