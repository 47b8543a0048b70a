"""The HierarchyStore contract (``kmip_server.storage.hierarchy``), run against every store kind.

What the key hierarchy relies on: compare-and-set IVK transitions, tenant roots and L3 versions,
scans in tenant order, seal records, durability; and, since several Cores share one store, the
same answers when two store instances (two Cores) race on one database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kmip_server.storage import HierarchyStore, IvkState, ServiceKeyState, StorageError
from tests.integration.storage.stores import HierarchyKind, ivk, root, service_key
from unseal.records import SealConfig, SealMode


@asynccontextmanager
async def opened(kind: HierarchyKind, place: Path) -> AsyncIterator[HierarchyStore]:
    store = await kind.open(place)
    try:
        yield store
    finally:
        await store.close()


# One store ------------------------------------------------------------------------------------


def test_ivk_transitions_are_compare_and_set(hierarchy_kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
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


def test_tenant_roots_compare_and_set_and_scans(hierarchy_kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
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


def test_service_keys_are_versioned_and_tenant_scoped(hierarchy_kind: HierarchyKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
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


def test_l4_wraps_are_counted_per_service_key_version(hierarchy_kind: HierarchyKind, tmp_path: Path) -> None:
    """The L3 wrap counter: per (tenant, service, version), added to atomically, a new version
    starting at 0, a missing version refused, and the count still there after reopening."""

    async def first_life() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
            assert await store.add_service_key(service_key("a", 1))
            assert await store.add_service_key(service_key("a", 1, service="other"))
            assert await store.add_service_key(service_key("b", 1))
            assert [r.wrap_count for r in await store.list_service_keys("a", "svc")] == [0]
            assert await store.reserve_service_key_wraps("a", "svc", 1, 3) == 3
            assert await store.reserve_service_key_wraps("a", "svc", 1, 65_536) == 65_539
            assert await store.reserve_service_key_wraps("a", "svc", 1, 2**32) == 2**32 + 65_539  # 64-bit
            assert await store.reserve_service_key_wraps("a", "other", 1, 5) == 5
            assert await store.reserve_service_key_wraps("b", "svc", 1, 7) == 7
            assert await store.add_service_key(service_key("a", 2))  # a new version starts at 0
            assert await store.reserve_service_key_wraps("a", "svc", 2, 1) == 1
            for tenant, service, version in (("a", "svc", 3), ("c", "svc", 1), ("a", "nothing", 1)):
                with pytest.raises(StorageError):
                    await store.reserve_service_key_wraps(tenant, service, version, 1)

    async def second_life() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
            versions = await store.list_service_keys("a", "svc")
            assert [(r.version, r.state, r.wrap_count) for r in versions] == [
                (1, ServiceKeyState.DECRYPT_ONLY, 2**32 + 65_539),
                (2, ServiceKeyState.ACTIVE, 1),
            ]
            assert [r.wrap_count for r in await store.list_service_keys("a", "other")] == [5]
            assert [r.wrap_count for r in await store.list_service_keys("b", "svc")] == [7]

    asyncio.run(first_life())
    asyncio.run(second_life())


def test_seal_records_round_trip_and_survive_reopening(hierarchy_kind: HierarchyKind, tmp_path: Path) -> None:
    shamir = SealConfig("cluster", "eu-1", SealMode.SHAMIR, 3, 5, b"\x01" * 32, share_set_id=77)
    auto = SealConfig("cluster", "eu-1", SealMode.AUTO, 2, 3, b"\x02" * 32, b"sealed", "aws-kms", "key-1")
    tenant_root = root("a")

    async def first_life() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
            assert await store.load_seal_config() is None
            await store.save_seal_config(shamir)
            assert await store.load_seal_config() == shamir
            await store.save_seal_config(auto)
            assert await store.create_first_ivk(ivk(1))
            assert await store.create_tenant_root(tenant_root)
            assert await store.add_service_key(service_key("a", 1))

    async def second_life() -> None:
        async with opened(hierarchy_kind, tmp_path) as store:
            assert await store.load_seal_config() == auto
            assert await store.list_ivks() == [ivk(1)]
            assert await store.get_tenant_root("a") == tenant_root
            assert await store.list_service_keys("a", "svc") == [service_key("a", 1)]

    asyncio.run(first_life())
    asyncio.run(second_life())


# Two stores on one database: two Cores ------------------------------------------------------------


def test_two_stores_racing_on_every_compare_and_set_agree_on_one_winner(
    hierarchy_kind: HierarchyKind, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with opened(hierarchy_kind, tmp_path) as first, opened(hierarchy_kind, tmp_path) as second:
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


def test_two_stores_reserving_wraps_of_one_l3_version_lose_no_reservation(
    hierarchy_kind: HierarchyKind, tmp_path: Path
) -> None:
    """Two Cores reserving blocks of one version at once: every reservation is a distinct range
    of the count (no lost update), what the L3 budget of several Cores rests on."""

    async def scenario() -> None:
        async with opened(hierarchy_kind, tmp_path) as first, opened(hierarchy_kind, tmp_path) as second:
            stores = (first, second)
            assert await first.add_service_key(service_key("t", 1))
            totals = await asyncio.gather(
                *(stores[n % 2].reserve_service_key_wraps("t", "svc", 1, 3) for n in range(20))
            )
            assert sorted(totals) == list(range(3, 61, 3))
            assert [r.wrap_count for r in await second.list_service_keys("t", "svc")] == [60]

    asyncio.run(scenario())
