"""Key hierarchies of two Cores on one PostgreSQL database: IVK and L3 rotations racing, the
kill-switch of one Core reaching the other. (The store contract itself, on SQLite and
PostgreSQL alike: ``tests/integration/storage/test_hierarchy_store_contract.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from keystores.base import Keystore
from kmip_server.hierarchy import KeyHierarchy, ManualClock, NotReady, TenantNotLinked
from kmip_server.storage import IvkState
from kmip_server.storage.postgres import PostgresHierarchyStore
from tests.support.keystores import KeystoreEnv
from tests.support.postgres import place_settings
from unseal.blob import peek
from unseal.memory import SecretBuffer


@asynccontextmanager
async def pg_core(
    place: Path, lines: Mapping[str, Keystore], master: SecretBuffer, clock: ManualClock
) -> AsyncIterator[KeyHierarchy]:
    store = await PostgresHierarchyStore.open(await place_settings(place))
    hierarchy = KeyHierarchy(store=store, keystores=lines, cluster_id="cluster-test", clock=clock)
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
