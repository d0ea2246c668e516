"""What the store already holds, read once per run: products by external_id, and every handle in use.

Medusa does not keep `external_id` unique, so the index maps an external_id to every live product that
carries it; two of them is a conflict to report, never a reason to create a third. A run reads only the few
fields a write needs (ids, handle, status, metadata with the content hash and the pipeline's marks, variant
and price ids): the default fields of 100 products weigh megabytes. A plan also reads the fields a mapping
sets, to show their old values (194 products: 150 kB for a run, 290 kB for a plan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...slugs import unique_handle

FIELDS = ",".join([
    "id", "handle", "external_id", "title", "status", "metadata",
    "variants.id", "variants.sku", "variants.title",
    "variants.prices.id", "variants.prices.currency_code",
    "variants.prices.min_quantity", "variants.prices.max_quantity", "variants.prices.rules",
])
DETAIL_FIELDS = ",".join([
    FIELDS, "subtitle", "description", "thumbnail", "weight", "length", "height", "width", "hs_code", "mid_code",
    "origin_country", "material", "discountable", "is_giftcard", "collection_id", "type_id",
    "images.url", "images.rank", "categories.id", "categories.handle", "tags.id", "tags.value",
    "variants.manage_inventory", "variants.allow_backorder", "variants.ean", "variants.upc", "variants.barcode",
    "variants.weight", "variants.length", "variants.height", "variants.width", "variants.metadata",
    "variants.prices.amount",
])


PIPELINE_MARKER = "etl_pipeline"
KEY_MARKER = "etl_key"
HASH_KEY = "etl_hash"
MARKERS = (PIPELINE_MARKER, KEY_MARKER, HASH_KEY)
"""The only metadata a run reads (owner, source key, content hash): a product keeps these, not its whole
metadata, and slotted objects, so the index of a 10,000-product store takes 14 MB, not 30."""


@dataclass(frozen=True, slots=True)
class Price:
    id: str
    currency_code: str
    plain: bool
    """A price for every customer and quantity: the only kind a mapping sets; the others are left alone."""


@dataclass(frozen=True, slots=True)
class Variant:
    id: str
    sku: str | None
    title: str | None
    prices: tuple[Price, ...] = ()


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    handle: str
    external_id: str | None
    metadata: dict[str, Any] | None
    variants: tuple[Variant, ...] = ()
    title: str = ""
    status: str | None = None
    row: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """Medusa's answer as read for a plan (old values for the diff); None in a run, to keep memory flat."""

    @classmethod
    def from_api(cls, row: dict[str, Any], keep_row: bool = False) -> Product:
        variants = tuple(
            Variant(v["id"], v.get("sku"), v.get("title"),
                    tuple(Price(p["id"], str(p.get("currency_code") or "").lower(), _plain(p))
                          for p in v.get("prices") or []))
            for v in row.get("variants") or [])
        metadata = row.get("metadata")
        if isinstance(metadata, dict):
            metadata = {name: metadata[name] for name in MARKERS if name in metadata}
        return cls(row["id"], row.get("handle") or "", row.get("external_id"), metadata, variants,
                   row.get("title") or "", row.get("status"), row if keep_row else None)

    def marker(self, name: str) -> Any:
        return (self.metadata or {}).get(name)


def _plain(price: dict[str, Any]) -> bool:
    return not price.get("rules") and price.get("min_quantity") is None and price.get("max_quantity") is None


@dataclass
class Catalog:
    by_external_id: dict[str, list[Product]] = field(default_factory=dict)
    handles: set[str] = field(default_factory=set)
    marked: list[Product] = field(default_factory=list)
    """Products that carry a pipeline's marks (metadata etl_pipeline and etl_key): only these may be pruned."""
    count: int = 0

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]], keep_rows: bool = False) -> Catalog:
        catalog = cls()
        for row in rows:
            catalog.add(Product.from_api(row, keep_rows))
        return catalog

    def add(self, product: Product) -> None:
        self.count += 1
        self.handles.add(product.handle)
        if product.external_id not in (None, ""):
            self.by_external_id.setdefault(str(product.external_id), []).append(product)
        if product.marker(PIPELINE_MARKER) and product.marker(KEY_MARKER) not in (None, ""):
            self.marked.append(product)

    def find(self, external_id: str) -> list[Product]:
        return self.by_external_id.get(external_id, [])

    def conflicts(self) -> dict[str, list[Product]]:
        return {ext: found for ext, found in self.by_external_id.items() if len(found) > 1}

    def reserve_handle(self, base: str) -> str:
        """The seed's rule: `x`, else `x-1`, `x-2`... against the store's handles and this run's."""
        handle = unique_handle(base, self.handles)
        self.handles.add(handle)
        return handle
