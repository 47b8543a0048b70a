"""The L3 wrap budget: L4 wraps counted per L3 version in the store, reserved in blocks, the L3
rotating exactly when its budget is used (a tiny ``l3_max_wraps`` here; 2^32, the AES-GCM
random-nonce bound, by default). Two Cores on one PostgreSQL database:
``tests/integration/postgres/test_hierarchy_two_cores.py``."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kmip_server.hierarchy import HierarchySettings, KeyHierarchy, ManualClock, NotReady
from kmip_server.storage import ServiceKeyState
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.hierarchy.support import core
from tests.integration.storage.stores import rewind_sqlite_schema
from tests.support.keystores import KeystoreEnv
from unseal.blob import peek
from unseal.memory import SecretBuffer

BUDGET = HierarchySettings(l3_max_wraps=10, l3_wrap_reservation=3)
Issued = dict[str, tuple[bytes, bytes]]  # object id -> (blob, material)


def count_reservations(hierarchy: KeyHierarchy, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The version of every wrap reservation this Core sends to its store, in order."""
    store = hierarchy._store
    assert isinstance(store, SqliteStore)
    reserve: Callable[[str, str, int, int], Awaitable[int]] = store.reserve_service_key_wraps
    seen: list[int] = []

    async def counted(tenant_id: str, service: str, version: int, count: int) -> int:
        seen.append(version)
        return await reserve(tenant_id, service, version, count)

    monkeypatch.setattr(store, "reserve_service_key_wraps", counted)
    return seen


async def wrap_many(hierarchy: KeyHierarchy, prefix: str, count: int, issued: Issued) -> list[int]:
    """``count`` L4 wraps one after another; the L3 version of each."""
    versions = []
    for n in range(count):
        object_id, material = f"{prefix}-{n}", os.urandom(32)
        blob = await hierarchy.wrap_l4_async("acme", "svc", object_id, material)
        issued[object_id] = (blob, material)
        versions.append(peek(blob).wrapping_key_version)
    return versions


async def assert_all_unwrap(hierarchy: KeyHierarchy, issued: Issued) -> None:
    for object_id, (blob, material) in issued.items():
        assert await hierarchy.unwrap_l4_async("acme", "svc", object_id, blob) == material


def test_the_l3_rotates_exactly_when_its_budget_is_used_and_old_blobs_still_unwrap(
    software_l1: KeystoreEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        db = tmp_path / "c.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        issued: Issued = {}
        async with core(db, lines, master, clock, BUDGET) as hierarchy:
            reservations = count_reservations(hierarchy, monkeypatch)
            await hierarchy.link_tenant("acme", "software", software_l1.console.create_key())
            versions = await wrap_many(hierarchy, "first", 25, issued)
            assert versions == [1] * 10 + [2] * 10 + [3] * 5
            # One store round trip per block of 3, the last block of a version granting only
            # what is left of its 10 (3 + 3 + 3 + 1), then the rotation: none per wrap.
            assert reservations == [1] * 4 + [2] * 4 + [3] * 2
            store = hierarchy._store
            stored = await store.list_service_keys("acme", "svc")
            assert [(r.version, r.state, r.wrap_count) for r in stored] == [
                (1, ServiceKeyState.DECRYPT_ONLY, 12),
                (2, ServiceKeyState.DECRYPT_ONLY, 12),
                (3, ServiceKeyState.ACTIVE, 6),  # 5 made, 1 still reserved by this Core
            ]
            await assert_all_unwrap(hierarchy, issued)

            # The sync hot path spends only what is reserved here, then asks for the async path.
            assert hierarchy.is_ready("acme", "svc")
            blob = hierarchy.wrap_l4("acme", "svc", "sync-0", b"s" * 32)
            issued["sync-0"] = (blob, b"s" * 32)
            assert peek(blob).wrapping_key_version == 3
            assert not hierarchy.is_ready("acme", "svc")
            with pytest.raises(NotReady):
                hierarchy.wrap_l4("acme", "svc", "sync-1", b"s" * 32)
            await hierarchy.ensure_ready("acme", "svc")  # reserves 3 more of version 3 (9 of 10)
            assert hierarchy.is_ready("acme", "svc")
            for n in range(1, 4):
                blob = hierarchy.wrap_l4("acme", "svc", f"sync-{n}", b"s" * 32)
                issued[f"sync-{n}"] = (blob, b"s" * 32)
                assert peek(blob).wrapping_key_version == 3
            assert reservations[-1] == 3
            # The 10th wrap of version 3 (a block granting 1), then version 4.
            assert await wrap_many(hierarchy, "third", 2, issued) == [3, 4]
            assert [r.wrap_count for r in await store.list_service_keys("acme", "svc")] == [12, 12, 12, 3]

        # A restart forgets what the old Core had reserved and not used (2 of version 4):
        # over-counted, never over-used; every blob made before still unwraps.
        async with core(db, lines, master, clock, BUDGET) as hierarchy:
            await assert_all_unwrap(hierarchy, issued)
            assert await wrap_many(hierarchy, "second", 12, issued) == [4] * 7 + [5] * 5
            await assert_all_unwrap(hierarchy, issued)
            wrapped = Counter(peek(blob).wrapping_key_version for blob, _ in issued.values())
            assert wrapped == {1: 10, 2: 10, 3: 10, 4: 8, 5: 5}

    asyncio.run(scenario())


def test_many_creates_in_flight_on_one_core_give_each_version_exactly_its_budget(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        lines, master = {"software": software_l1.keystore}, SecretBuffer.random(32)
        async with core(tmp_path / "c.db", lines, master, ManualClock(), BUDGET) as hierarchy:
            await hierarchy.link_tenant("acme", "software", software_l1.console.create_key())
            materials = {f"o{n}": os.urandom(32) for n in range(100)}
            blobs = await asyncio.gather(
                *(hierarchy.wrap_l4_async("acme", "svc", oid, m) for oid, m in materials.items())
            )
            per_version = Counter(peek(blob).wrapping_key_version for blob in blobs)
            assert per_version == dict.fromkeys(range(1, 11), 10)
            for (object_id, material), blob in zip(materials.items(), blobs, strict=True):
                assert hierarchy.unwrap_l4("acme", "svc", object_id, blob) == material

    asyncio.run(scenario())


def test_after_the_upgrade_that_counts_wraps_each_service_wraps_under_a_new_l3(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    """L3 versions from before wraps were counted made an unknown number of wraps: the upgraded
    store counts them as spent, so the next wrap rotates the service's L3 (default budget); what
    they wrapped still unwraps."""

    async def scenario() -> None:
        db = tmp_path / "c.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        issued: Issued = {}
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("acme", "software", software_l1.console.create_key())
            assert await wrap_many(hierarchy, "before", 3, issued) == [1] * 3
        rewind_sqlite_schema(db, "hierarchy", 1, "ALTER TABLE service_keys DROP COLUMN wrap_count")
        async with core(db, lines, master, clock) as hierarchy:
            assert await wrap_many(hierarchy, "after", 3, issued) == [2] * 3
            await assert_all_unwrap(hierarchy, issued)

    asyncio.run(scenario())
