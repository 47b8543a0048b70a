"""What only the SQLite store promises beyond the contract: one data file shared with the
hierarchy store, the database's threads, timeouts, group commit, limits, damaged rows."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kmip_server.storage import IvkRecord, IvkState, StorageClosed, StorageError, StorageTimeout
from kmip_server.storage.objects import ConcurrentUpdate, DuplicateName, LocateQuery, ObjectRecord
from kmip_server.storage.sqlite import SqliteStore
from kmip_server.storage.sqlite_database import SqliteDatabase, SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from tests.integration.storage.stores import custom, record, rewind_sqlite_schema, rich_attributes
from ttlv import Limits
from ttlv.item import Item, ItemType
from ttlv.kmip14 import State


async def hold_writer(
    database: SqliteDatabase, *, reader: bool = False
) -> tuple[asyncio.Task[bool], threading.Event]:
    """Occupy the writer thread (or one reader) with a job that runs until the event is set."""
    started, release = threading.Event(), threading.Event()

    def job(connection: sqlite3.Connection) -> bool:
        started.set()
        return release.wait(30)

    task = asyncio.create_task(database.read(job) if reader else database.write(job))
    assert await asyncio.to_thread(started.wait, 30)  # running: what is queued from now on waits
    return task, release


def test_one_data_file_holds_the_hierarchy_and_the_objects(tmp_path: Path) -> None:
    path = tmp_path / "core.db"
    ivk = IvkRecord(1, IvkState.ACTIVE, b"wrapped-ivk", 10.0, 0)
    key = record("uid-1", names=("k",), attributes=rich_attributes("k"))

    async def first_life() -> None:
        database = await SqliteDatabase.open(path)
        hierarchy = await SqliteStore.attach(database)
        objects = await SqliteObjectStore.attach(database)
        assert await hierarchy.create_first_ivk(ivk)
        await objects.insert(key)
        await objects.close()  # an attached store leaves the shared database open ...
        assert await hierarchy.list_ivks() == [ivk]
        with pytest.raises(StorageClosed):
            await objects.get("tenant-a", "uid-1")
        await hierarchy.close()
        assert await database.read(lambda c: c.execute("SELECT COUNT(*) FROM objects").fetchone()[0]) == 1
        await database.close()  # ... which its opener closes
        with pytest.raises(StorageClosed):
            await database.read(lambda c: None)
        await database.close()  # idempotent

    async def second_life() -> None:
        # Either store can also open the file on its own.
        objects = await SqliteObjectStore.open(path)
        hierarchy = await SqliteStore.open(path)
        assert await objects.get("tenant-a", "uid-1") == key
        assert await hierarchy.list_ivks() == [ivk]
        await objects.close()
        await hierarchy.close()

    asyncio.run(first_life())
    asyncio.run(second_life())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    connection = sqlite3.connect(path)
    try:
        versions = dict(connection.execute("SELECT component, version FROM schema_versions"))
        assert versions == {"hierarchy": 2, "objects": 2}
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "core.db"

    async def scenario() -> None:
        store = await SqliteObjectStore.open(path)
        await store.close()
        connection = sqlite3.connect(path)
        with connection:
            connection.execute("UPDATE schema_versions SET version = 99 WHERE component = 'objects'")
        connection.close()
        with pytest.raises(StorageError, match="schema version"):
            await SqliteObjectStore.open(path)

    asyncio.run(scenario())


def test_a_version_1_file_is_upgraded_the_oldest_live_carrier_of_each_name_holding_it(tmp_path: Path) -> None:
    """Version 1 had no held_names: its names (duplicates included, from the race version 2
    closes) are held by their oldest live carrier once the store opens the file."""
    path = tmp_path / "core.db"

    async def version_1() -> None:
        store = await SqliteObjectStore.open(path)
        for one in (
            record("o1", names=("dup", "solo")),
            record("o2", state=State.PRE_ACTIVE, names=("dup",)),
            record("o3", state=State.DESTROYED, names=("gone",)),
            record("o4", "tenant-b", names=("dup",)),
        ):
            await store.insert(one, unique_names=False)
        await store.close()
        rewind_sqlite_schema(path, "objects", 1, "DROP TABLE held_names")

    async def upgraded() -> None:
        store = await SqliteObjectStore.open(path)
        with pytest.raises(DuplicateName):
            await store.insert(record("new-dup", names=("dup",)))
        await store.insert(record("new-gone", names=("gone",)))  # a destroyed object's name is free
        await store.insert(record("new-b", "tenant-b", names=("solo",)))
        await store.close()
        connection = sqlite3.connect(path)
        try:
            held = connection.execute(
                "SELECT h.tenant_id, h.name, o.unique_identifier FROM held_names AS h"
                " JOIN objects AS o ON o.seq = h.seq ORDER BY 1, 2"
            ).fetchall()
            version = connection.execute("SELECT version FROM schema_versions WHERE component = 'objects'")
            assert version.fetchone() == (2,)
        finally:
            connection.close()
        assert held == [
            ("tenant-a", "dup", "o1"),
            ("tenant-a", "gone", "new-gone"),
            ("tenant-a", "solo", "o1"),
            ("tenant-b", "dup", "o4"),
            ("tenant-b", "solo", "new-b"),
        ]

    asyncio.run(version_1())
    asyncio.run(upgraded())


def test_a_closed_store_refuses_every_call(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteObjectStore.open(tmp_path / "o.db")
        await store.close()
        calls = [
            store.insert(record("uid-1")),
            store.get("tenant-a", "uid-1"),
            store.replace(record("uid-1"), expected_revision=0),
            store.delete("tenant-a", "uid-1"),
            store.find("tenant-a", LocateQuery()),
        ]
        for call in calls:
            with pytest.raises(StorageClosed):
                await call

    asyncio.run(scenario())


def test_durability_settings_and_no_work_on_the_event_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        loop_thread = threading.get_ident()
        writer = await database.write(
            lambda c: (threading.get_ident(), c.execute("PRAGMA synchronous").fetchone())
        )
        reader = await database.read(
            lambda c: (threading.get_ident(), c.execute("PRAGMA query_only").fetchone())
        )
        assert writer[1] == (2,)  # FULL
        assert reader[1] == (1,)  # readers cannot write
        assert loop_thread not in (writer[0], reader[0])
        assert writer[0] != reader[0]
        await database.close()

    asyncio.run(scenario())


def test_reads_go_on_while_the_writer_is_busy_and_while_a_reader_is(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db", SqliteSettings(readers=2))
        store = await SqliteObjectStore.attach(database)
        await store.insert(record("uid-1"))
        blocked_write, release_writer = await hold_writer(database)
        blocked_read, release_reader = await hold_writer(database, reader=True)
        try:
            assert await store.get("tenant-a", "uid-1") == record("uid-1")
            assert len(await store.find("tenant-a", LocateQuery())) == 1
        finally:
            release_writer.set()
            release_reader.set()
        assert await blocked_write is True
        assert await blocked_read is True
        await store.close()
        await database.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_snapshot_read_sees_one_state_throughout(tmp_path: Path, snapshot: bool) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        await database.ensure_schema("test", 1, ["CREATE TABLE IF NOT EXISTS scratch (n INTEGER)"])
        first_read, written = threading.Event(), threading.Event()

        def count(connection: sqlite3.Connection) -> int:
            return int(connection.execute("SELECT COUNT(*) FROM scratch").fetchone()[0])

        def two_counts(connection: sqlite3.Connection) -> tuple[int, int]:
            before = count(connection)
            first_read.set()
            assert written.wait(30)
            return before, count(connection)

        reading = asyncio.create_task(database.read(two_counts, snapshot=snapshot))
        assert await asyncio.to_thread(first_read.wait, 30)
        await database.write(lambda c: c.execute("INSERT INTO scratch (n) VALUES (1)"))
        written.set()
        assert await reading == ((0, 0) if snapshot else (0, 1))
        await database.close()

    asyncio.run(scenario())


def test_a_write_that_times_out_while_queued_never_happens(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db", SqliteSettings(timeout=0.2))
        store = await SqliteObjectStore.attach(database)
        blocked, release = await hold_writer(database)
        try:
            with pytest.raises(StorageTimeout):
                await store.insert(record("uid-late"))
        finally:
            release.set()
        with pytest.raises(StorageTimeout):
            await blocked  # its caller gave up too, but it had started: it ran to the end
        await store.insert(record("uid-next"))  # the writer is free again
        assert await store.get("tenant-a", "uid-late") is None
        assert await store.get("tenant-a", "uid-next") == record("uid-next")
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_writes_committed_together_fail_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        await database.ensure_schema("test", 1, ["CREATE TABLE IF NOT EXISTS scratch (n INTEGER)"])
        blocked, release = await hold_writer(database)

        def insert(n: int, fail: bool) -> Callable[[sqlite3.Connection], None]:
            def job(connection: sqlite3.Connection) -> None:
                connection.execute("INSERT INTO scratch (n) VALUES (?)", (n,))
                if fail:
                    raise RuntimeError("this write fails after writing")

            return job

        queued = [asyncio.ensure_future(database.write(insert(n, fail=n % 3 == 0))) for n in range(12)]
        await asyncio.sleep(0)
        release.set()  # the twelve queued behind the blocked one: they commit as one group
        await blocked
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert [isinstance(result, RuntimeError) for result in results] == [n % 3 == 0 for n in range(12)]
        stored = await database.read(lambda c: [n for (n,) in c.execute("SELECT n FROM scratch ORDER BY n")])
        assert stored == [n for n in range(12) if n % 3]
        await database.close()

    asyncio.run(scenario())


def test_when_a_group_cannot_commit_no_write_in_it_is_reported_done(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        await database.ensure_schema("test", 1, ["CREATE TABLE IF NOT EXISTS scratch (n INTEGER)"])
        blocked, release = await hold_writer(database)

        def insert(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO scratch (n) VALUES (1)")

        def rogue(connection: sqlite3.Connection) -> None:
            connection.execute("ROLLBACK")  # breaks the rule: the whole group's transaction is gone

        queued = [asyncio.ensure_future(database.write(job)) for job in (insert, rogue, insert)]
        await asyncio.sleep(0)
        release.set()
        await blocked
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert all(isinstance(result, StorageError) for result in results), results
        assert await database.read(lambda c: c.execute("SELECT COUNT(*) FROM scratch").fetchone()[0]) == 0
        await database.write(insert)  # the writer carries on
        assert await database.read(lambda c: c.execute("SELECT COUNT(*) FROM scratch").fetchone()[0]) == 1
        await database.close()

    asyncio.run(scenario())


def test_attributes_beyond_the_limit_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    async def scenario() -> None:
        limits = Limits(max_message_size=4096)
        store = await SqliteObjectStore.open(tmp_path / "o.db", attribute_limits=limits)
        big = record("uid-big", attributes=(custom("x-blob", ItemType.BYTE_STRING, bytes(5000)),))
        with pytest.raises(StorageError, match="size limit"):
            await store.insert(big)
        assert await store.get("tenant-a", "uid-big") is None
        small = record("uid-small", names=("n",))
        await store.insert(small)
        with pytest.raises(StorageError, match="size limit"):
            await store.replace(dataclasses.replace(big, unique_identifier="uid-small"), expected_revision=0)
        assert await store.get("tenant-a", "uid-small") == small
        await store.close()

    asyncio.run(scenario())


def test_a_custom_structure_too_deep_to_read_back_is_refused(tmp_path: Path) -> None:
    def nested(depth: int) -> Item:
        item = Item(0x540001, ItemType.INTEGER, depth)
        for _ in range(depth):
            item = Item(0x540002, ItemType.STRUCTURE, (item,))
        return item

    async def scenario() -> None:
        store = await SqliteObjectStore.open(tmp_path / "o.db")
        fine = record("uid-fine", attributes=(custom("x-deep", ItemType.STRUCTURE, (nested(30),)),))
        await store.insert(fine)
        assert await store.get("tenant-a", "uid-fine") == fine
        too_deep = record("uid-deep", attributes=(custom("x-deep", ItemType.STRUCTURE, (nested(70),)),))
        with pytest.raises(StorageError, match="limits"):
            await store.insert(too_deep)
        assert await store.get("tenant-a", "uid-deep") is None
        await store.close()

    asyncio.run(scenario())


def test_an_attribute_the_model_cannot_encode_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteObjectStore.open(tmp_path / "o.db")
        bad = record("uid-bad", attributes=(custom("x-int", ItemType.INTEGER, 1 << 40),))  # not 32-bit
        with pytest.raises(StorageError, match="cannot be encoded"):
            await store.insert(bad)
        assert await store.find("tenant-a", LocateQuery()) == []
        await store.close()

    asyncio.run(scenario())


def test_a_damaged_row_is_a_storage_error_not_a_crash(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        store = await SqliteObjectStore.attach(database)
        await store.insert(record("uid-1", names=("n",)))
        await store.insert(record("uid-2"))
        await database.write(
            lambda c: c.execute(
                "UPDATE objects SET attributes = ? WHERE unique_identifier = 'uid-1'", (b"junk",)
            )
        )
        await database.write(
            lambda c: c.execute("UPDATE objects SET state = 77 WHERE unique_identifier = 'uid-2'")
        )
        for call in (
            store.get("tenant-a", "uid-1"),
            store.get("tenant-a", "uid-2"),
            store.find("tenant-a", LocateQuery(names=("n",))),
        ):
            with pytest.raises(StorageError) as caught:
                await call
            assert "junk" not in str(caught.value)
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_compare_and_set_holds_between_two_databases_on_one_file(tmp_path: Path) -> None:
    """Two Cores (two processes, here two writer connections) racing on one object."""
    path = tmp_path / "o.db"

    async def scenario() -> None:
        first = await SqliteObjectStore.open(path)
        second = await SqliteObjectStore.open(path)
        original = record("uid-1")
        await first.insert(original)
        assert await second.get("tenant-a", "uid-1") == original
        results = await asyncio.gather(
            first.replace(dataclasses.replace(original, service="one"), expected_revision=0),
            second.replace(dataclasses.replace(original, service="two"), expected_revision=0),
            return_exceptions=True,
        )
        winners = [result for result in results if isinstance(result, ObjectRecord)]
        assert len(winners) == 1
        assert sum(isinstance(result, ConcurrentUpdate) for result in results) == 1
        assert await first.get("tenant-a", "uid-1") == winners[0]
        assert await second.get("tenant-a", "uid-1") == winners[0]
        await first.close()
        await second.close()

    asyncio.run(scenario())
