"""Slug rules, as pure functions: store handles are made from source titles and must stay stable."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_WORD_BREAK = re.compile(r"[-_\s]+")


def slugify(text: object) -> str:
    """The handle for `text`, by these rules, in this order:

    1. case is folded: "Rolex" -> "rolex", "Straße" -> "strasse";
    2. letters lose their accents and compatibility forms their styling (Unicode NFKD, combining marks
       dropped): "Crème" -> "creme", "ﬁne" -> "fine", "Ｔ２" -> "t2"; Medusa would take "crème", but an ASCII
       handle reads the same in every URL, shell and log;
    3. each run of characters outside [a-z0-9] becomes one '-': "Off White & Red" -> "off-white-red";
       characters with no ASCII form ("Ø", "日本") are such characters too;
    4. '-' is trimmed from both ends: "  Hello! " -> "hello".

    Text with no ASCII letter or digit gives "": the caller decides what that means (the mapping's `slug`
    filter refuses it, as an empty handle is never what a mapping wants).
    """
    text = str(text)
    if not text.isascii():
        folded = unicodedata.normalize("NFKD", text.casefold())
        text = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_ALNUM.sub("-", text.lower()).strip("-")


def unique_handle(base: str, taken: Container[str]) -> str:
    """`base` if it is free, else the first free of `base-1`, `base-2`, ...

    Titles are not unique (two products share "Rolex Cellini Moonphase"), handles are. `taken` is left
    alone: the caller adds the handle once it is used.
    """
    if base not in taken:
        return base
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def titleize(slug: object) -> str:
    """A readable name from a slug: "home-decoration" -> "Home Decoration", "mens_shirts" -> "Mens Shirts"."""
    return " ".join(word.capitalize() for word in _WORD_BREAK.split(str(slug)) if word)
