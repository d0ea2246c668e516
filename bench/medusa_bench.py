"""What a Medusa sync costs: a first sync and a no-change rerun, against a floor that only posts the batches.

Needs the live Medusa (`make medusa-up`; MEDUSA_URL and MEDUSA_API_KEY come from the environment or from
`scripts/medusa-dev.sh env`). The store may be shared, so nothing here empties it: everything the benchmark
makes carries the prefix `etlbench` (handles, categories and tags `etlbench-...`, SKUs `ETLBENCH-...`,
external ids from 900000001), the store's other contents are left alone, and only prefixed items are deleted
afterwards. The products are the 194 of the recorded DummyJSON catalogue, cycled for the larger sizes.

For each size, through a proxy that counts HTTP calls by route:
  1. etl first sync   `etl run pipelines/dummyjson.yaml`: every product is new to the store
  2. etl rerun        the same, nothing changed: should write nothing
  3. floor            the batch bodies etl sent in 1, posted straight to /admin/products/batch in order
                      (after etl's products were deleted; the categories and tags etl made stay for it)
  4. etl, taxonomy known   the first sync again, products deleted but categories and tags kept: what a
                      night with only new products costs, the floor's own conditions

With --auth login, etl and the floor log in as the admin user (MEDUSA_ADMIN_EMAIL, MEDUSA_ADMIN_PASSWORD) instead
of sending the secret API key: Medusa checks an API key with scrypt on every request, a login token without.

    python -m bench.medusa_bench [--sizes 194,2000,10000] [--auth api-key|login] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from bench.catalogue_server import running
from bench.counting_proxy import CountingProxy
from bench.measure import machine, measure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PREFIX = "etlbench"
ID_OFFSET = 900_000_000
BATCH = "POST /admin/products/batch"
PAGE_SIZE = 100
TAXONOMY_KNOWN = "etl, taxonomy known"


CREDENTIALS = ("MEDUSA_URL", "MEDUSA_API_KEY", "MEDUSA_ADMIN_EMAIL", "MEDUSA_ADMIN_PASSWORD")


def medusa_env(auth: str) -> dict[str, str]:
    """The environment's values, completed from `scripts/medusa-dev.sh env` only when one that is needed lacks."""
    env = {k: os.environ[k] for k in CREDENTIALS if os.environ.get(k)}
    needed = CREDENTIALS[:2] + (CREDENTIALS[2:] if auth == "login" else ())
    if any(name not in env for name in needed):
        out = subprocess.run(["bash", str(ROOT / "scripts" / "medusa-dev.sh"), "env"], capture_output=True,
                             text=True, check=False).stdout
        for line in out.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if name in CREDENTIALS and name not in env:
                env[name] = value.strip().strip("'\"")
    missing = [name for name in needed if not env.get(name)]
    if missing:
        sys.exit(f"{', '.join(missing)} needed: start Medusa with `make medusa-up`")
    return env


def pipeline(auth: str, work: Path) -> Path:
    """The shipped pipeline; for a login, a copy whose sink has email and password instead of api_key."""
    shipped = ROOT / "pipelines" / "dummyjson.yaml"
    if auth == "api-key":
        return shipped
    text, count = re.subn(r"(?m)^(\s+)api_key: .*$",
                          r"\1email: ${MEDUSA_ADMIN_EMAIL}\n\1password: ${MEDUSA_ADMIN_PASSWORD}",
                          shipped.read_text(encoding="utf-8"))
    if count != 1:
        sys.exit(f"{shipped}: no single `api_key:` line in the sink to replace with a login")
    copy = work / "dummyjson-login.yaml"
    copy.write_text(text, encoding="utf-8")
    return copy


class Admin:
    """Just enough of the Admin API to find and delete what the benchmark made."""

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        token = base64.b64encode(f"{api_key}:".encode()).decode()
        self.session.headers.update({"Authorization": f"Basic {token}", "Accept": "application/json"})

    def _all(self, path: str, plural: str, fields: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            answer = self.session.get(self.url + path, params={"fields": fields, "limit": 1000, "offset": len(rows),
                                                               "order": "id"}, timeout=120)
            answer.raise_for_status()
            page = answer.json()
            rows += page.get(plural) or []
            if not page.get(plural) or len(rows) >= int(page.get("count", 0)):
                return rows

    def products(self) -> list[dict[str, Any]]:
        return self._all("/admin/products", "products", "id,handle")

    def ours(self, rows: list[dict[str, Any]], name: str = "handle") -> list[str]:
        return [r["id"] for r in rows if str(r.get(name) or "").startswith(f"{PREFIX}-")]

    def delete_products(self) -> int:
        ids = self.ours(self.products())
        for start in range(0, len(ids), 200):
            answer = self.session.post(self.url + "/admin/products/batch", json={"delete": ids[start:start + 200]},
                                       timeout=600)
            answer.raise_for_status()
        return len(ids)

    def delete_categories(self) -> int:
        rows = self._all("/admin/product-categories", "product_categories", "id,handle")
        ids = self.ours(rows)
        for category_id in ids:
            self.session.delete(f"{self.url}/admin/product-categories/{category_id}", timeout=60).raise_for_status()
        return len(ids)

    def delete_tags(self) -> int:
        ids = self.ours(self._all("/admin/product-tags", "product_tags", "id,value"), "value")
        for tag_id in ids:
            self.session.delete(f"{self.url}/admin/product-tags/{tag_id}", timeout=60).raise_for_status()
        return len(ids)

    def cleanup(self) -> tuple[int, int, int]:
        return self.delete_products(), self.delete_categories(), self.delete_tags()


def phase(name: str, argv: list[str], env: dict[str, str], proxy: CountingProxy, work: Path,
          capture: str | None = None, report: Path | None = None) -> dict[str, Any]:
    proxy.reset(capture)
    result = measure(argv, env=env, cwd=work, stderr_path=work / f"{name.replace(',', '').replace(' ', '-')}.stderr")
    row: dict[str, Any] = {
        "phase": name, "wall_s": round(result.wall_s, 2), "cpu_s": round(result.cpu_s, 2),
        "peak_rss_mb": round(result.peak_rss_mb, 1), "exit_code": result.returncode,
        "http_calls": sum(proxy.calls.values()), "writes": proxy.writes(),
        "calls_by_kind": dict(sorted(proxy.calls.items())),
        "seconds_by_kind": {k: round(v, 2) for k, v in sorted(proxy.seconds.items())},
    }
    if report is not None and report.exists():
        summary = json.loads(report.read_text(encoding="utf-8"))
        row["report"] = {k: summary.get(k) for k in ("fetched", "created", "updated", "unchanged", "failed")}
        row["error"] = summary.get("error")
    if result.returncode != 0:
        row["stderr"] = result.stderr[-600:]
    return row


def bench_size(n: int, server_url: str, medusa: dict[str, str], admin: Admin, keep: bool,
               auth: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-medusa-{n}-"))
    spec = pipeline(auth, work)
    rows = []
    try:
        with CountingProxy(medusa["MEDUSA_URL"]) as proxy:
            env = {**os.environ, **medusa, "MEDUSA_URL": proxy.url, "DUMMYJSON_URL": f"{server_url}/n/{n}",
                   "ETL_STATE_DIR": str(work / "state"), "PYTHONPATH": str(ROOT)}
            if auth == "login":
                env.pop("MEDUSA_API_KEY", None)

            def etl(report: Path) -> list[str]:
                return [sys.executable, "-m", "etl.cli", "run", str(spec), "-q",
                        "--set", f"source.pagination.limit={PAGE_SIZE}", "--report", str(report)]

            first = phase("etl first sync", etl(work / "first.json"), env, proxy, work, capture=BATCH,
                          report=work / "first.json")
            if first["exit_code"] not in (0, 3):
                raise RuntimeError(f"the first sync of {n} products failed (exit {first['exit_code']}): "
                                   f"{first.get('error') or first.get('stderr')}")
            bodies = work / "bodies.jsonl"
            bodies.write_bytes(b"".join(path.encode() + b"\t" + body + b"\n" for path, body in proxy.captured))
            rows.append(first)
            rows.append(phase("etl rerun", etl(work / "rerun.json"), env, proxy, work, report=work / "rerun.json"))
            print(_line(n, rows[-2]), _line(n, rows[-1]), sep="\n", file=sys.stderr, flush=True)
            admin.delete_products()
            floor = phase("floor", [sys.executable, str(ROOT / "bench" / "medusa_floor.py"), proxy.url, str(bodies)],
                          env, proxy, work)
            rows.append(floor)
            print(_line(n, floor), file=sys.stderr, flush=True)
            admin.delete_products()
            rows.append(phase(TAXONOMY_KNOWN, etl(work / "again.json"), env, proxy, work, report=work / "again.json"))
            print(_line(n, rows[-1]), file=sys.stderr, flush=True)
    finally:
        if not keep:
            admin.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    by = {r["phase"]: r for r in rows}
    floor_s = by["floor"]["wall_s"]
    return {"n": n, "phases": rows,
            "first_over_floor": round(by["etl first sync"]["wall_s"] / floor_s, 2) if floor_s else None,
            "known_over_floor": round(by[TAXONOMY_KNOWN]["wall_s"] / floor_s, 2) if floor_s else None}


def _line(n: int, row: dict[str, Any]) -> str:
    return (f"  N={n:<6} {row['phase']:<20} {row['wall_s']:7.2f} s  {row['http_calls']:5d} calls "
            f"({row['writes']} writes)  exit {row['exit_code']}  {row.get('report', '')}")


def table(sizes: list[dict[str, Any]]) -> str:
    lines = ["| N | phase | wall s | products/s | HTTP calls | writes | created / updated / unchanged / failed |",
             "|---:|:---|---:|---:|---:|---:|:---|"]
    for size in sizes:
        for row in size["phases"]:
            report = row.get("report") or {}
            counts = " / ".join(str(report.get(k, "-")) for k in ("created", "updated", "unchanged", "failed")) \
                if report else "-"
            rate = f"{size['n'] / row['wall_s']:,.0f}" if row["wall_s"] else "-"
            lines.append(f"| {size['n']:,} | {row['phase']} | {row['wall_s']:.2f} | {rate} | {row['http_calls']} "
                         f"| {row['writes']} | {counts} |")
    lines += ["", "| N | first sync / floor | taxonomy known / floor | rerun writes | rerun HTTP calls |",
              "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        by = {r["phase"]: r for r in size["phases"]}
        rerun = by["etl rerun"]
        lines.append(f"| {size['n']:,} | {size['first_over_floor']:.2f}x | {size['known_over_floor']:.2f}x "
                     f"| {rerun['writes']} | {rerun['http_calls']} |")
    lines += ["", "HTTP calls by kind (count, and time spent waiting for Medusa):"]
    for size in sizes:
        for row in size["phases"]:
            seconds = row.get("seconds_by_kind", {})
            kinds = ", ".join(f"{k} x{v} ({seconds.get(k, 0):.1f} s)" for k, v in row["calls_by_kind"].items())
            lines.append(f"  N={size['n']:,} {row['phase']}: {kinds}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="194,2000,10000")
    parser.add_argument("--auth", choices=("api-key", "login"), default="api-key",
                        help="how etl and the floor authenticate (default: the shipped pipeline's api_key)")
    parser.add_argument("--out", type=Path, help="default: bench/results/medusa.json (medusa-login.json)")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark's products in the store")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    out: Path = args.out or RESULTS / ("medusa.json" if args.auth == "api-key" else "medusa-login.json")
    medusa = medusa_env(args.auth)
    admin = Admin(medusa["MEDUSA_URL"], medusa["MEDUSA_API_KEY"])
    try:
        admin.session.get(admin.url + "/health", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        sys.exit(f"no Medusa at {admin.url} ({exc}): start it with `make medusa-up`")
    leftovers = admin.cleanup()
    if any(leftovers):
        print("removed {} products, {} categories and {} tags left by an earlier run".format(*leftovers),
              file=sys.stderr)
    others = len(admin.products())
    results = []
    with running(sizes, PAGE_SIZE, prefix=PREFIX, id_offset=ID_OFFSET) as server_url:
        for n in sizes:
            results.append(bench_size(n, server_url, medusa, admin, args.keep, args.auth))
    result = {
        "command": "make bench-medusa  # python -m bench.medusa_bench " + " ".join(argv or sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "auth": args.auth,
        "store_products_before": others,
        "sizes": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Authentication: {args.auth}. The store held {others} other products (read by every sync, left alone).")
    print(table(results))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
