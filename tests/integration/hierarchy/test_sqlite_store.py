"""The SQLite store: schema, durability settings, compare-and-set, tenant scoping, seal records."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from kmip_server.storage import (
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    StorageClosed,
    StorageError,
    TenantRootRecord,
)
from kmip_server.storage.sqlite import SqliteStore
from unseal.blob import BlobHeader, Layer, cipher_for, wrap
from unseal.records import SealConfig, SealMode

CIPHER = cipher_for(bytes(32))


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


def test_schema_is_idempotent_durable_and_owner_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "h.db"
        for _ in range(2):
            store = await SqliteStore.open(db)
            await store.close()
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
        store = await SqliteStore.open(db)
        assert await store.create_first_ivk(ivk(1))
        await store.close()

        connection = sqlite3.connect(db)
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            connection.close()
        store = await SqliteStore.open(db)
        assert [record.version for record in await store.list_ivks()] == [1]
        writer_sync = await store._writer.run(
            lambda connection: connection.execute("PRAGMA synchronous").fetchone()[0], 5.0
        )
        assert writer_sync == 2  # FULL
        await store.close()

    asyncio.run(scenario())


def test_database_work_never_runs_on_the_event_loop_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteStore.open(tmp_path / "h.db")
        loop_thread = threading.get_ident()
        seen = await store._writer.run(lambda _: threading.get_ident(), 5.0)
        assert seen != loop_thread
        await store.close()
        with pytest.raises(StorageClosed):
            await store.list_ivks()

    asyncio.run(scenario())


def test_ivk_transitions_are_compare_and_set(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteStore.open(tmp_path / "h.db")
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
        assert not await store.retire_ivk(1, left_active_before=40.0, now=70.0)  # grace not over
        assert not await store.retire_ivk(2, left_active_before=1000.0, now=70.0)  # grace, not deprecated
        assert await store.retire_ivk(1, left_active_before=1000.0, now=70.0)
        retired = (await store.list_ivks())[0]
        assert (retired.state, retired.blob, retired.retired_at) == (IvkState.RETIRED, None, 70.0)
        assert await store.deprecate_ivk(2, 80.0)
        assert not await store.deprecate_ivk(2, 80.0)
        await store.close()

    asyncio.run(scenario())


def test_tenant_roots_compare_and_set_and_scans(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteStore.open(tmp_path / "h.db")
        created = {
            tenant: root(tenant, version, linked=tenant != "d")
            for tenant, version in (("a", 1), ("b", 2), ("c", 1), ("d", 2))
        }
        for record in created.values():
            assert await store.create_tenant_root(record)
        assert not await store.create_tenant_root(root("a"))
        assert await store.get_tenant_root("zz") is None

        stored = await store.get_tenant_root("a")
        assert stored == created["a"]
        assert stored is not None
        unlinked = dataclasses.replace(stored, linked=False, active_binding=None)
        assert await store.update_tenant_roots([unlinked, unlinked]) == {"a"}  # second is stale
        again = await store.get_tenant_root("a")
        assert again is not None
        assert (again.revision, again.linked, again.active_binding) == (1, False, None)
        assert await store.update_tenant_roots([unlinked]) == set()  # revision 0 is gone

        linked = await store.list_tenant_roots(after=None, limit=10, linked_only=True)
        assert [record.tenant_id for record in linked] == ["b", "c"]
        everything = await store.list_tenant_roots(after="a", limit=2, linked_only=False)
        assert [record.tenant_id for record in everything] == ["b", "c"]
        stale = await store.list_tenant_roots_wrapped_below(2, after=None, limit=10)
        assert [record.tenant_id for record in stale] == ["a", "c"]

        with pytest.raises(StorageError):
            await store.create_tenant_root(dataclasses.replace(root("e"), sovereign_binding=b"not a blob"))
        await store.close()

    asyncio.run(scenario())


def test_service_keys_are_versioned_and_tenant_scoped(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteStore.open(tmp_path / "h.db")

        def version(tenant: str, number: int) -> ServiceKeyRecord:
            return ServiceKeyRecord(tenant, "svc", number, ServiceKeyState.ACTIVE, b"blob", float(number))

        assert not await store.add_service_key(version("a", 2))  # must start at 1
        assert await store.add_service_key(version("a", 1))
        assert not await store.add_service_key(version("a", 1))
        results = await asyncio.gather(*(store.add_service_key(version("a", 2)) for _ in range(5)))
        assert results.count(True) == 1
        assert [(r.version, r.state) for r in await store.list_service_keys("a", "svc")] == [
            (1, ServiceKeyState.DECRYPT_ONLY),
            (2, ServiceKeyState.ACTIVE),
        ]
        assert await store.list_service_keys("b", "svc") == []
        assert await store.add_service_key(version("b", 1))
        assert [r.tenant_id for r in await store.list_service_keys("b", "svc")] == ["b"]
        await store.close()

    asyncio.run(scenario())


def test_seal_records_round_trip(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "h.db"
        store = await SqliteStore.open(db)
        assert await store.load_seal_config() is None
        shamir = SealConfig("cluster", "eu-1", SealMode.SHAMIR, 3, 5, b"\x01" * 32, share_set_id=77)
        await store.save_seal_config(shamir)
        auto = SealConfig("cluster", "eu-1", SealMode.AUTO, 2, 3, b"\x02" * 32, b"sealed", "aws-kms", "key-1")
        await store.save_seal_config(auto)
        await store.close()
        store = await SqliteStore.open(db)
        assert await store.load_seal_config() == auto
        await store.close()

    asyncio.run(scenario())
