"""Request bodies for Medusa from a mapped product: pure functions, so a plan shows exactly what is sent.

Medusa's rules that shape them (all checked against Medusa 2.21):
- a product needs at least one option, even a simple one; a variant needs its option values;
- nothing is linked by default: new products get the sales channel and shipping profile explicitly;
- on update, `options` is refused (removed in 2.16), and inline `variants` is the complete set: a variant left
  out is deleted and a variant's `prices` replace all its prices. So an update names every existing variant
  by id (the ones the mapping does not describe as `{id}` alone, which leaves them as they are) and every
  existing price (`{id}` alone keeps it);
- a variant with option values listed before one without makes Medusa fail with a 500, so new variants,
  which carry option values, go last;
- numbers must be JSON numbers: "10.5" as a price is refused with a misleading message.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .catalog import Price, Product, Variant

DEFAULT_OPTION = {"title": "Default option", "values": ["Default option value"]}
DEFAULT_VARIANT_TITLE = "Default variant"
NUMERIC = ("weight", "length", "height", "width")
LINKED = ("categories", "tags")
UPDATE_DROPS = ("handle", "options", *LINKED)

Links = dict[str, "list[dict[str, str]] | None"]
"""Resolved `categories` and `tags` ({id} lists); None for one whose sync failed: the field is left out."""


def create_body(data: dict[str, Any], *, key: str, handle: str, links: Links,
                sales_channel_ids: tuple[str, ...], shipping_profile_id: str | None,
                markers: dict[str, Any]) -> dict[str, Any]:
    body = _copy(data)
    for name in LINKED:
        body.pop(name, None)
    body["handle"] = handle
    body.setdefault("external_id", key)
    body.update({name: ids for name, ids in links.items() if ids is not None})
    if "sales_channels" not in body and sales_channel_ids:
        body["sales_channels"] = [{"id": sc} for sc in sales_channel_ids]
    if "shipping_profile_id" not in body and shipping_profile_id:
        body["shipping_profile_id"] = shipping_profile_id
    if not body.get("options"):
        body["options"] = [dict(DEFAULT_OPTION)]
    if not body.get("variants"):
        body["variants"] = [{"title": DEFAULT_VARIANT_TITLE, "prices": []}]
    body["variants"] = [_new_variant(v, body["options"]) for v in body["variants"]]
    body["metadata"] = {**(body.get("metadata") or {}), **markers}
    numbers(body)
    return body


def update_body(data: dict[str, Any], existing: Product, links: Links, markers: dict[str, Any]) -> dict[str, Any]:
    """The update keeps the product's handle, and its links when they could not be resolved. Medusa merges
    `metadata` key by key, so the markers sent (the content hash) leave the others (the pipeline's) alone."""
    body = _copy(data)
    for name in UPDATE_DROPS:
        body.pop(name, None)
    body.update({name: ids for name, ids in links.items() if ids is not None})
    if isinstance(body.get("variants"), list):
        body["variants"] = merge_variants(body["variants"], existing.variants)
    body["metadata"] = {**(body.get("metadata") or {}), **markers}
    numbers(body)
    return body


def merge_variants(mapped: list[dict[str, Any]], existing: tuple[Variant, ...]) -> list[dict[str, Any]]:
    pairs = match_variants(mapped, existing)
    updated, added = [], []
    for wanted, current in zip(mapped, pairs, strict=True):
        if current is None:
            added.append(dict(wanted))
            continue
        entry = {k: v for k, v in wanted.items() if k != "options"}
        entry["id"] = current.id
        if isinstance(wanted.get("prices"), list):
            entry["prices"] = merge_prices(wanted["prices"], current.prices)
        updated.append(entry)
    matched = {v.id for v in pairs if v is not None}
    kept = [{"id": v.id} for v in existing if v.id not in matched]
    return updated + kept + added


def match_variants(mapped: list[dict[str, Any]], existing: tuple[Variant, ...]) -> list[Variant | None]:
    """Which existing variant each mapped one describes: same SKU, else same title, else the only one left."""
    remaining = list(existing)
    found: list[Variant | None] = [None] * len(mapped)
    for attribute in ("sku", "title"):
        for i, wanted in enumerate(mapped):
            value = wanted.get(attribute) if isinstance(wanted, dict) else None
            if found[i] is None and value not in (None, ""):
                hit = next((v for v in remaining if getattr(v, attribute) == value), None)
                if hit is not None:
                    found[i] = hit
                    remaining.remove(hit)
    unmatched = [i for i, v in enumerate(found) if v is None]
    if len(unmatched) == 1 and len(remaining) == 1:
        found[unmatched[0]] = remaining.pop()
    return found


def merge_prices(mapped: list[dict[str, Any]], existing: tuple[Price, ...]) -> list[dict[str, Any]]:
    """Mapped prices update the plain price of their currency in place; every other price is kept."""
    plain = {p.currency_code: p for p in existing if p.plain}
    used: set[str] = set()
    out = []
    for price in mapped:
        entry = dict(price)
        current = plain.get(str(price.get("currency_code") or "").lower())
        if current is not None and current.id not in used:
            entry["id"] = current.id
            used.add(current.id)
        out.append(entry)
    out.extend({"id": p.id} for p in existing if p.id not in used)
    return out


def body_size(body: Any) -> int:
    """Bytes on the wire, serialised the way requests does it."""
    return len(json.dumps(body).encode())


def _new_variant(variant: dict[str, Any], options: list[dict[str, Any]]) -> dict[str, Any]:
    entry = dict(variant)
    entry.setdefault("title", DEFAULT_VARIANT_TITLE)
    entry.setdefault("manage_inventory", False)
    entry.setdefault("prices", [])
    if "options" not in entry and len(options) == 1 and len(options[0].get("values") or []) == 1:
        entry["options"] = {options[0]["title"]: options[0]["values"][0]}
    return entry


def numbers(body: dict[str, Any]) -> None:
    for target in [body, *(v for v in body.get("variants") or [] if isinstance(v, dict))]:
        for name in NUMERIC:
            if name in target:
                target[name] = _number(target[name])
        for price in target.get("prices") or []:
            if isinstance(price, dict) and "amount" in price:
                price["amount"] = _number(price["amount"])


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        if not math.isfinite(number):
            return value
        return int(number) if number.is_integer() and "." not in value else number
    return value


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))
