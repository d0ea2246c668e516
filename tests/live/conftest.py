"""The live tests talk to the Medusa that scripts/medusa-dev.sh runs (`make test-live` starts it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.sinks.medusa.harness import Medusa, real_medusa
from tests.sinks.medusa.store import AdminStore


@pytest.fixture(scope="session")
def live_medusa() -> Medusa:
    try:
        medusa = real_medusa()
        requests.get(f"{medusa.url}/health", timeout=5).raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing to the reader
        pytest.fail(f"no local Medusa ({exc}): start it with `bash scripts/medusa-dev.sh up` "
                    "(make test-live does)")
    return medusa


@pytest.fixture
def live_store(live_medusa: Medusa) -> Iterator[AdminStore]:
    """An empty store: every live test starts from the first night, and leaves no test data behind."""
    store = AdminStore(live_medusa.url, live_medusa.api_key)
    store.reset()
    yield store
    store.reset()
