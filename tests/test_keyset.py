"""KeySet: the same exact answers in memory and once moved to disk, whatever the keys hold."""

from __future__ import annotations

import pytest

from etl.keyset import KeySet

KEYS = ["1", "2", "rolex-cellini", "rolex-cellini-1", "", "é", "日本", "a\x00b", "x" * 5000, "'; DROP TABLE k; --"]


@pytest.mark.parametrize("limit", [0, 3, len(KEYS) - 1, 1000], ids=["disk-at-once", "spills-early",
                                                                     "spills-on-last", "memory"])
def test_answers_are_exact_before_and_after_moving_to_disk(limit):
    with KeySet(memory_limit=limit) as keys:
        assert [keys.add(k) for k in KEYS] == [True] * len(KEYS)
        assert [keys.add(k) for k in KEYS] == [False] * len(KEYS)
        assert len(keys) == len(KEYS)
        assert all(k in keys for k in KEYS)
        assert "3" not in keys and "rolex-cellini-2" not in keys and 1 not in keys and None not in keys
        assert sorted(keys) == sorted(KEYS)
        assert keys.on_disk == (limit < len(KEYS))
        assert {"1", "gone", "é"} - keys == {"gone"} and keys >= {"1", "日本"}


def test_memory_stops_growing_once_on_disk():
    keys = KeySet(memory_limit=100)
    for i in range(100):
        keys.add(f"product-{i}")
    assert not keys.on_disk
    keys.add("product-100")
    assert keys.on_disk and len(keys) == 101 and "product-0" in keys and "product-100" in keys


def test_close_forgets_and_deletes():
    keys = KeySet(memory_limit=1)
    keys.add("a")
    keys.add("b")
    keys.close()
    assert len(keys) == 0 and "a" not in keys and not keys.on_disk
    assert keys.add("a")


def test_a_large_set_on_disk_agrees_with_a_plain_set():
    """Enough keys to fill the buckets' buffers several times and outgrow the filter twice."""
    import random

    rng = random.Random(7)
    alphabet = "ab\\\n-é日\ud83c"
    plain: set[str] = set()
    with KeySet(memory_limit=100) as keys:
        for _ in range(120_000):
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
            assert keys.add(key) == (key not in plain)
            plain.add(key)
        assert keys.on_disk and len(keys) == len(plain)
        probes = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 11))) for _ in range(5000)]
        assert [p in keys for p in probes] == [p in plain for p in probes]
        assert set(keys) == plain
