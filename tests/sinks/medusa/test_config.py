"""The sink block a pipeline author writes: what is accepted, and what each mistake is caught as."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from etl.sinks.medusa import MedusaSink
from etl.sinks.medusa.config import DEFAULT_CONCURRENCY, DEFAULT_MAX_BODY_BYTES, Settings

VALIDATOR = Draft202012Validator(MedusaSink.config_schema)


@pytest.mark.parametrize("block", [
    {"url": "http://127.0.0.1:9000", "api_key": "sk_x"},
    {"url": "https://shop.example.com", "email": "ops@example.com", "password": "pw", "batch_size": 50,
     "timeout": "45s", "retry": {"attempts": 6, "backoff": {"initial": "2s"}},
     "sales_channel_ids": ["sc_1"], "shipping_profile_id": "sp_1", "max_body_bytes": 1_000_000,
     "concurrency": 10},
], ids=["the usual", "everything"])
def test_valid_blocks(block):
    assert list(VALIDATOR.iter_errors(block)) == []


@pytest.mark.parametrize("block, complaint", [
    ({"api_key": "sk_x"}, "'url' is a required property"),
    ({"url": "http://127.0.0.1:9000"}, "is not valid under any of the given schemas"),
    ({"url": "http://127.0.0.1:9000", "email": "a@b.c"}, "is not valid under any of the given schemas"),
    ({"url": "http://127.0.0.1:9000", "api_key": ""}, "should be non-empty"),
    ({"url": "127.0.0.1:9000", "api_key": "sk_x"}, "does not match"),
    ({"url": "http://x", "api_key": "sk_x", "batch_size": 0}, "less than the minimum of 1"),
    ({"url": "http://x", "api_key": "sk_x", "max_body_bytes": 3_000_000}, "greater than the maximum"),
    ({"url": "http://x", "api_key": "sk_x", "concurrency": 0}, "less than the minimum of 1"),
    ({"url": "http://x", "api_key": "sk_x", "concurrency": 11}, "greater than the maximum of 10"),
    ({"url": "http://x", "api_key": "sk_x", "batchsize": 5}, "Additional properties are not allowed"),
    ({"url": "http://x", "api_key": "sk_x", "timeout": "soon"}, "is not valid under any of the given"),
], ids=["no url", "no credentials", "an email without a password", "an empty key", "no scheme",
        "batch_size 0", "over Medusa's 2 MB", "concurrency 0", "more at once than requests keeps connections",
        "a misspelt key", "a bad duration"])
def test_invalid_blocks(block, complaint):
    messages = [e.message for e in VALIDATOR.iter_errors(block)]
    assert any(complaint in m for m in messages), messages


def test_defaults():
    settings = Settings.from_config({"url": "http://127.0.0.1:9000/", "api_key": "sk_x"})
    assert settings.url == "http://127.0.0.1:9000"
    assert settings.batch_size == 15 and settings.timeout == 30.0
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert settings.retry.attempts == 4 and settings.sales_channel_ids == ()
    assert settings.concurrency == DEFAULT_CONCURRENCY == 4
