"""Records that failed, kept as JSON lines so they can be inspected and replayed (`etl retry FILE`).

Each line carries the source record (so a replay re-maps it with the pipeline as it is then), the mapped
data when there was some, where it failed and why. The file is only created when something fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import UsageError
from .redact import redact


class Quarantine:
    def __init__(self, path: Path, pipeline: Path):
        self.path = path
        self.pipeline = pipeline
        self.count = 0
        self._file = None

    def add(self, key: str | None, stage: str, message: str, record: Any = None, data: Any = None) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a lone surrogate ("\ud83c", half an emoji cut by the source) can only be inside a JSON string:
            # written as that escape, the line stays valid JSON and reads back as it came
            self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        entry = {
            "pipeline": str(self.pipeline),
            "key": key,
            "stage": stage,
            "error": redact(message),
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "record": record,
            "data": data,
        }
        self._file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_quarantine(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the quarantine file: {exc.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{n}: not a quarantine line ({exc.msg})") from None
        if not isinstance(entry, dict) or "record" not in entry:
            raise UsageError(f"{path}:{n}: not a quarantine line (no 'record')")
        yield entry
