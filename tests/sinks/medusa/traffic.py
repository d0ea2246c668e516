"""Reading a cassette the way an operator reads Medusa's access log, and setting the store up for a night.

Scenarios after the first night need a store that already holds the catalogue. While recording, `after`
makes it so with runs that are not recorded; in replay their effect is in the recorded answers (the products
listed, the ids they carry), so the replayed run sees the same store the recorded one saw.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .harness import Interaction, Medusa, run_etl
from .store import AdminStore

BATCH = "/admin/products/batch"
_ID = re.compile(r"/[a-z]+_[0-9A-Z]{20,}")


def after(store: AdminStore | None, medusa: Medusa, workdir: Path, *nights: Sequence[dict] | None) -> None:
    """While recording: an empty store, then one unrecorded run per catalogue given (None: the whole one)."""
    if store is None:
        return
    store.reset()
    for products in nights:
        result = run_etl("run", medusa, workdir / "setup", products=products)
        assert result.exit_code == 0, result.stderr


def calls(sent: list[Interaction]) -> Counter[str]:
    """Requests by kind, ids folded: {"GET /admin/products": 1, "POST /admin/products/batch": 13, ...}."""
    return Counter(f"{i.method} {_ID.sub('/{id}', i.path)}" for i in sent)


def writes(sent: list[Interaction]) -> list[Interaction]:
    return [i for i in sent if i.method != "GET"]


def batches(sent: list[Interaction]) -> list[Interaction]:
    return [i for i in sent if i.method == "POST" and i.path == BATCH]


def accepted(sent: list[Interaction], kind: str) -> list:
    return [body for i in batches(sent) if i.status == 200 for body in i.body.get(kind, [])]


def listed(sent: list[Interaction]) -> dict[str, dict]:
    """The products the run found in the store, by external_id."""
    rows = next(i for i in sent if i.path == "/admin/products" and i.method == "GET").answer["products"]
    return {p["external_id"]: p for p in rows}


def defaults(sent: list[Interaction]) -> tuple[str, str]:
    store = next(i for i in sent if i.path == "/admin/stores").answer["stores"][0]
    profiles = next(i for i in sent if i.path == "/admin/shipping-profiles").answer["shipping_profiles"]
    return store["default_sales_channel_id"], next(p["id"] for p in profiles if p["type"] == "default")
