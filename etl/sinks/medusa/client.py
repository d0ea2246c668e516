"""Admin API calls with the sink's credentials, and Medusa's failures turned into the run's errors.

Three kinds of failure matter to a nightly job, and each gets its own exception: the credentials are wrong
(AuthError: stop at once, retrying cannot help), Medusa cannot be reached (Unreachable: stop after the
retries, every later request would fail too), and Medusa answered with an error (MedusaError, carrying
Medusa's own message, so a rejected product can be reported in Medusa's words).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from ...errors import AuthError, HttpError, SinkError
from ...http.client import HttpClient
from ...http.retry import RetryPolicy
from ...redact import redact, register_secret
from .config import Settings
from .parallel import HeldLog

HINT = "is it running? scripts/medusa-dev.sh up"
PAGE_SIZE = 1000
LARGE_PAGE_SIZE = 5000
RENEW_BEFORE_S = 300.0
_ATTEMPTS = re.compile(r" failed(?: after \d+ attempts)?: (.*)$")


class MedusaError(SinkError):
    """Medusa answered with an error status; `message` is Medusa's own explanation."""

    def __init__(self, text: str, status: int, message: str):
        super().__init__(text)
        self.status = status
        self.message = message


class Unreachable(SinkError):
    """No answer from Medusa at all (refused, reset, timed out), after the retries."""


class MedusaClient:
    def __init__(self, settings: Settings, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time):
        self.base = settings.url
        self.timeout = settings.timeout
        self.retry = settings.retry
        self.sleep = sleep
        self.http = HttpClient(timeout=settings.timeout, retry=settings.retry, session=session, sleep=sleep,
                               log=HeldLog(log or logging.getLogger("etl.http")),  # type: ignore[arg-type]
                               headers={"Accept": "application/json"})
        if settings.api_key:
            self.auth: _Auth = _ApiKey(settings.api_key)
        else:
            self.auth = _UserLogin(settings.email or "", settings.password or "", self, clock)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None,
             retry: RetryPolicy | str | None = "default") -> Any:
        return self.call("POST", path, params=params, body=body, retry=retry)

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             retry: RetryPolicy | str | None = "default", authenticated: bool = True) -> Any:
        """Medusa's decoded JSON answer. `retry=None` makes one attempt (the batch writer retries itself)."""
        for renewed in (False, True):
            headers = self.auth.headers() if authenticated else {}
            try:
                response = self.http.request(method, self.base + path, params=params, json=body,
                                             headers=headers, retry=retry)
            except HttpError as exc:
                if exc.status in (401, 403) and authenticated:
                    if not renewed and self.auth.renew(headers):
                        continue
                    raise AuthError(self.auth.rejected(exc.status)) from None
                raise self._translate(method, path, exc) from None
            try:
                return response.json()
            except ValueError:
                raise MedusaError(f"{method} {path}: Medusa's answer is not JSON", response.status_code,
                                  "the answer is not JSON") from None
        raise AssertionError("unreachable")

    def pages(self, path: str, plural: str, params: Mapping[str, Any],
              page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every row of a list route, in id order (Medusa's default order is not stable across pages).

        The first page tells how many rows there are; a large store's rest is read in pages of up to
        LARGE_PAGE_SIZE, so a no-change night over 10,000 products costs 7 requests, not 14."""
        offset, limit = 0, page_size
        while True:
            page = self.get(path, {**params, "limit": limit, "offset": offset, "order": "id"})
            rows = page.get(plural) or []
            yield from rows
            offset += len(rows)
            count = int(page.get("count", 0))
            if not rows or offset >= count:
                return
            limit = max(page_size, min(count - offset, LARGE_PAGE_SIZE))

    def _translate(self, method: str, path: str, exc: HttpError) -> SinkError:
        if exc.status is None:
            return Unreachable(f"cannot reach Medusa at {self.base}: {_transport_reason(exc)} ({HINT})")
        message = medusa_message(exc.body) or str(exc)
        return MedusaError(f"Medusa answered {exc.status} to {method} {path}: {message}", exc.status, message)

    def close(self) -> None:
        self.http.close()


def medusa_message(body: str | None) -> str:
    """Medusa's explanation from an error body: its JSON `message`, else the start of the text."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return redact(str(data["message"]))
    text = " ".join(re.sub(r"<[^>]*>", " ", body).split())
    return redact(text[:200])


def _transport_reason(exc: HttpError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    match = _ATTEMPTS.search(text)
    return match.group(1) if match else text


class _Auth:
    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def renew(self, rejected: Mapping[str, str]) -> bool:
        """Get fresh credentials after a 401 to a request sent with `rejected`; False when there is nothing
        to renew."""
        return False

    def rejected(self, status: int | None) -> str:
        raise NotImplementedError


class _ApiKey(_Auth):
    """A secret API key goes in HTTP Basic: Medusa refuses it as a Bearer token."""

    def __init__(self, key: str):
        encoded = base64.b64encode(f"{key}:".encode()).decode()
        register_secret(key)
        register_secret(encoded)
        self._header = {"Authorization": f"Basic {encoded}"}

    def headers(self) -> dict[str, str]:
        return self._header

    def rejected(self, status: int | None) -> str:
        return f"Medusa rejected the credentials ({status}): check MEDUSA_API_KEY"


class _UserLogin(_Auth):
    """An admin user's JWT, taken at the first request and renewed before it expires (24 h by default).

    Categories and tags are created from several threads at once: one lock makes a single login serve them
    all, whether the token is near its expiry or was just refused. A thread refused with a token another
    thread has already replaced sends its request again with the new one instead of logging in once more
    (the headers are compared as objects: in a replayed cassette every token reads the same)."""

    def __init__(self, email: str, password: str, client: MedusaClient, clock: Callable[[], float]):
        register_secret(password)
        self.email = email
        self.password = password
        self.client = client
        self.clock = clock
        self.token: str | None = None
        self.expires = 0.0
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self.token is None or self.clock() > self.expires - RENEW_BEFORE_S:
                self._login()
            return self._headers

    def renew(self, rejected: Mapping[str, str]) -> bool:
        with self._lock:
            if rejected is self._headers:
                self._login()
        return True

    def _login(self) -> None:
        try:
            answer = self.client.call("POST", "/auth/user/emailpass", authenticated=False,
                                      body={"email": self.email, "password": self.password})
        except MedusaError as exc:
            if exc.status in (400, 401, 403):
                raise AuthError(self.rejected(exc.status)) from None
            raise
        token = answer.get("token") if isinstance(answer, dict) else None
        if not token:
            raise AuthError(f"Medusa's login answer for {self.email} has no token")
        register_secret(token)
        self.token = token
        self.expires = _jwt_expiry(token, default=self.clock() + 3600.0)
        self._headers = {"Authorization": f"Bearer {token}"}

    def rejected(self, status: int | None) -> str:
        return f"Medusa rejected the credentials ({status}): check the email and password of {self.email}"


def _jwt_expiry(token: str, default: float) -> float:
    """The token's `exp` claim, read without verifying (Medusa verifies; we only need to know when)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return default
