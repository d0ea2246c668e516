"""RestSource: an HTTP client, a paginator and a records path; yields the records page by page.

Nothing is held beyond the page in hand, so a catalogue of any size streams. A read that cannot be whole
fails loudly instead of truncating: a missing records key or a non-object record is a ResponseError,
`max_pages` reached is a PaginationError. A read that ends with fewer (or more) records than the API's
reported total is logged and left incomplete (`stats.complete = False`), so the engine reports it and
pruning refuses to act on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import requests

from .. import registry
from ..adapters import Context, SourceStats
from ..durations import DURATION_SCHEMA, parse_duration
from ..errors import PaginationError, ResponseError, SpecError, SpecProblem
from ..http.client import HttpClient
from ..http.pagination import MISSING, keys_of, lookup
from ..http.retry import RETRY_SCHEMA, RetryPolicy
from ..redact import redact, redact_url

DEFAULT_MAX_PAGES = 10000
NO_TIME_LIMIT = "must be more than 0s: every request needs a time limit"
TIMEOUT_SCHEMA: dict[str, Any] = {
    "allOf": [
        DURATION_SCHEMA,
        {"not": {"anyOf": [{"const": 0}, {"type": "string", "pattern": r"^\s*0+(\.0+)?\s*(ms|s|m|h)?\s*$"}]},
         "x-message": NO_TIME_LIMIT},
    ],
    "default": "30s",
    "description": "How long one request may take before it counts as failed (and is retried); more than 0s.",
}


class RestSource:
    """`pagination` is checked here only for its `type`: the spec loader validates the rest of the block
    against the chosen paginator's own `config_schema` (the `x-etl-registry` key tells it which registry)."""

    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string", "minLength": 1,
                "description": "The first page's URL; query parameters may also go in `params`.",
            },
            "params": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "Query parameters sent with every page.",
            },
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Request headers (never logged); put tokens here via ${ENV}.",
            },
            "records": {
                "type": "string", "default": "",
                "description": "Dotted path to the records list in each response; '' = the body is the list.",
            },
            "timeout": TIMEOUT_SCHEMA,
            "retry": RETRY_SCHEMA,
            "pagination": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "description": "The paginator (see etl plugins)."}},
                "x-etl-registry": "paginators",
                "description": "How to get the next page; default: a single page.",
            },
            "max_pages": {
                "type": "integer", "minimum": 1, "default": DEFAULT_MAX_PAGES,
                "description": "Fail, rather than loop or truncate, when a read needs more pages than this.",
            },
        },
    }

    def __init__(self, config: Mapping[str, Any], context: Context):
        self.url: str = config["url"]
        self.params = {k: _param(v) for k, v in (config.get("params") or {}).items()}
        self.records_path: str = config.get("records", "")
        self.max_pages = int(config.get("max_pages", DEFAULT_MAX_PAGES))
        self.log = context.log
        timeout = parse_duration(config.get("timeout", 30))
        if timeout <= 0:
            raise SpecError(SpecProblem(str(context.spec_path), None, None, "source.timeout",
                                        NO_TIME_LIMIT))
        self.client = HttpClient(
            timeout=timeout,
            retry=RetryPolicy.from_config(config.get("retry")),
            headers=config.get("headers"),
            log=context.log.getChild("http"),
        )
        pagination = dict(config.get("pagination") or {"type": "single_page"})
        self.paginator = registry.paginators.get(pagination.pop("type"))(pagination)
        self._stats = SourceStats()

    @property
    def stats(self) -> SourceStats:
        return self._stats

    def read(self) -> Iterator[dict[str, Any]]:
        stats = self._stats = SourceStats()
        try:
            for records in self._pages(stats):
                for record in records:
                    stats.fetched += 1
                    yield record
        finally:
            self.client.close()
        if stats.expected is not None and stats.fetched != stats.expected:
            self.log.warning("Fetched %d records but the source reported total %d",
                             stats.fetched, stats.expected)
        else:
            stats.complete = True
        plural = "" if stats.pages == 1 else "s"
        self.log.info("Fetched %d records in %d page%s", stats.fetched, stats.pages, plural)

    def _pages(self, stats: SourceStats) -> Iterator[list[dict[str, Any]]]:
        """Each page's records; the next request is worked out (and guarded) before a page is handed on."""
        paginator = self.paginator
        url, params = paginator.first(self.url, dict(self.params))
        while True:
            position = paginator.position
            response, body = self.client.get_json(url, params=params)
            stats.pages += 1
            records = self._records(body, response, stats.pages)
            shown = f" ({position})" if position and position != "first page" else ""
            self.log.info("Page %d: %d records%s", stats.pages, len(records), shown)
            following = paginator.next(response, body, records)
            stats.expected = paginator.total
            yield records
            if following is None:
                return
            if stats.pages >= self.max_pages:
                where = redact_url(requests.Request("GET", following[0], params=following[1]).prepare().url)
                raise PaginationError(f"max_pages {self.max_pages} reached at {where}: "
                                      f"raise source.max_pages or check the pagination settings")
            url, params = following

    def _records(self, body: Any, response: requests.Response, page: int) -> list[dict[str, Any]]:
        where = redact_url(response.url or self.url)
        path = self.records_path
        records = lookup(body, path)
        if records is MISSING:
            raise ResponseError(f"no {path!r} in the response from {where} ({keys_of(body)}): "
                                f"set source.records to the key that holds the records")
        if records is None:
            return []
        if not isinstance(records, list):
            if not path:
                raise ResponseError(f"the response from {where} is {_kind(records)}, not a list "
                                    f"({keys_of(records)}): set source.records to the records key")
            raise ResponseError(f"{path!r} in the response from {where} is {_kind(records)}, not a list")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                shown = redact(repr(record))[:60]
                raise ResponseError(f"record {index} on page {page} ({where}) is {_kind(record)}, "
                                    f"not an object: {shown}")
        return records


def _param(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)
