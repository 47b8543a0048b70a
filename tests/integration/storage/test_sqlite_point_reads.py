"""SQLite point reads on the event loop, and the object store's cache of decoded attributes:
where each read runs, what happens when it would wait for a lock, and that what is read is
always what is stored, whoever stored it."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kmip_server.model import Attribute
from kmip_server.storage import StorageError
from kmip_server.storage.objects import LocateQuery
from kmip_server.storage.sqlite_database import SqliteDatabase, SqliteSettings
from kmip_server.storage.sqlite_objects import ATTRIBUTE_CACHE_MAX_BYTES, SqliteObjectStore
from tests.integration.storage.stores import custom, record, rich_attributes
from ttlv.item import ItemType
from ttlv.kmip14 import State


def where(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """(thread, query_only, busy_timeout) of the connection a job runs on."""
    return (
        threading.get_ident(),
        connection.execute("PRAGMA query_only").fetchone()[0],
        connection.execute("PRAGMA busy_timeout").fetchone()[0],
    )


def busy_once(calls: list[int]) -> Callable[[sqlite3.Connection], str]:
    """A read job that finds the database locked the first time it runs (as SQLite reports a
    lock it will not wait for), then reads; ``calls`` gets the thread of each run."""

    def job(connection: sqlite3.Connection) -> str:
        calls.append(threading.get_ident())
        if len(calls) == 1:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise error
        return str(connection.execute("SELECT 'read'").fetchone()[0])

    return job


def test_a_point_read_runs_on_the_loop_on_a_query_only_connection_that_never_waits(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        thread, query_only, busy_timeout = await database.point_read(where)
        assert (thread, query_only, busy_timeout) == (threading.get_ident(), 1, 0)
        with pytest.raises(StorageError) as refused:
            await database.point_read(lambda c: c.execute("CREATE TABLE nope (n INTEGER)"))
        assert "readonly" in str(refused.value.__cause__)
        await database.close()

    asyncio.run(scenario())


def test_with_inline_reads_off_point_reads_go_to_a_reader_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db", SqliteSettings(inline_reads=False))
        thread, query_only, busy_timeout = await database.point_read(where)
        assert thread != threading.get_ident()
        assert (query_only, busy_timeout) == (1, database.settings.busy_timeout_ms)
        await database.close()

    asyncio.run(scenario())


def test_a_point_read_that_would_wait_for_a_lock_is_handed_to_a_reader_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        calls: list[int] = []
        assert await database.point_read(busy_once(calls)) == "read"
        assert calls[0] == threading.get_ident()
        assert calls[1] != threading.get_ident()

        runs: list[int] = []

        def broken(connection: sqlite3.Connection) -> None:
            runs.append(1)
            connection.execute("SELECT * FROM no_such_table")

        with pytest.raises(StorageError):  # any other database error is the caller's, at once
            await database.point_read(broken)
        assert runs == [1]
        await database.close()

    asyncio.run(scenario())


def test_a_point_read_from_another_thread_goes_to_a_reader_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        assert (await database.point_read(where))[0] == threading.get_ident()

        def elsewhere() -> tuple[int, tuple[int, int, int]]:
            return threading.get_ident(), asyncio.run(database.point_read(where))

        caller, (thread, _query_only, _busy) = await asyncio.to_thread(elsewhere)
        assert thread not in (caller, threading.get_ident())
        await database.close()

    asyncio.run(scenario())


def test_get_reads_what_another_core_on_the_file_stored_every_time(tmp_path: Path) -> None:
    """Two databases on one file stand for two Cores (or worker processes): every change one
    makes, the other's next get returns, whether or not its attributes changed."""
    path = tmp_path / "o.db"

    async def scenario() -> None:
        here = await SqliteObjectStore.open(path)
        there = await SqliteObjectStore.open(path)
        original = record("uid-1", attributes=rich_attributes("uid-1"))
        await here.insert(original)
        assert await here.get("tenant-a", "uid-1") == original
        assert await here.get("tenant-a", "uid-1") == original  # the second read decodes nothing

        deactivated = await there.replace(
            dataclasses.replace(original, state=State.DEACTIVATED), expected_revision=0
        )
        assert await here.get("tenant-a", "uid-1") == deactivated
        destroyed = await there.replace(
            dataclasses.replace(deactivated, state=State.DESTROYED, material=None), expected_revision=1
        )
        seen = await here.get("tenant-a", "uid-1")
        assert seen == destroyed
        assert seen is not None
        assert seen.material is None
        renamed = await there.replace(
            dataclasses.replace(
                destroyed, attributes=(*destroyed.attributes, custom("x-new", ItemType.INTEGER, 1))
            ),
            expected_revision=2,
        )
        assert await here.get("tenant-a", "uid-1") == renamed
        await there.delete("tenant-a", "uid-1")
        assert await here.get("tenant-a", "uid-1") is None
        await here.close()
        await there.close()

    asyncio.run(scenario())


def test_records_with_the_same_attributes_each_come_back_as_themselves(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteObjectStore.open(tmp_path / "o.db")
        shared = rich_attributes("same")
        first = record("uid-1", attributes=shared)
        second = record("uid-2", service="other", state=State.PRE_ACTIVE, attributes=shared, material=b"two")
        third = record("uid-3", "tenant-b", attributes=shared)
        for each in (first, second, third):
            await store.insert(each, unique_names=False)  # the Names repeat with the rest
        for _ in range(2):
            assert await store.get("tenant-a", "uid-1") == first
            assert await store.get("tenant-a", "uid-2") == second
            assert await store.get("tenant-b", "uid-3") == third
            assert await store.get("tenant-a", "uid-3") is None
        await store.close()

    asyncio.run(scenario())


def test_the_attribute_cache_keeps_within_its_bounds(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db", SqliteSettings(attribute_cache=3))
        store = await SqliteObjectStore.attach(database)
        cached = store._attributes._entries  # the bound is what is tested
        records = [
            record(f"uid-{n}", attributes=(Attribute(name="Object Group", value=f"group-{n}"),))
            for n in range(8)
        ]
        large = record(
            "uid-large",
            attributes=(custom("x-blob", ItemType.BYTE_STRING, bytes(ATTRIBUTE_CACHE_MAX_BYTES)),),
        )
        for each in (*records, large):
            await store.insert(each)

        assert len(await store.find("tenant-a", LocateQuery())) == 9
        assert not cached  # a Locate only looks up
        for order in (records, records[::-1], records[::2]):
            for each in order:
                assert await store.get("tenant-a", each.unique_identifier) == each
                assert len(cached) <= 3
        assert await store.get("tenant-a", "uid-large") == large
        assert len(cached) <= 3
        assert all(len(blob) <= ATTRIBUTE_CACHE_MAX_BYTES for blob in cached)
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_without_the_attribute_cache_every_read_decodes(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db", SqliteSettings(attribute_cache=0))
        store = await SqliteObjectStore.attach(database)
        key = record("uid-1", attributes=rich_attributes("uid-1"))
        await store.insert(key)
        assert await store.get("tenant-a", "uid-1") == key
        assert await store.get("tenant-a", "uid-1") == key
        assert not store._attributes._entries
        await store.close()
        await database.close()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="out of range"):
        SqliteSettings(attribute_cache=-1)
