"""The Medusa v2 sink: the seed's nightly sync, phase by phase, through the Admin API.

open     credentials and reachability checked before anything is read; the store's default sales channel
         and shipping profile found (Medusa links neither by itself)
prepare  categories created once (active) and mapped handle -> id; the store's products read once, by
         external_id, with every handle in use
plan     per product: create (a unique handle reserved, categories, channel and profile linked) or update
         (by id: the handle kept, variants and prices updated in place, never deleted)
write    /admin/products/batch, a refused batch split until the bad products are isolated (writer.py)

A Medusa that cannot be reached, or that refuses the credentials, stops the run; a product Medusa refuses
fails alone, with Medusa's message, and the engine quarantines it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import requests

from ...adapters import Change, Context, Item, Outcome, Prune
from ...errors import SinkError
from ...slugs import slugify
from .catalog import FIELDS, Catalog
from .categories import Categories
from .client import MedusaClient, MedusaError
from .config import CONFIG_SCHEMA, Settings
from .payload import create_body, update_body
from .writer import BatchWriter, Op

PRODUCTS = "/admin/products"
CONFLICT = "_conflict"


class MedusaSink:
    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA
    two_pass: ClassVar[bool] = True
    noun = "products"

    def __init__(self, config: Mapping[str, Any], context: Context, *,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep):
        self.settings = Settings.from_config(config)
        self.context = context
        self.log = context.log
        self.client = MedusaClient(self.settings, session=session, sleep=sleep, log=context.log)
        self.writer = BatchWriter(self.client, self.settings.retry, self.settings.max_body_bytes, context.log,
                                  sleep)
        self.sales_channel_ids = self.settings.sales_channel_ids
        self.shipping_profile_id = self.settings.shipping_profile_id
        self.categories = Categories()
        self.catalog = Catalog()

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def open(self) -> None:
        store = self._first("/admin/stores", "stores", "id,default_sales_channel_id")
        if not self.sales_channel_ids:
            channel = (store or {}).get("default_sales_channel_id")
            self.sales_channel_ids = (channel,) if channel else ()
        else:
            for channel in self.sales_channel_ids:
                self._exists(f"/admin/sales-channels/{channel}", "sales_channel", f"sales channel {channel}")
        if self.shipping_profile_id is None:
            profiles = self.client.get("/admin/shipping-profiles", {"fields": "id,type", "limit": 100})
            rows = profiles.get("shipping_profiles") or []
            default = next((p for p in rows if p.get("type") == "default"), rows[0] if rows else None)
            self.shipping_profile_id = default["id"] if default else None
        else:
            self._exists(f"/admin/shipping-profiles/{self.shipping_profile_id}", "shipping_profile",
                         f"shipping profile {self.shipping_profile_id}")
        self.log.info("Connected to Medusa at %s (sales channel %s, shipping profile %s)", self.settings.url,
                      ", ".join(self.sales_channel_ids) or "none", self.shipping_profile_id or "none")

    def prepare(self, items: Iterable[Item]) -> None:
        for item in items:
            self.categories.collect(item.data.get("categories"))
        dry_run = bool(self.context.options.get("dry_run"))
        new = self.categories.sync(self.client, self.log, dry_run)
        notes = self.context.options.get("plan_notes")
        if dry_run and new and isinstance(notes, list):
            notes.append(f"{len(new)} categories to create: {', '.join(new)}")
        self.catalog = Catalog.of(self.client.pages(PRODUCTS, "products", {"fields": FIELDS}))
        self.log.info("Found %d existing products in Medusa", self.catalog.count)
        for external_id, found in sorted(self.catalog.conflicts().items()):
            self.log.warning("%d products in Medusa have external_id %r (%s): they are left alone until only "
                             "one remains", len(found), external_id, ", ".join(p.id for p in found))

    def plan(self, item: Item) -> Change:
        data = item.data
        external_id = str(data.get("external_id") or item.key)
        found = self.catalog.find(external_id)
        categories = self._categories(data)
        if len(found) > 1:
            ids = ", ".join(p.id for p in found)
            message = (f"conflict: {len(found)} products in Medusa have external_id {external_id!r} ({ids}); "
                       "delete the extra ones, then run again")
            return Change("update", item, target_id=found[0].id, payload={CONFLICT: message})
        if found:
            product = found[0]
            body = update_body(data, product, categories)
            return Change("update", item, target_id=product.id, payload={"id": product.id, **body})
        base = (str(data.get("handle") or "") or slugify(data.get("title") or "")
                or f"product-{slugify(item.key)}")
        body = create_body(data, key=external_id, handle=self.catalog.reserve_handle(base),
                           categories=categories, sales_channel_ids=self.sales_channel_ids,
                           shipping_profile_id=self.shipping_profile_id,
                           markers={"etl_pipeline": self.context.pipeline, "etl_key": item.key})
        return Change("create", item, payload=body)

    def write(self, batch: Sequence[Change]) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        ops = []
        for change in batch:
            payload = change.payload or {}
            if CONFLICT in payload:
                outcomes[change.item.key] = Outcome(change.item.key, "failed", message=payload[CONFLICT])
            elif change.action in ("create", "update"):
                ops.append(Op.of(change.item.key, change.action, payload))
        outcomes.update(self.writer.write(ops))
        return [outcomes[c.item.key] for c in batch if c.item.key in outcomes]

    def prunes(self, seen_keys: set[str]) -> list[Prune]:
        return []

    def prune(self, prunes: Sequence[Prune], action: str) -> list[Outcome]:
        return []

    def close(self) -> None:
        self.client.close()

    def _categories(self, data: dict[str, Any]) -> list[dict[str, str]] | None:
        if "categories" not in data or self.categories.failed:
            return None
        return self.categories.resolve(data["categories"])

    def _first(self, path: str, plural: str, fields: str) -> dict[str, Any] | None:
        rows = self.client.get(path, {"fields": fields, "limit": 1}).get(plural) or []
        return rows[0] if rows else None

    def _exists(self, path: str, key: str, what: str) -> None:
        """Medusa answers 404 for an unknown sales channel, but 200 and `{}` for a shipping profile."""
        try:
            found = self.client.get(path, {"fields": "id"}).get(key)
        except MedusaError as exc:
            if exc.status != 404:
                raise
            found = None
        if not found:
            raise SinkError(f"the sink's {what} does not exist in Medusa at {self.settings.url}")
