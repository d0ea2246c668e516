"""HTTP for adapters: a client with timeouts, retries and redaction, and paginators for REST sources."""

from .client import HttpClient
from .retry import NO_RETRY, RETRY_SCHEMA, RetryPolicy

__all__ = ["HttpClient", "NO_RETRY", "RETRY_SCHEMA", "RetryPolicy"]
