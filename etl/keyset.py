"""An exact set of strings whose memory all but stops growing: a run must remember every key it has seen
(duplicates, pruning) and every handle it has given out, however long the catalogue.

Small sets stay a plain `set`. Past `memory_limit` entries the strings move to an anonymous temporary file
(gone when closed), in 64 buckets by hash, fronted by a Bloom filter of 12-24 bits a key: a new key, the usual
case, is known new from the filter alone and appended to its bucket's buffer; only a key the filter may have
seen (a duplicate, or about 1 in 100 others) makes the run read that one bucket back. Memory then grows by
2-3 bytes a key, against ~100 for a set of strings, and a key costs a few list appends, not a B-tree insert.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Set

MEMORY_LIMIT = 10_000
_BUCKETS = 64
_BUFFER_CHARS = 16 * 1024
_BUFFER_KEYS = 256
"""A bucket's buffer is written out at 16K characters or 256 keys, whichever comes first: counted in characters
alone, 64 buffers of short keys (ids of 5 digits) held 170,000 string objects, ~9 MB."""
_BITS_PER_KEY = 12
_ESCAPED = re.compile(r"\\(.)", re.S)


class KeySet(Set[str]):
    """A read-only `Set` to sinks (`key in keys`, `owned - keys` work), `add` for the run."""

    def __init__(self, memory_limit: int | None = None):
        self._memory: set[str] | None = set()
        self._limit = MEMORY_LIMIT if memory_limit is None else memory_limit
        self._disk: _DiskSet | None = None

    def add(self, key: str) -> bool:
        """Add `key`; False when it was already there. One call for both, the common case of a run."""
        memory = self._memory
        if memory is None:
            assert self._disk is not None
            return self._disk.add(key)
        if key in memory:
            return False
        memory.add(key)
        if len(memory) > self._limit:
            self._disk = _DiskSet(memory)
            self._memory = None
        return True

    def __contains__(self, key: object) -> bool:
        if self._memory is not None:
            return key in self._memory
        assert self._disk is not None
        return isinstance(key, str) and self._disk.has(key, hash(key))

    def __len__(self) -> int:
        return len(self._memory) if self._memory is not None else self._disk.count  # type: ignore[union-attr]

    def __iter__(self) -> Iterator[str]:
        if self._memory is not None:
            return iter(list(self._memory))
        assert self._disk is not None
        return self._disk.keys()

    @classmethod
    def _from_iterable(cls, it: Iterable[str]) -> set[str]:
        return set(it)

    @property
    def on_disk(self) -> bool:
        return self._disk is not None

    def close(self) -> None:
        """Forget every key and delete the file, if any."""
        if self._disk is not None:
            self._disk.close()
        self._disk = None
        self._memory = set()

    def __enter__(self) -> KeySet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(key: str) -> str:
    """One key per line, reversibly: backslash and newline escaped."""
    return key.replace("\\", "\\\\").replace("\n", "\\n") if "\\" in key or "\n" in key else key


def _unline(line: str) -> str:
    return _ESCAPED.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), line) if "\\" in line else line


class _DiskSet:
    def __init__(self, keys: Iterable[str]):
        self._file = tempfile.TemporaryFile(prefix="etl-keys-")
        self._fd = self._file.fileno()
        self._end = 0
        self._chunks: list[list[tuple[int, int]]] = [[] for _ in range(_BUCKETS)]
        self._buffers: list[list[str]] = [[] for _ in range(_BUCKETS)]
        self._chars = [0] * _BUCKETS
        self.count = 0
        self._bits = bytearray()
        self._size = 1
        self._capacity = 0
        for key in keys:
            self._append(key, hash(key))

    def add(self, key: str) -> bool:
        h = hash(key)
        if self._maybe(h) and self._stored(key, h):
            return False
        self._append(key, h)
        return True

    def has(self, key: str, h: int) -> bool:
        return self._maybe(h) and self._stored(key, h)

    def keys(self) -> Iterator[str]:
        for bucket in range(_BUCKETS):
            for line in self._lines(bucket):
                yield _unline(line)

    def close(self) -> None:
        self._file.close()

    def _append(self, key: str, h: int) -> None:
        self.count += 1
        if self.count > self._capacity:
            self._resize()
        self._mark(h)
        bucket = (h >> 40) % _BUCKETS
        line = _line(key)
        self._buffers[bucket].append(line)
        self._chars[bucket] += len(line) + 1
        if self._chars[bucket] >= _BUFFER_CHARS or len(self._buffers[bucket]) >= _BUFFER_KEYS:
            self._flush(bucket)

    def _flush(self, bucket: int) -> None:
        data = ("\n".join(self._buffers[bucket]) + "\n").encode("utf-8", "surrogatepass")
        os.pwrite(self._fd, data, self._end)
        self._chunks[bucket].append((self._end, len(data)))
        self._end += len(data)
        self._buffers[bucket].clear()
        self._chars[bucket] = 0

    def _lines(self, bucket: int) -> Iterator[str]:
        for offset, length in self._chunks[bucket]:
            yield from os.pread(self._fd, length, offset).decode("utf-8", "surrogatepass").splitlines()
        yield from list(self._buffers[bucket])

    def _stored(self, key: str, h: int) -> bool:
        bucket, line = (h >> 40) % _BUCKETS, _line(key)
        if line in self._buffers[bucket]:
            return True
        needle = ("\n" + line + "\n").encode("utf-8", "surrogatepass")
        return any(needle in b"\n" + os.pread(self._fd, length, offset) for offset, length in self._chunks[bucket])

    def _maybe(self, h: int) -> bool:
        bits, size = self._bits, self._size
        i, j = h % size, (h >> 32) % size
        return bool(bits[i >> 3] & (1 << (i & 7))) and bool(bits[j >> 3] & (1 << (j & 7)))

    def _mark(self, h: int) -> None:
        bits, size = self._bits, self._size
        i, j = h % size, (h >> 32) % size
        bits[i >> 3] |= 1 << (i & 7)
        bits[j >> 3] |= 1 << (j & 7)

    def _resize(self) -> None:
        """The filter is sized for twice the keys held and rebuilt from the file when they outgrow it: false
        hits stay between 0.6 and 2.3 %, and rebuilding costs, amortised, one more hash a key."""
        self._capacity = max(2 * self.count, 4 * MEMORY_LIMIT)
        self._size = self._capacity * _BITS_PER_KEY
        self._bits = bytearray(self._size // 8 + 1)
        for bucket in range(_BUCKETS):
            for line in self._lines(bucket):
                self._mark(hash(_unline(line)))
