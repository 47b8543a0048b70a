"""SQLite point reads on the event loop: where each read runs, and what happens when it would
wait for a lock. (The object stores' cache of decoded attributes, SQLite's and PostgreSQL's:
``test_attribute_cache.py``.)"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kmip_server.storage import StorageError
from kmip_server.storage.sqlite_database import SqliteDatabase, SqliteSettings


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
