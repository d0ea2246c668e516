"""Mapped items as JSON lines in a file: the preview sink (`etl run --to FILE`), and a sink of its own.

The file is written beside its final name and moved into place on close, so a reader never sees half a
preview from a run that is still going. A run that fails aborts the sink instead: the partial file is removed
and the target is left as it was (absent, or the last complete preview), since half a preview looks whole.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..adapters import Change, Context, Item, Outcome, Prune
from ..errors import SinkError

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class JsonlSink:
    config_schema: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["path"],
        "additionalProperties": False,
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "The file to write ('-' for stdout)."},
            "batch_size": {"type": "integer", "minimum": 1, "default": 500},
            "include_key": {
                "type": "boolean", "default": False,
                "description": "Add the record key to each line as `_key`.",
            },
        },
    }
    two_pass: ClassVar[bool] = False
    noun = "records"

    def __init__(self, config: Mapping[str, Any], context: Context):
        self.path = config["path"]
        self._batch_size = int(config.get("batch_size", 500))
        self.include_key = bool(config.get("include_key", False))
        self.context = context
        self._file: Any = None
        self._tmp: Path | None = None

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def open(self) -> None:
        if self.context.options.get("dry_run"):
            return
        if self.path == "-":
            import sys

            self._file = sys.stdout
            return
        target = Path(self.path)
        self._tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # a lone surrogate ("\ud83c", half an emoji cut by the source) can only be inside a JSON string:
            # written as that escape, the line stays valid JSON and reads back as it came
            self._file = self._tmp.open("w", encoding="utf-8", errors="backslashreplace")
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror}") from None

    def prepare(self, items: Iterable[Item]) -> None:
        return None

    def plan(self, item: Item) -> Change:
        return Change("create", item)

    def write(self, batch: Sequence[Change]) -> list[Outcome]:
        encode = _ENCODE
        lines = []
        outcomes = []
        for change in batch:
            item = change.item
            data = {"_key": item.key, **item.data} if self.include_key else item.data
            try:
                lines.append(encode(data))
            except (TypeError, ValueError) as exc:
                where = _non_finite(data)
                message = (f"field {where[0]!r} is {where[1]}: JSON has no infinity or NaN" if where
                           else f"not JSON-serialisable: {exc}")
                outcomes.append(Outcome(item.key, "failed", message=message))
                continue
            outcomes.append(Outcome(item.key, "created"))
        if lines:
            self._file.write("\n".join(lines) + "\n")
        return outcomes

    def prunes(self, seen_keys: Collection[str]) -> list[Prune]:
        return []

    def prune(self, prunes: Sequence[Prune], action: str) -> list[Outcome]:
        return []

    def close(self) -> None:
        if self._file is None or self.path == "-":
            return
        self._file.close()
        self._file = None
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            try:
                os.replace(tmp, self.path)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise SinkError(f"cannot write {self.path}: {exc.strerror}") from None

    def abort(self) -> str | None:
        """The run failed: drop the partial file; the note says so in the summary."""
        if self._file is None or self.path == "-":
            return None
        self._file.close()
        self._file = None
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        return f"{self.path} was not written: the run failed, and a partial preview would look complete"


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where a mapped value holds inf or nan (a source number such as 1e999), for the failure message."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None
