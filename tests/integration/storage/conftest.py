"""Fixtures of the ObjectStore contract suite: every kind in ``stores.STORE_KINDS``."""

from __future__ import annotations

import pytest

from tests.integration.storage.stores import STORE_KINDS, StoreKind


@pytest.fixture(params=sorted(STORE_KINDS))
def kind(request: pytest.FixtureRequest) -> StoreKind:
    return STORE_KINDS[request.param]


@pytest.fixture(params=sorted(name for name, kind in STORE_KINDS.items() if kind.durable))
def durable_kind(request: pytest.FixtureRequest) -> StoreKind:
    return STORE_KINDS[request.param]
