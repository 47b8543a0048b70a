"""Key hierarchies of two Cores on one PostgreSQL database: IVK and L3 rotations racing, the
kill-switch of one Core reaching the other, the L3 wrap budget shared. (The store contract
itself, on SQLite and PostgreSQL alike: ``tests/integration/storage/test_hierarchy_store_contract.py``.)
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from keystores.base import Keystore
from kmip_server.hierarchy import HierarchySettings, KeyHierarchy, ManualClock, NotReady, TenantNotLinked
from kmip_server.storage import IvkState
from kmip_server.storage.postgres import PostgresHierarchyStore
from tests.support.keystores import KeystoreEnv
from tests.support.postgres import place_settings
from unseal.blob import peek
from unseal.memory import SecretBuffer


@asynccontextmanager
async def pg_core(
    place: Path,
    lines: Mapping[str, Keystore],
    master: SecretBuffer,
    clock: ManualClock,
    settings: HierarchySettings | None = None,
) -> AsyncIterator[KeyHierarchy]:
    store = await PostgresHierarchyStore.open(await place_settings(place))
    hierarchy = KeyHierarchy(
        store=store, keystores=lines, cluster_id="cluster-test", settings=settings, clock=clock
    )
    try:
        await hierarchy.attach(master)
        yield hierarchy
    finally:
        hierarchy.detach()
        await store.close()


def test_two_cores_on_postgres_rotate_ivks_and_l3_and_unlink(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        async with (
            pg_core(tmp_path, lines, master, clock) as first,
            pg_core(tmp_path, lines, master, clock) as second,
        ):
            await first.link_tenant("acme", "software", key)
            await second.link_tenant("globex", "software", key)
            blob = await first.wrap_l4_async("acme", "svc", "o1", b"1" * 32)
            assert await second.unwrap_l4_async("acme", "svc", "o1", blob) == b"1" * 32

            await asyncio.gather(first.rotate_ivk(), second.rotate_ivk(), first.rotate_ivk())
            await first.scrub()
            await second.scrub()
            assert [state for _, state in second.ivk_versions()].count(IvkState.ACTIVE) == 1
            assert [state for _, state in first.ivk_versions()].count(IvkState.ACTIVE) == 1

            await asyncio.gather(first.rotate_l3("acme", "svc"), second.rotate_l3("acme", "svc"))
            newer = await first.wrap_l4_async("acme", "svc", "o2", b"2" * 32)
            clock.advance(second.settings.l3_reload_interval)
            assert await second.unwrap_l4_async("acme", "svc", "o2", newer) == b"2" * 32
            assert await second.unwrap_l4_async("acme", "svc", "o1", blob) == b"1" * 32
            assert peek(newer).wrapping_key_version in (2, 3)

            # The kill-switch from one Core reaches the store the other reads from.
            await first.unlink_tenant("acme")
            second.detach()
            await second.attach(master)
            with pytest.raises((TenantNotLinked, NotReady)):
                await second.unwrap_l4_async("acme", "svc", "o1", blob)
            globex = await second.wrap_l4_async("globex", "svc", "g", b"g" * 32)
            assert await first.unwrap_l4_async("globex", "svc", "g", globex) == b"g" * 32

    asyncio.run(scenario())


def test_two_cores_on_postgres_never_pass_the_l3_wrap_budget_together(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    """Many Creates in flight on each of two Cores, one service, a budget of 10 wraps per L3
    version reserved 3 at a time: no version ever gets more than 10 wraps, whichever Core made
    them, each version's stored count covers what was made under it, and every blob unwraps on
    either Core."""

    async def scenario() -> None:
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        budget = HierarchySettings(l3_max_wraps=10, l3_wrap_reservation=3)
        async with (
            pg_core(tmp_path, lines, master, clock, budget) as first,
            pg_core(tmp_path, lines, master, clock, budget) as second,
        ):
            await first.link_tenant("acme", "software", software_l1.console.create_key())
            cores = (first, second)
            materials = {f"o{n}": os.urandom(32) for n in range(120)}
            blobs = dict(
                zip(
                    materials,
                    await asyncio.gather(
                        *(
                            cores[n % 2].wrap_l4_async("acme", "svc", object_id, material)
                            for n, (object_id, material) in enumerate(materials.items())
                        )
                    ),
                    strict=True,
                )
            )
            per_version = Counter(peek(blob).wrapping_key_version for blob in blobs.values())
            assert max(per_version.values()) <= 10
            assert sum(per_version.values()) == 120
            assert len(per_version) >= 12  # 120 wraps cannot fit in fewer versions of 10
            stored = await first._store.list_service_keys("acme", "svc")
            assert [record.version for record in stored] == list(range(1, len(stored) + 1))
            for record in stored:
                assert record.wrap_count >= per_version[record.version]

            clock.advance(budget.l3_reload_interval)  # each Core loads the versions the other made
            for hierarchy in cores:
                for object_id, blob in blobs.items():
                    assert (
                        await hierarchy.unwrap_l4_async("acme", "svc", object_id, blob)
                        == materials[object_id]
                    )

    asyncio.run(scenario())
