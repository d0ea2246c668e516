"""The HTTP client against a local server failing on cue: what is retried, what is logged, what is raised."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from etl.errors import HttpError, ResponseError
from etl.http.client import HttpClient
from etl.http.retry import RetryPolicy
from tests.support.faulty_server import FaultyServer, Reply

LOGGER = "tests.http.client"


@pytest.fixture
def warnings(caplog):
    """The WARNING lines the client logged, as a user would read them."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return lambda: [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def make(**kwargs) -> tuple[HttpClient, list[float]]:
    sleeps: list[float] = []
    return HttpClient(sleep=sleeps.append, log=logging.getLogger(LOGGER), **kwargs), sleeps


def test_two_500s_then_ok_are_retried_after_1s_then_2s(warnings):
    with FaultyServer([Reply.error(500), Reply.error(500), Reply.json({"ok": True})]) as server:
        client, sleeps = make()
        response, body = client.get_json(f"{server.url}/products", params={"limit": 30, "skip": 0})
    assert body == {"ok": True} and response.status_code == 200
    assert sleeps == [1.0, 2.0]
    assert len(server.requests) == 3
    url = f"{server.url}/products?limit=30&skip=0"
    assert warnings() == [
        f"Attempt 1/4 failed: 500 Internal Server Error (GET {url}); retrying in 1.0s",
        f"Attempt 2/4 failed: 500 Internal Server Error (GET {url}); retrying in 2.0s",
    ]


def test_exhausted_attempts_raise_with_the_count_and_the_last_status(warnings):
    with FaultyServer([Reply.error(503)] * 4) as server:
        client, sleeps = make()
        with pytest.raises(HttpError) as info:
            client.request("GET", f"{server.url}/products", params={"limit": 30, "skip": 0})
    url = f"{server.url}/products?limit=30&skip=0"
    assert str(info.value) == f"GET {url} failed after 4 attempts: 503 Service Unavailable"
    assert info.value.status == 503
    assert '"message": "Service Unavailable"' in info.value.body
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(server.requests) == 4
    assert [w.split(" failed")[0] for w in warnings()] == ["Attempt 1/4", "Attempt 2/4", "Attempt 3/4"]


@pytest.mark.parametrize("reply,expected", [
    (Reply.error(404, "Product with id '195' not found"), "404 Not Found: Product with id '195' not found"),
    (Reply.error(400, "Invalid 'limit' - must be a number"),
     "400 Bad Request: Invalid 'limit' - must be a number"),
    (Reply.json({"error": "bad token"}, 401), "401 Unauthorized: bad token"),
    (Reply.json({"errors": [{"field": "title"}]}, 422), '422 Unprocessable Entity: [{"field": "title"}]'),
    (Reply.raw(b"<html><body><h1>Not found</h1>\n<p>Cannot GET /nope</p></body></html>", 404,
               {"Content-Type": "text/html"}), "404 Not Found: Not found Cannot GET /nope"),
    (Reply.raw(b"", 403), "403 Forbidden"),
    (Reply.raw(b"x" * 500, 409), "409 Conflict: " + "x" * 197 + "..."),
], ids=["json message", "dummyjson 400", "json error", "json errors", "html", "empty body", "long body"])
def test_other_4xx_fail_at_once_with_the_servers_words(reply, expected, warnings):
    with FaultyServer([reply]) as server:
        client, sleeps = make()
        with pytest.raises(HttpError) as info:
            client.request("GET", f"{server.url}/products/195")
    assert str(info.value) == f"GET {server.url}/products/195 failed: {expected}"
    assert info.value.status == reply.status
    assert len(server.requests) == 1 and sleeps == [] and warnings() == []


@pytest.mark.parametrize("retry_after,policy,expected", [
    (10, RetryPolicy(), 10.0),
    (0, RetryPolicy(), 1.0),
    (600, RetryPolicy(max_retry_after=30), 30.0),
], ids=["longer than the backoff", "shorter than the backoff", "capped"])
def test_429_waits_as_long_as_retry_after_asks(retry_after, policy, expected, warnings):
    with FaultyServer([Reply.rate_limited(retry_after), Reply.json([])]) as server:
        client, sleeps = make(retry=policy)
        client.get_json(f"{server.url}/products")
    assert sleeps == [expected]
    assert warnings() == [f"Attempt 1/4 failed: 429 Too Many Requests (GET {server.url}/products); "
                          f"retrying in {expected:.1f}s"]


def test_429_retry_after_as_an_http_date():
    at = datetime.now(timezone.utc) + timedelta(seconds=20)
    with FaultyServer([Reply.rate_limited(at), Reply.json([])]) as server:
        client, sleeps = make()
        client.get_json(f"{server.url}/products")
    assert 18.0 <= sleeps[0] <= 20.0


def test_retry_none_makes_one_attempt():
    with FaultyServer([Reply.error(503)]) as server:
        client, sleeps = make()
        with pytest.raises(HttpError, match=r"/x failed: 503 Service Unavailable$"):
            client.request("GET", f"{server.url}/x", retry=None)
    assert len(server.requests) == 1 and sleeps == []


def test_a_policy_per_request_overrides_the_clients():
    with FaultyServer([Reply.error(502)] * 2) as server:
        client, sleeps = make()
        with pytest.raises(HttpError, match="failed after 2 attempts: 502 Bad Gateway"):
            client.request("GET", f"{server.url}/x", retry=RetryPolicy(attempts=2, initial=0.5))
    assert sleeps == [0.5]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retried_then_raised_without_a_status(warnings):
    url = f"http://127.0.0.1:{free_port()}/products"
    client, sleeps = make(retry=RetryPolicy(attempts=2))
    with pytest.raises(HttpError) as info:
        client.request("GET", url)
    assert info.value.status is None
    assert str(info.value).startswith(f"GET {url} failed after 2 attempts: connection error: ")
    assert "Connection refused" in str(info.value)
    (warning,) = warnings()
    assert warning.startswith("Attempt 1/2 failed: connection error: ") and warning.endswith(
        f"(GET {url}); retrying in 1.0s")
    assert sleeps == [1.0]


@pytest.mark.parametrize("rst", [False, True], ids=["closed", "reset"])
def test_a_body_cut_short_is_retried(rst, warnings):
    cut = Reply.reset_mid_body(b'{"products": [{"id": 1}', claimed_length=5000, rst=rst)
    with FaultyServer([cut, Reply.json({"products": []})]) as server:
        client, sleeps = make()
        _, body = client.get_json(f"{server.url}/products")
    assert body == {"products": []}
    (warning,) = warnings()
    assert warning.startswith("Attempt 1/4 failed: response cut short: Connection broken")
    assert sleeps == [1.0]


def test_a_server_that_hangs_is_a_read_timeout(warnings):
    with FaultyServer([Reply.hang(5), Reply.hang(5)]) as server:
        client, sleeps = make(timeout=0.05, retry=RetryPolicy(attempts=2))
        with pytest.raises(HttpError, match=r"/slow failed after 2 attempts: read timeout after 50ms$") \
                as info:
            client.request("GET", f"{server.url}/slow")
    assert info.value.status is None
    assert warnings()[0].startswith("Attempt 1/2 failed: read timeout after 50ms (GET ")


class RaisingSession(requests.Session):
    def __init__(self, exc: Exception):
        super().__init__()
        self.exc = exc
        self.calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        raise self.exc


@pytest.mark.parametrize("exc,problem,calls", [
    (requests.ReadTimeout("read timed out"), "failed after 4 attempts: read timeout after 15.0s", 4),
    (requests.ConnectTimeout("connect timed out"), "failed after 4 attempts: connect timeout after 15.0s", 4),
    (requests.exceptions.SSLError("certificate verify failed"),
     "failed: TLS error: certificate verify failed", 1),
    (requests.exceptions.InvalidURL("Invalid URL 'http://'"), "failed: Invalid URL 'http://'", 1),
], ids=["read timeout", "connect timeout", "tls: not retried", "invalid url: not retried"])
def test_transport_errors(exc, problem, calls):
    session = RaisingSession(exc)
    client, _ = make(session=session, timeout=15.0)
    with pytest.raises(HttpError) as info:
        client.request("GET", "http://127.0.0.1:9/x")
    assert str(info.value) == f"GET http://127.0.0.1:9/x {problem}"
    assert info.value.status is None and session.calls == calls


def test_secrets_in_the_url_never_reach_a_log_line_or_a_message(caplog, warnings):
    with FaultyServer([Reply.error(503), Reply.error(404)]) as server:
        client, _ = make(headers={"X-Api-Key": "HEADER-SECRET"})
        with pytest.raises(HttpError) as info:
            client.request("GET", f"{server.url}/p", params={"api_key": "SECRET", "limit": 5})
    assert server.requests[0].headers["X-Api-Key"] == "HEADER-SECRET"
    shown = f"GET {server.url}/p?api_key=***&limit=5"
    assert warnings()[0].startswith(f"Attempt 1/4 failed: 503 Service Unavailable ({shown})")
    assert str(info.value).startswith(f"{shown} failed: 404 Not Found")
    assert "SECRET" not in caplog.text and "SECRET" not in str(info.value)


@pytest.mark.parametrize("reply,problem", [
    (Reply.truncated_json({"products": [{"id": 1, "title": "Essence Mascara"}]}, keep=30),
     "truncated JSON at char 30 (application/json, 30 bytes)"),
    (Reply.truncated_json({"products": [{"id": 1, "title": "Essence Mascara"}]}, keep=20),
     "truncated JSON at char 20 (application/json, 20 bytes)"),
    (Reply.raw(b"<html>maintenance</html>", 200, {"Content-Type": "text/html"}),
     "invalid JSON at char 0: Expecting value (text/html)"),
    (Reply.raw(b'{"a": 1} trailing', 200, {"Content-Type": "application/json"}),
     "invalid JSON at char 9: Extra data (application/json)"),
    (Reply.raw(b"", 200, {"Content-Type": "application/json"}), "empty body (application/json)"),
], ids=["cut inside an object", "cut inside a string", "html", "trailing text", "empty"])
def test_a_body_that_is_not_json_names_the_redacted_url_and_the_problem(reply, problem):
    with FaultyServer([reply]) as server:
        client, sleeps = make()
        with pytest.raises(ResponseError) as info:
            client.get_json(f"{server.url}/products", params={"api_key": "SECRET", "limit": 30})
    shown = f"GET {server.url}/products?api_key=***&limit=30"
    assert str(info.value) == f"{shown}: the response is not JSON: {problem}"
    assert sleeps == []


def test_3xx_that_is_not_followed_is_returned():
    with FaultyServer([Reply.raw(b"", 304)]) as server:
        client, _ = make()
        response = client.request("GET", f"{server.url}/products", headers={"If-None-Match": 'W/"x"'})
    assert response.status_code == 304
    assert server.requests[0].headers["If-None-Match"] == 'W/"x"'


def test_a_json_body_is_sent():
    with FaultyServer([Reply.json({"id": "prod_1"}, 201)]) as server:
        client, _ = make()
        response = client.request("POST", f"{server.url}/admin/products", json={"title": "Mascara"})
    assert response.status_code == 201
    assert server.requests[0].method == "POST" and server.requests[0].json() == {"title": "Mascara"}


def test_close_leaves_a_callers_session_open():
    class Counting(requests.Session):
        closed = 0

        def close(self):
            Counting.closed += 1

    HttpClient(session=Counting()).close()
    assert Counting.closed == 0
    with HttpClient() as client:
        session = client.session
    assert session.adapters == {} or all(not a.poolmanager.pools for a in session.adapters.values())
