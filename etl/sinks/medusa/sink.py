"""The Medusa v2 sink: the nightly sync, phase by phase, through the Admin API.

open     credentials and reachability checked before anything is read; the store's default sales channel
         and shipping profile found (Medusa links neither by itself)
prepare  categories and tags created once (a few requests at a time, terms.py) and mapped to ids; the
         store's products read once, by external_id, with every handle in use (a plan also reads the fields
         it shows old values of)
plan     per product: unchanged (its stored content hash is the mapped content's, changes.py), create (a
         unique handle reserved, links set, marked as this pipeline's) or update (by id: the handle kept,
         variants and prices updated in place, never deleted); refused when the store holds two products
         with its external_id
write    /admin/products/batch, a refused batch split until the bad products are isolated (writer.py)
prune    products marked as this pipeline's whose key the source no longer has: drafted (their hash
         dropped, so a return upstream publishes them again) or deleted, in batches

A Medusa that cannot be reached, or that refuses the credentials, stops the run; a product Medusa refuses
fails alone, with Medusa's message, and the engine quarantines it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import requests

from ...adapters import Change, Context, Item, Outcome, Prune
from ...errors import SinkError
from ...slugs import slugify
from .catalog import DETAIL_FIELDS, FIELDS, HASH_KEY, KEY_MARKER, PIPELINE_MARKER, Catalog, Product
from .categories import Categories
from .changes import LINKED, content_hash, diff, product_content, stored_content
from .client import MedusaClient, MedusaError
from .config import CONFIG_SCHEMA, Settings
from .payload import Links, create_body, update_body
from .tags import Tags
from .terms import Terms
from .writer import BatchWriter, Op

PRODUCTS = "/admin/products"


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
        self.terms: dict[str, Terms] = {"categories": Categories(), "tags": Tags()}
        self.catalog = Catalog()
        self.dry_run = bool(context.options.get("dry_run"))
        self.full = bool(context.options.get("full"))

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
            for name, terms in self.terms.items():
                terms.collect(item.data.get(name))
        for name, terms in self.terms.items():
            self._sync(name, terms)
        fields = DETAIL_FIELDS if self.dry_run else FIELDS
        self.catalog = Catalog.of(self.client.pages(PRODUCTS, "products", {"fields": fields}),
                                  keep_rows=self.dry_run)
        self.log.info("Found %d existing products in Medusa", self.catalog.count)
        for external_id, found in sorted(self.catalog.conflicts().items()):
            self.log.warning("%d products in Medusa have external_id %r (%s): they are left alone until only "
                             "one remains", len(found), external_id, ", ".join(p.id for p in found))

    def plan(self, item: Item) -> Change:
        data = item.data
        external_id = str(data.get("external_id") or item.key)
        found = self.catalog.find(external_id)
        if len(found) > 1:
            ids = ", ".join(p.id for p in found)
            return Change("fail", item, target_id=found[0].id, message=(
                f"conflict: {len(found)} products in Medusa have external_id {external_id!r} ({ids}); "
                "delete the extra ones, then run again"))
        content = product_content(data)
        digest = content_hash(content)
        if found and found[0].marker(HASH_KEY) == digest and not self.full:
            return Change("unchanged", item, target_id=found[0].id)
        links: Links = {name: self.terms[name].resolve(data[name]) for name in LINKED if name in data}
        unlinked = [name for name, ids in links.items() if ids is None]
        markers = {HASH_KEY: content_hash(product_content(data, without=unlinked)) if unlinked else digest}
        if found:
            product = found[0]
            body = update_body(data, product, links, markers)
            return Change("update", item, target_id=product.id, payload={"id": product.id, **body},
                          diff=self._diff(product, content, digest))
        base = (str(data.get("handle") or "") or slugify(data.get("title") or "")
                or f"product-{slugify(item.key)}")
        body = create_body(data, key=external_id, handle=self.catalog.reserve_handle(base), links=links,
                           sales_channel_ids=self.sales_channel_ids, shipping_profile_id=self.shipping_profile_id,
                           markers={PIPELINE_MARKER: self.context.pipeline, KEY_MARKER: item.key, **markers})
        return Change("create", item, payload=body)

    def write(self, batch: Sequence[Change]) -> list[Outcome]:
        ops = [Op.of(c.item.key, c.action, c.payload or {}) for c in batch if c.action in ("create", "update")]
        outcomes = self.writer.write(ops)
        return [outcomes[c.item.key] for c in batch if c.item.key in outcomes]

    def prunes(self, seen_keys: Collection[str]) -> list[Prune]:
        """This pipeline's products whose key the source no longer has; for `draft`, not those already
        drafts. Products made by hand, or by another pipeline, carry no such mark and are never touched."""
        drafting = self.context.options.get("prune_action") == "draft"
        return [Prune(str(p.marker(KEY_MARKER)), p.id, f"{p.title} ({p.handle})" if p.title else p.handle)
                for p in self.catalog.marked
                if p.marker(PIPELINE_MARKER) == self.context.pipeline and str(p.marker(KEY_MARKER)) not in seen_keys
                and not (drafting and p.status == "draft")]

    def prune(self, prunes: Sequence[Prune], action: str) -> list[Outcome]:
        if action not in ("draft", "delete"):
            raise SinkError(f"the Medusa sink cannot prune with action {action!r} (draft or delete)")
        ops = [Op.of(p.key, "update", {"id": p.id, "status": "draft", "metadata": {HASH_KEY: ""}})
               if action == "draft" else Op.of(p.key, "delete", {"id": p.id}) for p in prunes]
        outcomes: list[Outcome] = []
        for start in range(0, len(ops), self.batch_size):
            for outcome in self.writer.write(ops[start:start + self.batch_size]).values():
                if outcome.result != "failed":
                    outcome.result = "pruned"
                outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        self.client.close()

    def _sync(self, name: str, terms: Terms) -> None:
        try:
            new = terms.sync(self.client, self.dry_run, self.settings.concurrency)
        except MedusaError as exc:
            self.context.warning(f"{terms.noun.capitalize()} sync failed: {exc}. "
                                 f"Products are synced without {name} this run")
            return
        if not terms.wanted:
            return
        self.log.info(terms.summary(self.dry_run, new))
        notes = self.context.options.get("plan_notes")
        if self.dry_run and new and isinstance(notes, list):
            notes.append(f"{len(new)} {name if len(new) != 1 else terms.noun} to create: {', '.join(new)}")

    def _diff(self, product: Product, content: dict[str, Any], digest: str) -> dict[str, list[Any]]:
        """Old and new values of what changed, for a plan; a product whose fields all match but whose hash
        does not (written before hashes, or after its hash was dropped) shows the hash itself."""
        if product.row is None:
            return {}
        changed = diff(stored_content(product, content), content)
        if not changed and product.marker(HASH_KEY) != digest:
            changed = {f"metadata.{HASH_KEY}": [product.marker(HASH_KEY), digest]}
        return changed

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
