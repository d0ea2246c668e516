"""What the store already holds, read once per run: products by external_id, and every handle in use.

Medusa does not keep `external_id` unique, so the index maps an external_id to every live product that
carries it; two of them is a conflict to report, never a reason to create a third. Only the few fields a
write needs are read (ids, handle, metadata, variant and price ids): the default fields of 100 products
weigh megabytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...slugs import unique_handle

FIELDS = ",".join([
    "id", "handle", "external_id", "metadata",
    "variants.id", "variants.sku", "variants.title",
    "variants.prices.id", "variants.prices.currency_code",
    "variants.prices.min_quantity", "variants.prices.max_quantity", "variants.prices.rules",
])


@dataclass(frozen=True)
class Price:
    id: str
    currency_code: str
    plain: bool
    """A price for every customer and quantity: the only kind a mapping sets; the others are left alone."""


@dataclass(frozen=True)
class Variant:
    id: str
    sku: str | None
    title: str | None
    prices: tuple[Price, ...] = ()


@dataclass(frozen=True)
class Product:
    id: str
    handle: str
    external_id: str | None
    metadata: dict[str, Any] | None
    variants: tuple[Variant, ...] = ()

    @classmethod
    def from_api(cls, row: dict[str, Any]) -> Product:
        variants = tuple(
            Variant(v["id"], v.get("sku"), v.get("title"),
                    tuple(Price(p["id"], str(p.get("currency_code") or "").lower(), _plain(p))
                          for p in v.get("prices") or []))
            for v in row.get("variants") or [])
        return cls(row["id"], row.get("handle") or "", row.get("external_id"), row.get("metadata"), variants)


def _plain(price: dict[str, Any]) -> bool:
    return not price.get("rules") and price.get("min_quantity") is None and price.get("max_quantity") is None


@dataclass
class Catalog:
    by_external_id: dict[str, list[Product]] = field(default_factory=dict)
    handles: set[str] = field(default_factory=set)
    count: int = 0

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> Catalog:
        catalog = cls()
        for row in rows:
            catalog.add(Product.from_api(row))
        return catalog

    def add(self, product: Product) -> None:
        self.count += 1
        self.handles.add(product.handle)
        if product.external_id not in (None, ""):
            self.by_external_id.setdefault(str(product.external_id), []).append(product)

    def find(self, external_id: str) -> list[Product]:
        return self.by_external_id.get(external_id, [])

    def conflicts(self) -> dict[str, list[Product]]:
        return {ext: found for ext, found in self.by_external_id.items() if len(found) > 1}

    def reserve_handle(self, base: str) -> str:
        """The seed's rule: `x`, else `x-1`, `x-2`... against the store's handles and this run's."""
        handle = unique_handle(base, self.handles)
        self.handles.add(handle)
        return handle
