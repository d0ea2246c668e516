"""An exact set of strings whose memory stops growing: a run must remember every key it has seen (duplicates,
pruning) and every handle it has given out, however long the catalogue.

Small sets stay a plain `set`; past `memory_limit` entries the set moves into a private SQLite database on
disk (deleted when closed), where lookups cost a few microseconds and memory stays at SQLite's page cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Set

MEMORY_LIMIT = 10_000
_CACHE_KIB = 512


class KeySet(Set[str]):
    """A read-only `Set` to sinks (`key in keys`, `owned - keys` work), `add` for the run."""

    def __init__(self, memory_limit: int | None = None):
        self._memory: set[str] | None = set()
        self._limit = MEMORY_LIMIT if memory_limit is None else memory_limit
        self._db: sqlite3.Connection | None = None
        self._count = 0

    def add(self, key: str) -> bool:
        """Add `key`; False when it was already there. One lookup for both, the common case of a run."""
        memory = self._memory
        if memory is not None:
            if key in memory:
                return False
            memory.add(key)
            self._count += 1
            if self._count > self._limit:
                self._spill()
            return True
        assert self._db is not None
        if self._db.execute("INSERT OR IGNORE INTO k VALUES (?)", (key,)).rowcount:
            self._count += 1
            return True
        return False

    def __contains__(self, key: object) -> bool:
        if self._memory is not None:
            return key in self._memory
        if not isinstance(key, str) or self._db is None:
            return False
        return self._db.execute("SELECT 1 FROM k WHERE v = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        if self._memory is not None:
            yield from list(self._memory)
            return
        assert self._db is not None
        for (key,) in self._db.execute("SELECT v FROM k"):
            yield key

    @classmethod
    def _from_iterable(cls, it: Iterable[str]) -> set[str]:
        return set(it)

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def _spill(self) -> None:
        # isolation_level=None and one BEGIN: the database is private and thrown away, nothing to make durable
        db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        db.execute("CREATE TABLE k (v TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("BEGIN")
        assert self._memory is not None
        db.executemany("INSERT INTO k VALUES (?)", ((key,) for key in self._memory))
        self._memory = None
        self._db = db

    def close(self) -> None:
        """Forget every key and delete the database, if any."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._memory = set()
        self._count = 0

    def __enter__(self) -> KeySet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
