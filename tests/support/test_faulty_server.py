"""The fault server must produce each fault as a real client experiences it, or fault tests prove nothing."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests

from .faulty_server import FaultyServer, Reply, Script, catalogue

PRODUCTS = [{"id": i} for i in range(1, 71)]


def test_replies_are_served_in_order_and_requests_recorded() -> None:
    replies = [Reply.error(500), Reply.error(503), Reply.json({"ok": True}, headers={"X-A": "1"})]
    with FaultyServer(replies) as s:
        got = [requests.post(f"{s.url}/items?page=2&q=a%20b", json={"n": i}, headers={"X-Try": str(i)},
                             timeout=5) for i in range(4)]
    assert [r.status_code for r in got] == [500, 503, 200, 501]
    assert got[1].json() == {"message": "Service Unavailable"}
    assert (got[2].json(), got[2].headers["X-A"]) == ({"ok": True}, "1")
    assert "nothing scripted for POST /items?page=2&q=a b" in got[3].text
    assert [(r.method, r.path, r.query, r.headers["x-try"], r.json()) for r in s.requests] == [
        ("POST", "/items", {"page": "2", "q": "a b"}, str(i), {"n": i}) for i in range(4)
    ]


BROKEN_BODY = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)


@pytest.mark.parametrize(
    ("reply", "client_sees", "message"),
    [
        (Reply.reset_mid_body(b'{"products": [', claimed_length=500), BROKEN_BODY, "IncompleteRead"),
        (Reply.reset_mid_body(b'{"products": [', claimed_length=500, rst=True), BROKEN_BODY, "reset by peer"),
        (Reply.hang(2), requests.exceptions.ReadTimeout, "Read timed out"),
        (Reply.hang(2, then=Reply.json({})), requests.exceptions.ReadTimeout, "Read timed out"),
        (Reply.unframed(b"HTTP/1.1 OK-ish\r\n\r\n"), requests.exceptions.ConnectionError, "BadStatusLine"),
        (Reply.unframed(b""), requests.exceptions.ConnectionError, "RemoteDisconnected"),
    ],
)
def test_transport_faults_reach_the_client(reply: Reply, client_sees: type[Exception], message: str) -> None:
    with FaultyServer([reply]) as server, pytest.raises(client_sees, match=message):
        requests.get(f"{server.url}/products", timeout=(2, 0.3))


@pytest.mark.parametrize(
    ("reply", "status", "retry_after"),
    [
        (Reply.rate_limited(7), 429, "7"),
        (Reply.rate_limited(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)), 429,
         "Wed, 02 Jan 2030 03:04:05 GMT"),
        (Reply.error(503, headers={"Retry-After": "1"}), 503, "1"),
    ],
)
def test_retry_after_is_sent_as_given(reply: Reply, status: int, retry_after: str) -> None:
    with FaultyServer([reply]) as server:
        response = requests.get(server.url, timeout=5)
    assert (response.status_code, response.headers["Retry-After"]) == (status, retry_after)
    if not retry_after.isdigit():
        assert parsedate_to_datetime(retry_after) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (Reply.truncated_json({"products": [1, 2, 3]}, keep=10), b'{"products'),
        (Reply.raw(b"\xff\xfe not json", 200, {"Content-Type": "application/json"}), b"\xff\xfe not json"),
    ],
)
def test_bad_bodies_arrive_complete_but_do_not_parse(reply: Reply, body: bytes) -> None:
    with FaultyServer([reply]) as server:
        response = requests.get(server.url, timeout=5)
    assert (response.status_code, response.content) == (200, body)
    with pytest.raises(ValueError):
        response.json()


def test_a_paged_catalogue_whose_second_page_fails_twice() -> None:
    script = Script(fallback=catalogue(PRODUCTS))
    script.on("/products", {"skip": "30"}, Reply.error(500), Reply.error(500))
    seen, statuses, skip = [], [], 0
    with FaultyServer(script) as server:
        while True:
            response = requests.get(f"{server.url}/products", params={"limit": 30, "skip": skip}, timeout=5)
            statuses.append(response.status_code)
            if response.status_code != 200:
                continue
            page = response.json()
            seen += page["products"]
            skip += len(page["products"])
            if not page["products"] or skip >= page["total"]:
                break
    assert statuses == [200, 500, 500, 200, 200]
    assert seen == PRODUCTS
    assert [r.query["skip"] for r in server.requests] == ["0", "30", "30", "30", "60"]


def test_a_hang_does_not_outlive_the_server() -> None:
    started = time.monotonic()
    with FaultyServer([Reply.hang(60)]) as server, pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url, timeout=(2, 0.2))
    assert time.monotonic() - started < 5
