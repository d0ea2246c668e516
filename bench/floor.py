"""The floor: the least any tool can do for this job. Fetch every page, decode it, write each record as a
JSON line; no mapping, no checks. What etl adds on top of this is the price of its features.

    python bench/floor.py URL OUT_FILE [--limit 100]

URL is the catalogue's `/products` endpoint (DummyJSON envelope, `?limit=&skip=` paging).
"""

from __future__ import annotations

import argparse
import json

import requests


def run(url: str, out: str, limit: int) -> int:
    count = 0
    skip = 0
    dumps = json.dumps
    with requests.Session() as session, open(out, "w", encoding="utf-8") as f:
        while True:
            body = session.get(url, params={"limit": limit, "skip": skip}, timeout=30).json()
            records = body["products"]
            if not records:
                break
            f.write("".join(dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records))
            count += len(records)
            skip += len(records)
            if skip >= body["total"]:
                break
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    run(args.url, args.out, args.limit)


if __name__ == "__main__":
    main()
