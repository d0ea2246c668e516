"""Things products link to by id but a mapping names by value (categories by handle, tags by value).

Before the first product is written, every value the run needs is looked up in Medusa, the missing ones are
created once, and products then link by id. Medusa has no batch route for either, and no way to create them
inline with a product (a tag given by value is refused), hence this phase.

A sync that fails leaves `failed` set and no ids: products are then written without that field, never with
a partial set, since on update the field replaces every link the product has.

The missing ones are created a few at a time (the sink's `concurrency`): a first night has 24 categories and
138 tags to create, one request each, which one after the other cost three times what the products do. What
is created, counted, reported and logged is what a one-at-a-time loop gives (parallel.py says how).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from .client import MedusaClient, MedusaError
from .parallel import in_order


@dataclass(frozen=True)
class Ref:
    """One mapped link: a value to find or create (`key`, with what to create it from), or a store id."""

    key: str | None = None
    body: tuple[tuple[str, Any], ...] = ()
    id: str | None = None


@dataclass
class Terms:
    route: ClassVar[str]
    plural: ClassVar[str]
    singular: ClassVar[str]
    key_field: ClassVar[str]
    noun: ClassVar[str]
    label: ClassVar[str]

    wanted: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    created: int = 0
    existing: int = 0
    failed: str | None = None

    @classmethod
    def refs(cls, value: Any) -> list[Ref]:
        raise NotImplementedError

    def collect(self, value: Any) -> None:
        for ref in self.refs(value):
            if ref.key and not ref.id:
                self.wanted.setdefault(ref.key, dict(ref.body))

    def sync(self, client: MedusaClient, dry_run: bool = False, concurrency: int = 1) -> list[str]:
        """Fill `ids` and return the values created (in a dry run: to create). Raises MedusaError, after
        setting `failed`, when Medusa refuses or cannot be reached: the caller warns and goes on."""
        if not self.wanted:
            return []
        try:
            return self._sync(client, dry_run, concurrency)
        except MedusaError as exc:
            self.failed = str(exc)
            self.ids.clear()
            raise

    def _sync(self, client: MedusaClient, dry_run: bool, concurrency: int) -> list[str]:
        known = {row[self.key_field]: row["id"]
                 for row in client.pages(self.route, self.plural, {"fields": f"id,{self.key_field}"})}
        missing = [key for key in self.wanted if key not in known]
        if dry_run:
            new, error = [(f"(new {self.noun} {key})", False) for key in missing], None
        else:
            new, error = in_order([partial(self._create, client, key, self.wanted[key]) for key in missing],
                                  concurrency, name=f"etl-{self.plural}")
        done = iter(new)
        for key in self.wanted:
            if key in known:
                self.ids[key] = known[key]
                self.existing += 1
                continue
            term = next(done, None)
            if term is None:  # the first key whose creation failed: a loop would have stopped here too
                raise error if error is not None else AssertionError("a missing term without an id")
            self.ids[key], created = term
            if created:
                self.created += 1
            elif not dry_run:
                self.existing += 1
        return missing

    def _create(self, client: MedusaClient, key: str, body: dict[str, Any]) -> tuple[str, bool]:
        """The new term's id, and whether this run created it (False: another one did, since the list was
        read). Runs on a worker thread: it changes nothing shared, `_sync` counts once every call is back."""
        fields = f"id,{self.key_field}"
        try:
            answer = client.post(self.route, body, params={"fields": fields})
        except MedusaError as exc:
            if exc.status == 400 and "already exists" in exc.message:
                found = client.get(self.route, {"fields": fields, self.key_field: key}).get(self.plural)
                if found:
                    return found[0]["id"], False
            raise
        return answer[self.singular]["id"], True

    def resolve(self, value: Any) -> list[dict[str, str]] | None:
        """The field's body for a product, or None when any of its values has no id (leave the product's
        links as they are rather than send a partial set)."""
        if self.failed:
            return None
        out: list[dict[str, str]] = []
        for ref in self.refs(value):
            term_id = ref.id or (self.ids.get(ref.key) if ref.key else None)
            if term_id is None:
                return None
            if {"id": term_id} not in out:
                out.append({"id": term_id})
        return out

    def summary(self, dry_run: bool, missing: list[str]) -> str:
        if dry_run:
            return f"{self.label}: {len(missing)} to create, {self.existing} existing"
        return f"{self.label} synced: {self.created} created, {self.existing} existing"


def text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
