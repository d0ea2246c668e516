"""When a request is tried again and how long the client waits: pure functions, no clock, no sleep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from jsonschema import Draft202012Validator

from etl.durations import DURATION_SCHEMA, parse_duration
from etl.http.retry import NO_RETRY, RETRY_SCHEMA, RetryPolicy

NOW = datetime(2026, 6, 17, 12, 0, 0, tzinfo=timezone.utc)


def response_with(**headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    return response


@pytest.mark.parametrize("policy,delays", [
    (RetryPolicy(), [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
    (RetryPolicy(initial=0.5, factor=3, max_delay=10), [0.5, 1.5, 4.5, 10.0, 10.0]),
    (RetryPolicy(initial=2, factor=1), [2.0, 2.0, 2.0]),
    (RetryPolicy(initial=0), [0.0, 0.0]),
    (RetryPolicy(initial=60, max_delay=30), [30.0, 30.0]),
], ids=["seed 1-2-4 capped at 30", "custom factor and cap", "constant", "zero", "initial above the cap"])
def test_backoff_is_exponential_and_capped(policy, delays):
    assert [policy.backoff_delay(n) for n in range(1, len(delays) + 1)] == delays


def test_backoff_never_overflows():
    assert RetryPolicy(factor=10).backoff_delay(10_000) == 30.0


@pytest.mark.parametrize("draw,expected", [(0.0, 2.0), (0.5, 3.0), (1.0, 4.0)])
def test_jitter_spreads_the_delay_between_half_and_all_of_it(draw, expected):
    assert RetryPolicy(jitter=True).backoff_delay(3, rand=lambda: draw) == expected


def test_jitter_stays_within_bounds_with_real_randomness():
    policy = RetryPolicy(jitter=True)
    for attempt in (1, 2, 3, 8):
        full = RetryPolicy().backoff_delay(attempt)
        assert all(full / 2 <= policy.backoff_delay(attempt) <= full for _ in range(200))


@pytest.mark.parametrize("header,expected", [
    ("3", 3.0),
    ("0", 0.0),
    (" 10 ", 10.0),
    ("1.5", 1.5),
    ("120", 120.0),
    ("3600", 120.0),
    (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
    (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    (format_datetime(NOW + timedelta(days=1), usegmt=True), 120.0),
    ("Wed, 17 Jun 2026 12:00:45", 45.0),
    ("soon", None),
    ("", None),
    ("-5", None),
    ("1e3", None),
    ("Wed, 99 Foo 2026", None),
], ids=["seconds", "zero", "padded", "fractional", "at the cap", "capped", "http-date ahead",
        "http-date past", "http-date capped", "http-date without zone is UTC", "garbage", "empty", "negative",
        "exponent", "broken date"])
def test_retry_after(header, expected):
    assert RetryPolicy().retry_after(response_with(**{"Retry-After": header}), now=lambda: NOW) == expected


def test_retry_after_absent():
    assert RetryPolicy().retry_after(response_with()) is None


def test_retry_after_cap_is_configurable():
    assert RetryPolicy(max_retry_after=5).retry_after(response_with(**{"Retry-After": "10"})) == 5.0


@pytest.mark.parametrize("status,retryable", [
    (429, True), (500, True), (502, True), (503, True), (504, True),
    (400, False), (401, False), (403, False), (404, False), (409, False), (422, False), (501, False),
    (200, False),
])
def test_default_classification(status, retryable):
    assert RetryPolicy().is_retryable_status(status) is retryable


def test_retry_on_is_configurable():
    policy = RetryPolicy(retry_on=frozenset({408}))
    assert policy.is_retryable_status(408) and not policy.is_retryable_status(503)


def test_no_retry_makes_one_attempt():
    assert NO_RETRY.attempts == 1


@pytest.mark.parametrize("config,expected", [
    (None, RetryPolicy()),
    ({}, RetryPolicy()),
    ({"attempts": 4, "backoff": {"initial": "1s", "factor": 2, "max": "30s", "jitter": False},
      "retry_on": [429, 500, 502, 503, 504], "max_retry_after": "2m"}, RetryPolicy()),
    ({"attempts": 6, "backoff": {"initial": "250ms", "factor": 3, "max": "1m", "jitter": True},
      "retry_on": [503], "max_retry_after": 10},
     RetryPolicy(6, 0.25, 3.0, 60.0, True, frozenset({503}), 10.0)),
    ({"attempts": 1}, NO_RETRY),
    ({"backoff": {"initial": 0.1}}, RetryPolicy(initial=0.1)),
], ids=["absent", "empty", "the documented block is the default", "everything set", "attempts only",
        "partial backoff"])
def test_from_config(config, expected):
    assert RetryPolicy.from_config(config) == expected


@pytest.mark.parametrize("kwargs,message", [
    ({"attempts": 0}, "attempts must be >= 1"),
    ({"factor": 0.5}, "factor must be >= 1"),
    ({"initial": -1}, "delays must be >= 0"),
])
def test_impossible_policies_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


VALIDATOR = Draft202012Validator(RETRY_SCHEMA)


@pytest.mark.parametrize("block", [
    {},
    {"attempts": 4, "backoff": {"initial": "1s", "factor": 2, "max": "30s", "jitter": False},
     "retry_on": [429, 500, 502, 503, 504], "max_retry_after": "2m"},
    {"attempts": 1, "backoff": {"initial": 0.5}},
])
def test_retry_schema_accepts(block):
    assert list(VALIDATOR.iter_errors(block)) == []


@pytest.mark.parametrize("block,path", [
    ({"attempts": 0}, ["attempts"]),
    ({"attempts": "4"}, ["attempts"]),
    ({"retry_on": [600]}, ["retry_on", 0]),
    ({"retry_on": [99]}, ["retry_on", 0]),
    ({"retry_on": ["503"]}, ["retry_on", 0]),
    ({"retry_on": 503}, ["retry_on"]),
    ({"backoff": {"initial": "soon"}}, ["backoff", "initial"]),
    ({"backoff": {"factor": 0.5}}, ["backoff", "factor"]),
    ({"backoff": {"maximum": "30s"}}, ["backoff"]),
    ({"max_retry_after": -1}, ["max_retry_after"]),
    ({"retries": 3}, []),
])
def test_retry_schema_rejects(block, path):
    errors = list(VALIDATOR.iter_errors(block))
    assert [list(e.absolute_path) for e in errors] == [path]


def test_schemas_are_valid_draft_2020_12():
    Draft202012Validator.check_schema(RETRY_SCHEMA)
    Draft202012Validator.check_schema(DURATION_SCHEMA)


@pytest.mark.parametrize("value,seconds", [
    (0, 0.0), (15, 15.0), (0.5, 0.5), ("250ms", 0.25), ("1s", 1.0), ("1.5s", 1.5), ("2m", 120.0),
    ("1h", 3600.0), ("30", 30.0), (" 15s ", 15.0), ("15 s", 15.0),
])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds
    assert list(Draft202012Validator(DURATION_SCHEMA).iter_errors(value)) == []


@pytest.mark.parametrize("value", ["", "soon", "15 seconds", "1d", "-1s", "1.s", "s", -1, True, None, [15],
                                   float("inf")])
def test_bad_durations(value):
    with pytest.raises(ValueError, match=r"invalid duration .*(250ms|seconds)"):
        parse_duration(value)
    if not isinstance(value, float):
        assert list(Draft202012Validator(DURATION_SCHEMA).iter_errors(value)) != []
