"""The sandbox mapping templates run in: Jinja's immutable sandbox, StrictUndefined, and bounds.

No attribute starting with `_`, no method that changes data, and on text, lists and objects only read-only
methods from a short list. The operations that build big values from short templates are bounded: `*`, `**`,
`+`, `%`, `str.format`, and the filters batch, center, default, format, indent, join, map(default=), replace,
slice and wordwrap. One value may not exceed MAX_SIZE characters or items, the templates of one record
MAX_RECORD_SIZE in all, its loops MAX_STEPS turns, and `range` MAX_RANGE numbers. Templates come from the
pipeline file, whose author holds the sink's credentials anyway: these bounds are there to turn a mistake or a
pasted snippet into a clear error, fast.

Templates see `record`, and Jinja's `range` and `dict`; nothing of the process or its environment. Jinja's
`lipsum`, `cycler`, `joiner` and `namespace` are removed (a mapping has no use for them, and `namespace` is
the one way to grow a value across loop turns), and so is the `random` filter: a mapping must give the same
output on every run, or every run updates every product.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_batch,
    do_default,
    do_format,
    do_indent,
    do_wordwrap,
    make_attrgetter,
    sync_do_map,
    sync_do_slice,
    sync_do_sum,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_environment

from .filters import FILTERS

MAX_SIZE = 1_000_000
MAX_RECORD_SIZE = 10_000_000
MAX_STEPS = 100_000
MAX_RANGE = 100_000
MAX_WIDTH = 10_000
MAX_INT_BITS = 10_000

_METHODS = (
    (str, frozenset({"capitalize", "casefold", "count", "endswith", "find", "format", "format_map", "index",
                     "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
                     "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
                     "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
                     "splitlines", "startswith", "strip", "swapcase", "title", "upper"})),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
)
_PERCENT = re.compile(r"%(?:%|(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?)")


class _Budget:
    """What the templates of one record have built so far."""

    __slots__ = ("size", "steps")

    def __init__(self) -> None:
        self.size = 0
        self.steps = 0


_BUDGET: ContextVar[_Budget] = ContextVar("mapping_budget")


def open_budget() -> Token[_Budget]:
    """Start one record's budget: its templates share it. Pass the token to close_budget."""
    return _BUDGET.set(_Budget())


def close_budget(token: Token[_Budget]) -> None:
    _BUDGET.reset(token)


def _charge(size: int) -> None:
    if size > MAX_SIZE:
        raise SecurityError(f"a template may not build a value over {MAX_SIZE:,} characters or items")
    budget = _BUDGET.get(None)
    if budget is not None:
        budget.size += size
        if budget.size > MAX_RECORD_SIZE:
            raise SecurityError(f"the templates of one record may not build over {MAX_RECORD_SIZE:,} "
                                "characters or items")


def _weight(value: Any, limit: int = MAX_SIZE) -> int:
    """Characters of text plus one per item, a shared part counted each time; stops once past `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, dict)):
            total += len(item) or 1
            if total <= limit:
                stack.extend(item.values() if isinstance(item, dict) else item)
        else:
            total += 1
    return total


def _check_width(number: str | None) -> None:
    if number == "*" or (number and (len(number) > 6 or int(number) > MAX_WIDTH)):
        raise SecurityError(f"format widths over {MAX_WIDTH:,} are not allowed in templates")


def _check_percent(text: str) -> None:
    for match in _PERCENT.finditer(text):
        _check_width(match.group(1))
        _check_width(match.group(2))


def _check_format(text: str) -> None:
    try:
        specs = [spec for _, _, spec, _ in string.Formatter().parse(text) if spec]
    except ValueError:
        return
    for spec in specs:
        if "{" in spec:
            raise SecurityError("nested format fields are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            _check_width(number)


class MappingEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with data-first lookups, a method allowlist and bounded operators."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, type) or not super().is_safe_attribute(obj, attr, value):
            return False
        for types, allowed in _METHODS:
            if isinstance(obj, types):
                return attr in allowed or not callable(value)
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        _check_format(value.__self__)

        def charged(*args: Any, **kwargs: Any) -> str:
            text = sandboxed(*args, **kwargs)
            _charge(len(text))
            return text

        return charged

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and (operator == "**" and abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS
                     or operator == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS):
            raise SecurityError(f"a template may not build a number over {MAX_INT_BITS:,} bits")
        if operator == "*" and not ints:
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    _charge(_weight(seq) * max(n, 0))
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _charge(_weight(left) + _weight(right))
        if operator == "%" and isinstance(left, str):
            _check_percent(left)
        result = super().call_binop(context, operator, left, right)
        if operator == "%" and isinstance(result, str):
            _charge(len(result))
        return result


def _center(value: Any, width: int = 80) -> str:
    text = str(value)
    _charge(max(len(text), width))
    return text.center(width)


def _indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    _charge(len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else width))
    return do_indent(text, width, first, blank)


@pass_environment
def _join(env: Any, value: Iterable[Any], d: Any = "", attribute: str | int | None = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(env, attribute), value)
    separator, parts, size = str(d), [], 0
    for item in value:
        parts.append(str(item))
        size += len(parts[-1]) + len(separator)
        if size > MAX_SIZE:
            break
    _charge(size)
    return separator.join(parts)


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, old, new = str(value), str(old), str(new)
    _charge(len(text) + (text.count(old) if old else len(text) + 1) * len(new))
    return text.replace(old, new, -1 if count is None else count)


@pass_environment
def _wordwrap(env: Any, value: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = str(value)
    _charge(len(text) * (1 + len(wrapstring or env.newline_sequence)))
    return do_wordwrap(env, text, width, break_long_words, wrapstring, break_on_hyphens)


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    if fill_with is not None:
        _charge(linecount * _weight(fill_with))
    return do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _charge(slices * (1 if fill_with is None else _weight(fill_with)))
    return sync_do_slice(value, slices, fill_with)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent(str(value))
    text = do_format(value, *args, **kwargs)
    _charge(len(text))
    return text


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    result = do_default(value, default_value, boolean)
    if result is default_value and result is not value:
        _charge(_weight(default_value))
    return result


@pass_context
def _map(context: Any, value: Any, *args: Any, **kwargs: Any) -> Iterable[Any]:
    default = kwargs.get("default")
    for item in sync_do_map(context, value, *args, **kwargs):
        if default is not None and item is default:
            _charge(_weight(default))
        yield item


@pass_environment
def _sum(env: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    if not isinstance(start, (list, tuple)):
        return sync_do_sum(env, iterable, attribute, start)
    if attribute is not None:
        iterable = map(make_attrgetter(env, attribute), iterable)
    joined = list(start)
    for part in iterable:
        joined.extend(part)
    return joined if isinstance(start, list) else tuple(joined)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of {len(numbers):,} numbers is over the limit of {MAX_RANGE:,}")
    return numbers


@pass_context
def _counted(context: Any, values: Iterable[Any]) -> Iterable[Any]:
    """Put in front of every loop's values: the turns of all loops of a record count against MAX_STEPS."""
    budget = _BUDGET.get(None) or _Budget()
    for value in values:
        budget.steps += 1
        if budget.steps > MAX_STEPS:
            raise SecurityError(f"the loops of one record may not run over {MAX_STEPS:,} turns")
        yield value


def make_environment() -> MappingEnvironment:
    env = MappingEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        del env.globals[name]
    del env.filters["random"]
    env.globals["range"] = _range
    env.filters.update(FILTERS)
    env.filters.update(
        batch=_batch, center=_center, default=_default, d=_default,
        format=_format, indent=_indent, join=_join, map=_map, replace=_replace, slice=_slice, sum=_sum,
        wordwrap=_wordwrap, _counted=_counted,
    )
    return env

