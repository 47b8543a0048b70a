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

from kmip_server.storage import StorageClosed
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.storage.stores import ivk


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
