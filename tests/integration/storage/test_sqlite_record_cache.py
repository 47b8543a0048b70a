"""The SQLite object store's cache of records read inline (``InlineCache``): a get answered from
it returns exactly what a read of the file would, whoever changed the file and however; it is
keyed by tenant, bounded, and only used on the inline connection."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kmip_server.storage.objects import ObjectRecord
from kmip_server.storage.sqlite_database import InlineCache, SqliteSettings
from kmip_server.storage.sqlite_objects import RECORD_CACHE_MAX_BYTES, SqliteObjectStore
from tests.integration.storage.stores import record
from ttlv.kmip14 import State


@asynccontextmanager
async def opened(path: Path, settings: SqliteSettings | None = None) -> AsyncIterator[SqliteObjectStore]:
    store = await SqliteObjectStore.open(path, settings or SqliteSettings())
    try:
        yield store
    finally:
        await store.close()


def selects(store: SqliteObjectStore) -> list[str]:
    """The SELECTs the store's inline connection runs from now on (collected as they run)."""
    seen: list[str] = []
    connection = store._database._inline.connection()  # type: ignore[union-attr] # the inline path is under test
    assert connection is not None
    connection.set_trace_callback(lambda statement: seen.append(statement) if "SELECT" in statement else None)
    return seen


def kept(store: SqliteObjectStore) -> int:
    cache: InlineCache[tuple[str, str], ObjectRecord] = store._records
    return len(cache)


def test_an_unchanged_file_answers_from_the_cache(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db") as store:
            original = record("uid-1")
            await store.insert(original)
            statements = selects(store)
            assert await store.get("tenant-a", "uid-1") == original
            assert len(statements) == 1
            for _ in range(3):
                assert await store.get("tenant-a", "uid-1") == original
            assert len(statements) == 1  # only PRAGMA data_version ran since
            assert kept(store) == 1

    asyncio.run(scenario())


def test_a_change_by_this_store_is_read_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db") as store:
            original = record("uid-1")
            await store.insert(original)
            assert await store.get("tenant-a", "uid-1") == original
            revoked = await store.replace(
                dataclasses.replace(original, state=State.COMPROMISED), expected_revision=0
            )
            assert await store.get("tenant-a", "uid-1") == revoked
            await store.delete("tenant-a", "uid-1")
            assert await store.get("tenant-a", "uid-1") is None

    asyncio.run(scenario())


def test_a_change_by_another_process_is_read_at_once(tmp_path: Path) -> None:
    """Any writer at all: here a plain sqlite3 UPDATE from another interpreter. (Another Core on
    the file, a second database here, is test_attribute_cache's first test, caches on.)"""
    path = tmp_path / "o.db"

    async def scenario() -> None:
        async with opened(path) as store:
            original = record("uid-1")
            await store.insert(original)
            assert await store.get("tenant-a", "uid-1") == original
            assert await store.get("tenant-a", "uid-1") == original
            update = (
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                "c.execute('UPDATE objects SET state = ?, material = NULL', (int(sys.argv[2]),)); c.commit()"
            )
            subprocess.run([sys.executable, "-c", update, str(path), str(int(State.DESTROYED))], check=True)
            seen = await store.get("tenant-a", "uid-1")
            assert seen is not None
            assert (seen.state, seen.material) == (State.DESTROYED, None)

    asyncio.run(scenario())


def test_another_tenant_never_gets_a_kept_record(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db") as store:
            await store.insert(record("uid-1"))
            assert await store.get("tenant-a", "uid-1") is not None
            assert await store.get("tenant-b", "uid-1") is None
            assert await store.get("tenant-a", "uid-1") is not None

    asyncio.run(scenario())


@pytest.mark.parametrize("capacity", [0, 2])
def test_the_cache_keeps_at_most_its_capacity(tmp_path: Path, capacity: int) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db", SqliteSettings(record_cache=capacity)) as store:
            records = [record(f"uid-{n}") for n in range(4)]
            for each in records:
                await store.insert(each)
            statements = selects(store)
            for _ in range(2):
                for each in records:
                    assert await store.get("tenant-a", each.unique_identifier) == each
            assert kept(store) == capacity
            # Capacity 2, four records read in turn: each read evicts the oldest, so none hits.
            assert len(statements) == 8
            assert await store.get("tenant-a", "uid-3") == records[3]
            assert len(statements) == (9 if capacity == 0 else 8)

    asyncio.run(scenario())


def test_a_large_record_is_read_afresh_every_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db") as store:
            small = record("uid-1", material=bytes(RECORD_CACHE_MAX_BYTES // 2))
            large = record("uid-2", material=bytes(RECORD_CACHE_MAX_BYTES + 1))
            await store.insert(small)
            await store.insert(large)
            statements = selects(store)
            for _ in range(2):
                assert await store.get("tenant-a", "uid-1") == small
                assert await store.get("tenant-a", "uid-2") == large
            assert len(statements) == 3  # small once, large twice
            assert kept(store) == 1

    asyncio.run(scenario())


def test_reads_on_reader_threads_keep_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "o.db", SqliteSettings(inline_reads=False)) as store:
            await store.insert(record("uid-1"))
            for _ in range(2):
                assert await store.get("tenant-a", "uid-1") is not None
            assert kept(store) == 0

    asyncio.run(scenario())


def test_a_new_connection_starts_an_empty_cache(tmp_path: Path) -> None:
    """Data versions of two connections are unrelated numbers: a value kept while reading on one
    is never returned on the strength of the other's version."""
    first = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    second = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    cache: InlineCache[str, int] = InlineCache(4)
    try:
        assert cache.lookup(first, "k") is None
        cache.keep("k", 1)
        assert cache.lookup(first, "k") == 1
        assert cache.lookup(second, "k") is None
        assert len(cache) == 0
    finally:
        first.close()
        second.close()
