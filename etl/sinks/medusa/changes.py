"""Change detection: a content hash stored with each product, and the field diff a plan shows.

The hash covers what an update sets, in the mapping's own terms, before anything is resolved to a store id:
categories by handle, tags by value, variants and prices without their ids, and not the fields an update
never sends (handle, options). So it changes exactly when the source or the mapping changes what the product
should be, and not when the store renumbers something: a category deleted and re-created by hand is store
drift, which `--full` repairs, like a price edited in the admin. What a write could not apply (categories or
tags whose sync failed) is left out of the hash it stores, so the next run sees a difference and links them.

The hash lives in the product's `metadata.etl_hash`; a prune to draft deletes it, so a product that comes
back upstream is written again (and published again) even though its content is the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from .catalog import Product
from .categories import Categories
from .payload import match_variants, numbers
from .tags import Tags

NEVER_UPDATED = ("handle", "options")
LINKED = ("categories", "tags")


def product_content(data: dict[str, Any], without: Iterable[str] = ()) -> dict[str, Any]:
    """The part of a mapped product that an update sets, normalised as it is sent."""
    skipped = {*NEVER_UPDATED, *without}
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in skipped:
            continue
        if name == "categories":
            out[name] = sorted(ref.key or ref.id or "" for ref in Categories.refs(value))
        elif name == "tags":
            out[name] = sorted(ref.key or ref.id or "" for ref in Tags.refs(value))
        elif name == "images" and isinstance(value, list):
            out[name] = [image.get("url") if isinstance(image, dict) else image for image in value]
        elif name == "variants" and isinstance(value, list):
            out[name] = [{k: v for k, v in variant.items() if k != "options"} if isinstance(variant, dict)
                         else variant for variant in value]
        else:
            out[name] = value
    out = json.loads(json.dumps(out))
    numbers(out)
    return out


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_content(product: Product, content: dict[str, Any]) -> dict[str, Any]:
    """The store's current values in the shape of `content`, from the product as read for a plan."""
    row = product.row or {}
    out: dict[str, Any] = {}
    for name, wanted in content.items():
        if name == "categories":
            out[name] = sorted(c.get("handle") or c.get("id") for c in row.get("categories") or [])
        elif name == "tags":
            out[name] = sorted(t.get("value") or t.get("id") for t in row.get("tags") or [])
        elif name == "images":
            images = sorted(row.get("images") or [], key=lambda image: image.get("rank") or 0)
            out[name] = [image.get("url") for image in images]
        elif name == "variants" and isinstance(wanted, list):
            out[name] = _variants(product, row, wanted)
        else:
            out[name] = _project(row.get(name), wanted)
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """{dotted.path: [old, new]} for every leaf that differs, e.g. `variants.0.prices.0.amount`."""
    before, after = _flatten(old), _flatten(new)
    changed = {}
    for path in [*after, *(p for p in before if p not in after)]:
        if before.get(path) != after.get(path):
            changed[path] = [before.get(path), after.get(path)]
    return changed


def _variants(product: Product, row: dict[str, Any], wanted: list[Any]) -> list[Any]:
    rows = {v.get("id"): v for v in row.get("variants") or []}
    mapped = [v if isinstance(v, dict) else {} for v in wanted]
    out = []
    for variant, current in zip(mapped, match_variants(mapped, product.variants), strict=True):
        if current is None:
            out.append(None)
            continue
        stored = rows.get(current.id) or {}
        entry = {k: _project(stored.get(k), v) for k, v in variant.items() if k != "prices"}
        if isinstance(variant.get("prices"), list):
            plain = {p.currency_code: p.id for p in current.prices if p.plain}
            by_id = {p.get("id"): p for p in stored.get("prices") or []}
            entry["prices"] = [
                _project(by_id.get(plain.get(str(price.get("currency_code") or "").lower())), price)
                if isinstance(price, dict) else None
                for price in variant["prices"]]
        out.append(entry)
    return out


def _project(stored: Any, wanted: Any) -> Any:
    if isinstance(wanted, dict):
        source = stored if isinstance(stored, dict) else {}
        return {k: _project(source.get(k), v) for k, v in wanted.items()}
    return stored


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}{index}."))
        return out
    return {prefix[:-1]: value}
