"""Field mappings: Jinja templates in a sandbox, compiled once, rendered per record, keeping types.

A string with no `{{`/`{%` is a constant. A template that is exactly one expression yields its native value
(number, list, dict, bool, None); anything else renders to text, so "0478" stays the string "0478" (rendered
text is never parsed back). Lists and dicts of templates map recursively. Plain lookups such as
`{{ record.dimensions.width }}` skip Jinja at run time: they are most of a mapping and the hot path of a run.
Undefined values are errors (StrictUndefined), and every error names the record key, the field and the template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .adapters import Item
from .errors import MappingError, SpecError, SpecProblem
from .slugs import slugify, titleize, unique_handle

MAX_SIZE = 1_000_000
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(\d{5,}|\*)")
Render = Callable[[dict[str, Any]], Any]
Locate = Callable[[str], tuple[int | None, int | None]]


class MappingEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus limits on the operators that can build huge values from tiny templates."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 256:
            raise SecurityError(f"exponent {right} is too large for a template")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
                    raise SecurityError(f"a template may not build a value over {MAX_SIZE} items")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("format widths over 9999 are not allowed in templates")
        return super().call_binop(context, operator, left, right)


def _slug(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        raise ValueError("slug of a missing value (null)")
    slug = slugify(value)
    if not slug:
        raise ValueError(f"slug of {value!r} is empty: it has no letter or digit")
    return slug


def _objects(values: Iterable[Any] | None, key: str) -> list[dict[str, Any]]:
    """['a', 'b'] | objects('url') -> [{'url': 'a'}, {'url': 'b'}]: the shape most APIs want for lists."""
    return [{key: v} for v in (values or [])]


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return value


def _pick(value: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: value[k] for k in keys if k in value}


def _omit(value: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in keys}


def _to_int(value: Any) -> int:
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        raise ValueError(f"cannot convert {value!r} to an integer") from None


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"cannot convert {value!r} to a number") from None


def _center(value: Any, width: int = 80) -> str:
    if width > 10_000:
        raise SecurityError("center width over 10000 is not allowed in templates")
    return str(value).center(width)


def make_environment() -> MappingEnvironment:
    env = MappingEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    env.filters.update(slug=_slug, titleize=titleize, objects=_objects, compact=_compact, pick=_pick,
                       omit=_omit, to_int=_to_int, to_float=_to_float, center=_center)
    return env


class Mapper:
    def __init__(self, key: str, fields: Mapping[str, Any], *, file: str = "<spec>", locate: Locate | None = None):
        self.env = make_environment()
        self._file = file
        self._locate = locate or (lambda path: (None, None))
        self._problems: list[SpecProblem] = []
        self._key = self._compile(key, "mapping.key", "key")
        self._fields = self._compile_tree(dict(fields), "mapping.fields", "")
        if self._problems:
            raise SpecError(self._problems)

    def key_of(self, record: dict[str, Any]) -> str:
        try:
            value = self._key(record)
        except MappingError as exc:
            raise MappingError(None, exc.field, exc.template, _reason(exc)) from None
        if value is None or value == "":
            raise MappingError(None, "key", "", "the key template gave an empty value")
        return str(value)

    def map(self, record: dict[str, Any]) -> Item:
        if not isinstance(record, dict):
            raise MappingError(None, "record", "", f"a record must be an object, got {type(record).__name__}")
        key = self.key_of(record)
        try:
            data = self._fields(record)
        except MappingError as exc:
            raise MappingError(key, exc.field, exc.template, _reason(exc)) from None
        return Item(key, data, record)

    def _compile_tree(self, value: Any, spec_path: str, field: str) -> Render:
        if isinstance(value, dict):
            parts = [(k, self._compile_tree(v, f"{spec_path}.{k}", f"{field}.{k}" if field else str(k)))
                     for k, v in value.items()]
            return lambda record: {k: render(record) for k, render in parts}
        if isinstance(value, list):
            items = [self._compile_tree(v, f"{spec_path}.{i}", f"{field}.{i}") for i, v in enumerate(value)]
            return lambda record: [render(record) for render in items]
        if isinstance(value, str):
            return self._compile(value, spec_path, field)
        return lambda record, constant=value: constant

    def _compile(self, source: str, spec_path: str, field: str) -> Render:
        if "{{" not in source and "{%" not in source and "{#" not in source:
            return lambda record: source
        try:
            tree = self.env.parse(source)
        except TemplateSyntaxError as exc:
            line, col = self._locate(spec_path)
            self._problems.append(SpecProblem(self._file, line, col, spec_path,
                                              f"template syntax error: {exc.message} (in {source!r})"))
            return lambda record: None
        expression = _single_expression(tree, source)
        if expression is None:
            template = self.env.from_string(source)
            return _guarded(lambda record: template.render(record=record), field, source)
        lookup = _lookup_path(tree)
        if lookup is not None:
            slow = self._expression(expression, source, spec_path)
            return _guarded(_fast_lookup(lookup, slow), field, source)
        return _guarded(self._expression(expression, source, spec_path), field, source)

    def _expression(self, expression: str, source: str, spec_path: str) -> Render:
        try:
            compiled = self.env.compile_expression(expression, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            line, col = self._locate(spec_path)
            self._problems.append(SpecProblem(self._file, line, col, spec_path,
                                              f"template syntax error: {exc.message} (in {source!r})"))
            return lambda record: None

        def evaluate(record: dict[str, Any]) -> Any:
            return _native(compiled(record=record))

        return evaluate


def _native(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, (str, int, float, bool, dict, list)) or value is None:
        return value
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "__iter__") and not isinstance(value, (bytes, bytearray)):
        return [_native(v) for v in value]
    return value


def _guarded(render: Render, field: str, source: str) -> Render:
    def guarded(record: dict[str, Any]) -> Any:
        try:
            return render(record)
        except MappingError:
            raise
        except SecurityError as exc:
            raise MappingError(None, field, source, f"unsafe template: {exc}") from None
        except UndefinedError as exc:
            raise MappingError(None, field, source, str(exc)) from None
        except (OverflowError, MemoryError) as exc:
            raise MappingError(None, field, source, f"unsafe template: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any template failure fails this record, not the run
            raise MappingError(None, field, source, f"{type(exc).__name__}: {exc}") from None

    return guarded


def _reason(exc: MappingError) -> str:
    text = exc.message
    prefix = "record None: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    marker = f"field {exc.field!r}: "
    if text.startswith(marker):
        text = text[len(marker):]
    suffix = f" (template: {exc.template})"
    if text.endswith(suffix):
        text = text[: -len(suffix)]
    return text


def _single_expression(tree: nodes.Template, source: str) -> str | None:
    """The expression text when the whole template is one `{{ ... }}`, else None."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = tree.body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        return None
    inner = text[2:-2]
    if inner.startswith("-"):
        inner = inner[1:]
    if inner.endswith("-"):
        inner = inner[:-1]
    if "}}" in inner or "{{" in inner:
        return None
    return inner.strip()


def _lookup_path(tree: nodes.Template) -> tuple[str | int, ...] | None:
    """('dimensions', 'width') for `{{ record.dimensions.width }}`; None for anything but a plain lookup."""
    node = tree.body[0].nodes[0]
    path: list[str | int] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, (str, int)):
            path.append(node.arg.value)
        else:
            return None
        node = node.node
    if not (isinstance(node, nodes.Name) and node.name == "record") or not path:
        return None
    path.reverse()
    if any(isinstance(p, str) and (p.startswith("_") or hasattr(dict, p)) for p in path):
        return None
    return tuple(path)


def _fast_lookup(path: tuple[str | int, ...], slow: Render) -> Render:
    """Direct dict access; anything unusual (a missing key, a non-dict) goes to Jinja for its exact error."""
    if len(path) == 1:
        (k,) = path

        def one(record: dict[str, Any]) -> Any:
            try:
                return record[k]
            except (KeyError, TypeError, IndexError):
                return slow(record)

        return one

    def many(record: dict[str, Any]) -> Any:
        value: Any = record
        try:
            for k in path:
                if isinstance(k, str) and not isinstance(value, dict):
                    return slow(record)
                value = value[k]
        except (KeyError, TypeError, IndexError):
            return slow(record)
        return value

    return many


class UniqueValues:
    """Makes the listed top-level fields unique across one run (x, x-1, x-2, ...), e.g. handles from titles
    that repeat in the source. Remembers each value seen: a set of short strings, not the records."""

    def __init__(self, fields: Iterable[str]):
        self._seen: dict[str, set[str]] = {f: set() for f in fields}

    def apply(self, item: Item) -> None:
        for name, seen in self._seen.items():
            value = item.data.get(name)
            if isinstance(value, str):
                value = unique_handle(value, seen)
                item.data[name] = value
                seen.add(value)
