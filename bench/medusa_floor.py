"""The floor of a Medusa sync: the same batch bodies, posted straight to /admin/products/batch in order.

No source, no mapping, no reading of the store, no categories: only the writes a sync cannot avoid.

    python bench/medusa_floor.py MEDUSA_URL BODIES_FILE

Authenticates with MEDUSA_API_KEY from the environment, or without it logs in once as MEDUSA_ADMIN_EMAIL with
MEDUSA_ADMIN_PASSWORD, as the sync it is compared with does.

BODIES_FILE holds one request per line, as the sync sent it: the path with its query, a tab, the JSON body.
Exits 1 if any batch is refused.
"""

from __future__ import annotations

import base64
import os
import sys

import requests


def authorization(session: requests.Session, url: str) -> str:
    if os.environ.get("MEDUSA_API_KEY"):
        return "Basic " + base64.b64encode(f"{os.environ['MEDUSA_API_KEY']}:".encode()).decode()
    answer = session.post(url + "/auth/user/emailpass", timeout=60, json={
        "email": os.environ["MEDUSA_ADMIN_EMAIL"], "password": os.environ["MEDUSA_ADMIN_PASSWORD"]})
    answer.raise_for_status()
    return "Bearer " + answer.json()["token"]


def main() -> None:
    url, bodies = sys.argv[1].rstrip("/"), sys.argv[2]
    failed = 0
    with requests.Session() as session, open(bodies, "rb") as f:
        headers = {"Authorization": authorization(session, url), "Content-Type": "application/json",
                   "Accept": "application/json"}
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
