"""Paginators: from one response, the request for the next page, or None when the read is done.

Each kind splits the job in two: `next_token` says what comes next (an offset, a page number, a cursor,
a URL) and `place` says where it goes (a query parameter, or the URL itself). The base class owns the
guards every kind needs, because pagination that stops early or loops is the commonest way to lose data:

- a token (page, offset, cursor, URL) the API hands out twice is a PaginationError naming it, not a loop;
- a page whose records equal an earlier page's is a PaginationError: the API ignored the page parameter
  (a misspelt `offset_param` gets the first page forever);
- a reported total that changes between pages is a PaginationError: the data moved under the read, so
  records may have been skipped or repeated, and a rerun is the only honest answer.

`max_pages` belongs to the source, which counts the requests. Configs arrive without their `type` key,
already validated against `config_schema` by the spec loader (and checked again here, for direct use).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests
from jsonschema import Draft202012Validator

from ..errors import PaginationError
from ..redact import redact, redact_url

MISSING: Any = object()


def lookup(body: Any, path: str | None) -> Any:
    """The value at a dotted path ('data.items', 'links.0.href'); '' is the body; MISSING if absent."""
    if not path:
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def keys_of(body: Any) -> str:
    """What a response holds, for messages that must say where the expected key was not."""
    if isinstance(body, Mapping):
        return "keys present: " + (", ".join(map(str, list(body)[:20])) or "none")
    return f"the body is {'a list' if isinstance(body, list) else type(body).__name__}"


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_NAME = {"type": "string", "minLength": 1}
_PATH = {"type": "string", "description": "A dotted path in the response body, e.g. meta.total."}
_OPTIONAL_PATH = {"type": ["string", "null"], "description": "A dotted path in the response body, or null."}


class Paginator(ABC):
    config_schema: ClassVar[dict[str, Any]] = _schema({})
    hint: ClassVar[str] = "check the pagination settings"

    def __init__(self, config: Mapping[str, Any]):
        errors = sorted(Draft202012Validator(self.config_schema).iter_errors(dict(config)), key=str)
        if errors:
            where = ".".join(map(str, errors[0].absolute_path)) or "pagination"
            raise ValueError(f"{type(self).__name__} {where}: {errors[0].message}")
        self.config = dict(config)
        self.total_path: str | None = self.config.get("total")
        self.position = ""
        self._reset("", {})

    def _reset(self, url: str, params: Mapping[str, Any]) -> None:
        self._url, self._params = url, dict(params)
        self._total: int | None = None
        self._tokens: dict[Any, int] = {}
        self._pages: dict[str, tuple[int, str]] = {}
        self._page = 0
        self._fetched = 0
        self.token: Any = None

    @property
    def total(self) -> int | None:
        """The record count the API reported, when it reports one."""
        return self._total

    def first(self, url: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._reset(url, params)
        self.token = self.start_token()
        if self.token is not None:
            self._tokens[self._key(self.token)] = 1
        return self.place(self.token)

    def next(self, response: requests.Response, body: Any,
             records: list) -> tuple[str, dict[str, Any]] | None:
        self._page += 1
        self._fetched += len(records)
        self._check_repeated_page(records)
        self._check_total(self.read_total(response, body))
        token = self.next_token(response, body, records)
        if token is None:
            return None
        seen = self._tokens.get(self._key(token))
        if seen is not None:
            raise PaginationError(f"page {self._page} points to {self.describe(token)}, which already "
                                  f"fetched page {seen}: stopping instead of looping ({self.hint})")
        self._tokens[self._key(token)] = self._page + 1
        self.token = token
        return self.place(token)

    def start_token(self) -> Any:
        """The token of the first request, if it carries one."""
        return None

    @abstractmethod
    def next_token(self, response: requests.Response, body: Any, records: list) -> Any:
        """What the next page is, or None when this was the last page."""

    def place(self, token: Any) -> tuple[str, dict[str, Any]]:
        """Where the token goes; by default the request is the first one, unchanged."""
        return self._url, dict(self._params)

    def describe(self, token: Any) -> str:
        return redact(f"token {token!r}")

    def read_total(self, response: requests.Response, body: Any) -> int | None:
        if not self.total_path:
            return None
        value = lookup(body, self.total_path)
        if value is MISSING:
            raise PaginationError(
                f"no {self.total_path!r} in the response from {redact_url(response.url or self._url)} "
                f"({keys_of(body)}): set pagination.total to where the API reports its total, "
                f"or to null if it reports none")
        return _count(value, self.total_path)

    def _check_total(self, total: int | None) -> None:
        if total is None:
            return
        if self._total is not None and total != self._total:
            raise PaginationError(
                f"the reported total changed from {self._total} to {total} at page {self._page} "
                f"({self.position}): the data changed during the read, so records may be missing or "
                f"repeated; run again")
        self._total = total

    def _check_repeated_page(self, records: list) -> None:
        """An API that ignores the page parameter sends its first page again and again. A page is known by its
        size and its first and last records (as canonical JSON): that catches the repeat even when a field in
        between changed from one request to the next (stock moving during the read), and costs a fiftieth of
        digesting the whole page, which was a fifth of a large run's time."""
        if not records:
            return
        ends = [len(records), records[0], records[-1]]
        text = json.dumps(ends, sort_keys=True, default=str, separators=(",", ":"), check_circular=False)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        earlier = self._pages.get(digest)
        if earlier is not None:
            page, position = earlier
            raise PaginationError(
                f"page {self._page} ({self.position}) returned the same records as page {page} ({position}): "
                f"the API seems to ignore the pagination parameters ({self.hint})")
        self._pages[digest] = (self._page, self.position)

    @staticmethod
    def _key(token: Any) -> Any:
        return json.dumps(token, sort_keys=True, default=str) if isinstance(token, (dict, list)) else token


class _QueryParamPaginator(Paginator):
    """The token goes into one query parameter, the other parameters stay."""

    param = ""

    def place(self, token: Any) -> tuple[str, dict[str, Any]]:
        params = dict(self._params)
        if token is not None:
            params[self.param] = token
        self.position = redact(f"{self.param}={token}") if token is not None else "first page"
        return self._url, params

    def describe(self, token: Any) -> str:
        return redact(f"{self.param}={token!r}")


class OffsetPaginator(_QueryParamPaginator):
    """`?limit=L&offset=N`: the next offset is this one plus the records received.

    Counting what arrived rather than what was asked keeps the read whole when a server caps its page
    size. Stops on an empty page, once the reported `total` is reached, or, when the API reports no total
    (`total: null`), on a page shorter than `limit`.
    """

    config_schema = _schema({
        "limit": {"type": "integer", "minimum": 0,
                  "description": "Page size to ask for (default: the API's)."},
        "limit_param": {**_NAME, "default": "limit"},
        "offset_param": {**_NAME, "default": "offset"},
        "total": {**_OPTIONAL_PATH, "default": "total"},
        "start": {"type": "integer", "minimum": 0, "default": 0},
    })

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        self.limit: int | None = self.config.get("limit")
        self.limit_param: str = self.config.get("limit_param", "limit")
        self.param = self.offset_param = self.config.get("offset_param", "offset")
        self.total_path = self.config.get("total", "total")
        self.start: int = self.config.get("start", 0)
        self.hint = f"does the API take the offset as {self.offset_param!r}? check pagination.offset_param"

    @property
    def total(self) -> int | None:
        """Records this read should yield: the reported total, less the `start` offset."""
        return None if self._total is None else max(self._total - self.start, 0)

    def start_token(self) -> int:
        return self.start

    def place(self, token: Any) -> tuple[str, dict[str, Any]]:
        params = dict(self._params)
        if self.limit is not None:
            params[self.limit_param] = self.limit
        params[self.offset_param] = token
        self.position = f"{self.offset_param}={token}"
        return self._url, params

    def next_token(self, response: requests.Response, body: Any, records: list) -> int | None:
        if not records:
            return None
        offset = self.token + len(records)
        if self._total is not None:
            return offset if offset < self._total else None
        if self.limit and len(records) < self.limit:
            return None
        return offset


class PageNumberPaginator(_QueryParamPaginator):
    """`?page=N`: pages counted from `start`.

    Stops on an empty page, after `total_pages` pages or `total` records when the body reports them, or on
    a page shorter than `size`. `size` is sent as `size_param` when both are set; `size` alone only tells
    the API's fixed page size, to spot the last, short page.
    """

    config_schema = _schema({
        "page_param": {**_NAME, "default": "page"},
        "start": {"type": "integer", "minimum": 0, "default": 1},
        "size": {"type": "integer", "minimum": 1},
        "size_param": _NAME,
        "total_pages": _PATH,
        "total": _OPTIONAL_PATH,
    })

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        self.param = self.page_param = self.config.get("page_param", "page")
        self.start: int = self.config.get("start", 1)
        self.size: int | None = self.config.get("size")
        self.size_param: str | None = self.config.get("size_param")
        self.total_pages_path: str | None = self.config.get("total_pages")
        self.hint = f"does the API take the page number as {self.page_param!r}? check pagination.page_param"

    def start_token(self) -> int:
        return self.start

    def place(self, token: Any) -> tuple[str, dict[str, Any]]:
        params = dict(self._params)
        if self.size is not None and self.size_param:
            params[self.size_param] = self.size
        params[self.page_param] = token
        self.position = f"{self.page_param}={token}"
        return self._url, params

    def next_token(self, response: requests.Response, body: Any, records: list) -> int | None:
        if not records:
            return None
        if self.total_pages_path:
            pages = lookup(body, self.total_pages_path)
            if pages is MISSING:
                where = redact_url(response.url or self._url)
                raise PaginationError(f"no {self.total_pages_path!r} in the response from {where} "
                                      f"({keys_of(body)}): check pagination.total_pages")
            if self.token - self.start + 1 >= _count(pages, self.total_pages_path):
                return None
        if self._total is not None and self._fetched >= self._total:
            return None
        if self.size and len(records) < self.size:
            return None
        return self.token + 1


class CursorPaginator(_QueryParamPaginator):
    """The body names the next page (`cursor_path`); it goes back as `cursor_param`. No cursor: done."""

    config_schema = _schema({
        "cursor_path": {**_PATH, "minLength": 1},
        "cursor_param": {**_NAME, "default": "cursor"},
        "total": _OPTIONAL_PATH,
    }, required=("cursor_path",))

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        self.cursor_path: str = self.config["cursor_path"]
        self.param = self.cursor_param = self.config.get("cursor_param", "cursor")
        self.hint = "the API keeps returning the same cursor; check pagination.cursor_path and cursor_param"

    def next_token(self, response: requests.Response, body: Any, records: list) -> Any:
        cursor = lookup(body, self.cursor_path)
        if cursor is MISSING or cursor is None or cursor == "" or cursor is False:
            return None
        return cursor


class _UrlPaginator(Paginator):
    """The token is the next page's whole URL (relative ones resolve against the current page)."""

    hint = "the API links back to a page already read"

    def next_token(self, response: requests.Response, body: Any, records: list) -> str | None:
        link = self.next_link(response, body)
        if not link:
            return None
        if not isinstance(link, str):
            shown = redact(repr(link))[:100]
            raise PaginationError(f"the next page link is {type(link).__name__}, not a URL: {shown}")
        return urljoin(response.url or self._url, link)

    @abstractmethod
    def next_link(self, response: requests.Response, body: Any) -> Any: ...

    def place(self, token: Any) -> tuple[str, dict[str, Any]]:
        if token is None:
            self.position = "first page"
            return self._url, dict(self._params)
        parts = urlsplit(redact_url(token))
        self.position = parts.query or parts.path
        return token, {}

    def describe(self, token: Any) -> str:
        return f"the URL {redact_url(token)}"


class NextUrlPaginator(_UrlPaginator):
    """The body carries the next page's URL at `next_url_path`; null, empty or absent: done."""

    config_schema = _schema({"next_url_path": {**_PATH, "default": "next"}, "total": _OPTIONAL_PATH})

    def next_link(self, response: requests.Response, body: Any) -> Any:
        link = lookup(body, self.config.get("next_url_path", "next"))
        return None if link is MISSING else link


class LinkHeaderPaginator(_UrlPaginator):
    """RFC 8288 `Link: <...>; rel="next"` (GitHub style); no such link: done.

    `total_header` names a header holding the record count (e.g. X-Total-Count), when the API sends one.
    """

    config_schema = _schema({"rel": {**_NAME, "default": "next"}, "total_header": _NAME})

    def next_link(self, response: requests.Response, body: Any) -> Any:
        return response.links.get(self.config.get("rel", "next"), {}).get("url")

    def read_total(self, response: requests.Response, body: Any) -> int | None:
        name = self.config.get("total_header")
        if not name or response.headers.get(name) is None:
            return None
        return _count(response.headers[name], f"header {name}")


class SinglePagePaginator(Paginator):
    """One request returns everything."""

    config_schema = _schema({"total": _OPTIONAL_PATH})

    def next_token(self, response: requests.Response, body: Any, records: list) -> None:
        return None


def _count(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    raise PaginationError(f"{where!r} in the response is {redact(repr(value))[:60]}, not a count")
