"""When to try a request again, and how long to wait first.

Classify first, then wait: a status in `retry_on` (by default 429 and the 5xx a proxy or an overloaded server
sends) and every transport error (refused, reset, timed out, body cut short) are worth another attempt;
any other 4xx is the caller's mistake and fails at once. The wait is exponential (`initial * factor ** n`,
capped at `max_delay`), or longer when the server asks for more with Retry-After (capped at
`max_retry_after`, so a confused server cannot park a nightly job for a day).

Everything here is pure: the sleep belongs to the client and the clock is a parameter, so tests never wait.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ..durations import DURATION_SCHEMA, parse_duration

DEFAULT_RETRY_ON = frozenset({429, 500, 502, 503, 504})
_SECONDS = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$")

RETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Retries: 429, 5xx and transport errors are retried; other 4xx fail at once.",
    "properties": {
        "attempts": {
            "type": "integer", "minimum": 1, "default": 4,
            "description": "Total attempts, the first one included (1 = never retry).",
        },
        "backoff": {
            "type": "object",
            "additionalProperties": False,
            "description": "The wait before retry n is initial * factor ** (n - 1), capped at max.",
            "properties": {
                "initial": {**DURATION_SCHEMA, "default": "1s"},
                "factor": {"type": "number", "minimum": 1, "default": 2},
                "max": {**DURATION_SCHEMA, "default": "30s"},
                "jitter": {
                    "type": "boolean", "default": False,
                    "description": "Wait a random time between half the delay and the full delay.",
                },
            },
        },
        "retry_on": {
            "type": "array",
            "items": {"type": "integer", "minimum": 400, "maximum": 599},
            "uniqueItems": True,
            "default": sorted(DEFAULT_RETRY_ON),
            "description": "HTTP error statuses (400-599) worth another attempt.",
        },
        "max_retry_after": {
            **DURATION_SCHEMA, "default": "2m",
            "description": "The longest wait a server's Retry-After header can ask for.",
        },
    },
}


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts every try: the default is one try and three retries after 1 s, 2 s and 4 s.

    With `jitter`, each wait is drawn uniformly from [delay / 2, delay] ("equal jitter"): clients that
    failed together spread out, and none retries sooner than half the planned delay.
    """

    attempts: int = 4
    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: bool = False
    retry_on: frozenset[int] = DEFAULT_RETRY_ON
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be >= 1, got {self.attempts}")
        if self.initial < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must be >= 0")
        if self.factor < 1:
            raise ValueError(f"retry backoff factor must be >= 1, got {self.factor}")
        object.__setattr__(self, "retry_on", frozenset(self.retry_on))

    def backoff_delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after attempt number `attempt` (1-based) failed."""
        try:
            delay = min(self.initial * self.factor ** max(attempt - 1, 0), self.max_delay)
        except OverflowError:
            delay = self.max_delay
        if self.jitter:
            delay *= 0.5 + 0.5 * rand()
        return delay

    def retry_after(self, response: Any, now: Callable[[], datetime] | None = None) -> float | None:
        """Seconds the server asked us to wait (Retry-After as seconds or an HTTP-date), capped; None when
        the header is absent or unreadable. A date in the past means "now": 0."""
        headers = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After")
        if not value:
            return None
        match = _SECONDS.match(value)
        if match:
            seconds = float(match.group(1))
        else:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when is None:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            seconds = (when - (now or _utcnow)()).total_seconds()
        return min(max(seconds, 0.0), self.max_retry_after)

    def is_retryable_status(self, status: int) -> bool:
        return status in self.retry_on

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RetryPolicy:
        """The policy for a validated `retry:` block (see RETRY_SCHEMA); missing keys keep the defaults."""
        if not cfg:
            return cls()
        backoff = cfg.get("backoff") or {}
        defaults = cls()
        return cls(
            attempts=int(cfg.get("attempts", defaults.attempts)),
            initial=parse_duration(backoff.get("initial", defaults.initial)),
            factor=float(backoff.get("factor", defaults.factor)),
            max_delay=parse_duration(backoff.get("max", defaults.max_delay)),
            jitter=bool(backoff.get("jitter", defaults.jitter)),
            retry_on=frozenset(int(s) for s in cfg.get("retry_on", defaults.retry_on)),
            max_retry_after=parse_duration(cfg.get("max_retry_after", defaults.max_retry_after)),
        )


NO_RETRY = RetryPolicy(attempts=1)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
