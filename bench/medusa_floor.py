"""The floor of a Medusa sync: the same batch bodies, posted straight to /admin/products/batch in order.

No source, no mapping, no reading of the store, no categories: only the writes a sync cannot avoid.

    python bench/medusa_floor.py MEDUSA_URL BODIES_FILE     (MEDUSA_API_KEY in the environment)

BODIES_FILE holds one request per line, as the sync sent it: the path with its query, a tab, the JSON body.
Exits 1 if any batch is refused.
"""

from __future__ import annotations

import base64
import os
import sys

import requests


def main() -> None:
    url, bodies = sys.argv[1].rstrip("/"), sys.argv[2]
    token = base64.b64encode(f"{os.environ['MEDUSA_API_KEY']}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json", "Accept": "application/json"}
    failed = 0
    with requests.Session() as session, open(bodies, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            path, _, body = line.rstrip(b"\n").partition(b"\t")
            answer = session.post(url + path.decode(), data=body, headers=headers, timeout=600)
            if answer.status_code >= 400:
                failed += 1
                print(f"batch refused: {answer.status_code} {answer.text[:300]}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
