"""A disk spool of JSON lines: lets a two-pass sink see every item first without holding the catalogue
in memory. Lives in a temporary file that disappears when closed."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Spool(Generic[T]):
    def __init__(self, encode: Callable[[T], Any], decode: Callable[[Any], T]):
        self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", prefix="etl-spool-")
        self._encode, self._decode = encode, decode
        self.count = 0

    def add(self, value: T) -> None:
        self._file.write(json.dumps(self._encode(value), ensure_ascii=False, separators=(",", ":")))
        self._file.write("\n")
        self.count += 1

    def __iter__(self) -> Iterator[T]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield self._decode(json.loads(line))
        self._file.seek(0, 2)

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
