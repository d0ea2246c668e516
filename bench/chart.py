"""The chart for BENCHMARKS.md: records/s and peak RSS against catalogue size, one line per tool.

    python -m bench.chart [bench/results/throughput.json] [bench/results/throughput.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

STYLE = {"etl": ("tab:blue", "o"), "floor": ("tab:gray", "s"), "dlt": ("tab:red", "^"),
         "dlt-flat": ("tab:orange", "v")}


def draw(result: dict[str, Any], path: Path) -> None:
    rows = result["rows"]
    tools = [t for t in STYLE if any(r["tool"] == t for r in rows)]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for tool in tools:
        points = sorted((r["n"], r["records_per_s"], r["peak_rss_mb"]) for r in rows if r["tool"] == tool)
        colour, marker = STYLE[tool]
        sizes = [p[0] for p in points]
        speed.plot(sizes, [p[1] for p in points], marker=marker, color=colour, label=tool)
        memory.plot(sizes, [p[2] for p in points], marker=marker, color=colour, label=tool)
    for ax, title, unit in ((speed, "Throughput", "records/s"), (memory, "Peak RSS (whole process)", "MB")):
        ax.set_xscale("log")
        ax.set_xlabel("catalogue size (records)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    machine = result.get("machine", {})
    fig.suptitle(f"Extract + map to JSONL, page size {result.get('page_size')}: "
                 f"{machine.get('cores')} cores, Python {machine.get('python')}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "throughput.json"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_suffix(".png")
    draw(json.loads(source.read_text(encoding="utf-8")), target)
    print(target)


if __name__ == "__main__":
    main()
