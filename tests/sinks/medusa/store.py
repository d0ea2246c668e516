"""The store as an operator checks it, through Medusa's Admin API; and a reset for recordings and live tests.

Everything here refuses to talk to anything but a Medusa on this machine: a reset deletes every product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PRODUCT_FIELDS = ("id,title,handle,external_id,status,description,thumbnail,images.url,*categories,tags.value,"
                  "sales_channels.id,shipping_profile.id,metadata,updated_at,variants.id,variants.sku,"
                  "variants.manage_inventory,variants.prices.amount,variants.prices.currency_code")


@dataclass
class AdminStore:
    url: str
    api_key: str = field(repr=False)

    def __post_init__(self) -> None:
        host = urlsplit(self.url).hostname
        if host not in LOOPBACK:
            raise RuntimeError(f"refusing to use the test store helper on {host}: only a local dev Medusa")
        self.session = requests.Session()
        self.session.auth = (self.api_key, "")

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.session.get(self.url + path, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def _all(self, path: str, plural: str, fields: str) -> list[dict[str, Any]]:
        return self._get(path, fields=fields, limit=100000, order="id")[plural]

    def products(self, fields: str = PRODUCT_FIELDS) -> list[dict[str, Any]]:
        return self._all("/admin/products", "products", fields)

    def categories(self) -> list[dict[str, Any]]:
        return self._all("/admin/product-categories", "product_categories", "id,handle,name,is_active")

    def tags(self) -> list[dict[str, Any]]:
        return self._all("/admin/product-tags", "product_tags", "id,value")

    def store_defaults(self) -> tuple[str, str]:
        """The default sales channel and shipping profile: what new products must be linked to."""
        store = self._get("/admin/stores", fields="default_sales_channel_id")["stores"][0]
        profiles = self._get("/admin/shipping-profiles", fields="id,type")["shipping_profiles"]
        return store["default_sales_channel_id"], next(p["id"] for p in profiles if p["type"] == "default")

    def create_product(self, title: str, handle: str, **fields: Any) -> dict[str, Any]:
        """A product made by hand in the admin (or by another tool): what a sync must leave alone."""
        body = {"title": title, "handle": handle, "status": "published",
                "options": [{"title": "Default option", "values": ["Default option value"]}], **fields}
        response = self.session.post(self.url + "/admin/products", json=body, params={"fields": "id,handle"},
                                     timeout=60)
        response.raise_for_status()
        return response.json()["product"]

    def delete_products(self, ids: list[str]) -> None:
        if ids:
            response = self.session.post(self.url + "/admin/products/batch", json={"delete": ids}, timeout=60)
            response.raise_for_status()

    def reset(self) -> None:
        """Soft-deletes every product, category and tag: the next sync starts from an empty store."""
        self.delete_products([p["id"] for p in self.products("id")])
        for route, plural in (("/admin/product-categories", "product_categories"),
                              ("/admin/product-tags", "product_tags")):
            for row in self._all(route, plural, "id"):
                self.session.delete(f"{self.url}{route}/{row['id']}", timeout=60).raise_for_status()
        assert not (self.products("id") or self.categories() or self.tags()), "the store is not empty after a reset"
