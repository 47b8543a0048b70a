"""Writers of several processes on one SQLite file take turns on a flock of a lock file beside
it (``SqliteSettings.writer_lock``): a write waits while another process holds it and goes
on when it is released; switched off, only SQLite's own locks are waited for."""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
from pathlib import Path

from kmip_server.storage.objects import LocateQuery
from kmip_server.storage.sqlite_database import WRITER_LOCK_SUFFIX, SqliteDatabase, SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from tests.integration.storage.stores import record

HOLD = 0.3  # seconds the other "process" keeps the lock while a write is asked for


def test_a_write_waits_while_another_process_holds_the_writer_lock(tmp_path: Path) -> None:
    path = tmp_path / "o.db"

    async def scenario() -> None:
        database = await SqliteDatabase.open(path)
        store = await SqliteObjectStore.attach(database)
        await store.insert(record("uid-0"))  # the lock file exists from the first write
        lock_file = Path(f"{path}{WRITER_LOCK_SUFFIX}")
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        held = os.open(lock_file, os.O_RDWR)  # another open file description: another holder
        try:
            fcntl.flock(held, fcntl.LOCK_EX)
            writing = asyncio.ensure_future(store.insert(record("uid-1")))
            await asyncio.sleep(HOLD)
            assert not writing.done()  # waiting for the holder, not failing
            assert await store.get("tenant-a", "uid-1") is None
            fcntl.flock(held, fcntl.LOCK_UN)
            await writing
        finally:
            os.close(held)
        assert await store.get("tenant-a", "uid-1") == record("uid-1")
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_without_the_writer_lock_writes_do_not_wait_for_it(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    Path(f"{path}{WRITER_LOCK_SUFFIX}").touch(mode=0o600)
    held = os.open(f"{path}{WRITER_LOCK_SUFFIX}", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)

    async def scenario() -> None:
        database = await SqliteDatabase.open(path, SqliteSettings(writer_lock=False))
        store = await SqliteObjectStore.attach(database)
        await store.insert(record("uid-1"))
        assert await store.get("tenant-a", "uid-1") == record("uid-1")
        await store.close()
        await database.close()

    try:
        asyncio.run(scenario())
    finally:
        os.close(held)


def test_two_databases_on_one_file_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two Cores (here two databases, each with its writer thread) inserting concurrently."""
    path = tmp_path / "o.db"
    per_writer = 200

    async def scenario() -> None:
        first = await SqliteObjectStore.open(path)
        second = await SqliteObjectStore.open(path)

        async def insert_all(store: SqliteObjectStore, prefix: str) -> None:
            await asyncio.gather(*(store.insert(record(f"{prefix}-{n}")) for n in range(per_writer)))

        await asyncio.gather(insert_all(first, "one"), insert_all(second, "two"))
        assert len(await first.find("tenant-a", LocateQuery())) == 2 * per_writer
        await first.close()
        await second.close()

    asyncio.run(scenario())
