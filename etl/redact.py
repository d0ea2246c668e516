"""Secrets never reach a log, a report, a cassette or an exception: everything printable passes here."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|auth|signature|sig)", re.I)
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Values interpolated into secret-looking keys are registered here and masked everywhere after.

    So are the forms the value takes in a URL, in a repr or JSON string (escaped) and as a server reads it
    back (trimmed, or '+' as a space): a message quoting any of them must not give the value away."""
    if not value or len(value) < 4:
        return
    forms = {value, value.strip(), quote(value, safe=""), quote_plus(value), unquote_plus(value),
             repr(value)[1:-1], json.dumps(value)[1:-1]}
    _secrets.update(form for form in forms if len(form) >= 4)


def is_secret_param(name: str) -> bool:
    """True for query parameter (or key) names that usually carry a credential: api_key, token, sig, ..."""
    return bool(_SECRET_PARAM.search(name))


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """Mask credentials in the userinfo and in secret-looking query parameters."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if is_secret_param(k) else v) for k, v in pairs], safe="*")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class RedactingFilter(logging.Filter):
    """Installed on every handler the CLI sets up."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
        return True
