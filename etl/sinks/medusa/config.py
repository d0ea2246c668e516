"""The `sink:` block of a Medusa pipeline: its schema (editors show the descriptions) and its parsed form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...durations import DURATION_SCHEMA, parse_duration
from ...http.retry import RETRY_SCHEMA, RetryPolicy

DEFAULT_BATCH_SIZE = 15
MEDUSA_BATCH_BODY_LIMIT = 2 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1_900_000
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONCURRENCY = 4
"""A first night's 24 categories and 138 tags took 10.2 s one at a time, 5.3 s four at a time and 5.4 s eight
at a time, against a Medusa 2.21 on two cores: from four on, Medusa's CPU is what limits, and more at once
only makes each request wait longer."""
MAX_CONCURRENCY = 10
"""requests keeps 10 connections per host: more requests at once would open connections it then drops."""

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "A Medusa v2 store, written through its Admin API. "
                   "Credentials: api_key, or email and password.",
    "required": ["url"],
    "additionalProperties": False,
    "anyOf": [{"required": ["api_key"]}, {"required": ["email", "password"]}],
    "x-message": "needs credentials: api_key (a secret API key), or email and password (an admin user)",
    "properties": {
        "url": {
            "type": "string", "pattern": "^https?://[^\\s/]+",
            "description": "Medusa's base URL, e.g. http://127.0.0.1:9000 (no /admin suffix).",
        },
        "api_key": {
            "type": "string", "minLength": 1,
            "description": "A secret API key (sk_...), sent with HTTP Basic: revocable on its own, no admin "
                           "password in cron's environment. Medusa checks it with scrypt on every request, "
                           "so a first night is slower than with email and password (2,000 new products: "
                           "39 s against 27 s). Use ${MEDUSA_API_KEY}: never write the key itself in the file.",
        },
        "email": {
            "type": "string", "minLength": 1,
            "description": "An admin user's email, to log in when there is no api_key "
                           "(the token is renewed before it expires).",
        },
        "password": {
            "type": "string", "minLength": 1,
            "description": "That admin user's password; use ${MEDUSA_ADMIN_PASSWORD}.",
        },
        "batch_size": {
            "type": "integer", "minimum": 1, "default": DEFAULT_BATCH_SIZE,
            "description": "Products per /admin/products/batch request "
                           "(Medusa applies a batch all or nothing).",
        },
        "max_body_bytes": {
            "type": "integer", "minimum": 10_000, "maximum": MEDUSA_BATCH_BODY_LIMIT,
            "default": DEFAULT_MAX_BODY_BYTES,
            "description": "A batch is split further to keep its JSON body under this size "
                           "(Medusa refuses bodies over 2 MB).",
        },
        "concurrency": {
            "type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY, "default": DEFAULT_CONCURRENCY,
            "description": "Categories and tags created at once (Medusa has no batch route for them: a first "
                           "night creates each with its own request). 1 creates them one after the other.",
        },
        "timeout": {
            **DURATION_SCHEMA, "default": "30s",
            "description": "How long one request may take before it counts as failed (and is retried).",
        },
        "retry": RETRY_SCHEMA,
        "sales_channel_ids": {
            "type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "uniqueItems": True,
            "description": "Sales channels new products are published in. "
                           "Default: the store's default sales channel.",
        },
        "shipping_profile_id": {
            "type": "string", "minLength": 1,
            "description": "Shipping profile of new products. Default: the store's default shipping profile.",
        },
    },
}


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str | None
    email: str | None
    password: str | None
    batch_size: int
    max_body_bytes: int
    timeout: float
    concurrency: int
    retry: RetryPolicy
    sales_channel_ids: tuple[str, ...]
    shipping_profile_id: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            url=str(config["url"]).rstrip("/"),
            api_key=config.get("api_key") or None,
            email=config.get("email") or None,
            password=config.get("password") or None,
            batch_size=int(config.get("batch_size", DEFAULT_BATCH_SIZE)),
            max_body_bytes=int(config.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
            timeout=parse_duration(config.get("timeout", DEFAULT_TIMEOUT)),
            concurrency=int(config.get("concurrency", DEFAULT_CONCURRENCY)),
            retry=RetryPolicy.from_config(config.get("retry")),
            sales_channel_ids=tuple(config.get("sales_channel_ids") or ()),
            shipping_profile_id=config.get("shipping_profile_id") or None,
        )
