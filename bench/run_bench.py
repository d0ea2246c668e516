"""Extract + map throughput and memory: etl against the floor and against dlt, on one synthetic server.

Every run is its own process reading the same pre-serialised catalogue over HTTP and writing JSONL:

  etl        `etl run pipelines/dummyjson.yaml --to FILE` (fetch, map every field, write)
  floor      requests + json + a JSONL write, no mapping (bench/floor.py): the least the job costs
  dlt        dlt's rest_api source, same offset paginator, JSONL on local disk, out of the box
  dlt-flat   the same with max_table_nesting=0 (nested fields kept as JSON): dlt at its fastest here

Each (size, tool) runs `--repeat` times, interleaved so a busy moment on the machine hits every tool alike;
the table keeps the fastest wall time (the run least disturbed by other processes) and the highest peak RSS.
Every output file is checked for N records, so a fast run that lost records cannot pass.

    python -m bench.run_bench [--sizes 1000,10000,100000] [--limit 100] [--repeat 3] [--tools etl,floor,dlt,dlt-flat]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.catalogue_server import running
from bench.measure import Measured, machine, measure

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
TOOLS = ("etl", "floor", "dlt", "dlt-flat")


def command(tool: str, url: str, out: Path, limit: int) -> list[str]:
    py = sys.executable
    if tool == "etl":
        return [py, "-m", "etl.cli", "run", str(ROOT / "pipelines" / "dummyjson.yaml"), "--to", str(out), "-q",
                "--set", f"source.pagination.limit={limit}"]
    if tool == "floor":
        return [py, str(BENCH / "floor.py"), f"{url}/products", str(out), "--limit", str(limit)]
    if tool in ("dlt", "dlt-flat"):
        flat = ["--flat"] if tool == "dlt-flat" else []
        return [py, str(BENCH / "dlt_pipeline.py"), f"{url}/products", str(out), "--limit", str(limit), *flat]
    raise ValueError(f"unknown tool {tool!r}")


def records_written(tool: str, out: Path) -> int:
    """Records in the output: one file for etl and the floor, the products table's files for dlt."""
    files = [out] if tool in ("etl", "floor") else sorted(out.glob("*/products/*.jsonl"))
    count = 0
    for path in files:
        with path.open("rb") as f:
            count += sum(1 for line in f if line.strip())
    return count


def run_once(tool: str, base_url: str, n: int, limit: int, work: Path) -> Measured:
    url = f"{base_url}/n/{n}"
    out = work / ("out" if tool.startswith("dlt") else "out.jsonl")
    state = work / "state"
    state.mkdir()
    env = {**os.environ, "DUMMYJSON_URL": url, "ETL_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    result = measure(command(tool, url, out, limit), env=env, cwd=work, stderr_path=work / "stderr")
    if result.returncode != 0:
        raise RuntimeError(f"{tool} at N={n} exited with {result.returncode}:\n{result.stderr}")
    got = records_written(tool, out)
    if got != n:
        raise RuntimeError(f"{tool} at N={n} wrote {got} records, not {n}")
    return result


def bench(sizes: list[int], tools: list[str], limit: int, repeat: int) -> list[dict[str, Any]]:
    runs: dict[tuple[int, str], list[Measured]] = {}
    with running(sizes, limit) as base_url:
        for n in sizes:
            for attempt in range(repeat):
                for tool in tools:
                    work = Path(tempfile.mkdtemp(prefix=f"bench-{tool}-{n}-"))
                    try:
                        result = run_once(tool, base_url, n, limit, work)
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
                    runs.setdefault((n, tool), []).append(result)
                    print(f"  N={n:<7} {tool:<9} run {attempt + 1}/{repeat}: {result.wall_s:6.2f} s "
                          f"{result.peak_rss_mb:6.1f} MB", file=sys.stderr, flush=True)
    rows = []
    for (n, tool), results in runs.items():
        best = min(results, key=lambda r: r.wall_s)
        rows.append({
            "n": n, "tool": tool,
            "wall_s": round(best.wall_s, 3),
            "records_per_s": round(n / best.wall_s),
            "cpu_s": round(best.cpu_s, 3),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in results), 1),
            "walls": [round(r.wall_s, 3) for r in results],
        })
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["n"], r["tool"]): r for r in rows}
    out = []
    for n in sorted({r["n"] for r in rows}):
        etl = by.get((n, "etl"))
        if etl is None:
            continue
        entry: dict[str, Any] = {"n": n}
        if (n, "floor") in by:
            entry["etl_over_floor"] = round(etl["wall_s"] / by[(n, "floor")]["wall_s"], 2)
        for tool in ("dlt", "dlt-flat"):
            if (n, tool) in by:
                entry[f"{tool.replace('-', '_')}_over_etl"] = round(by[(n, tool)]["wall_s"] / etl["wall_s"], 2)
        out.append(entry)
    return out


def table(rows: list[dict[str, Any]], ratio_rows: list[dict[str, Any]]) -> str:
    lines = ["| N | tool | wall s | records/s | CPU s | peak RSS MB |", "|---:|:---|---:|---:|---:|---:|"]
    order = {t: i for i, t in enumerate(TOOLS)}
    for r in sorted(rows, key=lambda r: (r["n"], order.get(r["tool"], 99))):
        lines.append(f"| {r['n']:,} | {r['tool']} | {r['wall_s']:.2f} | {r['records_per_s']:,} | {r['cpu_s']:.2f} "
                     f"| {r['peak_rss_mb']:.1f} |")
    lines += ["", "| N | etl / floor | dlt / etl | dlt-flat / etl |", "|---:|---:|---:|---:|"]
    for r in ratio_rows:
        cells = [r.get(k) for k in ("etl_over_floor", "dlt_over_etl", "dlt_flat_over_etl")]
        lines.append(f"| {r['n']:,} | " + " | ".join("-" if c is None else f"{c:.2f}x" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--limit", type=int, default=100, help="page size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "throughput.png")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    tools = [t for t in args.tools.split(",") if t.strip()]
    for tool in tools:
        if tool not in TOOLS:
            parser.error(f"unknown tool {tool!r} (known: {', '.join(TOOLS)})")
    rows = bench(sizes, tools, args.limit, args.repeat)
    ratio_rows = ratios(rows)
    result = {
        "command": "make bench  # " + " ".join(["python -m bench.run_bench", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "page_size": args.limit,
        "repeat": args.repeat,
        "rows": rows,
        "ratios": ratio_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(rows, ratio_rows))
    print(f"\nresults: {args.out}")
    try:
        from bench.chart import draw
    except ImportError:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
        return
    draw(result, args.chart)
    print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
