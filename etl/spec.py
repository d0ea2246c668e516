"""Load a pipeline file into a frozen Spec, or fail with every problem in it at once.

Order: YAML (with positions) -> `--set` overrides -> ${ENV} interpolation -> the core schema -> each adapter's
own schema (chosen by `type:`, so only the chosen branch's errors show) -> template compilation. Problems from
all steps that can run are collected, sorted by line and raised together as one SpecError.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from . import registry
from .errors import SpecError, SpecProblem, UsageError
from .interpolate import interpolate
from .yamlsrc import Located, dotted, load_yaml

REGISTRY_KEY = "x-etl-registry"
ADAPTER_SECTIONS = {"source": registry.sources, "sink": registry.sinks}


@dataclass(frozen=True)
class AdapterSpec:
    type: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class MappingSpec:
    key: str
    fields: Mapping[str, Any]
    unique: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneSpec:
    action: str = "ignore"
    max_fraction: float = 0.1


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    source: AdapterSpec
    mapping: MappingSpec
    sink: AdapterSpec
    prune: PruneSpec = PruneSpec()
    state_dir: Path = field(default_factory=Path)
    positions: Mapping[tuple, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    def locate(self, path: str) -> tuple[int | None, int | None]:
        """Line and column of a dotted path such as 'mapping.fields.title', for messages."""
        parts: tuple = tuple(int(p) if p.isdigit() else p for p in path.split(".") if p)
        while parts:
            if parts in self.positions:
                return self.positions[parts]
            parts = parts[:-1]
        return None, None


@cache
def core_schema() -> dict[str, Any]:
    text = resources.files("etl").joinpath("schema/pipeline.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_spec(path: str | os.PathLike[str], *, overrides: Sequence[str] = (), sink: AdapterSpec | None = None,
              env: Mapping[str, str] | None = None, compile_mapping: bool = True) -> Spec:
    """`sink` replaces the file's sink (the `--to FILE` preview): the file's sink block is then neither
    interpolated nor validated, so a preview needs no sink credentials."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such pipeline file") from None
    except UnicodeDecodeError as exc:
        raw = exc.object
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(SpecProblem(file, line, col, "", f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                                    f"here): save it as UTF-8")) from None
    except OSError as exc:
        raise UsageError(f"{file}: cannot read the pipeline file: {exc.strerror or exc}") from None
    located = load_yaml(text, file)
    problems: list[SpecProblem] = []
    overridden: dict[tuple, str] = {}

    def report(p: Iterable, message: str) -> None:
        p = tuple(p)
        line, col = located.locate(p)
        item = next((overridden[p[:n]] for n in range(len(p), 0, -1) if p[:n] in overridden), None)
        if item is not None:
            line, col, message = None, None, f"{message} (from --set {item})"
        problems.append(SpecProblem(file, line, col, dotted(p), message))

    data = located.data
    if not isinstance(data, dict):
        raise SpecError(SpecProblem(file, 1, 1, "", "a pipeline file must be a mapping with version, source, "
                                    "mapping and sink"))
    for item in overrides:
        overridden[_apply_override(data, item)] = item
    if sink is not None:
        data = {**data, "sink": {"type": sink.type, **sink.config}}
    env = os.environ if env is None else env
    data = {k: (v if (k == "sink" and sink is not None) else interpolate(v, env, report, (k,)))
            for k, v in data.items()}

    _check_finite(data, (), report)
    _validate(data, core_schema(), (), report)
    _check_unique(data.get("mapping"), report)
    for section, reg in ADAPTER_SECTIONS.items():
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get("type"), str):
            _validate_adapter(block, reg, (section,), report)

    mapping = data.get("mapping")
    if compile_mapping and isinstance(mapping, dict) and isinstance(mapping.get("fields"), dict) \
            and isinstance(mapping.get("key"), str):
        for problem in _compile_problems(mapping, located):
            report(tuple(int(part) if part.isdigit() else part for part in problem.path.split(".")), problem.message)
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0, p.path))
        raise SpecError(_dedupe(problems))

    name = data.get("name") or Path(path).stem
    prune = data.get("prune") or {}
    return Spec(
        path=Path(path),
        name=name,
        source=AdapterSpec(data["source"]["type"], _without_type(data["source"])),
        mapping=MappingSpec(mapping["key"], mapping["fields"], tuple(mapping.get("unique", ()))),
        sink=AdapterSpec(data["sink"]["type"], _without_type(data["sink"])),
        prune=PruneSpec(prune.get("action", "ignore"), float(prune.get("max_fraction", 0.1))),
        state_dir=_state_dir(data.get("state_dir"), name),
        positions=located.positions,
    )


def _check_finite(value: Any, path: tuple, report) -> None:
    """YAML's .inf and .nan pass every numeric bound; no setting means them."""
    if isinstance(value, float) and not math.isfinite(value):
        report(path, _NOT_FINITE.format(_show(value)))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, (*path, key), report)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, (*path, i), report)


_NOT_FINITE = "must be a finite number, got {}"


def _check_unique(mapping: Any, report) -> None:
    if not isinstance(mapping, dict) or not isinstance(mapping.get("fields"), dict):
        return
    for i, name in enumerate(mapping.get("unique") or []):
        if isinstance(name, str) and name not in mapping["fields"]:
            report(("mapping", "unique", i), f"{name!r} is not a mapped field (fields: {', '.join(mapping['fields'])})")


def _state_dir(configured: str | None, name: str) -> Path:
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("ETL_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "etl")
    return Path(base).expanduser() / name


def _without_type(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "type"}


def _apply_override(data: dict, item: str) -> tuple[str, ...]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {item!r}: expected dotted.key=value, e.g. --set sink.batch_size=50")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise UsageError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = nxt
    node[parts[-1]] = value
    return tuple(parts)


def _validate_adapter(block: dict, reg: registry.Registry, path: tuple, report) -> None:
    try:
        adapter = reg.get(block["type"])
    except registry.UnknownAdapter as exc:
        report((*path, "type"), str(exc))
        return
    schema = getattr(adapter, "config_schema", None) or {"type": "object"}
    config = _without_type(block)
    _validate(config, schema, path, report)
    for key, sub in schema.get("properties", {}).items():
        nested = config.get(key)
        if REGISTRY_KEY in sub and isinstance(nested, dict) and isinstance(nested.get("type"), str):
            _validate_adapter(nested, getattr(registry, sub[REGISTRY_KEY]), (*path, key), report)


def _validate(instance: Any, schema: dict, base: tuple, report) -> None:
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        for rel, message in _explain(error):
            report((*base, *error.absolute_path, *rel), message)


def _explain(error: ValidationError) -> list[tuple[tuple, str]]:
    """Turn one jsonschema error into (relative path, message a user can act on) pairs."""
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    kind, inst = error.validator, error.instance
    if isinstance(inst, float) and not math.isfinite(inst):
        return [((), _NOT_FINITE.format(_show(inst)))]
    if kind == "additionalProperties" and isinstance(inst, dict):
        known = list(error.schema.get("properties", {}))
        out = []
        for key in inst:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
            out.append(((key,), f"unknown key {key!r}{hint}"))
        return out
    if kind == "required":
        missing = [k for k in error.validator_value if isinstance(inst, dict) and k not in inst]
        return [((), f"missing required key {k!r}") for k in missing]
    if custom:
        got = f"keys present: {', '.join(map(str, inst)) or 'none'}" if isinstance(inst, dict) else f"got {_show(inst)}"
        return [((), f"{custom}; {got}")]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        shown = "" if inst is None else f" {_show(inst)}"
        return [((), f"expected {_article(expected)}, got {_typename(inst)}{shown}")]
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        return [((), f"must be one of {', '.join(map(_show, allowed))}; got {_show(inst)}")]
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return [((), f"must be {op} {error.validator_value}, got {_show(inst)}")]
    if kind in ("anyOf", "oneOf") and error.context:
        best = min(error.context, key=lambda e: len(list(e.absolute_path)))
        return _explain(best)
    if kind in ("minLength", "minProperties", "minItems") and error.validator_value == 1:
        return [((), "must not be empty")]
    if kind == "pattern":
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        expected = description.rstrip(".") if description else f"text matching {error.validator_value}"
        return [((), f"expected {expected}; got {_show(inst)}")]
    return [((), error.message)]


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _typename(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(value)


def _compile_problems(mapping: dict, located: Located) -> list[SpecProblem]:
    from .mapping import Mapper

    def locate(path: str) -> tuple[int | None, int | None]:
        return located.locate(tuple(int(p) if p.isdigit() else p for p in path.split(".")))

    try:
        Mapper(mapping["key"], mapping["fields"], file=located.file, locate=locate)
    except SpecError as exc:
        return exc.problems
    return []


def _dedupe(problems: list[SpecProblem]) -> list[SpecProblem]:
    seen, out = set(), []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out


def full_schema() -> dict[str, Any]:
    """The core schema with every installed adapter's schema folded in, for editors."""
    schema = copy.deepcopy(core_schema())
    for section, reg in ADAPTER_SECTIONS.items():
        schema["properties"][section] = _union(reg, schema["properties"][section])
    return schema


def _union(reg: registry.Registry, base: dict) -> dict:
    out = copy.deepcopy(base)
    names = reg.names()
    props = out.setdefault("properties", {})
    props["type"] = {**props.get("type", {}), "enum": names}
    out["required"] = ["type"]
    branches = []
    for name in names:
        adapter = reg.get(name)
        sub = copy.deepcopy(getattr(adapter, "config_schema", None) or {"type": "object"})
        props = sub.setdefault("properties", {})
        for key, prop in list(props.items()):
            if REGISTRY_KEY in prop:
                props[key] = _union(getattr(registry, prop[REGISTRY_KEY]), {"type": "object"})
        props["type"] = {"const": name}
        sub.pop("$schema", None)
        branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": sub})
    out["allOf"] = branches
    return out
