"""Product tags: the mapping names them by value (`[{value}]` or plain strings); each is created once.

Medusa compares tag values exactly ("Beauty" and "beauty" are two tags), and so does the sync.
"""

from __future__ import annotations

from typing import Any

from .terms import Ref, Terms, listed, text


class Tags(Terms):
    route = "/admin/product-tags"
    plural = "product_tags"
    singular = "product_tag"
    key_field = "value"
    noun = "tag"
    label = "Tags"

    @classmethod
    def refs(cls, value: Any) -> list[Ref]:
        refs = []
        for entry in listed(value):
            if isinstance(entry, dict):
                tag_id, tag = text(entry.get("id")), text(entry.get("value"))
            else:
                tag_id, tag = None, text(entry)
            if tag_id or tag:
                refs.append(Ref(tag, (("value", tag),) if tag else (), tag_id))
        return refs
