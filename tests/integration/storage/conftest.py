"""Fixtures of the contract suites: every kind in ``stores.STORE_KINDS`` (ObjectStore) and in
``stores.HIERARCHY_KINDS`` (HierarchyStore)."""

from __future__ import annotations

import pytest

from tests.integration.storage.stores import HIERARCHY_KINDS, STORE_KINDS, HierarchyKind, StoreKind


@pytest.fixture(params=sorted(STORE_KINDS))
def kind(request: pytest.FixtureRequest) -> StoreKind:
    return STORE_KINDS[request.param]


@pytest.fixture(params=sorted(name for name, kind in STORE_KINDS.items() if kind.durable))
def durable_kind(request: pytest.FixtureRequest) -> StoreKind:
    return STORE_KINDS[request.param]


@pytest.fixture(params=sorted(HIERARCHY_KINDS))
def hierarchy_kind(request: pytest.FixtureRequest) -> HierarchyKind:
    return HIERARCHY_KINDS[request.param]
