"""One HTTP client for every adapter: timeouts always, retries by policy, secrets never in a message.

Every URL in a log line or an exception goes through `redact_url`; headers are never logged. A request
either returns a 2xx/3xx response whose body has been read completely, or raises HttpError with a one-line
message a user can act on: the status and the server's own words for a fatal 4xx, the attempt count when
retries ran out, `status=None` when no response arrived at all.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import requests
from requests.models import PreparedRequest
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from ..errors import HttpError, ResponseError
from ..redact import redact, redact_url
from .retry import NO_RETRY, RetryPolicy

BODY_SNIPPET = 200
_RETRYABLE_TRANSPORT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ProtocolError,
)
_URLLIB3_HOST = re.compile(r"^\w+\(host=[^)]*\): ")
_TAGS = re.compile(r"<[^>]*>")


class HttpClient:
    """A requests.Session with a default timeout, a retry policy and an injectable sleep.

    `retry=None` here means the default RetryPolicy(); pass NO_RETRY for a client that never retries.
    A session passed in stays the caller's to close.
    """

    def __init__(self, *, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 headers: Mapping[str, str] | None = None, auth: Any = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 log: logging.Logger | None = None):
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        if headers:
            self.session.headers.update(headers)
        if auth is not None:
            self.session.auth = auth
        self._sleep = sleep
        self.log = log or logging.getLogger("etl.http")

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, retry: RetryPolicy | str | None = "default",
                timeout: float | None = None) -> requests.Response:
        """retry="default" uses the client's policy; a RetryPolicy overrides; None = one attempt.

        Returns the response for 2xx/3xx. Raises HttpError(message, status=, body=) for a non-retryable
        status or when attempts are exhausted; status None for transport errors (refused, reset, timeout).
        """
        policy = self.retry if isinstance(retry, str) else (retry or NO_RETRY)
        timeout = self.timeout if timeout is None else timeout
        method = method.upper()
        described: list[str] = []

        def shown() -> str:
            """The request as messages name it; built on demand, as most requests never need it."""
            if not described:
                described.append(f"{method} {redact_url(_full_url(url, params))}")
            return described[0]

        for attempt in range(1, policy.attempts + 1):
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=params, json=json, headers=headers,
                                                timeout=timeout)
            except _RETRYABLE_TRANSPORT as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise HttpError(f"{shown()} failed: TLS error: {_reason(exc)}") from None
                problem, status, body = _describe(exc, timeout), None, None
                wait = policy.backoff_delay(attempt)
            except requests.RequestException as exc:
                raise HttpError(f"{shown()} failed: {_reason(exc)}") from None
            else:
                status = response.status_code
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug("%s -> %d (%.0f ms, %d bytes)", shown(), status,
                                   (time.monotonic() - started) * 1000, len(response.content))
                if status < 400:
                    return response
                problem, body = _status_line(response), redact(response.text)
                if not policy.is_retryable_status(status):
                    snippet = _snippet(response)
                    raise HttpError(f"{shown()} failed: {problem}" + (f": {snippet}" if snippet else ""),
                                    status=status, body=body)
                wait = policy.backoff_delay(attempt)
                asked = policy.retry_after(response)
                if asked is not None:
                    wait = max(wait, asked)
            if attempt == policy.attempts:
                after = f" after {attempt} attempts" if attempt > 1 else ""
                raise HttpError(f"{shown()} failed{after}: {problem}", status=status, body=body)
            self.log.warning("Attempt %d/%d failed: %s (%s); retrying in %s", attempt, policy.attempts,
                             problem, shown(), _seconds(wait))
            self._sleep(wait)
        raise AssertionError("unreachable: attempts >= 1")

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> tuple[requests.Response, Any]:
        """GET and decode; ResponseError names the redacted URL and what was wrong with the body."""
        response = self.request("GET", url, params=params, headers=headers)
        try:
            return response, response.json()
        except ValueError as exc:
            raise ResponseError(f"GET {redact_url(response.url or url)}: the response is not JSON: "
                                f"{_json_problem(response, exc)}") from None
        except RecursionError:
            raise ResponseError(f"GET {redact_url(response.url or url)}: the response is JSON nested too deeply "
                                f"to read ({len(response.content)} bytes)") from None

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _full_url(url: str, params: Mapping[str, Any] | None) -> str:
    """The URL as it goes on the wire, for messages; the request itself is built by requests."""
    if not params:
        return url
    prepared = PreparedRequest()
    try:
        prepared.prepare_url(url, params)
    except requests.RequestException:
        return url
    return prepared.url or url


def _status_line(response: requests.Response) -> str:
    reason = response.reason
    if not reason:
        try:
            reason = HTTPStatus(response.status_code).phrase
        except ValueError:
            reason = ""
    return f"{response.status_code} {reason}".rstrip()


def _snippet(response: requests.Response) -> str:
    """The server's own explanation, short: a JSON `message`/`error`, else the text without markup."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "title", "errors"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else jsonlib.dumps(value)
                break
    if text is None:
        text = _TAGS.sub(" ", response.text)
    text = redact(" ".join(text.split()))
    return text if len(text) <= BODY_SNIPPET else text[: BODY_SNIPPET - 3] + "..."


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {_seconds(timeout)}"
    if isinstance(exc, requests.Timeout) or _caused_by(exc, ReadTimeoutError):
        return f"read timeout after {_seconds(timeout)}"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
                        ProtocolError)):
        return f"response cut short: {_reason(exc)}"
    return f"connection error: {_reason(exc)}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, kind) or any(isinstance(a, kind) for a in current.args):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _reason(exc: BaseException) -> str:
    """The innermost readable cause, without the URL urllib3 likes to repeat (it may carry a secret)."""
    inner: Any = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    inner = getattr(inner, "reason", None) or inner
    if isinstance(inner, ProtocolError) and inner.args:
        text = str(inner.args[0]).rstrip(".")
        if len(inner.args) > 1 and str(inner.args[1]) not in text and repr(inner.args[1]) not in text:
            text += f": {inner.args[1]}"
    else:
        text = str(inner)
    text = _URLLIB3_HOST.sub("", text)
    text = re.sub(r"with url: \S+", "with url: <redacted>", text)
    return redact(text)[:BODY_SNIPPET]


def _json_problem(response: requests.Response, exc: ValueError) -> str:
    text = response.text
    kind = response.headers.get("Content-Type", "no Content-Type")
    if not text.strip():
        return f"empty body ({kind})"
    pos = getattr(exc, "pos", None)
    msg = getattr(exc, "msg", str(exc))
    if pos is None:
        return f"{msg} ({kind})"
    if pos >= len(text.rstrip()) or msg.startswith("Unterminated string"):
        return f"truncated JSON at char {len(text)} ({kind}, {len(response.content)} bytes)"
    return f"invalid JSON at char {pos}: {msg} ({kind})"


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value >= 0.1 or value == 0 else f"{value * 1000:.0f}ms"
