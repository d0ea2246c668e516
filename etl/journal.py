"""The run journal: one JSON line per run, appended at its end (or, for a run that was killed, by the next
run when it finds the lock it left; for a run refused because another held the lock, at once), read by
`etl status`: a night skipped shows there, not only in cron's mail."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from .report import RunReport


def journal_path(state_dir: Path) -> Path:
    return state_dir / "journal.jsonl"


def append(state_dir: Path, report: RunReport, command: str, options: Any = None) -> None:
    entry = {
        "start": report.started_at,
        "end": report.finished_at,
        "status": report.status,
        "exit_code": report.exit_code,
        "fetched": report.fetched,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "pruned": report.pruned,
        "failed": report.failed,
        "duration_s": round(report.duration_s, 3),
        "error": report.as_dict()["error"],
        "quarantine": report.quarantine,
        "command": command,
        "full": bool(getattr(options, "full", False)),
        "limit": getattr(options, "limit", None),
    }
    _write(state_dir, entry)


def append_crashed(state_dir: Path, holder: dict[str, Any]) -> str:
    """A run that took the lock and never released it was killed: it gets its journal line late."""
    message = (f"the run started {holder.get('started_at', '?')} (pid {holder['pid']}) never finished: "
               "it was killed or crashed; this run takes over")
    _write(state_dir, {"start": holder.get("started_at"), "end": None, "status": "crashed", "exit_code": None,
                       "error": message, "command": "run"})
    return message


def append_refused(state_dir: Path, started_at: str, error: str, exit_code: int, command: str) -> None:
    """A run that never started because another held the lock: nothing was read or written."""
    _write(state_dir, {"start": started_at, "end": started_at, "status": "refused", "exit_code": exit_code,
                       "error": error, "command": command})


def _write(state_dir: Path, entry: dict[str, Any]) -> None:
    path = journal_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", errors="backslashreplace") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def recent(state_dir: Path, n: int = 10) -> list[dict[str, Any]]:
    path = journal_path(state_dir)
    if not path.exists():
        return []
    lines: deque[str] = deque(maxlen=n)
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line)
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
