"""The filters a mapping author needs, besides Jinja's own (`default`, `join`, `map`, `replace`, ...):

  slug           the handle rules of `etl.slugs.slugify`; an empty result is an error naming the input
  titleize       "home-decoration" -> "Home Decoration"
  objects(key)   ["a", "b"] | objects("url") -> [{"url": "a"}, {"url": "b"}]
  compact        an object without its null values, or a list without its null items
  pick(*keys)    an object with only these keys;  omit(*keys): an object without them
  to_int         "0478" -> 478, 12.0 -> 12; "12.5", true and null are errors
  to_float       "9.99" -> 9.99; text that is no finite number, true and null are errors
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Undefined

from .slugs import slugify, titleize


def kind(value: Any) -> str:
    """How a value is named in messages; an undefined value raises its own error instead."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    names = {type(None): "null", bool: "true/false", str: "text", dict: "an object", list: "a list"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _shown(value: Any) -> str:
    plain = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return repr(value) if plain else kind(value)


def _text(value: Any, name: str) -> str:
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return str(value)
    raise TemplateRuntimeError(f"{name} needs text, got {kind(value)}")


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TemplateRuntimeError(f"{name} needs an object, got {kind(value)}")


def _names(keys: tuple[Any, ...]) -> set[Any]:
    return set(keys[0]) if len(keys) == 1 and isinstance(keys[0], (list, tuple)) else set(keys)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _slug(value: Any) -> str:
    text = _text(value, "slug")
    slug = slugify(text)
    if not slug:
        raise TemplateRuntimeError(f"the slug of {text!r} is empty: it has no letter or digit")
    return slug


def _titleize(value: Any) -> str:
    return titleize(_text(value, "titleize"))


def _objects(values: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(values, (str, Mapping)) or not isinstance(values, Iterable):
        raise TemplateRuntimeError(f"objects needs a list, got {kind(values)}")
    return [{key: v} for v in values]


def _compact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    raise TemplateRuntimeError(f"compact needs an object or a list, got {kind(value)}")


def _pick(value: Any, *keys: Any) -> dict[str, Any]:
    wanted = _names(keys)
    return {k: v for k, v in _object(value, "pick").items() if k in wanted}


def _omit(value: Any, *keys: Any) -> dict[str, Any]:
    unwanted = _names(keys)
    return {k: v for k, v in _object(value, "omit").items() if k not in unwanted}


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    number = _number(value)
    if number is None or not number.is_integer():
        raise TemplateRuntimeError(f"cannot convert {_shown(value)} to an integer")
    return int(number)


def _to_float(value: Any) -> float:
    number = _number(value)
    if number is None:
        raise TemplateRuntimeError(f"cannot convert {_shown(value)} to a number")
    return number



FILTERS = {"slug": _slug, "titleize": _titleize, "objects": _objects, "compact": _compact, "pick": _pick,
           "omit": _omit, "to_int": _to_int, "to_float": _to_float}
