"""IVK rotation: under traffic, by age, by wrap count; grace, deprecated, the scrubber, retirement."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

from kmip_server.hierarchy import HierarchySettings, KeyHierarchy, ManualClock
from kmip_server.storage import IvkState
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.hierarchy.support import core, stored_blobs
from tests.support.keystores import KeystoreEnv
from unseal.blob import peek
from unseal.memory import SecretBuffer

DAY = 24 * 3600.0
Issued = dict[tuple[str, str], tuple[bytes, bytes]]  # (tenant, object id) -> (blob, material)


async def binding_versions(db: Path) -> set[int]:
    blobs = await stored_blobs(db)
    return {peek(blob).wrapping_key_version for blob in blobs["sovereign"] + blobs["active"]}


async def assert_all_unwrap(hierarchy: KeyHierarchy, issued: Issued) -> None:
    for (tenant, object_id), (blob, material) in issued.items():
        assert await hierarchy.unwrap_l4_async(tenant, "svc", object_id, blob) == material


def test_rotation_under_traffic_loses_nothing_and_the_scrubber_finishes(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        settings = HierarchySettings(scrub_batch_size=7)
        key = software_l1.console.create_key()
        issued: Issued = {}
        rng = random.Random(1234)
        async with core(db, lines, master, clock, settings) as hierarchy:
            for n in range(10):
                await hierarchy.link_tenant(f"tenant-{n:03d}", "software", key)
            linked = [f"tenant-{n:03d}" for n in range(10)]

            rotations_done = asyncio.Event()

            async def traffic(worker: int) -> None:
                step = 0
                while step < 20 or not rotations_done.is_set():  # keeps going through every rotation
                    step += 1
                    tenant = rng.choice(linked)
                    object_id = f"object-{worker}-{step}"
                    material = os.urandom(32)
                    issued[(tenant, object_id)] = (
                        await hierarchy.wrap_l4_async(tenant, "svc", object_id, material),
                        material,
                    )
                    (old_tenant, old_object), (old_blob, old_material) = rng.choice(list(issued.items()))
                    assert (
                        await hierarchy.unwrap_l4_async(old_tenant, "svc", old_object, old_blob)
                        == old_material
                    )
                    await asyncio.sleep(0)

            async def linking() -> None:
                for n in range(10, 30):
                    await hierarchy.link_tenant(f"tenant-{n:03d}", "software", key)
                    linked.append(f"tenant-{n:03d}")

            async def rotating() -> None:
                for _ in range(4):
                    await asyncio.sleep(0.01)
                    await hierarchy.rotate_ivk()
                    await hierarchy.scrub()
                rotations_done.set()

            async with asyncio.TaskGroup() as group:
                for worker in range(8):
                    group.create_task(traffic(worker))
                group.create_task(linking())
                group.create_task(rotating())

            assert hierarchy.ivk_versions()[-1] == (5, IvkState.ACTIVE)
            await assert_all_unwrap(hierarchy, issued)

        # A new Core before any grace ends: old bindings still open (grace / deprecated on demand).
        async with core(db, lines, master, clock, settings) as hierarchy:
            await assert_all_unwrap(hierarchy, issued)
            clock.advance(settings.ivk_grace_period + 1)
            report = await hierarchy.maintain()
            assert report.failed == 0
            assert await binding_versions(db) == {report.active_version}
            states = dict(hierarchy.ivk_versions())
            assert states == {
                1: IvkState.RETIRED,
                2: IvkState.RETIRED,
                3: IvkState.RETIRED,
                4: IvkState.RETIRED,
                5: IvkState.ACTIVE,
            }
            assert len((await stored_blobs(db))["ivk"]) == 1  # retired material is gone
            await assert_all_unwrap(hierarchy, issued)

        async with core(db, lines, master, clock, settings) as hierarchy:
            await assert_all_unwrap(hierarchy, issued)
            assert len({tenant for tenant, _ in issued}) > 10  # tenants linked during rotations were used too

    asyncio.run(scenario())


def test_grace_rewraps_on_access_deprecated_unwraps_on_demand(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("old", "software", key)  # under v1
            old_blob = await hierarchy.wrap_l4_async("old", "svc", "o", b"\x01" * 32)
            await hierarchy.rotate_ivk()  # v1 grace
            await hierarchy.link_tenant("graced", "software", key)  # under v2
            graced_blob = await hierarchy.wrap_l4_async("graced", "svc", "o", b"\x02" * 32)
            await hierarchy.rotate_ivk()  # v1 deprecated, v2 grace, v3 active
            assert dict(hierarchy.ivk_versions()) == {
                1: IvkState.DEPRECATED,
                2: IvkState.GRACE,
                3: IvkState.ACTIVE,
            }
        assert await binding_versions(db) == {1, 2}

        async with core(db, lines, master, clock) as hierarchy:
            # Deprecated: unwraps on demand, and the binding stays where it is (the scrubber moves it).
            assert await hierarchy.unwrap_l4_async("old", "svc", "o", old_blob) == b"\x01" * 32
            # Grace: unwraps, and the access re-wraps both bindings to the active version.
            assert await hierarchy.unwrap_l4_async("graced", "svc", "o", graced_blob) == b"\x02" * 32
            store = await SqliteStore.open(db)
            graced = await store.get_tenant_root("graced")
            old = await store.get_tenant_root("old")
            await store.close()
            assert graced is not None
            assert old is not None
            assert graced.active_binding is not None
            assert peek(graced.sovereign_binding).wrapping_key_version == 3
            assert peek(graced.active_binding).wrapping_key_version == 3
            assert peek(old.sovereign_binding).wrapping_key_version == 1

            # Before the grace period is over nothing retires, even once nothing references it.
            report = await hierarchy.scrub()
            assert (report.rewrapped, report.retired) == (1, ())
            assert await binding_versions(db) == {3}
            clock.advance(DAY)
            report = await hierarchy.maintain()
            assert report.retired == (1, 2)
            assert await hierarchy.unwrap_l4_async("old", "svc", "o", old_blob) == b"\x01" * 32

    asyncio.run(scenario())


def test_rotation_by_age_and_by_wrap_count(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        # By wrap count: 2 wraps per link, 5 allowed per version, reserved 1 at a time.
        settings = HierarchySettings(ivk_max_wraps=5, ivk_wrap_reservation=1)
        async with core(tmp_path / "count.db", lines, master, clock, settings) as hierarchy:
            for n in range(6):
                await hierarchy.link_tenant(f"t{n}", "software", key)
            versions = hierarchy.ivk_versions()
            assert versions[-1][0] == 3  # 12 wraps: 5 under v1, 5 under v2, 2 under v3
            assert await binding_versions(tmp_path / "count.db") == {1, 2, 3}
            for n in range(6):
                assert await hierarchy.wrap_l4_async(f"t{n}", "svc", "o", b"k" * 32)

        # By age: the maintenance round rotates once the active version is older than the limit.
        settings = HierarchySettings()
        async with core(tmp_path / "age.db", lines, master, clock, settings) as hierarchy:
            await hierarchy.link_tenant("t", "software", key)
            clock.advance(settings.ivk_max_age - 1)
            assert (await hierarchy.maintain()).active_version == 1
            clock.advance(1)
            report = await hierarchy.maintain()
            assert report.active_version == 2
            assert report.rewrapped == 1
            # ... and so does a wrap that finds it too old, without waiting for maintenance.
            clock.advance(settings.ivk_max_age)
            await hierarchy.link_tenant("u", "software", key)
            assert hierarchy.ivk_versions()[-1] == (3, IvkState.ACTIVE)

    asyncio.run(scenario())


def test_two_cores_rotating_at_once_keep_one_active_version(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        async with core(db, lines, master, clock) as first, core(db, lines, master, clock) as second:
            await first.link_tenant("a", "software", key)
            blob = await first.wrap_l4_async("a", "svc", "o", b"x" * 32)
            await asyncio.gather(first.rotate_ivk(), second.rotate_ivk(), first.rotate_ivk())
            await second.link_tenant("b", "software", key)
            await first.scrub()
            await second.scrub()
            states = [state for _, state in second.ivk_versions()]
            assert states.count(IvkState.ACTIVE) == 1
            assert await second.unwrap_l4_async("a", "svc", "o", blob) == b"x" * 32
            assert len(await binding_versions(db)) == 1

    asyncio.run(scenario())
