"""YAML loading that remembers where every key and value came from, so each problem names its line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import SpecError, SpecProblem

Path = tuple[str | int, ...]


@dataclass
class Located:
    """The parsed document plus path -> (line, column), both 1-based, for keys and values."""

    data: Any
    file: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest ancestor that the file has (a missing key is reported
        where its parent starts)."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))


class _Loader(yaml.SafeLoader):
    pass


def _hint(problem: str) -> str:
    if "'\\t'" in problem or "\\t" in problem:
        return " (indent with spaces, not tabs)"
    if "mapping values are not allowed" in problem:
        return " (a value containing ': ' must be quoted)"
    if "found character '%'" in problem or "found character '`'" in problem:
        return " (quote the value)"
    if "expected <block end>" in problem or "did not find expected key" in problem:
        return " (check the indentation of this line and the one above)"
    return ""


MAX_VALUES = 100_000
"""A pipeline file has hundreds of values; aliases that expand past this are a mistake or an attack."""


class _TooBig(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


def load_yaml(text: str, file: str) -> Located:
    problems: list[SpecProblem] = []
    located = Located(None, file)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        raise SpecError(SpecProblem(file, line, column, "", f"YAML syntax error: the character U+{code:04X} "
                                    f"is not allowed: remove it, or write it as {escape} in double quotes")) from None
    try:
        node = loader.get_single_node()
        if node is None:
            empty = "the file is empty: a pipeline needs version, source, mapping and sink"
            raise SpecError(SpecProblem(file, 1, 1, "", empty))
        located.data = _construct(loader, node, (), located, problems, [0])
    except _TooBig as exc:
        mark = exc.node.start_mark
        raise SpecError(SpecProblem(file, mark.line + 1, mark.column + 1, "",
                                    f"the file expands to over {MAX_VALUES:,} values: are YAML aliases (*name) "
                                    f"repeating each other?")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        hint = _hint(problem)
        opened = exc.context_mark
        if not hint and exc.problem and exc.context and opened and mark and opened.line != mark.line:
            hint = f" ({exc.context.strip()} that starts at line {opened.line + 1})"
        message = f"YAML syntax error: {problem}{hint}"
        raise SpecError(SpecProblem(file, line, col, "", message)) from None
    except yaml.YAMLError as exc:
        raise SpecError(SpecProblem(file, None, None, "", f"YAML error: {exc}")) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return located


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path, located: Located,
               problems: list[SpecProblem], count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise _TooBig(node)
    located.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(SpecProblem(located.file, key_node.start_mark.line + 1,
                                            key_node.start_mark.column + 1, _dotted(path),
                                            "a key must be a plain string"))
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in out:
                problems.append(SpecProblem(located.file, key_node.start_mark.line + 1,
                                            key_node.start_mark.column + 1, _dotted(child),
                                            f"duplicate key {key!r}: keep one"))
                continue
            located.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _construct(loader, value_node, child, located, problems, count)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), located, problems, count)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


dotted = _dotted
