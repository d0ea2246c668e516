"""Print what a store operator checks after a sync: counts, duplicates, categories, a few products."""

from __future__ import annotations

import os
import sys
from collections import Counter

import requests


def get_all(session: requests.Session, base: str, path: str, key: str, fields: str) -> list[dict]:
    out, offset = [], 0
    while True:
        r = session.get(f"{base}{path}", params={"fields": fields, "limit": 500, "offset": offset, "order": "id"},
                        timeout=30)
        r.raise_for_status()
        page = r.json()[key]
        out.extend(page)
        offset += len(page)
        if not page or offset >= r.json()["count"]:
            return out


def main() -> int:
    base = os.environ["MEDUSA_URL"].rstrip("/")
    session = requests.Session()
    session.auth = (os.environ["MEDUSA_API_KEY"], "")
    products = get_all(session, base, "/admin/products", "products",
                       "id,title,handle,external_id,status,thumbnail,*categories,variants.prices.amount")
    categories = get_all(session, base, "/admin/product-categories", "product_categories", "id,handle,is_active")
    tags = get_all(session, base, "/admin/product-tags", "product_tags", "id,value")
    ext = Counter(p["external_id"] for p in products)
    handles = Counter(p["handle"] for p in products)
    linked = sum(1 for p in products if p.get("categories"))
    print(f"products:             {len(products)}")
    print(f"distinct external_id: {len(ext)}  (duplicates: {sum(1 for n in ext.values() if n > 1)})")
    ids = sorted(int(e) for e in ext if str(e).isdigit())
    contiguous = f"1..{len(ids)}" if ids == list(range(1, len(ids) + 1)) else "not contiguous"
    print(f"external_ids:         {contiguous}")
    print(f"distinct handles:     {len(handles)}")
    print(f"with a category:      {linked}")
    print(f"categories:           {len(categories)} ({sum(1 for c in categories if c['is_active'])} active)")
    print(f"tags:                 {len(tags)}")
    for p in sorted(products, key=lambda p: int(p["external_id"]) if str(p["external_id"]).isdigit() else 0)[:5]:
        price = (p.get("variants") or [{}])[0].get("prices", [{}])[0].get("amount")
        cats = ",".join(c["handle"] for c in p.get("categories") or [])
        print(f"  #{p['external_id']:>3} {p['title']:<40} {p['handle']:<40} {cats:<12} {price}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
