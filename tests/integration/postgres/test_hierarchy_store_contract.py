"""The HierarchyStore contract (``kmip_server.storage.hierarchy``), against SQLite and PostgreSQL.

What the key hierarchy relies on: compare-and-set IVK transitions, tenant roots and L3 versions,
scans in tenant order, seal records, durability; and, since several Cores share one store, the
same answers when two store instances (two Cores) race on one database. Then whole
``KeyHierarchy`` scenarios of two Cores on one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from keystores.base import Keystore
from kmip_server.hierarchy import KeyHierarchy, ManualClock, NotReady, TenantNotLinked
from kmip_server.storage import (
    HierarchyStore,
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    StorageError,
    TenantRootRecord,
)
from kmip_server.storage.postgres import PostgresHierarchyStore
from kmip_server.storage.sqlite import SqliteStore
from tests.support.keystores import KeystoreEnv
from tests.support.postgres import place_settings
from unseal.blob import BlobHeader, Layer, cipher_for, peek, wrap
from unseal.memory import SecretBuffer
from unseal.records import SealConfig, SealMode

CIPHER = cipher_for(bytes(32))


@dataclass(frozen=True, slots=True)
class HierarchyKind:
    name: str
    open: Callable[[Path], Awaitable[HierarchyStore]]  # the store kept at this place


async def _sqlite(place: Path) -> HierarchyStore:
    return await SqliteStore.open(place / "hierarchy.db")


async def _postgres(place: Path) -> HierarchyStore:
    return await PostgresHierarchyStore.open(await place_settings(place))


KINDS = {kind.name: kind for kind in (HierarchyKind("sqlite", _sqlite), HierarchyKind("postgres", _postgres))}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> HierarchyKind:
    return KINDS[request.param]


@asynccontextmanager
async def opened(kind: HierarchyKind, place: Path) -> AsyncIterator[HierarchyStore]:
    store = await kind.open(place)
    try:
        yield store
    finally:
        await store.close()


def binding(layer: Layer, tenant: str, ivk_version: int) -> bytes:
    return wrap(BlobHeader(layer, tenant, f"l2-{tenant}", 1, "ivk", ivk_version), CIPHER, b"k" * 32)


def root(tenant: str, ivk_version: int = 1, *, linked: bool = True) -> TenantRootRecord:
    return TenantRootRecord(
        tenant_id=tenant,
        l2_id=f"l2-{tenant}",
        keystore_kind="software",
        l1_key_id="key",
        sovereign_binding=binding(Layer.L2_SOVEREIGN, tenant, ivk_version),
        active_binding=binding(Layer.L2_ACTIVE, tenant, ivk_version) if linked else None,
        linked=linked,
        last_l1_check=100.0,
        l1_state=L1State.OK,
        l1_state_at=100.0,
        created_at=100.0,
    )


def ivk(version: int, state: IvkState = IvkState.ACTIVE) -> IvkRecord:
    return IvkRecord(version, state, b"blob-%d" % version, 10.0 * version, 0)


def service_key(tenant: str, number: int, service: str = "svc") -> ServiceKeyRecord:
    return ServiceKeyRecord(
        tenant, service, number, ServiceKeyState.ACTIVE, b"blob-%d" % number, float(number)
    )


# One store ------------------------------------------------------------------------------------


def test_ivk_transitions_are_compare_and_set(kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(kind, tmp_path) as store:
            assert await store.list_ivks() == []
            assert await store.create_first_ivk(ivk(1))
            assert not await store.create_first_ivk(ivk(1))
            assert not await store.rotate_ivk(7, ivk(2), 50.0)  # 7 is not the active version
            assert await store.rotate_ivk(1, ivk(2), 50.0)
            assert await store.rotate_ivk(2, ivk(3), 60.0)
            states = {record.version: (record.state, record.grace_at) for record in await store.list_ivks()}
            assert states == {
                1: (IvkState.DEPRECATED, 50.0),
                2: (IvkState.GRACE, 60.0),
                3: (IvkState.ACTIVE, None),
            }
            assert await store.reserve_ivk_wraps(3, 5) == 5
            assert await store.reserve_ivk_wraps(3, 5) == 10
            with pytest.raises(StorageError):
                await store.reserve_ivk_wraps(42, 1)

            assert await store.create_tenant_root(root("a", ivk_version=1))
            assert await store.count_ivk_references(1) == 1
            assert not await store.retire_ivk(1, left_active_before=1000.0, now=70.0)  # still referenced
            assert await store.update_tenant_roots([root("a", ivk_version=3)]) == {"a"}
            assert await store.count_ivk_references(1) == 0
            assert await store.count_ivk_references(3) == 1
            assert not await store.retire_ivk(1, left_active_before=40.0, now=70.0)  # grace not over
            assert not await store.retire_ivk(2, left_active_before=1000.0, now=70.0)  # grace, not deprecated
            assert await store.retire_ivk(1, left_active_before=1000.0, now=70.0)
            retired = (await store.list_ivks())[0]
            assert (retired.state, retired.blob, retired.retired_at) == (IvkState.RETIRED, None, 70.0)
            assert await store.deprecate_ivk(2, 80.0)
            assert not await store.deprecate_ivk(2, 80.0)
            assert [r.wrap_count for r in await store.list_ivks()] == [0, 0, 10]

    asyncio.run(scenario())


def test_tenant_roots_compare_and_set_and_scans(kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(kind, tmp_path) as store:
            created = {
                tenant: root(tenant, version, linked=tenant != "d")
                for tenant, version in (("a", 1), ("b", 2), ("c", 1), ("d", 2))
            }
            for record in created.values():
                assert await store.create_tenant_root(record)
            assert not await store.create_tenant_root(root("a"))
            assert await store.get_tenant_root("zz") is None
            assert await store.get_tenant_root("d") == created["d"]

            stored = await store.get_tenant_root("a")
            assert stored == created["a"]
            assert stored is not None
            unlinked = dataclasses.replace(stored, linked=False, active_binding=None)
            assert await store.update_tenant_roots([unlinked, unlinked]) == {"a"}  # second is stale
            again = await store.get_tenant_root("a")
            assert again is not None
            assert (again.revision, again.linked, again.active_binding) == (1, False, None)
            assert await store.update_tenant_roots([unlinked]) == set()  # revision 0 is gone
            # Several tenants in one call: each written under its own tenant.
            b, c = await store.get_tenant_root("b"), await store.get_tenant_root("c")
            assert b is not None
            assert c is not None
            checked = [dataclasses.replace(r, last_l1_check=500.0, l1_state_at=500.0) for r in (b, c)]
            assert await store.update_tenant_roots(checked) == {"b", "c"}
            assert [(await store.get_tenant_root(t)).last_l1_check for t in "bc"] == [500.0, 500.0]  # type: ignore[union-attr]

            linked = await store.list_tenant_roots(after=None, limit=10, linked_only=True)
            assert [record.tenant_id for record in linked] == ["b", "c"]
            everything = await store.list_tenant_roots(after="a", limit=2, linked_only=False)
            assert [record.tenant_id for record in everything] == ["b", "c"]
            assert [
                r.tenant_id for r in await store.list_tenant_roots(after=None, limit=10, linked_only=False)
            ] == [
                "a",
                "b",
                "c",
                "d",
            ]
            stale = await store.list_tenant_roots_wrapped_below(2, after=None, limit=10)
            assert [record.tenant_id for record in stale] == ["a", "c"]
            assert [
                r.tenant_id for r in await store.list_tenant_roots_wrapped_below(2, after="a", limit=1)
            ] == ["c"]

            with pytest.raises(StorageError):
                await store.create_tenant_root(
                    dataclasses.replace(root("e"), sovereign_binding=b"not a blob")
                )

    asyncio.run(scenario())


def test_service_keys_are_versioned_and_tenant_scoped(kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(kind, tmp_path) as store:
            assert not await store.add_service_key(service_key("a", 2))  # must start at 1
            assert await store.add_service_key(service_key("a", 1))
            assert not await store.add_service_key(service_key("a", 1))
            results = await asyncio.gather(*(store.add_service_key(service_key("a", 2)) for _ in range(5)))
            assert results.count(True) == 1
            assert [(r.version, r.state) for r in await store.list_service_keys("a", "svc")] == [
                (1, ServiceKeyState.DECRYPT_ONLY),
                (2, ServiceKeyState.ACTIVE),
            ]
            assert await store.list_service_keys("b", "svc") == []
            assert await store.list_service_keys("a", "other") == []
            assert await store.add_service_key(service_key("b", 1))
            assert await store.list_service_keys("b", "svc") == [service_key("b", 1)]

    asyncio.run(scenario())


def test_seal_records_round_trip_and_survive_reopening(kind: HierarchyKind, tmp_path: Path) -> None:
    shamir = SealConfig("cluster", "eu-1", SealMode.SHAMIR, 3, 5, b"\x01" * 32, share_set_id=77)
    auto = SealConfig("cluster", "eu-1", SealMode.AUTO, 2, 3, b"\x02" * 32, b"sealed", "aws-kms", "key-1")
    tenant_root = root("a")

    async def first_life() -> None:
        async with opened(kind, tmp_path) as store:
            assert await store.load_seal_config() is None
            await store.save_seal_config(shamir)
            assert await store.load_seal_config() == shamir
            await store.save_seal_config(auto)
            assert await store.create_first_ivk(ivk(1))
            assert await store.create_tenant_root(tenant_root)
            assert await store.add_service_key(service_key("a", 1))

    async def second_life() -> None:
        async with opened(kind, tmp_path) as store:
            assert await store.load_seal_config() == auto
            assert await store.list_ivks() == [ivk(1)]
            assert await store.get_tenant_root("a") == tenant_root
            assert await store.list_service_keys("a", "svc") == [service_key("a", 1)]

    asyncio.run(first_life())
    asyncio.run(second_life())


# Two stores on one database: two Cores ------------------------------------------------------------


def test_two_stores_racing_on_every_compare_and_set_agree_on_one_winner(
    kind: HierarchyKind, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with opened(kind, tmp_path) as first, opened(kind, tmp_path) as second:
            stores = (first, second)
            firsts = await asyncio.gather(*(stores[n % 2].create_first_ivk(ivk(1)) for n in range(6)))
            assert firsts.count(True) == 1
            rotations = await asyncio.gather(*(stores[n % 2].rotate_ivk(1, ivk(2), 5.0) for n in range(6)))
            assert rotations.count(True) == 1
            assert [(r.version, r.state) for r in await second.list_ivks()] == [
                (1, IvkState.GRACE),
                (2, IvkState.ACTIVE),
            ]
            totals = await asyncio.gather(*(stores[n % 2].reserve_ivk_wraps(2, 3) for n in range(10)))
            assert sorted(totals) == list(range(3, 31, 3))  # no reservation lost

            creations = await asyncio.gather(*(stores[n % 2].create_tenant_root(root("t")) for n in range(6)))
            assert creations.count(True) == 1
            base = await first.get_tenant_root("t")
            assert base is not None
            variants = [dataclasses.replace(base, l1_key_id=f"key-{n}") for n in range(6)]
            written = await asyncio.gather(
                *(stores[n % 2].update_tenant_roots([variant]) for n, variant in enumerate(variants))
            )
            winners = [n for n, result in enumerate(written) if result == {"t"}]
            assert len(winners) == 1
            final = await second.get_tenant_root("t")
            assert final is not None
            assert (final.revision, final.l1_key_id) == (1, f"key-{winners[0]}")

            assert await first.add_service_key(service_key("t", 1))
            added = await asyncio.gather(
                *(stores[n % 2].add_service_key(service_key("t", 2)) for n in range(6))
            )
            assert added.count(True) == 1
            assert [(r.version, r.state) for r in await second.list_service_keys("t", "svc")] == [
                (1, ServiceKeyState.DECRYPT_ONLY),
                (2, ServiceKeyState.ACTIVE),
            ]

    asyncio.run(scenario())


# Key hierarchies of two Cores on one PostgreSQL database ------------------------------------------


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
