"""Field mappings: Jinja templates in a sandbox, checked and compiled once, run per record, keeping types.

What a field gives:
  - a string with no `{{`, `{%` or `{#` is a constant, returned as written;
  - a template that is exactly one `{{ expression }}` (whitespace around it allowed) gives the expression's
    value with its type: number, text, list, object, true/false or null;
  - any other template renders to text: "0478" stays the string "0478" (rendered text is never parsed back);
  - lists and objects of templates map item by item. Values never share a list or object with the record.

Templates see `record`, and Jinja's `range` and `dict`; nothing of the process or its environment. Jinja's
`lipsum`, `cycler`, `joiner` and `namespace` are removed (a mapping has no use for them, and `namespace` is
the one way to grow a value across loop turns), and so is the `random` filter: a mapping must give the same
output on every run, or every run updates every product. Only the `if`, `for` and `filter` tags are
available: `set`, `with`, `macro`, `call`, `include`, `import`, `extends` and `block` make programs, not
values. Unknown names, filters and tests are found when the spec is loaded, with every other problem.
On an object a key wins over a method of the same name: `record.items` is the record's "items" key.

Filters, besides Jinja's own (`default`, `join`, `map`, `replace`, ...):
  slug           the handle rules of `etl.slugs.slugify`; an empty result is an error naming the input
  titleize       "home-decoration" -> "Home Decoration"
  objects(key)   ["a", "b"] | objects("url") -> [{"url": "a"}, {"url": "b"}]
  compact        an object without its null values, or a list without its null items
  pick(*keys)    an object with only these keys;  omit(*keys): an object without them
  to_int         "0478" -> 478, 12.0 -> 12; "12.5", true and null are errors
  to_float       "9.99" -> 9.99; text that is no finite number, true and null are errors

The sandbox is Jinja's immutable one, with StrictUndefined: no attribute starting with `_`, no method that
changes data, and on text, lists and objects only read-only methods from a short list. The operations that
build big values from short templates are bounded: `*`, `**`, `+`, `%`, `str.format`, and the filters
batch, center, default, format, indent, join, map(default=), replace, slice and wordwrap. One value may not
exceed MAX_SIZE characters or items, the templates of one record MAX_RECORD_SIZE in all, its loops MAX_STEPS
turns, and `range` MAX_RANGE numbers. Templates come from the pipeline file, whose author holds the sink's
credentials anyway: these bounds are there to turn a mistake or a pasted snippet into a clear error, fast.

A failing template fails its record only: MappingError names the record key, the field and the template.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateError, TemplateRuntimeError, TemplateSyntaxError
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
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_environment

from .adapters import Item
from .errors import MappingError, SpecError, SpecProblem
from .slugs import slugify, titleize, unique_handle

MAX_SIZE = 1_000_000
MAX_RECORD_SIZE = 10_000_000
MAX_STEPS = 100_000
MAX_RANGE = 100_000
MAX_WIDTH = 10_000
MAX_INT_BITS = 10_000

Render = Callable[[dict[str, Any]], Any]
Locate = Callable[[str], tuple[int | None, int | None]]

_SCALARS = frozenset({str, int, float, bool, type(None)})
_METHODS = (
    (str, frozenset({"capitalize", "casefold", "count", "endswith", "find", "format", "format_map", "index",
                     "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
                     "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
                     "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
                     "splitlines", "startswith", "strip", "swapcase", "title", "upper"})),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
)
_TAGS = {nodes.Assign: "set", nodes.AssignBlock: "set", nodes.With: "with", nodes.Macro: "macro",
         nodes.CallBlock: "call", nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from",
         nodes.Extends: "extends", nodes.Block: "block"}
_PERCENT = re.compile(r"%(?:%|(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?)")


class _Budget:
    """What the templates of one record have built so far."""

    __slots__ = ("size", "steps")

    def __init__(self) -> None:
        self.size = 0
        self.steps = 0


_BUDGET: ContextVar[_Budget] = ContextVar("mapping_budget")


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


def _kind(value: Any) -> str:
    """How a value is named in messages; an undefined value raises its own error instead."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    names = {type(None): "null", bool: "true/false", str: "text", dict: "an object", list: "a list"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _shown(value: Any) -> str:
    plain = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return repr(value) if plain else _kind(value)


def _text(value: Any, name: str) -> str:
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return str(value)
    raise TemplateRuntimeError(f"{name} needs text, got {_kind(value)}")


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TemplateRuntimeError(f"{name} needs an object, got {_kind(value)}")


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
        raise TemplateRuntimeError(f"objects needs a list, got {_kind(values)}")
    return [{key: v} for v in values]


def _compact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    raise TemplateRuntimeError(f"compact needs an object or a list, got {_kind(value)}")


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
    env.filters.update(
        slug=_slug, titleize=_titleize, objects=_objects, compact=_compact, pick=_pick, omit=_omit,
        to_int=_to_int, to_float=_to_float, batch=_batch, center=_center, default=_default, d=_default,
        format=_format, indent=_indent, join=_join, map=_map, replace=_replace, slice=_slice, sum=_sum,
        wordwrap=_wordwrap, _counted=_counted,
    )
    return env


class _Failure(Exception):
    """A field failed; `Mapper.map` adds the record key and raises it as a MappingError."""

    def __init__(self, field: str, template: str, message: str):
        super().__init__(message)
        self.field, self.template, self.message = field, template, message

    def error(self, key: str | None) -> MappingError:
        return MappingError(key, self.field, self.template, self.message)


class Mapper:
    """The mapping of a spec: `key` and `fields` compiled once, then `map` per record."""

    def __init__(self, key: str, fields: Mapping[str, Any], *, file: str = "<spec>",
                 locate: Locate | None = None):
        self.env = make_environment()
        self._file = file
        self._locate = locate or (lambda path: (None, None))
        self._problems: list[SpecProblem] = []
        self._key_template = key if isinstance(key, str) else repr(key)
        self._key = self._compile_tree(key, "mapping.key", "key")
        self._fields = self._compile_tree(dict(fields), "mapping.fields", "")
        if self._problems:
            raise SpecError(self._problems)
        self._fields = _generated(self._fields) or self._fields

    def key_of(self, record: dict[str, Any]) -> str:
        """The record's key as text: a record without one can be neither synced nor quarantined by key."""
        token = _BUDGET.set(_Budget())
        try:
            return self._key_of(record)
        finally:
            _BUDGET.reset(token)

    def map(self, record: dict[str, Any]) -> Item:
        """The record mapped; a failing template raises MappingError, which fails this record only."""
        token = _BUDGET.set(_Budget())
        try:
            key = self._key_of(record)
            try:
                data = self._fields(record)
            except _Failure as failure:
                raise failure.error(key) from None
        finally:
            _BUDGET.reset(token)
        return Item(key, data, record)

    def _key_of(self, record: dict[str, Any]) -> str:
        if not isinstance(record, dict):
            raise MappingError(None, "record", "", f"a record must be an object, got {_kind(record)}")
        try:
            value = self._key(record)
        except _Failure as failure:
            raise failure.error(None) from None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problem = f"the key must be text or a number, got {_kind(value)}"
            raise MappingError(None, "key", self._key_template, problem)
        if value == "":
            raise MappingError(None, "key", self._key_template, "the key is empty")
        return str(value)

    def _compile_tree(self, value: Any, spec_path: str, field: str) -> Render:
        render: Any
        if isinstance(value, Mapping):
            parts = [(k, self._compile_tree(v, f"{spec_path}.{k}", f"{field}.{k}" if field else str(k)))
                     for k, v in value.items()]
            render = lambda record: {k: render(record) for k, render in parts}  # noqa: E731
            render.parts = parts
            return render
        if isinstance(value, list):
            items = [self._compile_tree(v, f"{spec_path}.{i}", f"{field}.{i}") for i, v in enumerate(value)]
            render = lambda record: [render(record) for render in items]  # noqa: E731
            render.items = items
            return render
        if isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value):
            return self._compile(value, spec_path, field)
        render = lambda record: value  # noqa: E731
        render.constant = value
        return render

    def _compile(self, source: str, spec_path: str, field: str) -> Render:
        try:
            tree = self.env.parse(source)
            problems = _check(self.env, tree)
            if problems:
                for message in problems:
                    self._problem(spec_path, f"{message} (in {source!r})")
                return _unusable
            expression = _single_expression(tree)
            if expression is None:
                return _guarded(self._text(tree), field, source)
            direct = _direct(self.env, expression)
            if direct is None:
                return _guarded(self._expression(expression), field, source)
            keys, filters, getters = direct
            return _fast(keys, filters, _guarded(_lookup(keys, filters, getters), field, source))
        except TemplateSyntaxError as exc:
            where = f"line {exc.lineno} of " if exc.lineno and exc.lineno > 1 else ""
            self._problem(spec_path, f"template syntax error: {exc.message} (in {where}{source!r})")
            return _unusable
        except (RecursionError, SyntaxError, MemoryError):
            shown = repr(source) if len(source) <= 60 else repr(source[:57]) + "..."
            self._problem(spec_path, f"the template is nested too deeply to compile (in {shown})")
            return _unusable

    def _problem(self, spec_path: str, message: str) -> None:
        line, column = self._locate(spec_path)
        self._problems.append(SpecProblem(self._file, line, column, spec_path, message))

    def _expression(self, expression: nodes.Expr) -> Render:
        body = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression)], lineno=1)
        body.set_environment(self.env)
        evaluate = TemplateExpression(self.env.from_string(body), False)
        return lambda record: _native(evaluate(record=record))

    def _text(self, tree: nodes.Template) -> Render:
        loops = list(tree.find_all(nodes.For))
        for loop in loops:
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        template = self.env.from_string(tree)
        if not loops:
            return lambda record: template.render(record=record)

        def render(record: dict[str, Any]) -> str:
            parts, size = [], 0
            for part in template.generate(record=record):
                size += len(part)
                if size > MAX_SIZE:
                    raise SecurityError(f"a template may not build text over {MAX_SIZE:,} characters")
                parts.append(part)
            return "".join(parts)

        return render


def _unusable(record: dict[str, Any]) -> Any:
    raise AssertionError("a mapping with problems is never used")


def _check(env: MappingEnvironment, tree: nodes.Template) -> list[str]:
    """Every problem a reader of the spec can see without a record: tags, unknown filters, tests and names."""
    found = [f"the {{% {_TAGS[type(node)]} %}} tag is not available in a mapping"
             for node in tree.find_all(tuple(_TAGS))]
    found += ["recursive loops are not available in a mapping"
              for node in tree.find_all(nodes.For) if node.recursive]
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            found.append(f"unknown {kind} {node.name!r}{_suggest(node.name, known)}")
    if not found:
        names = meta.find_undeclared_variables(tree)
        names |= {n.name for n in tree.find_all(nodes.Name) if n.name == "self"}
        visible = ["record", *env.globals]
        found += [f"unknown name {name!r}{_suggest(name, visible) or ' (templates see record)'}"
                  for name in sorted(names - set(visible))]
    return list(dict.fromkeys(found))


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, [k for k in known if not k.startswith("_")], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _single_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression when the whole template is one `{{ ... }}` with only whitespace around it."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = [n for n in tree.body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())]
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    return parts[0]


def _direct(env: MappingEnvironment, node: nodes.Expr) -> tuple[tuple[Any, ...], list[Any], list[Any]] | None:
    """For `record.a['b'].0 | f(constants) | ...`: the keys, the plain filters, and the sandbox's getattr or
    getitem for each key (the calls Jinja's compiled template makes), to run without Jinja."""
    eval_ctx = nodes.EvalContext(env)
    filters: list[tuple[Callable[..., Any], list[Any], dict[str, Any]]] = []
    keys: list[Any] = []
    getters: list[Callable[[Any, Any], Any]] = []
    try:
        while isinstance(node, nodes.Filter):
            func = env.filters[node.name]
            if node.dyn_args or node.dyn_kwargs or getattr(func, "jinja_pass_arg", None) is not None:
                return None
            args = [a.as_const(eval_ctx) for a in node.args]
            filters.insert(0, (func, args, {k.key: k.value.as_const(eval_ctx) for k in node.kwargs}))
            node = node.node
        while isinstance(node, (nodes.Getattr, nodes.Getitem)):
            key = node.attr if isinstance(node, nodes.Getattr) else node.arg.as_const(eval_ctx)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                return None
            keys.insert(0, key)
            getters.insert(0, env.getattr if isinstance(node, nodes.Getattr) else env.getitem)
            node = node.node
    except nodes.Impossible:
        return None
    if not keys or not (isinstance(node, nodes.Name) and node.name == "record"):
        return None
    return tuple(keys), filters, getters


def _lookup(keys: tuple[Any, ...], filters: list[Any], getters: list[Any]) -> Render:
    """What Jinja's compiled template does for such an expression, call for call (the sandbox's getattr or
    getitem per key, then each filter with its constants), without building a template context per record:
    the path of a value that is missing, null or of an unexpected type, so as common as the data makes it."""
    steps = tuple(zip(getters, keys, strict=True))

    def render(record: dict[str, Any]) -> Any:
        value: Any = record
        for get, key in steps:
            value = get(value, key)
        for func, args, kwargs in filters:
            value = func(value, *args, **kwargs)
        return _native(value)

    return render


def _fast(keys: tuple[Any, ...], filters: list[Any], slow: Render) -> Render:
    """Dict access and direct filter calls; on any failure Jinja's own steps give the exact result."""

    def render(record: dict[str, Any]) -> Any:
        try:
            value: Any = record
            for key in keys:
                value = value[key]
            for func, args, kwargs in filters:
                value = func(value, *args, **kwargs)
            return value if type(value) in _SCALARS else _native(value)
        except Exception:
            return slow(record)

    render.direct = (keys, filters, slow)  # type: ignore[attr-defined]
    return render


def _generated(fields: Render) -> Render | None:
    """The compiled field tree as one Python function, for speed: the same steps in the same order, with
    lookups and filter calls inline. Each field that fails inline runs its own Jinja path, as `_fast` does,
    so values and errors are exactly those of the tree; None when the tree cannot be written out."""
    names: dict[str, Any] = {"_SCALARS": _SCALARS, "_native": _native}
    lines: list[str] = []

    def name(value: Any) -> str:
        label = f"c{len(names)}"
        names[label] = value
        return label

    def emit(render: Any) -> str:
        if hasattr(render, "parts"):
            return "{" + ", ".join(f"{name(k)}: {emit(r)}" for k, r in render.parts) + "}"
        if hasattr(render, "items"):
            return "[" + ", ".join(emit(r) for r in render.items) + "]"
        if hasattr(render, "constant"):
            return name(render.constant)
        variable = f"v{len(lines)}"
        if not hasattr(render, "direct"):
            lines.append(f"    {variable} = {name(render)}(record)")
            return variable
        keys, filters, slow = render.direct
        expression = "record" + "".join(f"[{name(k)}]" for k in keys)
        for func, args, kwargs in filters:
            extra = (f", *{name(tuple(args))}" if args else "") + (f", **{name(kwargs)}" if kwargs else "")
            expression = f"{name(func)}({expression}{extra})"
        lines.append(f"    try:\n        {variable} = {expression}\n"
                     f"        if type({variable}) not in _SCALARS:\n            {variable} = _native({variable})\n"
                     f"    except Exception:\n        {variable} = {name(slow)}(record)")
        return variable

    try:
        result = emit(fields)
        source = "def fields(record):\n" + "".join(line + "\n" for line in lines) + f"    return {result}\n"
        exec(compile(source, "<mapping>", "exec"), names)  # noqa: S102 - only names and literals of our own
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    return names["fields"]


def _native(value: Any) -> Any:
    """A template's value as data: fresh lists and objects, never an undefined, a function or an object."""
    if type(value) in _SCALARS:
        return value
    if type(value) is list:
        return [v if type(v) in _SCALARS else _native(v) for v in value]
    if type(value) is dict:
        return {k: v if type(v) in _SCALARS else _native(v) for k, v in value.items()}
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {k: _native(v) for k, v in value.items()}
    if callable(value):
        what = f"the method {value.__name__!r}" if hasattr(value, "__name__") else "a function"
        raise TemplateRuntimeError(f"the template gives {what}, not data")
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        return [_native(v) for v in value]
    raise TemplateRuntimeError(f"the template gives a {type(value).__name__} object, not data")


def _guarded(render: Render, field: str, source: str) -> Render:
    def guarded(record: dict[str, Any]) -> Any:
        try:
            return render(record)
        except SecurityError as exc:
            raise _Failure(field, source, f"unsafe template: {_message(exc)}") from None
        except TemplateError as exc:
            raise _Failure(field, source, _message(exc)) from None
        except Exception as exc:
            raise _Failure(field, source, f"{type(exc).__name__}: {_message(exc)}") from None

    return guarded


def _message(exc: Exception) -> str:
    return str(exc).rstrip(".") or type(exc).__name__


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
