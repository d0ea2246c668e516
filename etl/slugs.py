"""Slug rules, as pure functions.

`slugify` is the seed's rule, made stable for store handles:
  1. letters with accents lose them (NFKD, combining marks dropped): "Crème" -> "creme";
  2. everything is lowercased;
  3. each run of characters outside [a-z0-9] becomes one '-': "Off White & Red" -> "off-white-red";
  4. '-' is trimmed from both ends; text with no letter or digit gives "" (callers decide what that means).
Handles are unique per store, so `unique_handle` applies the seed's collision rule: x, x-1, x-2, ...
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(text: object) -> str:
    decomposed = unicodedata.normalize("NFKD", str(text))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub("-", ascii_only.lower()).strip("-")


def unique_handle(base: str, taken: Container[str]) -> str:
    if base not in taken:
        return base
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def titleize(slug: object) -> str:
    """'home-decoration' -> 'Home Decoration': a readable name from a slug."""
    return " ".join(word.capitalize() for word in re.split(r"[-_\s]+", str(slug)) if word)
