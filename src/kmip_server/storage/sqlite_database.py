"""The embedded SQLite database: one file per Core, shared by every store that lives in it.

Invariants:
- sqlite3 blocks, so it runs on the event loop only for point reads (below). The one writer
  connection lives on its own thread; readers use a bounded pool of threads, each with its own
  connection. A connection is only ever used by one thread at a time.
- Point reads (``point_read``: a few rows found through a unique index, e.g. one object by
  its identifier) run on the calling thread, the event loop, on a query-only connection of its
  own: a thread hop costs more CPU than the read itself (20 to 60 µs against about 8 µs).
  WAL readers never wait for the writer, and that connection's busy timeout is zero, so a read
  that would wait for a lock (another process recovering the WAL after a crash, a checkpoint
  resetting it) is handed to a reader thread instead, which waits as reads always did. What can
  still hold the loop is the disk: a page neither in SQLite's cache nor the OS page cache is
  read synchronously (a few index and table pages per lookup; microseconds from the page
  cache, up to a disk's latency when cold). ``SqliteSettings.inline_reads = false`` sends point
  reads to the reader threads too, for a database on storage slow enough to matter. Measured
  (``loadtests.bench_engine --blocking 100000``: random reads of 100,000 objects while 8
  coroutines insert, 2 shared cores): an inline read holds the loop for p50 0.1 ms, p99 0.3 ms,
  p99.9 0.7 ms of CPU, attribute decoding included; wall-clock tails (p99.9 about 4 ms) come
  from the scheduler and the GIL, as for reads on reader threads (p99.9 about 6 ms).
- A store may keep what its point reads found (``InlineCache``, e.g. object records by
  identifier) and answer from it while the file is unchanged: the inline connection never
  writes, so its ``PRAGMA data_version`` changes exactly when some other connection (this
  process's writer, or any process's) committed, and the cache is emptied then. The version is
  read before the rows, so a kept value is never older than the last commit seen. Values read
  on a reader thread are neither looked up nor kept. A hit costs that one pragma (about 6 µs
  in a serving Core) where the read and decode of a record cost about 18.
- Durability: WAL journal with ``synchronous=FULL``. NORMAL would survive a process crash but
  could lose the last commits on power loss, and a lost commit here can be an acknowledged
  key, link, unlink (the kill-switch) or key version whose wraps a client already holds.
- Writers of several processes on one file (a Core's SO_REUSEPORT workers) take turns on a
  ``flock`` of a lock file beside it (``SqliteSettings.writer_lock``), so the next one starts
  the moment the last commits rather than after SQLite's busy handler has slept.
- Writes are serialized on the writer thread and committed in groups: the writes that queued
  up while one COMMIT was under way run next, in one ``BEGIN IMMEDIATE`` transaction, each in
  its own savepoint, and one COMMIT (one fsync of the WAL) makes them all durable. Each write
  sees every write queued before it, exactly as if each had been committed alone; a write that
  raises is rolled back alone. No caller resumes before the COMMIT that holds its write.
- A write job runs inside that transaction: it never issues BEGIN, COMMIT, ROLLBACK or
  SAVEPOINT itself. Each statement of a read job reads one committed state; a job whose
  statements must all read the same one asks for a ``snapshot`` (one read transaction).
- Every await is bounded by ``SqliteSettings.timeout`` (``StorageTimeout``). A job still
  queued when its caller gives up is dropped, never run; one already running finishes (and a
  write commits) on its thread.
- Each store keeps its tables under its own component name in ``schema_versions`` and creates
  them idempotently (``ensure_schema``, which also upgrades an older version of them in the
  same transaction); several stores share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from kmip_server.storage.encoding import DEFAULT_ATTRIBUTE_CACHE
from kmip_server.storage.errors import StorageClosed, StorageError, StorageTimeout

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEFAULT_ATTRIBUTE_CACHE",
    "DEFAULT_INLINE_READS",
    "DEFAULT_RECORD_CACHE",
    "DEFAULT_READERS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WRITER_LOCK",
    "WRITER_LOCK_SUFFIX",
    "InlineCache",
    "SqliteDatabase",
    "SqliteSettings",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

_log = logging.getLogger(__name__)

Job = Callable[[sqlite3.Connection], T]


DEFAULT_TIMEOUT = 10.0  # seconds any one database await may take (StorageTimeout)
DEFAULT_READERS = 2  # reader connections, each on its own thread
BUSY_TIMEOUT_MS = 5000  # waiting for another process that holds the write lock
DEFAULT_MAX_GROUP = 512  # writes committed together by one COMMIT when they queue up
DEFAULT_INLINE_READS = True  # point reads on the calling thread (module docstring)
DEFAULT_WRITER_LOCK = True  # writers of several processes queue on a flock (_WriterLock)
DEFAULT_RECORD_CACHE = 2048  # values an InlineCache keeps (a store's records by identifier)
WRITER_LOCK_SUFFIX = "-writer-lock"  # the lock file: the database file's name and this


@dataclass(frozen=True, slots=True)
class SqliteSettings:
    timeout: float = DEFAULT_TIMEOUT
    readers: int = DEFAULT_READERS
    busy_timeout_ms: int = BUSY_TIMEOUT_MS
    max_group: int = DEFAULT_MAX_GROUP
    inline_reads: bool = DEFAULT_INLINE_READS
    writer_lock: bool = DEFAULT_WRITER_LOCK
    """Writers of several processes on the file queue on a ``flock`` (``_WriterLock``) rather
    than in SQLite's sleeping busy handler."""
    attribute_cache: int = DEFAULT_ATTRIBUTE_CACHE
    """How many decoded attribute sets the object store in this database keeps, by their stored
    bytes (``storage.encoding.AttributeCache``); 0 decodes every read afresh."""
    record_cache: int = DEFAULT_RECORD_CACHE
    """How many records the object store keeps from its point reads while the file is unchanged
    (``InlineCache``); 0 reads every record afresh. A created AES key's record takes about 3 KB
    of memory (2,048 of them: 6.5 MB per worker), and none kept is over 3 KiB stored."""

    def __post_init__(self) -> None:
        if (
            self.timeout <= 0
            or self.readers < 1
            or self.busy_timeout_ms < 0
            or self.max_group < 1
            or self.attribute_cache < 0
            or self.record_cache < 0
        ):
            raise ValueError("SQLite settings out of range")


class _Call:
    """A job queued for a database thread, and its caller's future on the caller's event loop.

    A caller that gives up (its timeout, or its own cancellation) cancels the future; a thread
    that finds it cancelled when the job's turn comes drops the job unrun. Replies are settled
    on the caller's loop (``_reply``), one wake-up of the loop for every reply of a group."""

    __slots__ = ("job", "loop", "waiter")

    def __init__(self, job: Job[Any]) -> None:
        self.job = job
        self.loop = asyncio.get_running_loop()
        self.waiter: asyncio.Future[Any] = self.loop.create_future()

    def abandoned(self) -> bool:
        return self.waiter.cancelled()


Reply = tuple[_Call, bool, Any]  # (call, succeeded, result or exception)


def _reply(replies: Sequence[Reply]) -> None:
    """From a database thread: hand ``replies`` to their callers' loops."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Reply]] = {}
    for reply in replies:
        by_loop.setdefault(reply[0].loop, []).append(reply)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, batch)


def _settle(replies: list[Reply]) -> None:
    """On the caller's loop: settle each future its caller still waits for."""
    for call, succeeded, value in replies:
        waiter = call.waiter
        if waiter.done():  # its caller gave up meanwhile
            continue
        if succeeded:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


async def _bounded(call: _Call, timeout: float) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await call.waiter
    except TimeoutError:
        raise StorageTimeout from None
    except sqlite3.Error as exc:
        raise StorageError from exc


class _GroupAborted(Exception):
    """The group's transaction is gone; ``cause`` is what every write in it is told, but
    ``call``, whose job it was, which is told its own error."""

    def __init__(self, call: _Call, cause: BaseException) -> None:
        super().__init__("write group aborted")
        self.call = call
        self.cause = cause


def _group_failed(cause: BaseException) -> StorageError:
    error = StorageError("the write could not be committed")
    error.__cause__ = cause
    return error


class _WriterLock:
    """An exclusive ``flock`` of ``<database file>-writer-lock``, held by a writer thread from
    before its ``BEGIN IMMEDIATE`` to after its ``COMMIT``: the writers of several processes on
    one file (the SO_REUSEPORT workers of a Core) wait for each other in the kernel, which wakes
    the next the moment the holder is done. Without it they meet in SQLite's busy handler,
    which sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between attempts: tens of ms of latency per
    contended write. SQLite's own locks still decide correctness; a process that does not take
    this lock (a command line tool) is waited for through them as before. On a file system
    without ``flock`` the lock is skipped."""

    def __init__(self, database_path: str, *, enabled: bool) -> None:
        self._path = database_path + WRITER_LOCK_SUFFIX
        self._fd: int | None = None
        self._usable = enabled

    def acquire(self) -> bool:
        """Wait for the lock; False when it cannot be had on this file system (then skipped)."""
        if not self._usable:
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            _log.warning("no flock on %s: concurrent writers meet in SQLite's busy handler", self._path)
            self._usable = False
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _Writer:
    """The writer thread, its connection, and the queue of writes waiting for it."""

    def __init__(self, path: str, settings: SqliteSettings) -> None:
        self._path = path
        self._settings = settings
        self._connection: sqlite3.Connection | None = None
        self._lock = _WriterLock(path, enabled=settings.writer_lock)
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def run(self, job: Job[T], timeout: float) -> T:
        """Run ``job`` in a write transaction; return once it is committed."""
        call = _Call(job)
        self._queue.put(call)
        result: T = await _bounded(call, timeout)
        return result

    async def close(self) -> None:
        """Finish the writes already queued, then stop the thread."""
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # On the writer thread ---------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            connection.execute(f"PRAGMA busy_timeout = {int(self._settings.busy_timeout_ms)}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            self._connection = connection
        return self._connection

    def _serve(self) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group = [first]
                stopping = False
                while len(group) < self._settings.max_group:
                    try:
                        queued = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if queued is None:
                        stopping = True
                        break
                    group.append(queued)
                self._commit_group(group)
                if stopping:
                    return
        finally:
            self._stop()

    def _stop(self) -> None:
        leftovers: list[Reply] = []
        while True:  # nothing is queued after close(); this is a guard, not a path
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is not None:
                leftovers.append((leftover, False, StorageClosed()))
        _reply(leftovers)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._lock.close()

    def _commit_group(self, group: list[_Call]) -> None:
        replies: list[Reply] = []  # the writes that ran
        locked = False
        try:
            connection = self._connect()
            locked = self._lock.acquire()
            connection.execute("BEGIN IMMEDIATE")
            for call in group:
                # Claimed one by one: a write whose caller gave up before its turn never runs.
                if not call.abandoned():
                    replies.append(self._run_one(connection, call))
            connection.execute("COMMIT" if replies else "ROLLBACK")
        except BaseException as exc:
            if self._connection is not None and self._connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("ROLLBACK")
            if locked:
                self._lock.release()
            # Nothing of this group was committed: a write that failed on its own keeps its
            # own error, every other one (run or not) is told why the group failed.
            own = {id(call): value for call, succeeded, value in replies if not succeeded}
            cause = exc
            if isinstance(exc, _GroupAborted):
                own[id(exc.call)] = cause = exc.cause
            _reply(
                [
                    (call, False, own.get(id(call)) or _group_failed(cause))
                    for call in group
                    if not call.abandoned()
                ]
            )
            return
        if locked:
            self._lock.release()
        _reply(replies)

    @staticmethod
    def _run_one(connection: sqlite3.Connection, call: _Call) -> Reply:
        connection.execute("SAVEPOINT one_write")
        try:
            result = call.job(connection)
        except BaseException as exc:
            if not connection.in_transaction:  # SQLite rolled the whole transaction back
                raise _GroupAborted(call, exc) from exc
            connection.execute("ROLLBACK TO one_write")
            connection.execute("RELEASE one_write")
            return call, False, exc
        connection.execute("RELEASE one_write")
        return call, True, result


class _Readers:
    """A bounded pool of reader threads, each with its own (query-only) connection."""

    def __init__(self, path: str, settings: SqliteSettings) -> None:
        self._path = path
        self._settings = settings
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"sqlite-reader-{number}", daemon=True)
            for number in range(settings.readers)
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so that close() can close it after the thread stopped.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {int(self._settings.busy_timeout_ms)}")
        connection.execute("PRAGMA query_only = ON")
        with self._lock:
            self._connections.append(connection)
        return connection

    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            call = self._queue.get()
            if call is None:
                return
            if call.abandoned():
                continue
            try:
                if connection is None:
                    connection = self._connect()
                reply: Reply = (call, True, call.job(connection))
            except BaseException as exc:
                reply = (call, False, exc)
            _reply((reply,))

    @staticmethod
    def _snapshot(job: Job[T]) -> Job[T]:
        def in_one_transaction(connection: sqlite3.Connection) -> T:
            connection.execute("BEGIN")
            try:
                return job(connection)
            finally:
                if connection.in_transaction:  # a read transaction: commit and rollback are the same
                    connection.execute("COMMIT")

        return in_one_transaction

    async def run(self, job: Job[T], timeout: float, *, snapshot: bool) -> T:
        if self._closed:
            raise StorageClosed
        call = _Call(self._snapshot(job) if snapshot else job)
        self._queue.put(call)
        result: T = await _bounded(call, timeout)
        return result

    async def close(self) -> None:
        """Finish the reads already queued, then stop the threads and close their connections."""
        self._closed = True
        for _thread in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            await asyncio.to_thread(thread.join)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


_LOCK_ERRORS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})  # primary result codes


class _InlineReader:
    """The query-only connection of the point reads run on the calling thread. It belongs to
    the thread that opened the database (the event loop's); other threads get None."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._owner = threading.get_ident()
        self._connection: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection | None:
        if threading.get_ident() != self._owner:
            return None
        connection = self._connection
        if connection is None:
            # check_same_thread=False only so that close() may come from any thread.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout = 0")  # never wait for a lock: hand over
            connection.execute("PRAGMA query_only = ON")
            self._connection = connection
        return connection

    def owns(self, connection: sqlite3.Connection) -> bool:
        return connection is self._connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class InlineCache(Generic[K, V]):
    """Values a store's point reads found on the inline connection, kept while nothing commits
    to the file (module docstring). Used only by jobs running there (``reads_inline``): look up
    first, read the rows only on a miss, then keep. At ``capacity`` the oldest value makes room."""

    __slots__ = ("_capacity", "_connection", "_values", "_version")

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._capacity = capacity
        self._values: dict[K, V] = {}
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None

    def __len__(self) -> int:
        return len(self._values)

    def lookup(self, connection: sqlite3.Connection, key: K) -> V | None:
        """The value kept for ``key``, unless something committed since it was read (then
        every kept value is dropped). Reads ``connection``'s data version: before the job."""
        if not self._capacity:
            return None
        (version,) = connection.execute("PRAGMA data_version").fetchone()
        if connection is not self._connection or version != self._version:
            self._values.clear()
            self._connection, self._version = connection, version
            return None
        return self._values.get(key)

    def keep(self, key: K, value: V) -> None:
        """Keep ``value``, read on the connection of the last ``lookup`` (after it)."""
        values = self._values
        if not self._capacity:
            return
        if len(values) >= self._capacity and key not in values:
            del values[next(iter(values))]
        values[key] = value


class SqliteDatabase:
    """One SQLite file: a writer thread with group commit and a pool of readers.

    Open with ``await SqliteDatabase.open(path)``; stores attach to it (``SqliteStore.attach``,
    ``SqliteObjectStore.attach``). Whoever opened it closes it, after the stores are done."""

    def __init__(self, path: str, settings: SqliteSettings) -> None:
        self._path = path
        self._settings = settings
        self._writer = _Writer(path, settings)
        self._readers = _Readers(path, settings)
        self._inline = _InlineReader(path) if settings.inline_reads else None
        self._closed = False

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], settings: SqliteSettings | None = None
    ) -> SqliteDatabase:
        """Open (creating the file, owner-only, if needed) and switch it to WAL."""
        target = Path(path)
        if not target.exists():
            # Owner-only from the first byte: the file holds wrapped keys and the seal config.
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        database = cls(os.fspath(target), settings or SqliteSettings())
        try:
            await database.write(lambda connection: None)  # connects: WAL before any reader opens
        except BaseException:
            await database.close()
            raise
        return database

    @property
    def path(self) -> str:
        return self._path

    @property
    def settings(self) -> SqliteSettings:
        return self._settings

    @property
    def closed(self) -> bool:
        return self._closed

    async def write(self, job: Job[T]) -> T:
        """Run ``job`` on the writer connection inside a transaction; return once committed."""
        if self._closed:
            raise StorageClosed
        return await self._writer.run(job, self._settings.timeout)

    async def read(self, job: Job[T], *, snapshot: bool = False) -> T:
        """Run ``job`` on a reader connection; with ``snapshot``, in one read transaction."""
        if self._closed:
            raise StorageClosed
        return await self._readers.run(job, self._settings.timeout, snapshot=snapshot)

    def reads_inline(self, connection: sqlite3.Connection) -> bool:
        """Whether ``connection`` is the inline one (a point read's job asks: only there may it
        use an ``InlineCache``)."""
        inline = self._inline
        return inline is not None and inline.owns(connection)

    async def point_read(self, job: Job[T]) -> T:
        """Run ``job``, a read of a few rows found through a unique index, on the calling thread
        (the event loop) when ``inline_reads`` allows; on a reader thread when that is off, when
        called from another thread, or when the read would wait for a lock (module docstring).
        The job may run twice (inline, then on a reader): it must only read."""
        if self._closed:
            raise StorageClosed
        inline = self._inline
        connection = inline.connection() if inline is not None else None
        if connection is not None:
            try:
                return job(connection)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _LOCK_ERRORS:
                    raise StorageError from exc
            except sqlite3.Error as exc:
                raise StorageError from exc
        return await self._readers.run(job, self._settings.timeout, snapshot=False)

    async def ensure_schema(
        self,
        component: str,
        version: int,
        statements: Sequence[str],
        upgrades: Mapping[int, Sequence[str]] | None = None,
    ) -> None:
        """Create ``component``'s tables (idempotent) and check its recorded schema version.

        A database at an older version is brought to ``version`` in the same transaction:
        ``statements`` first (new tables and indexes, idempotent), then ``upgrades[v]`` for each
        version ``v`` after the recorded one (what moves existing rows, e.g. a backfill).
        Without an upgrade for every step, an older database is refused as a newer one is."""
        steps = upgrades or {}

        def job(connection: sqlite3.Connection) -> None:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            found = connection.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
            stored = version if found is None else found[0]
            pending = range(stored + 1, version + 1)
            if stored > version or any(step not in steps for step in pending):
                raise StorageError("database schema version is not supported")
            for statement in statements:
                connection.execute(statement)
            for step in pending:
                for statement in steps[step]:
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, version),
            )

        await self.write(job)

    async def close(self) -> None:
        """Finish queued writes, stop every thread and close every connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        await self._readers.close()
        if self._inline is not None:
            self._inline.close()
