"""`etl plan`: what a run would do, read-only. Collected from the engine's dry run, change by change."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import Change, Prune

MAX_DIFF_VALUE = 60


@dataclass
class Plan:
    pipeline: str
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    prunes: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, change: Change) -> None:
        label = _label(change)
        if change.action == "create":
            self.creates.append({"key": change.item.key, "label": label})
        elif change.action == "update":
            self.updates.append({"key": change.item.key, "label": label, "id": change.target_id,
                                 "diff": change.diff})
        elif change.action == "unchanged":
            self.unchanged += 1
        elif change.action == "fail":
            self.refused.append({"key": change.item.key, "label": label, "message": change.message})

    def add_prunes(self, prunes: list[Prune]) -> None:
        self.prunes = [{"key": p.key, "id": p.id, "label": p.label} for p in prunes]

    def last_line(self) -> str:
        line = (f"Plan: {len(self.creates)} to create, {len(self.updates)} to update, {self.unchanged} unchanged, "
                f"{len(self.prunes)} to prune")
        return line + (f", {len(self.refused)} refused" if self.refused else "")

    def text(self, verbose: bool = False) -> str:
        lines = list(self.notes)
        for c in self.creates:
            lines.append(f"+ create  {c['key']:>6}  {c['label']}")
        for u in self.updates:
            lines.append(f"~ update  {u['key']:>6}  {u['label']}")
            for name, (old, new) in sorted(u["diff"].items()):
                lines.append(f"      {name}: {_short(old)} -> {_short(new)}")
        for p in self.prunes:
            lines.append(f"- prune   {p['key']:>6}  {p['label'] or p['id']}")
        for r in self.refused:
            lines.append(f"! refuse  {r['key']:>6}  {r['label']}: {r['message']}")
        lines.append(self.last_line())
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "summary": {"create": len(self.creates), "update": len(self.updates),
                                                       "unchanged": self.unchanged, "prune": len(self.prunes),
                                                       "refused": len(self.refused)},
                "notes": self.notes, "creates": self.creates, "updates": self.updates, "prunes": self.prunes,
                "refused": self.refused}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
                        encoding="utf-8", errors="backslashreplace")


def _label(change: Change) -> str:
    data = change.payload or change.item.data
    title = data.get("title") or data.get("name") if isinstance(data, dict) else None
    handle = data.get("handle") if isinstance(data, dict) else None
    text = str(title) if title else change.item.key
    return f"{text} ({handle})" if handle else text


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_DIFF_VALUE else text[: MAX_DIFF_VALUE - 3] + "..."
