"""The SQLite hierarchy store's own properties: schema, file mode, durability settings, its
threads. The HierarchyStore contract (compare-and-set, tenant scoping, seal records) runs on it
and on PostgreSQL in ``tests/integration/storage/test_hierarchy_store_contract.py``."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from kmip_server.storage import ServiceKeyState, StorageClosed
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.storage.stores import ivk, rewind_sqlite_schema, service_key
from unseal.blob import MAX_WRAPS_PER_KEY


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


def test_a_version_1_file_is_upgraded_its_l3_versions_counted_as_spent(tmp_path: Path) -> None:
    """Version 1 did not count L4 wraps, so how many its L3 versions made is unknown: once the
    store opens such a file each has MAX_WRAPS_PER_KEY (spent under any setting), and reserves
    from there (the file's other rows untouched)."""
    db = tmp_path / "h.db"

    async def version_1() -> None:
        store = await SqliteStore.open(db)
        assert await store.create_first_ivk(ivk(1))
        assert await store.add_service_key(service_key("acme", 1))
        assert await store.add_service_key(service_key("acme", 2))
        await store.close()
        rewind_sqlite_schema(db, "hierarchy", 1, "ALTER TABLE service_keys DROP COLUMN wrap_count")

    async def upgraded() -> None:
        store = await SqliteStore.open(db)
        try:
            versions = await store.list_service_keys("acme", "svc")
            assert [(r.version, r.state, r.blob, r.wrap_count) for r in versions] == [
                (1, ServiceKeyState.DECRYPT_ONLY, b"blob-1", MAX_WRAPS_PER_KEY),
                (2, ServiceKeyState.ACTIVE, b"blob-2", MAX_WRAPS_PER_KEY),
            ]
            assert await store.reserve_service_key_wraps("acme", "svc", 2, 3) == MAX_WRAPS_PER_KEY + 3
            assert await store.list_ivks() == [ivk(1)]
        finally:
            await store.close()
        connection = sqlite3.connect(db)
        try:
            version = connection.execute("SELECT version FROM schema_versions WHERE component = 'hierarchy'")
            assert version.fetchone() == (2,)
        finally:
            connection.close()

    async def reopened() -> None:  # the step ran once: opening again changes nothing
        store = await SqliteStore.open(db)
        try:
            counts = [r.wrap_count for r in await store.list_service_keys("acme", "svc")]
            assert counts == [MAX_WRAPS_PER_KEY, MAX_WRAPS_PER_KEY + 3]
        finally:
            await store.close()

    asyncio.run(version_1())
    asyncio.run(upgraded())
    asyncio.run(reopened())
