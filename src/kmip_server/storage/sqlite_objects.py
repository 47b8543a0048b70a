"""The embedded SQLite store of KMIP managed objects (``ObjectStore``).

Invariants:
- It lives in a ``SqliteDatabase`` (``storage.sqlite_database``), usually the Core's one data
  file shared with the hierarchy store: blocking calls off the event loop, WAL with
  ``synchronous=FULL``, each write durable before its caller resumes, every await bounded.
- Every statement names the caller's tenant in its ``WHERE`` clause (or, for an insert, writes
  the record's own tenant): a unique identifier of another tenant reads, replaces, deletes and
  locates exactly like one that does not exist.
- ``seq`` (the rowid) is the creation order: a new row's is above every existing one, so
  ``ORDER BY seq`` is the order records were inserted, and every index of the table ends
  with it at no cost.
- ``object_names`` mirrors the Name values of each record (what Locate by name narrows on);
  ``held_names`` has the names records hold (``storage.objects``: live records, written with
  ``unique_names``), its primary key (tenant, name) the one-holder rule. Both are rewritten in
  the write of the record, so they never disagree with it. Writes are serialized (one writer
  thread, and across processes SQLite's write lock), so a write's claim of a name and the
  check that nobody else holds it are one step.
- ``write_many`` is one write job: its statements run in one savepoint of the writer's
  transaction, rolled back together when one of them fails.
- Records are stored as ``storage.encoding`` encodes them (attributes as one TTLV byte string,
  encoded before the write is queued), and read back through its ``AttributeCache``
  (``SqliteSettings.attribute_cache`` sets).
- ``get`` is a point read (``SqliteDatabase.point_read``: on the event loop unless that would
  wait), answered from the records earlier inline point reads kept while the file has not
  changed since (``InlineCache``: at most ``SqliteSettings.record_cache`` records, none over
  ``RECORD_CACHE_MAX_BYTES``); ``find`` reads on a reader thread.
- ``replace`` is one ``UPDATE ... WHERE revision = ?``: the compare-and-set and the write are
  the same statement, so it holds across processes sharing the file too.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

import ttlv
from kmip_server.storage.encoding import (
    ATTRIBUTE_CACHE_MAX_BYTES,
    ATTRIBUTE_ENCODINGS,
    DEFAULT_ATTRIBUTE_LIMITS,
    AttributeCache,
    AttributeEncodings,
    EncodedRecord,
    encode_record,
    encode_writes,
    record_from_row,
)
from kmip_server.storage.errors import StorageClosed
from kmip_server.storage.objects import (
    DESTROYED_STATES,
    ConcurrentUpdate,
    DuplicateIdentifier,
    DuplicateName,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
    Replacement,
)
from kmip_server.storage.sqlite_database import InlineCache, SqliteDatabase, SqliteSettings

__all__ = [
    "ATTRIBUTE_CACHE_MAX_BYTES",
    "ATTRIBUTE_ENCODINGS",
    "DEFAULT_ATTRIBUTE_LIMITS",
    "RECORD_CACHE_MAX_BYTES",
    "SCHEMA_COMPONENT",
    "SCHEMA_VERSION",
    "SqliteObjectStore",
]

SCHEMA_COMPONENT = "objects"
SCHEMA_VERSION = 2  # 2: held_names (the names live records hold, unique per tenant)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS objects (
        seq INTEGER PRIMARY KEY,
        unique_identifier TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL,
        service TEXT NOT NULL,
        object_type INTEGER NOT NULL,
        state INTEGER NOT NULL,
        attributes BLOB NOT NULL,
        material BLOB,
        revision INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS objects_by_tenant ON objects (tenant_id, object_type, state, seq)",
    "CREATE INDEX IF NOT EXISTS objects_by_service ON objects (tenant_id, service, seq)",
    """CREATE TABLE IF NOT EXISTS object_names (
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name, seq)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS object_names_by_object ON object_names (seq)",
    """CREATE TABLE IF NOT EXISTS held_names (
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS held_names_by_object ON held_names (seq)",
)

_UPGRADES: dict[int, tuple[str, ...]] = {
    # Version 1 had no held_names: each name a live object carries is held by the oldest such
    # object (later duplicates, stored before names were unique, keep the name unheld).
    2: (
        f"""INSERT INTO held_names (tenant_id, name, seq)
        SELECT n.tenant_id, n.name, min(n.seq) FROM object_names AS n JOIN objects AS o ON o.seq = n.seq
        WHERE o.state NOT IN ({", ".join(str(int(state)) for state in sorted(DESTROYED_STATES))})
        GROUP BY n.tenant_id, n.name""",  # noqa: S608 - constants only
    ),
}

_COLUMNS = (
    "o.unique_identifier, o.tenant_id, o.service, o.object_type, o.state,"
    " o.attributes, o.material, o.revision"
)

RECORD_CACHE_MAX_BYTES = 3072
"""Records whose stored attributes and material together are larger than this are read afresh
every time, never kept (``get``): the record cache holds at most ``record_cache`` times a few
times this much."""


def _small(row: Sequence[Any]) -> bool:
    """Whether a row of ``_COLUMNS`` is small enough for the record cache."""
    material = row[6]
    return len(row[5]) + (len(material) if material is not None else 0) <= RECORD_CACHE_MAX_BYTES


_SELECT = f"SELECT {_COLUMNS} FROM objects AS o WHERE "  # noqa: S608 - constant column list
_GET = _SELECT + "o.unique_identifier = ? AND o.tenant_id = ?"  # one row, by the unique index

# find(): the statement is assembled from these fixed fragments only; every value is bound.
# With names, the first name's index entries drive the query (CROSS JOIN fixes the loop order
# in SQLite), already in creation order; every further name is one primary-key probe per
# candidate. Without names, the tenant's rows are read through an index of ``objects``.
_FROM_OBJECTS = _SELECT + "o.tenant_id = ?"
_FROM_NAME = (
    f"SELECT {_COLUMNS} FROM object_names AS n CROSS JOIN objects AS o"  # noqa: S608 - constants
    " WHERE n.tenant_id = ? AND n.name = ? AND o.seq = n.seq AND o.tenant_id = ?"
)
_AND_TYPE = " AND o.object_type = ?"
_AND_SERVICE = " AND o.service = ?"
_AND_NAME = (
    " AND EXISTS (SELECT 1 FROM object_names AS m WHERE m.tenant_id = ? AND m.name = ? AND m.seq = o.seq)"
)
_ORDER_BY_NAME = " ORDER BY n.seq"
_ORDER_BY_OBJECT = " ORDER BY o.seq"


def _write_names(connection: sqlite3.Connection, tenant_id: str, seq: int, names: tuple[str, ...]) -> None:
    if not names:
        return
    connection.executemany(
        "INSERT INTO object_names (tenant_id, name, seq) VALUES (?, ?, ?)",
        [(tenant_id, name, seq) for name in names],
    )


def _hold(
    connection: sqlite3.Connection, tenant_id: str, seq: int, holds: tuple[str, ...], had: frozenset[str]
) -> None:
    """Claim ``holds`` for the record at ``seq`` (whose held names were released first): a name
    another record holds is ``DuplicateName`` unless the record ``had`` it (then it stays unheld)."""
    for name in holds:
        claimed = connection.execute(
            "INSERT INTO held_names (tenant_id, name, seq) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant_id, name) DO NOTHING RETURNING seq",
            (tenant_id, name, seq),
        ).fetchone()
        if claimed is None and name not in had:
            raise DuplicateName


def _insert_row(connection: sqlite3.Connection, row: EncodedRecord) -> None:
    found = connection.execute(
        "INSERT INTO objects (unique_identifier, tenant_id, service, object_type, state,"
        " attributes, material, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (unique_identifier) DO NOTHING RETURNING seq",
        (
            row.unique_identifier,
            row.tenant_id,
            row.service,
            row.object_type,
            row.state,
            row.attributes,
            row.material,
            row.revision,
        ),
    ).fetchone()
    if found is None:
        raise DuplicateIdentifier
    _write_names(connection, row.tenant_id, found[0], row.names)
    _hold(connection, row.tenant_id, found[0], row.holds, frozenset())


def _replace_row(connection: sqlite3.Connection, row: EncodedRecord, expected_revision: int) -> None:
    found = connection.execute(
        "UPDATE objects SET service = ?, object_type = ?, state = ?, attributes = ?,"
        " material = ?, revision = revision + 1"
        " WHERE unique_identifier = ? AND tenant_id = ? AND revision = ? RETURNING seq",
        (
            row.service,
            row.object_type,
            row.state,
            row.attributes,
            row.material,
            row.unique_identifier,
            row.tenant_id,
            expected_revision,
        ),
    ).fetchone()
    if found is None:
        raise ConcurrentUpdate
    seq = found[0]
    had = frozenset(
        name
        for (name,) in connection.execute(
            "DELETE FROM object_names WHERE seq = ? AND tenant_id = ? RETURNING name", (seq, row.tenant_id)
        ).fetchall()
    )
    _write_names(connection, row.tenant_id, seq, row.names)
    connection.execute("DELETE FROM held_names WHERE seq = ? AND tenant_id = ?", (seq, row.tenant_id))
    _hold(connection, row.tenant_id, seq, row.holds, had)


class SqliteObjectStore(ObjectStore):
    """Managed objects in a SQLite database.

    ``await SqliteObjectStore.open(path)`` opens a database of its own (closed with the store);
    ``await SqliteObjectStore.attach(database)`` lives in a shared one (the Core's data file,
    also holding the hierarchy store) that its opener closes."""

    def __init__(
        self, database: SqliteDatabase, *, owns_database: bool, attribute_limits: ttlv.Limits
    ) -> None:
        self._database = database
        self._owns_database = owns_database
        self._limits = attribute_limits
        self._attributes = AttributeCache(database.settings.attribute_cache, attribute_limits)
        # Records by (tenant, identifier): a hit is the record of that tenant, as a read would be.
        self._records: InlineCache[tuple[str, str], ObjectRecord] = InlineCache(
            database.settings.record_cache
        )
        self._encodings = AttributeEncodings(ATTRIBUTE_ENCODINGS)
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        settings: SqliteSettings | None = None,
        *,
        attribute_limits: ttlv.Limits = DEFAULT_ATTRIBUTE_LIMITS,
    ) -> SqliteObjectStore:
        """Open (creating the file, owner-only, and the tables if needed)."""
        database = await SqliteDatabase.open(path, settings)
        try:
            return await cls._on(database, owns_database=True, attribute_limits=attribute_limits)
        except BaseException:
            await database.close()
            raise

    @classmethod
    async def attach(
        cls, database: SqliteDatabase, *, attribute_limits: ttlv.Limits = DEFAULT_ATTRIBUTE_LIMITS
    ) -> SqliteObjectStore:
        """The store in ``database`` (creating its tables if needed); closing it leaves the database open."""
        return await cls._on(database, owns_database=False, attribute_limits=attribute_limits)

    @classmethod
    async def _on(
        cls, database: SqliteDatabase, *, owns_database: bool, attribute_limits: ttlv.Limits
    ) -> SqliteObjectStore:
        await database.ensure_schema(SCHEMA_COMPONENT, SCHEMA_VERSION, _SCHEMA, _UPGRADES)
        return cls(database, owns_database=owns_database, attribute_limits=attribute_limits)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed

    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        self._check_open()
        row = encode_record(record, self._limits, self._encodings, unique_names=unique_names)

        def job(connection: sqlite3.Connection) -> None:
            _insert_row(connection, row)

        await self._database.write(job)

    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        self._check_open()
        attributes = self._attributes
        database = self._database
        key = (tenant_id, unique_identifier)

        def job(connection: sqlite3.Connection) -> ObjectRecord | None:
            records = self._records if database.reads_inline(connection) else None
            if records is not None:
                kept = records.lookup(connection, key)  # before the row: see InlineCache
                if kept is not None:
                    return kept
            # fetchall: the statement runs to its end, so no read transaction stays open.
            rows = connection.execute(_GET, (unique_identifier, tenant_id)).fetchall()
            if not rows:
                return None
            record = record_from_row(rows[0], attributes, remember=True)
            if records is not None and _small(rows[0]):
                records.keep(key, record)
            return record

        return await database.point_read(job)

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        self._check_open()
        row = encode_record(record, self._limits, self._encodings, unique_names=unique_names)

        def job(connection: sqlite3.Connection) -> None:
            _replace_row(connection, row, expected_revision)

        await self._database.write(job)
        return dataclasses.replace(record, revision=expected_revision + 1)

    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        self._check_open()
        if not inserts and not replaces:
            return []
        _tenant_id, replaced, inserted = encode_writes(
            inserts, replaces, self._limits, self._encodings, unique_names=unique_names
        )

        def job(connection: sqlite3.Connection) -> None:
            # One job is one savepoint of the writer's transaction: a failure undoes all of it.
            for row, revision in replaced:
                _replace_row(connection, row, revision)
            for row in inserted:
                _insert_row(connection, row)

        await self._database.write(job)
        return [dataclasses.replace(record, revision=revision + 1) for record, revision in replaces]

    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        self._check_open()

        def job(connection: sqlite3.Connection) -> None:
            found = connection.execute(
                "DELETE FROM objects WHERE unique_identifier = ? AND tenant_id = ? RETURNING seq",
                (unique_identifier, tenant_id),
            ).fetchone()
            if found is not None:
                connection.execute(
                    "DELETE FROM object_names WHERE seq = ? AND tenant_id = ?", (found[0], tenant_id)
                )
                connection.execute(
                    "DELETE FROM held_names WHERE seq = ? AND tenant_id = ?", (found[0], tenant_id)
                )

        await self._database.write(job)

    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        self._check_open()
        if query.states is not None and not query.states:
            return []  # no state is in the empty set
        names = tuple(dict.fromkeys(query.names))
        parts: list[str] = []
        parameters: list[object] = []
        if names:
            parts.append(_FROM_NAME)
            parameters += (tenant_id, names[0], tenant_id)
        else:
            parts.append(_FROM_OBJECTS)
            parameters.append(tenant_id)
        if query.object_type is not None:
            parts.append(_AND_TYPE)
            parameters.append(int(query.object_type))
        if query.states is not None:
            parts.append(" AND o.state IN (" + ", ".join("?" * len(query.states)) + ")")
            parameters += sorted(int(state) for state in query.states)
        if query.service is not None:
            parts.append(_AND_SERVICE)
            parameters.append(query.service)
        for name in names[1:]:
            parts.append(_AND_NAME)
            parameters += (tenant_id, name)
        parts.append(_ORDER_BY_NAME if names else _ORDER_BY_OBJECT)
        statement = "".join(parts)
        attributes = self._attributes

        def job(connection: sqlite3.Connection) -> list[ObjectRecord]:
            return [
                record_from_row(row, attributes, remember=False)
                for row in connection.execute(statement, parameters)
            ]

        return await self._database.read(job)

    async def close(self) -> None:
        self._closed = True
        if self._owns_database:
            await self._database.close()
