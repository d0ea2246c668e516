"""Product categories: the mapped data names them by handle; the store gets each one once, active.

A mapped product says `categories: [{handle, name}]`. Before the first product is written, every handle the
run needs is looked up in Medusa and the missing ones are created (Medusa makes new categories inactive
unless told, and an inactive category is invisible in the storefront). Products then link by id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ...slugs import titleize
from .client import MedusaClient, MedusaError

ROUTE = "/admin/product-categories"


@dataclass(frozen=True)
class CategoryRef:
    handle: str | None = None
    name: str | None = None
    id: str | None = None


def category_refs(value: Any) -> list[CategoryRef]:
    """A product's mapped `categories`: dicts with a handle (and a name), a handle alone, or {id}."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    refs = []
    for entry in items:
        if isinstance(entry, str) and entry:
            refs.append(CategoryRef(handle=entry))
        elif isinstance(entry, dict) and (entry.get("id") or entry.get("handle")):
            refs.append(CategoryRef(handle=_text(entry.get("handle")), name=_text(entry.get("name")),
                                    id=_text(entry.get("id"))))
    return refs


@dataclass
class Categories:
    wanted: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    created: int = 0
    existing: int = 0
    failed: str | None = None

    def collect(self, value: Any) -> None:
        for ref in category_refs(value):
            if ref.handle and not ref.id:
                self.wanted.setdefault(ref.handle, ref.name or titleize(ref.handle))

    def sync(self, client: MedusaClient, log: logging.Logger, dry_run: bool = False) -> list[str]:
        """Fill `ids` and return the handles created (or, in a dry run, to create). On failure remember
        why, so products are written without categories: never with a wrong or partial set, since on
        update `categories` replaces the product's links."""
        if not self.wanted:
            return []
        try:
            missing = self._sync(client, dry_run)
        except MedusaError as exc:
            self.failed = str(exc)
            log.warning("Category sync failed: %s. Products are synced without categories this run", exc)
            return []
        if dry_run:
            log.info("Categories: %d to create, %d existing", len(missing), self.existing)
        else:
            log.info("Categories synced: %d created, %d existing", self.created, self.existing)
        return missing

    def _sync(self, client: MedusaClient, dry_run: bool) -> list[str]:
        known = {row["handle"]: row["id"]
                 for row in client.pages(ROUTE, "product_categories", {"fields": "id,handle"})}
        missing = []
        for handle, name in self.wanted.items():
            if handle in known:
                self.ids[handle] = known[handle]
                self.existing += 1
                continue
            missing.append(handle)
            self.ids[handle] = f"(new category {handle})" if dry_run else self._create(client, handle, name)
        return missing

    def _create(self, client: MedusaClient, handle: str, name: str) -> str:
        try:
            answer = client.post(ROUTE, {"name": name, "handle": handle, "is_active": True},
                                 params={"fields": "id,handle"})
        except MedusaError as exc:
            if exc.status == 400 and "already exists" in exc.message:
                found = client.get(ROUTE, {"fields": "id,handle", "handle": handle}).get("product_categories")
                if found:
                    self.existing += 1
                    return found[0]["id"]
            raise
        self.created += 1
        return answer["product_category"]["id"]

    def resolve(self, value: Any) -> list[dict[str, str]] | None:
        """The `categories` body for a product, or None when any of its categories has no id (leave the
        product's links as they are rather than send a partial set)."""
        refs = category_refs(value)
        out: list[dict[str, str]] = []
        for ref in refs:
            category_id = ref.id or (self.ids.get(ref.handle) if ref.handle else None)
            if category_id is None:
                return None
            if {"id": category_id} not in out:
                out.append({"id": category_id})
        return out


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)

