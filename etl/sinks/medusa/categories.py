"""Product categories: the mapping names them by handle (and a name for new ones); each is created once.

Medusa makes new categories inactive unless told, and an inactive category is invisible in the storefront,
so they are created active.
"""

from __future__ import annotations

from typing import Any

from ...slugs import titleize
from .terms import Ref, Terms, listed, text


class Categories(Terms):
    route = "/admin/product-categories"
    plural = "product_categories"
    singular = "product_category"
    key_field = "handle"
    noun = "category"
    label = "Categories"

    @classmethod
    def refs(cls, value: Any) -> list[Ref]:
        """A product's mapped `categories`: dicts with a handle (and a name), a handle alone, or {id}."""
        refs = []
        for entry in listed(value):
            if isinstance(entry, str) and entry:
                refs.append(Ref(entry, _body(entry, None)))
            elif isinstance(entry, dict) and (entry.get("id") or entry.get("handle")):
                handle = text(entry.get("handle"))
                refs.append(Ref(handle, _body(handle, text(entry.get("name"))) if handle else (),
                                text(entry.get("id"))))
        return refs


def _body(handle: str, name: str | None) -> tuple[tuple[str, Any], ...]:
    return (("name", name or titleize(handle)), ("handle", handle), ("is_active", True))

