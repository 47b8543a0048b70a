"""The embedded SQLite store of the key hierarchy and the seal configuration.

Invariants:
- It lives in a ``SqliteDatabase`` (``storage.sqlite_database``): blocking sqlite3 calls on
  the database's own threads, never on the event loop; WAL with ``synchronous=FULL``; every
  write committed (one fsync of the WAL, shared by the writes queued with it) before the
  coroutine that asked for it resumes; every await bounded by the database's timeout.
- Every write is one atomic job on the single writer connection; compare-and-set conditions
  are in the ``WHERE`` clause of the same statement, so concurrent processes on the file stay
  correct.
- Every statement is parameterized; tenant-owned rows are always selected by tenant id,
  except the operator scans documented in ``storage.hierarchy``.
- The store either owns its database (``open``: closing the store closes it) or shares one
  that its opener closes (``attach``: one data file for every store of a Core).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar

from kmip_server.storage.errors import StorageClosed, StorageError, StorageTimeout
from kmip_server.storage.hierarchy import (
    IvkRecord,
    IvkState,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from kmip_server.storage.rows import (
    ivk_from_row,
    seal_config_from_row,
    service_key_from_row,
    tenant_root_from_row,
    wrapping_version,
)
from kmip_server.storage.sqlite_database import (
    DEFAULT_READERS,
    DEFAULT_TIMEOUT,
    SqliteDatabase,
    SqliteSettings,
)
from unseal.blob import MAX_WRAPS_PER_KEY
from unseal.records import SealConfig

T = TypeVar("T")

SCHEMA_COMPONENT = "hierarchy"
SCHEMA_VERSION = 2  # 2: service_keys.wrap_count (L4 wraps reserved under each L3 version)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ivk_versions (
        version INTEGER PRIMARY KEY,
        state INTEGER NOT NULL,
        blob BLOB,
        created_at REAL NOT NULL,
        wrap_count INTEGER NOT NULL DEFAULT 0,
        grace_at REAL,
        deprecated_at REAL,
        retired_at REAL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS ivk_versions_one_active ON ivk_versions (state) WHERE state = 1",
    """CREATE TABLE IF NOT EXISTS tenant_roots (
        tenant_id TEXT PRIMARY KEY,
        l2_id TEXT NOT NULL UNIQUE,
        keystore_kind TEXT NOT NULL,
        l1_key_id TEXT NOT NULL,
        sovereign_binding BLOB NOT NULL,
        sovereign_ivk INTEGER NOT NULL,
        active_binding BLOB,
        active_ivk INTEGER,
        linked INTEGER NOT NULL,
        last_l1_check REAL,
        l1_state INTEGER NOT NULL,
        l1_state_at REAL NOT NULL,
        created_at REAL NOT NULL,
        revision INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS tenant_roots_sovereign_ivk ON tenant_roots (sovereign_ivk)",
    "CREATE INDEX IF NOT EXISTS tenant_roots_active_ivk ON tenant_roots (active_ivk)",
    """CREATE TABLE IF NOT EXISTS service_keys (
        tenant_id TEXT NOT NULL,
        service TEXT NOT NULL,
        version INTEGER NOT NULL,
        state INTEGER NOT NULL,
        blob BLOB NOT NULL,
        created_at REAL NOT NULL,
        wrap_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, service, version))""",
    """CREATE TABLE IF NOT EXISTS seal_config (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        cluster_id TEXT NOT NULL,
        region TEXT NOT NULL,
        mode TEXT NOT NULL,
        threshold INTEGER NOT NULL,
        share_count INTEGER NOT NULL,
        check_value BLOB NOT NULL,
        seal_blob BLOB,
        seal_keystore TEXT,
        seal_key_id TEXT,
        share_set_id INTEGER)""",
)

_UPGRADES: dict[int, tuple[str, ...]] = {
    # Version 1 did not count L4 wraps, so how many an existing L3 version made is unknown: each
    # counts as spent (MAX_WRAPS_PER_KEY, the most any setting allows) and its service rotates
    # to a new L3 version at its next wrap. Its blobs still unwrap.
    2: (
        "ALTER TABLE service_keys ADD COLUMN wrap_count INTEGER NOT NULL DEFAULT 0",
        f"UPDATE service_keys SET wrap_count = {MAX_WRAPS_PER_KEY}",  # noqa: S608 - a constant
    ),
}


class _WriterView:
    """``run(job, timeout)`` on the database's writer connection (what the tests inspect)."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def run(self, job: Callable[[sqlite3.Connection], T], timeout: float) -> T:
        try:
            async with asyncio.timeout(timeout):
                return await self._database.write(job)
        except TimeoutError:
            raise StorageTimeout from None


class SqliteStore:
    """``HierarchyStore`` and ``SealRecords`` in a SQLite database.

    ``await SqliteStore.open(path)`` opens a database of its own (closed with the store);
    ``await SqliteStore.attach(database)`` lives in a shared one that its opener closes."""

    def __init__(self, database: SqliteDatabase, *, owns_database: bool) -> None:
        self._database = database
        self._owns_database = owns_database
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        readers: int = DEFAULT_READERS,
    ) -> SqliteStore:
        """Open (creating the file, owner-only, and the schema if needed)."""
        database = await SqliteDatabase.open(path, SqliteSettings(timeout=timeout, readers=readers))
        try:
            return await cls._on(database, owns_database=True)
        except BaseException:
            await database.close()
            raise

    @classmethod
    async def attach(cls, database: SqliteDatabase) -> SqliteStore:
        """The store in ``database`` (creating its tables if needed); closing it leaves the database open."""
        return await cls._on(database, owns_database=False)

    @classmethod
    async def _on(cls, database: SqliteDatabase, *, owns_database: bool) -> SqliteStore:
        await database.ensure_schema(SCHEMA_COMPONENT, SCHEMA_VERSION, _SCHEMA, _UPGRADES)
        return cls(database, owns_database=owns_database)

    @property
    def _writer(self) -> _WriterView:
        """The writer connection, for tests that look at it (``run(job, timeout)``)."""
        return _WriterView(self._database)

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StorageClosed
        return await self._database.write(job)

    async def _read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StorageClosed
        return await self._database.read(job)

    async def close(self) -> None:
        self._closed = True
        if self._owns_database:
            await self._database.close()

    # Seal configuration ----------------------------------------------------------------
    async def load_seal_config(self) -> SealConfig | None:
        def job(connection: sqlite3.Connection) -> SealConfig | None:
            row = connection.execute(
                "SELECT cluster_id, region, mode, threshold, share_count, check_value, seal_blob,"
                " seal_keystore, seal_key_id, share_set_id FROM seal_config WHERE singleton = 1"
            ).fetchone()
            if row is None:
                return None
            return seal_config_from_row(row)

        return await self._read(job)

    async def save_seal_config(self, config: SealConfig) -> None:
        def job(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR REPLACE INTO seal_config (singleton, cluster_id, region, mode, threshold,"
                " share_count, check_value, seal_blob, seal_keystore, seal_key_id, share_set_id)"
                " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    config.cluster_id,
                    config.region,
                    config.mode.value,
                    config.threshold,
                    config.share_count,
                    config.check_value,
                    config.seal_blob,
                    config.seal_keystore,
                    config.seal_key_id,
                    config.share_set_id,
                ),
            )

        await self._write(job)

    # IVK versions ----------------------------------------------------------------------
    async def list_ivks(self) -> list[IvkRecord]:
        def job(connection: sqlite3.Connection) -> list[IvkRecord]:
            rows = connection.execute(
                "SELECT version, state, blob, created_at, wrap_count, grace_at, deprecated_at,"
                " retired_at FROM ivk_versions ORDER BY version"
            )
            return [ivk_from_row(row) for row in rows]

        return await self._read(job)

    @staticmethod
    def _insert_ivk(connection: sqlite3.Connection, record: IvkRecord) -> None:
        connection.execute(
            "INSERT INTO ivk_versions (version, state, blob, created_at, wrap_count, grace_at,"
            " deprecated_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.version,
                int(record.state),
                record.blob,
                record.created_at,
                record.wrap_count,
                record.grace_at,
                record.deprecated_at,
                record.retired_at,
            ),
        )

    async def create_first_ivk(self, record: IvkRecord) -> bool:
        def job(connection: sqlite3.Connection) -> bool:
            if connection.execute("SELECT 1 FROM ivk_versions LIMIT 1").fetchone() is not None:
                return False
            self._insert_ivk(connection, record)
            return True

        return await self._write(job)

    async def rotate_ivk(self, expected_active: int, new: IvkRecord, now: float) -> bool:
        def job(connection: sqlite3.Connection) -> bool:
            active = connection.execute(
                "SELECT version FROM ivk_versions WHERE state = ?", (int(IvkState.ACTIVE),)
            ).fetchone()
            if active is None or active[0] != expected_active:
                return False
            connection.execute(
                "UPDATE ivk_versions SET state = ?, deprecated_at = ? WHERE state = ?",
                (int(IvkState.DEPRECATED), now, int(IvkState.GRACE)),
            )
            connection.execute(
                "UPDATE ivk_versions SET state = ?, grace_at = ? WHERE version = ?",
                (int(IvkState.GRACE), now, expected_active),
            )
            self._insert_ivk(connection, new)
            return True

        return await self._write(job)

    async def reserve_ivk_wraps(self, version: int, count: int) -> int:
        def job(connection: sqlite3.Connection) -> int:
            connection.execute(
                "UPDATE ivk_versions SET wrap_count = wrap_count + ? WHERE version = ?", (count, version)
            )
            row = connection.execute("SELECT wrap_count FROM ivk_versions WHERE version = ?", (version,))
            found = row.fetchone()
            if found is None:
                raise StorageError("no such IVK version")
            return int(found[0])

        return await self._write(job)

    async def deprecate_ivk(self, version: int, now: float) -> bool:
        def job(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE ivk_versions SET state = ?, deprecated_at = ? WHERE version = ? AND state = ?",
                (int(IvkState.DEPRECATED), now, version, int(IvkState.GRACE)),
            )
            return cursor.rowcount == 1

        return await self._write(job)

    async def retire_ivk(self, version: int, left_active_before: float, now: float) -> bool:
        def job(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "UPDATE ivk_versions SET state = ?, blob = NULL, retired_at = ?"
                " WHERE version = ? AND state = ? AND grace_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM tenant_roots WHERE sovereign_ivk = ? OR active_ivk = ?)",
                (
                    int(IvkState.RETIRED),
                    now,
                    version,
                    int(IvkState.DEPRECATED),
                    left_active_before,
                    version,
                    version,
                ),
            )
            return cursor.rowcount == 1

        return await self._write(job)

    async def count_ivk_references(self, version: int) -> int:
        def job(connection: sqlite3.Connection) -> int:
            (count,) = connection.execute(
                "SELECT COUNT(*) FROM tenant_roots WHERE sovereign_ivk = ? OR active_ivk = ?",
                (version, version),
            ).fetchone()
            return int(count)

        return await self._read(job)

    # L2: tenant roots ------------------------------------------------------------------
    async def get_tenant_root(self, tenant_id: str) -> TenantRootRecord | None:
        def job(connection: sqlite3.Connection) -> TenantRootRecord | None:
            row = connection.execute(
                "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding,"
                " linked, last_l1_check, l1_state, l1_state_at, created_at, revision FROM tenant_roots"
                " WHERE tenant_id = ?",
                (tenant_id,),
            ).fetchone()
            return None if row is None else tenant_root_from_row(row)

        return await self._read(job)

    async def create_tenant_root(self, record: TenantRootRecord) -> bool:
        sovereign_ivk = wrapping_version(record.sovereign_binding)
        active_ivk = wrapping_version(record.active_binding)

        def job(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "INSERT INTO tenant_roots (tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding,"
                " sovereign_ivk, active_binding, active_ivk, linked, last_l1_check, l1_state, l1_state_at,"
                " created_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
                " ON CONFLICT (tenant_id) DO NOTHING",
                (
                    record.tenant_id,
                    record.l2_id,
                    record.keystore_kind,
                    record.l1_key_id,
                    record.sovereign_binding,
                    sovereign_ivk,
                    record.active_binding,
                    active_ivk,
                    int(record.linked),
                    record.last_l1_check,
                    int(record.l1_state),
                    record.l1_state_at,
                    record.created_at,
                ),
            )
            return cursor.rowcount == 1

        return await self._write(job)

    async def update_tenant_roots(self, records: Sequence[TenantRootRecord]) -> set[str]:
        rows = [
            (
                record.keystore_kind,
                record.l1_key_id,
                record.sovereign_binding,
                wrapping_version(record.sovereign_binding),
                record.active_binding,
                wrapping_version(record.active_binding),
                int(record.linked),
                record.last_l1_check,
                int(record.l1_state),
                record.l1_state_at,
                record.tenant_id,
                record.l2_id,
                record.revision,
            )
            for record in records
        ]

        def job(connection: sqlite3.Connection) -> set[str]:
            written: set[str] = set()
            for row in rows:
                cursor = connection.execute(
                    "UPDATE tenant_roots SET keystore_kind = ?, l1_key_id = ?, sovereign_binding = ?,"
                    " sovereign_ivk = ?, active_binding = ?, active_ivk = ?, linked = ?, last_l1_check = ?,"
                    " l1_state = ?, l1_state_at = ?, revision = revision + 1"
                    " WHERE tenant_id = ? AND l2_id = ? AND revision = ?",
                    row,
                )
                if cursor.rowcount == 1:
                    written.add(row[10])
            return written

        return await self._write(job) if rows else set()

    async def list_tenant_roots(
        self, *, after: str | None, limit: int, linked_only: bool
    ) -> list[TenantRootRecord]:
        def job(connection: sqlite3.Connection) -> list[TenantRootRecord]:
            rows = connection.execute(
                "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding,"
                " linked, last_l1_check, l1_state, l1_state_at, created_at, revision FROM tenant_roots"
                " WHERE tenant_id > ? AND (linked = 1 OR ? = 0)"
                " ORDER BY tenant_id LIMIT ?",
                (after or "", int(linked_only), limit),
            )
            return [tenant_root_from_row(row) for row in rows]

        return await self._read(job)

    async def list_tenant_roots_wrapped_below(
        self, ivk_version: int, *, after: str | None, limit: int
    ) -> list[TenantRootRecord]:
        def job(connection: sqlite3.Connection) -> list[TenantRootRecord]:
            rows = connection.execute(
                "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding,"
                " linked, last_l1_check, l1_state, l1_state_at, created_at, revision FROM tenant_roots"
                " WHERE tenant_id > ?"
                " AND (sovereign_ivk < ? OR active_ivk < ?) ORDER BY tenant_id LIMIT ?",
                (after or "", ivk_version, ivk_version, limit),
            )
            return [tenant_root_from_row(row) for row in rows]

        return await self._read(job)

    # L3: service keys ------------------------------------------------------------------
    async def list_service_keys(self, tenant_id: str, service: str) -> list[ServiceKeyRecord]:
        def job(connection: sqlite3.Connection) -> list[ServiceKeyRecord]:
            rows = connection.execute(
                "SELECT tenant_id, service, version, state, blob, created_at, wrap_count FROM service_keys"
                " WHERE tenant_id = ? AND service = ? ORDER BY version",
                (tenant_id, service),
            )
            return [service_key_from_row(row) for row in rows]

        return await self._read(job)

    async def add_service_key(self, record: ServiceKeyRecord) -> bool:
        def job(connection: sqlite3.Connection) -> bool:
            (newest,) = connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM service_keys WHERE tenant_id = ? AND service = ?",
                (record.tenant_id, record.service),
            ).fetchone()
            if newest != record.version - 1:
                return False
            connection.execute(
                "UPDATE service_keys SET state = ? WHERE tenant_id = ? AND service = ? AND state = ?",
                (
                    int(ServiceKeyState.DECRYPT_ONLY),
                    record.tenant_id,
                    record.service,
                    int(ServiceKeyState.ACTIVE),
                ),
            )
            connection.execute(
                "INSERT INTO service_keys (tenant_id, service, version, state, blob, created_at,"
                " wrap_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.tenant_id,
                    record.service,
                    record.version,
                    int(ServiceKeyState.ACTIVE),
                    record.blob,
                    record.created_at,
                    record.wrap_count,
                ),
            )
            return True

        return await self._write(job)

    async def reserve_service_key_wraps(self, tenant_id: str, service: str, version: int, count: int) -> int:
        def job(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                "UPDATE service_keys SET wrap_count = wrap_count + ?"
                " WHERE tenant_id = ? AND service = ? AND version = ? RETURNING wrap_count",
                (count, tenant_id, service, version),
            ).fetchall()
            if not rows:
                raise StorageError("no such service key version")
            return int(rows[0][0])

        return await self._write(job)
