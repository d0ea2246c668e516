"""Fixed-size batches from any iterable, holding one batch in memory at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunked(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    it = iter(iterable)
    while batch := list(islice(it, size)):
        yield batch
