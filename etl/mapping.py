"""Field mappings: Jinja templates in a sandbox (etl.sandbox), checked and compiled once, run per record,
keeping types.

What a field gives:
  - a string with no `{{`, `{%` or `{#` is a constant, returned as written;
  - a template that is exactly one `{{ expression }}` (whitespace around it allowed) gives the expression's
    value with its type: number, text, list, object, true/false or null;
  - any other template renders to text: "0478" stays the string "0478" (rendered text is never parsed back);
  - lists and objects of templates map item by item. Values never share a list or object with the record.

Only the `if`, `for` and `filter` tags are available: `set`, `with`, `macro`, `call`, `include`, `import`,
`extends` and `block` make programs, not values. Unknown names, filters and tests are found when the spec is
loaded, with every other problem. On an object a key wins over a method of the same name: `record.items` is
the record's "items" key. Filters are in etl.filters.

A failing template fails its record only: MappingError names the record key, the field and the template.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateError, TemplateRuntimeError, TemplateSyntaxError
from jinja2.runtime import Undefined

from .adapters import Item
from .errors import MappingError, SpecError, SpecProblem
from .filters import kind
from .keyset import KeySet
from .sandbox import MAX_SIZE, MappingEnvironment, close_budget, make_environment, open_budget

_SCALARS = frozenset({str, int, float, bool, type(None)})
Render = Callable[[dict[str, Any]], Any]
Locate = Callable[[str], tuple[int | None, int | None]]

_TAGS = {nodes.Assign: "set", nodes.AssignBlock: "set", nodes.With: "with", nodes.Macro: "macro",
         nodes.CallBlock: "call", nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from",
         nodes.Extends: "extends", nodes.Block: "block"}


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
        token = open_budget()
        try:
            return self._key_of(record)
        finally:
            close_budget(token)

    def map(self, record: dict[str, Any]) -> Item:
        """The record mapped; a failing template raises MappingError, which fails this record only."""
        token = open_budget()
        try:
            key = self._key_of(record)
            try:
                data = self._fields(record)
            except _Failure as failure:
                raise failure.error(key) from None
        finally:
            close_budget(token)
        return Item(key, data, record)

    def _key_of(self, record: dict[str, Any]) -> str:
        if not isinstance(record, dict):
            raise MappingError(None, "record", "", f"a record must be an object, got {kind(record)}")
        try:
            value = self._key(record)
        except _Failure as failure:
            raise failure.error(None) from None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problem = f"the key must be text or a number, got {kind(value)}"
            raise MappingError(None, "key", self._key_template, problem)
        if value == "":
            raise MappingError(None, "key", self._key_template, "the key is empty")
        return str(value)

    def _compile_tree(self, value: Any, spec_path: str, field: str) -> Render:
        render: Any
        if isinstance(value, Mapping):
            parts = [(k, self._compile_tree(v, f"{spec_path}.{k}", f"{field}.{k}" if field else str(k)))
                     for k, v in value.items()]
            render = lambda record: {k: part(record) for k, part in parts}  # noqa: E731
            render.parts = parts
            return render
        if isinstance(value, list):
            items = [self._compile_tree(v, f"{spec_path}.{i}", f"{field}.{i}") for i, v in enumerate(value)]
            render = lambda record: [item(record) for item in items]  # noqa: E731
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
    that repeat in the source. Remembers each value given out (a KeySet: bounded memory), not the records."""

    def __init__(self, fields: Iterable[str]):
        self._seen: dict[str, KeySet] = {f: KeySet() for f in fields}

    def apply(self, item: Item) -> None:
        for name, seen in self._seen.items():
            value = item.data.get(name)
            if isinstance(value, str) and not seen.add(value):
                n = 1
                while not seen.add(f"{value}-{n}"):
                    n += 1
                item.data[name] = f"{value}-{n}"

    def close(self) -> None:
        for seen in self._seen.values():
            seen.close()
