"""In-memory adapters for engine and CLI tests: they keep what they are given and fail where told."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from etl.adapters import Change, Context, Item, Outcome, Prune, SourceStats
from etl.errors import SourceError


class FakeSource:
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"fail_after": {"type": "integer"}, "total": {"type": "integer"}},
    }
    records: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: Mapping[str, Any], context: Context):
        self.config = config
        self._stats = SourceStats(expected=config.get("total"))

    @property
    def stats(self) -> SourceStats:
        return self._stats

    def read(self) -> Iterator[dict[str, Any]]:
        for i, record in enumerate(self.records):
            if self.config.get("fail_after") == i:
                raise SourceError(f"fake source failed after {i} records")
            self._stats.fetched += 1
            yield record
        self._stats.complete = self._stats.expected in (None, self._stats.fetched)


class FakeSink:
    """A store in a dict; `fail_keys` are rejected item by item, like a store validating each one."""

    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"batch_size": {"type": "integer", "minimum": 1}, "two_pass": {"type": "boolean"}},
    }
    noun = "things"
    store: ClassVar[dict[str, dict[str, Any]]] = {}
    owned: ClassVar[set[str]] = set()
    fail_keys: ClassVar[set[str]] = set()
    batches: ClassVar[list[list[str]]] = []
    prepared: ClassVar[int] = 0
    pruned: ClassVar[list[tuple[str, str]]] = []

    @classmethod
    def reset(cls) -> None:
        cls.store, cls.owned, cls.fail_keys, cls.batches, cls.pruned = {}, set(), set(), [], []
        cls.prepared = 0

    def __init__(self, config: Mapping[str, Any], context: Context):
        self._batch_size = config.get("batch_size", 2)
        self.two_pass = config.get("two_pass", True)
        self.context = context

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def open(self) -> None:
        pass

    def prepare(self, items: Iterable[Item]) -> None:
        type(self).prepared = sum(1 for _ in items)

    def plan(self, item: Item) -> Change:
        old = self.store.get(item.key)
        if old is None:
            return Change("create", item, payload=item.data)
        if old == item.data and not self.context.options.get("full"):
            return Change("unchanged", item)
        diff = {k: [old.get(k), v] for k, v in item.data.items() if old.get(k) != v}
        return Change("update", item, target_id=item.key, payload=item.data, diff=diff)

    def write(self, batch: Sequence[Change]) -> list[Outcome]:
        self.batches.append([c.item.key for c in batch])
        out = []
        for change in batch:
            key = change.item.key
            if key in self.fail_keys:
                out.append(Outcome(key, "failed", message=f"thing {key} rejected"))
                continue
            self.store[key] = change.item.data
            self.owned.add(key)
            out.append(Outcome(key, "created" if change.action == "create" else "updated", id=key))
        return out

    def prunes(self, seen_keys: Collection[str]) -> list[Prune]:
        return [Prune(k, k) for k in sorted(self.owned - seen_keys)]

    def prune(self, prunes: Sequence[Prune], action: str) -> list[Outcome]:
        out = []
        for p in prunes:
            self.pruned.append((p.key, action))
            self.store.pop(p.key, None)
            self.owned.discard(p.key)
            out.append(Outcome(p.key, "pruned", id=p.id))
        return out

    def close(self) -> None:
        pass
