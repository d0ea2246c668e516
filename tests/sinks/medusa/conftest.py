"""Medusa for the sink's tests: the cassettes' Medusa in replay, the real one when RECORD=1."""

from __future__ import annotations

import pytest

from .harness import RECORDING, REPLAY, Medusa, real_medusa
from .store import AdminStore


@pytest.fixture(scope="session")
def _real() -> Medusa:
    return real_medusa()


@pytest.fixture
def medusa(request: pytest.FixtureRequest) -> Medusa:
    return request.getfixturevalue("_real") if RECORDING else REPLAY


@pytest.fixture
def store(medusa: Medusa) -> AdminStore | None:
    """The real store while recording (to empty it first), None in replay: there is no store then."""
    return AdminStore(medusa.url, medusa.api_key) if RECORDING else None
