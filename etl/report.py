"""What a run did, in the words of the seed's final block, and as JSON for `--report FILE`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .redact import redact

RULE = "=" * 60
MAX_LISTED = 10


@dataclass
class RunReport:
    pipeline: str
    status: str = "running"
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    pruned: int = 0
    duplicates: int = 0
    duration_s: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    source_complete: bool = False
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quarantine: str | None = None
    error: str | None = None
    exit_code: int = 0
    exception: BaseException | None = field(default=None, repr=False)

    def fail(self, key: str | None, message: str, stage: str) -> None:
        self.failed += 1
        self.failures.append({"key": key, "stage": stage, "message": redact(message)})

    def finish(self) -> None:
        if self.error is not None:
            self.status = "failed"
            self.exit_code = self.exit_code or 1
        elif self.failed:
            self.status = "partial"
            self.exit_code = 3
        else:
            self.status = "ok"
            self.exit_code = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "status": self.status,
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "pruned": self.pruned,
            "duplicates": self.duplicates,
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "source_complete": self.source_complete,
            "exit_code": self.exit_code,
            "error": redact(self.error) if self.error else None,
            "quarantine": self.quarantine,
            "warnings": [redact(w) for w in self.warnings],
            "failures": self.failures,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8",
                       errors="backslashreplace")
        tmp.replace(path)

    def summary(self) -> str:
        title = {"ok": "Sync completed", "partial": "Sync completed with failures",
                 "failed": "Sync FAILED"}.get(self.status, self.status)
        lines = [RULE, f"{title}: {self.pipeline}", RULE,
                 f"Fetched:    {self.fetched}",
                 f"Created:    {self.created}",
                 f"Updated:    {self.updated}",
                 f"Unchanged:  {self.unchanged}"]
        if self.pruned:
            lines.append(f"Pruned:     {self.pruned}")
        lines.append(f"Failed:     {self.failed}")
        lines.append(f"Duration:   {self.duration_s:.2f}s")
        if self.error:
            lines.append(f"Error:      {redact(self.error)}")
        for warning in self.warnings[:MAX_LISTED]:
            lines.append(f"Warning:    {redact(warning)}")
        if len(self.warnings) > MAX_LISTED:
            lines.append(f"  ... and {len(self.warnings) - MAX_LISTED} more warnings (see the report or the log)")
        for failure in self.failures[:MAX_LISTED]:
            lines.append(f"  - {failure['key']}: {failure['message']}")
        if len(self.failures) > MAX_LISTED:
            lines.append(f"  ... and {len(self.failures) - MAX_LISTED} more (see the report or quarantine file)")
        if self.quarantine:
            lines.append(f"Quarantine: {self.quarantine}  (replay: etl retry {self.quarantine})")
        lines.append(RULE)
        return "\n".join(lines)
