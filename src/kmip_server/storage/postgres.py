"""The PostgreSQL storage plugin: managed objects, the key hierarchy and the seal configuration.

Invariants:
- The Core logs in as the application role (``rls.roles``): row-level security, not only our
  ``WHERE`` clauses, keeps each tenant's rows apart. Every call on a tenant-owned row runs in a
  tenant-scoped transaction (``rls.tenant``), or, for the hot reads (Get, Locate by name), is
  one call of a schema function that scopes its own statement the same way (one round trip);
  the scope ends with the transaction. The pool resets a connection (``RESET ALL``,
  ``SET SESSION AUTHORIZATION DEFAULT``, ...) before it is handed out again, unless its last
  use was one of those fixed function calls, which leave no session state; so no tenant and no
  session setting outlives its call.
- Every statement also names the tenant itself (as the SQLite store does): the policies are
  the second wall, not the only one.
- One ``PostgresDatabase`` (one asyncpg pool) is shared by the object store and the hierarchy
  store of a Core. Several Cores may share one database: every compare-and-set is the
  ``WHERE`` clause of the statement that writes (``revision = $n``), so two Cores racing on an
  object or a tenant root cannot both win; the loser sees ``ConcurrentUpdate`` / ``False``.
- Every call is bounded by ``PostgresSettings.timeout`` (acquire, statements, retries and
  commit together; ``StorageTimeout``), and the server bounds each statement and each idle
  transaction by the same time, so a vanished Core holds no lock for long.
- Retries only where safe: a call is repeated after a connection or server failure (the
  server restarting, a broken pooled connection, a serialization failure or deadlock) only
  if the failure came before COMMIT was sent (the transaction cannot have committed), or if
  the call is read-only or idempotent. A failure during COMMIT of a write is reported as a
  ``StorageError``: the write may or may not be stored, and the caller was not told it was.
- Every error leaving this module is a ``StorageError`` (General Failure for a client); the
  database's own message stays in the exception chain, for the log only.
- Writes are durable when the call returns: COMMIT returned (``synchronous_commit`` is the
  server's, ``on`` by default).
- Records are stored as ``storage.encoding`` encodes them (the SQLite store's bytes), and read
  back through its ``AttributeCache`` (``PostgresSettings.attribute_cache`` sets, by their
  stored bytes): every read still reads the row, whichever Core wrote it, so only the decoding
  of bytes already seen is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import asyncpg

import ttlv
from kmip_server.storage.encoding import (
    ATTRIBUTE_ENCODINGS,
    DEFAULT_ATTRIBUTE_LIMITS,
    AttributeCache,
    AttributeEncodings,
    EncodedRecord,
    encode_record,
    encode_writes,
    record_from_row,
)
from kmip_server.storage.errors import StorageClosed, StorageError, StorageTimeout
from kmip_server.storage.hierarchy import (
    IvkRecord,
    IvkState,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from kmip_server.storage.objects import (
    ConcurrentUpdate,
    DuplicateIdentifier,
    DuplicateName,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
    Replacement,
)
from kmip_server.storage.postgres_settings import DEFAULT_TIMEOUT, PostgresSettings
from kmip_server.storage.rows import (
    ivk_from_row,
    seal_config_from_row,
    service_key_from_row,
    tenant_root_from_row,
    wrapping_version,
)
from rls.migrations import LATEST_VERSION
from rls.roles import quote_identifier
from rls.runner import schema_state
from rls.tenant import set_tenant
from unseal.records import SealConfig

__all__ = [
    "DEFAULT_TIMEOUT",
    "PostgresDatabase",
    "PostgresHierarchyStore",
    "PostgresObjectStore",
    "PostgresSettings",
    "SchemaNotCurrent",
]

_log = logging.getLogger("kmip_server.storage.postgres")

T = TypeVar("T")
Job = Callable[[Any], Awaitable[T]]

APPLICATION_NAME = "openkcm-core"

_RESET = (
    "SELECT pg_catalog.pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;"
    " SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DISCARD TEMP;"
)
"""Run on a connection given back to the pool, before anyone acquires it again: whatever a call
did to its session (a setting, a role, a cursor, a lock) is gone. Prepared statements stay
(they hold no state of a call). Skipped only after a call whose one statement was a call of
the schema's ``scoped_*`` read functions: fixed statements that change no session state (their
settings are transaction-local and their SET clauses end with them), so that the hot reads
cost one round trip, not two."""

_IVK_LOCK = 0x4F4B434D_69766B73  # "OKCM" "ivks": serializes IVK creation and rotation across Cores


class SchemaNotCurrent(StorageError):
    def __init__(self, found: int) -> None:
        if found < LATEST_VERSION:
            super().__init__(
                f"the database schema is at version {found}, this Core needs {LATEST_VERSION}:"
                " run `openkcm db migrate`"
            )
        else:
            super().__init__(
                f"the database schema is at version {found}, newer than this Core's {LATEST_VERSION}"
            )


class _CommitUnknown(StorageError):
    def __init__(self) -> None:
        super().__init__("the database connection failed while committing: the write may not be stored")


# -- failures: which ones a retry may follow ------------------------------------------------------

_TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # 08xxx: the connection is gone
    asyncpg.exceptions.AdminShutdownError,  # 57P01: the server is shutting down (a restart)
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: the server is starting
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
    asyncpg.InterfaceError,  # client side: the connection was closed under the call
    asyncpg.InternalClientError,  # client side: the protocol lost track after the server left
    OSError,  # refused, reset, unreachable
)
_ROLLED_BACK = (asyncpg.exceptions.TransactionRollbackError,)  # 40xxx: serialization, deadlock


def _storage_error(exc: BaseException) -> StorageError:
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):  # statement_timeout
        error: StorageError = StorageTimeout()
    elif isinstance(exc, _TRANSIENT):
        error = StorageError("the database is unreachable")
    else:
        error = StorageError("the database refused the operation")
    error.__cause__ = exc
    return error


class _Attempt:
    """Where one attempt got to: before COMMIT nothing it did can be stored."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        self.committing = False


class PostgresDatabase:
    """One asyncpg pool over the application role, shared by the stores of a Core.

    ``await PostgresDatabase.open(settings)`` connects and checks the schema version
    (``SchemaNotCurrent`` until ``openkcm db migrate`` ran). Whoever opened it closes it."""

    def __init__(self, pool: Any, settings: PostgresSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._releases: set[asyncio.Task[None]] = set()
        self._clean: set[int] = set()  # server pids whose last use left no session state
        self._closed = False

    @classmethod
    async def open(cls, settings: PostgresSettings) -> PostgresDatabase:
        if not settings.dsn:
            raise StorageError("storage.postgres.dsn is required")
        milliseconds = str(int(settings.timeout * 1000))

        clean: set[int] = set()

        async def reset(connection: Any) -> None:
            pid = connection.get_server_pid()
            if pid in clean:
                clean.discard(pid)
                return
            await connection.execute(_RESET, timeout=settings.timeout)

        try:
            async with asyncio.timeout(settings.timeout + settings.connect_timeout):
                pool = await asyncpg.create_pool(
                    settings.dsn,
                    min_size=settings.min_connections,
                    max_size=settings.max_connections,
                    max_inactive_connection_lifetime=settings.idle_lifetime,
                    reset=reset,
                    timeout=settings.connect_timeout,
                    command_timeout=settings.timeout,
                    statement_cache_size=settings.statement_cache,
                    server_settings={
                        "application_name": APPLICATION_NAME,
                        "statement_timeout": milliseconds,
                        "idle_in_transaction_session_timeout": milliseconds,
                        "jit": "off",  # short OLTP statements: compiling costs more than it saves
                    },
                )
        except TimeoutError:
            raise StorageTimeout from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise _storage_error(exc) from exc
        database = cls(pool, settings)
        database._clean = clean
        try:
            found = await database.run(
                lambda connection: schema_state(connection, schema=settings.schema, timeout=settings.timeout),
                readonly=True,
            )
        except BaseException:
            await database.close()
            raise
        if not found.current:
            await database.close()
            raise SchemaNotCurrent(found.version)
        return database

    @property
    def settings(self) -> PostgresSettings:
        return self._settings

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pool(self) -> Any:
        """The asyncpg pool (tests look at its connections)."""
        return self._pool

    async def run(
        self,
        job: Job[T],
        *,
        tenant: str | None = None,
        readonly: bool = False,
        idempotent: bool = False,
        explicit: bool = True,
    ) -> T:
        """``await job(connection)`` in one transaction (scoped to ``tenant`` if given), committed
        when it returns; retried where safe (module docstring); bounded by the timeout.

        ``explicit=False``: no BEGIN/COMMIT around the job, whose one statement is its own
        transaction and scopes itself (the schema's ``scoped_*`` functions): one round trip."""
        if self._closed:
            raise StorageClosed
        if tenant is not None and not tenant:
            raise StorageError("a tenant-scoped call needs a tenant")
        settings = self._settings
        pause = settings.retry_backoff
        try:
            async with asyncio.timeout(settings.timeout):
                attempt = 1
                while True:
                    progress = _Attempt()
                    try:
                        return await self._once(job, tenant, readonly, explicit, progress)
                    except (*_TRANSIENT, *_ROLLED_BACK) as exc:
                        if isinstance(exc, _TRANSIENT):
                            await self._pool.expire_connections()  # the others are likely broken too
                        repeatable = (
                            not progress.committing or readonly or idempotent or isinstance(exc, _ROLLED_BACK)
                        )
                        if self._closed or attempt >= settings.max_attempts or not repeatable:
                            if progress.committing and not repeatable:
                                raise _CommitUnknown from exc
                            raise _storage_error(exc) from exc
                        _log.info("storage call failed (%s); attempt %d", type(exc).__name__, attempt + 1)
                        attempt += 1
                        await asyncio.sleep(pause)
                        pause *= 2
                    except asyncpg.PostgresError as exc:
                        raise _storage_error(exc) from exc
        except TimeoutError:
            raise StorageTimeout from None

    async def _once(
        self, job: Job[T], tenant: str | None, readonly: bool, explicit: bool, progress: _Attempt
    ) -> T:
        connection = await self._pool.acquire()
        clean = False
        try:
            if not explicit:
                progress.committing = True  # the statement commits as soon as it is sent
                result = await job(connection)
                clean = True
            else:
                result = await self._in_transaction(connection, job, tenant, readonly, progress)
        except _TRANSIENT:
            connection.terminate()  # whatever state it is in, it is never handed out again
            raise
        else:
            return result
        finally:
            # Given back (and reset) behind the caller's back: the answer does not wait for it.
            release = asyncio.get_running_loop().create_task(self._release(connection, clean=clean))
            self._releases.add(release)
            release.add_done_callback(self._releases.discard)

    @staticmethod
    async def _in_transaction(
        connection: Any, job: Job[T], tenant: str | None, readonly: bool, progress: _Attempt
    ) -> T:
        transaction = connection.transaction(readonly=readonly)
        await transaction.start()
        try:
            if tenant is not None:
                await set_tenant(connection, tenant)
            result = await job(connection)
        except BaseException:
            if not connection.is_closed():
                with contextlib.suppress(*_TRANSIENT, asyncpg.PostgresError):
                    await transaction.rollback()
            raise
        progress.committing = True
        await transaction.commit()
        return result

    async def _release(self, connection: Any, *, clean: bool) -> None:
        """Back to the pool, which resets it (``_RESET``) unless ``clean``. A connection that
        cannot be reset is closed by the pool; the call's outcome is known by then, so that
        failure is not the caller's."""
        pid = connection.get_server_pid()
        if clean and not connection.is_closed():
            self._clean.add(pid)
        try:
            await self._pool.release(connection)
        except (*_TRANSIENT, asyncpg.PostgresError, TimeoutError) as exc:
            _log.info("a pooled connection could not be reset (%s); closed", type(exc).__name__)
        finally:
            self._clean.discard(pid)

    async def close(self) -> None:
        """Close every connection (idempotent); calls still running are cut off after the timeout."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(self._settings.timeout):
                await asyncio.gather(*self._releases)
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()


# -- statements ------------------------------------------------------------------------------------


class _Statements:
    """A set of SQL templates naming tables as ``{schema}.table``; ``qualified`` fills in the
    configured schema (a quoted identifier) once per store, so no statement is built per call."""

    __slots__ = ()

    def qualified(self, schema: str) -> Self:
        quoted = quote_identifier(schema)
        values = {name: getattr(self, name).format(schema=quoted) for name in self.__dataclass_fields__}  # type: ignore[attr-defined]
        return type(self)(**values)


@dataclass(frozen=True, slots=True)
class _ObjectSql(_Statements):
    # Names a record holds ($10, sorted) are claimed with ON CONFLICT DO NOTHING: a claim that
    # meets another writer's uncommitted claim of the name waits for its outcome, so of two
    # racing writers one claims the name and the other sees it taken. The statement answers
    # the names it could not claim and the record did not have before: DuplicateName.
    insert: str = """
        WITH inserted AS (
            INSERT INTO {schema}.objects
                (unique_identifier, tenant_id, service, object_type, state, attributes, material, revision)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            RETURNING seq),
        named AS (
            INSERT INTO {schema}.object_names (tenant_id, name, seq)
            SELECT $2, name, inserted.seq FROM inserted, pg_catalog.unnest($9::text[]) AS name
            RETURNING name),
        claimed AS (
            INSERT INTO {schema}.held_names (tenant_id, name, seq)
            SELECT $2, name, inserted.seq FROM inserted, pg_catalog.unnest($10::text[]) AS name
            ON CONFLICT DO NOTHING
            RETURNING name)
        SELECT ARRAY(
            SELECT name FROM pg_catalog.unnest($10::text[]) AS name
            EXCEPT SELECT name FROM claimed)"""
    # Names are rewritten without a moment where a kept name is missing: the names no longer
    # carried are deleted, the new ones added (those already there are left alone); the names
    # no longer held are released and the held ones claimed (a name the record already held
    # conflicts with its own row: nothing to do). No two parts touch one row.
    replace: str = """
        WITH updated AS (
            UPDATE {schema}.objects SET service = $1, object_type = $2, state = $3, attributes = $4,
                material = $5, revision = revision + 1
            WHERE unique_identifier = $6 AND tenant_id = $7 AND revision = $8
            RETURNING seq),
        had AS (
            SELECT n.name FROM {schema}.object_names AS n, updated
            WHERE n.seq = updated.seq AND n.tenant_id = $7),
        released AS (
            DELETE FROM {schema}.held_names AS h USING updated
            WHERE h.seq = updated.seq AND h.tenant_id = $7 AND h.name <> ALL($10::text[])),
        dropped AS (
            DELETE FROM {schema}.object_names AS n USING updated
            WHERE n.seq = updated.seq AND n.tenant_id = $7 AND n.name <> ALL($9::text[])),
        added AS (
            INSERT INTO {schema}.object_names (tenant_id, name, seq)
            SELECT $7, name, updated.seq FROM updated, pg_catalog.unnest($9::text[]) AS name
            ON CONFLICT DO NOTHING),
        claimed AS (
            INSERT INTO {schema}.held_names (tenant_id, name, seq)
            SELECT $7, name, updated.seq FROM updated, pg_catalog.unnest($10::text[]) AS name
            ON CONFLICT DO NOTHING
            RETURNING name)
        SELECT ARRAY(
            SELECT name FROM pg_catalog.unnest($10::text[]) AS name
            EXCEPT SELECT name FROM claimed EXCEPT SELECT name FROM had)
        FROM updated"""
    delete: str = "DELETE FROM {schema}.objects WHERE unique_identifier = $1 AND tenant_id = $2"
    # The hot reads in one round trip: the schema's functions scope to the tenant, then read.
    scoped_get: str = (
        "SELECT unique_identifier, tenant_id, service, object_type, state, attributes, material, revision"
        " FROM {schema}.scoped_get_object($1, $2)"
    )
    scoped_find_by_name: str = (
        "SELECT unique_identifier, tenant_id, service, object_type, state, attributes, material, revision"
        " FROM {schema}.scoped_find_by_name($1, $2::text[], $3, $4::integer[], $5)"
    )
    # find() without names: assembled from these fixed fragments only; every value is bound.
    find_all: str = (
        "SELECT o.unique_identifier, o.tenant_id, o.service, o.object_type, o.state, o.attributes,"
        " o.material, o.revision FROM {schema}.objects AS o WHERE o.tenant_id = $1"
    )


def _find_statement(sql: _ObjectSql, tenant_id: str, query: LocateQuery) -> tuple[str, list[object]]:
    parameters: list[object] = [tenant_id]

    def bind(value: object) -> str:
        parameters.append(value)
        return f"${len(parameters)}"

    parts = [sql.find_all]
    if query.object_type is not None:
        parts.append(" AND o.object_type = " + bind(int(query.object_type)))
    if query.states is not None:
        parts.append(
            " AND o.state = ANY(" + bind(sorted(int(state) for state in query.states)) + "::integer[])"
        )
    if query.service is not None:
        parts.append(" AND o.service = " + bind(query.service))
    parts.append(" ORDER BY o.seq")
    return "".join(parts), parameters


@dataclass(frozen=True, slots=True)
class _HierarchySql(_Statements):
    load_seal: str = (
        "SELECT cluster_id, region, mode, threshold, share_count, check_value, seal_blob,"
        " seal_keystore, seal_key_id, share_set_id FROM {schema}.seal_config WHERE singleton = 1"
    )
    save_seal: str = (
        "INSERT INTO {schema}.seal_config (singleton, cluster_id, region, mode, threshold,"
        " share_count, check_value, seal_blob, seal_keystore, seal_key_id, share_set_id)"
        " VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (singleton) DO UPDATE SET cluster_id = EXCLUDED.cluster_id,"
        " region = EXCLUDED.region, mode = EXCLUDED.mode, threshold = EXCLUDED.threshold,"
        " share_count = EXCLUDED.share_count, check_value = EXCLUDED.check_value,"
        " seal_blob = EXCLUDED.seal_blob, seal_keystore = EXCLUDED.seal_keystore,"
        " seal_key_id = EXCLUDED.seal_key_id, share_set_id = EXCLUDED.share_set_id"
    )
    list_ivks: str = (
        "SELECT version, state, blob, created_at, wrap_count, grace_at, deprecated_at, retired_at"
        " FROM {schema}.ivk_versions ORDER BY version"
    )
    any_ivk: str = "SELECT EXISTS (SELECT 1 FROM {schema}.ivk_versions)"
    insert_ivk: str = (
        "INSERT INTO {schema}.ivk_versions (version, state, blob, created_at, wrap_count, grace_at,"
        " deprecated_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    active_ivk: str = "SELECT version FROM {schema}.ivk_versions WHERE state = $1"
    grace_to_deprecated: str = (
        "UPDATE {schema}.ivk_versions SET state = $1, deprecated_at = $2 WHERE state = $3"
    )
    active_to_grace: str = "UPDATE {schema}.ivk_versions SET state = $1, grace_at = $2 WHERE version = $3"
    reserve_wraps: str = (
        "UPDATE {schema}.ivk_versions SET wrap_count = wrap_count + $1 WHERE version = $2"
        " RETURNING wrap_count"
    )
    deprecate: str = (
        "UPDATE {schema}.ivk_versions SET state = $1, deprecated_at = $2 WHERE version = $3 AND state = $4"
    )
    retire: str = (
        "UPDATE {schema}.ivk_versions SET state = $1, blob = NULL, retired_at = $2"
        " WHERE version = $3 AND state = $4 AND grace_at <= $5 AND {schema}.ivk_references($3) = 0"
    )
    count_references: str = "SELECT {schema}.ivk_references($1)"
    get_root: str = (
        "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding, linked,"
        " last_l1_check, l1_state, l1_state_at, created_at, revision FROM {schema}.tenant_roots"
        " WHERE tenant_id = $1"
    )
    create_root: str = (
        "INSERT INTO {schema}.tenant_roots (tenant_id, l2_id, keystore_kind, l1_key_id,"
        " sovereign_binding, sovereign_ivk, active_binding, active_ivk, linked, last_l1_check,"
        " l1_state, l1_state_at, created_at, revision)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0)"
        # No conflict target: racing creations of one root collide on tenant_id or on l2_id,
        # whichever unique index the insert reaches first; either way the loser just loses.
        " ON CONFLICT DO NOTHING"
    )
    update_root: str = (
        "UPDATE {schema}.tenant_roots SET keystore_kind = $1, l1_key_id = $2,"
        " sovereign_binding = $3, sovereign_ivk = $4, active_binding = $5, active_ivk = $6,"
        " linked = $7, last_l1_check = $8, l1_state = $9, l1_state_at = $10,"
        " revision = revision + 1 WHERE tenant_id = $11 AND l2_id = $12 AND revision = $13"
    )
    scan_roots: str = (
        "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding, linked,"
        " last_l1_check, l1_state, l1_state_at, created_at, revision"
        " FROM {schema}.scan_tenant_roots($1, $2, $3)"
    )
    scan_wrapped_below: str = (
        "SELECT tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding, linked,"
        " last_l1_check, l1_state, l1_state_at, created_at, revision"
        " FROM {schema}.scan_tenant_roots_wrapped_below($1, $2, $3)"
    )
    list_service_keys: str = (
        "SELECT tenant_id, service, version, state, blob, created_at, wrap_count FROM {schema}.service_keys"
        " WHERE tenant_id = $1 AND service = $2 ORDER BY version"
    )
    newest_service_key: str = (
        "SELECT COALESCE(max(version), 0) FROM {schema}.service_keys WHERE tenant_id = $1 AND service = $2"
    )
    retire_service_key: str = (
        "UPDATE {schema}.service_keys SET state = $1 WHERE tenant_id = $2 AND service = $3 AND state = $4"
    )
    insert_service_key: str = (
        "INSERT INTO {schema}.service_keys (tenant_id, service, version, state, blob, created_at, wrap_count)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, service, version) DO NOTHING"
    )
    reserve_service_key_wraps: str = (
        "UPDATE {schema}.service_keys SET wrap_count = wrap_count + $1"
        " WHERE tenant_id = $2 AND service = $3 AND version = $4 RETURNING wrap_count"
    )


# -- managed objects -------------------------------------------------------------------------------


class PostgresObjectStore(ObjectStore):
    """Managed objects in PostgreSQL (``ObjectStore``), under row-level security.

    ``await PostgresObjectStore.open(settings)`` has a pool of its own (closed with the store);
    ``PostgresObjectStore.attach(database)`` shares the Core's, which its opener closes."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        owns_database: bool = False,
        attribute_limits: ttlv.Limits = DEFAULT_ATTRIBUTE_LIMITS,
    ) -> None:
        self._database = database
        self._owns_database = owns_database
        self._limits = attribute_limits
        self._attributes = AttributeCache(database.settings.attribute_cache, attribute_limits)
        self._encodings = AttributeEncodings(ATTRIBUTE_ENCODINGS)
        self._sql = _ObjectSql().qualified(database.settings.schema)
        self._closed = False

    @classmethod
    async def open(
        cls, settings: PostgresSettings, *, attribute_limits: ttlv.Limits = DEFAULT_ATTRIBUTE_LIMITS
    ) -> PostgresObjectStore:
        database = await PostgresDatabase.open(settings)
        return cls(database, owns_database=True, attribute_limits=attribute_limits)

    @classmethod
    def attach(
        cls, database: PostgresDatabase, *, attribute_limits: ttlv.Limits = DEFAULT_ATTRIBUTE_LIMITS
    ) -> PostgresObjectStore:
        return cls(database, owns_database=False, attribute_limits=attribute_limits)

    @property
    def database(self) -> PostgresDatabase:
        return self._database

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed

    async def _insert(self, connection: Any, row: EncodedRecord) -> None:
        try:
            refused = await connection.fetchval(
                self._sql.insert,
                row.unique_identifier,
                row.tenant_id,
                row.service,
                row.object_type,
                row.state,
                row.attributes,
                row.material,
                row.revision,
                row.names,
                row.holds,
            )
        except asyncpg.UniqueViolationError:  # the names are claimed without conflicts: the identifier
            raise DuplicateIdentifier from None
        if refused:
            raise DuplicateName

    async def _replace(self, connection: Any, row: EncodedRecord, expected_revision: int) -> None:
        found = await connection.fetchrow(
            self._sql.replace,
            row.service,
            row.object_type,
            row.state,
            row.attributes,
            row.material,
            row.unique_identifier,
            row.tenant_id,
            expected_revision,
            row.names,
            row.holds,
        )
        if found is None:
            raise ConcurrentUpdate
        if found[0]:
            raise DuplicateName

    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        self._check_open()
        row = encode_record(record, self._limits, self._encodings, unique_names=unique_names)

        async def job(connection: Any) -> None:
            await self._insert(connection, row)

        await self._database.run(job, tenant=record.tenant_id)

    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        self._check_open()
        if not tenant_id:
            raise StorageError("a tenant-scoped call needs a tenant")
        attributes, statement = self._attributes, self._sql.scoped_get

        async def job(connection: Any) -> ObjectRecord | None:
            row = await connection.fetchrow(statement, tenant_id, unique_identifier)
            return None if row is None else record_from_row(row, attributes, remember=True)

        return await self._database.run(job, readonly=True, explicit=False)

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        self._check_open()
        row = encode_record(record, self._limits, self._encodings, unique_names=unique_names)

        async def job(connection: Any) -> None:
            await self._replace(connection, row, expected_revision)

        await self._database.run(job, tenant=record.tenant_id)
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
        tenant_id, replaced, inserted = encode_writes(
            inserts, replaces, self._limits, self._encodings, unique_names=unique_names
        )

        async def job(connection: Any) -> None:
            # One transaction: the replaces first, so a name one of them gives up is free for the
            # inserts (Re-key's new key takes the old key's Name).
            for row, revision in replaced:
                await self._replace(connection, row, revision)
            for row in inserted:
                await self._insert(connection, row)

        await self._database.run(job, tenant=tenant_id)
        return [dataclasses.replace(record, revision=revision + 1) for record, revision in replaces]

    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        self._check_open()
        statement = self._sql.delete

        async def job(connection: Any) -> None:
            await connection.execute(statement, unique_identifier, tenant_id)

        # Deleting what is already gone changes nothing: safe to repeat.
        await self._database.run(job, tenant=tenant_id, idempotent=True)

    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        self._check_open()
        if not tenant_id:
            raise StorageError("a tenant-scoped call needs a tenant")
        if query.states is not None and not query.states:
            return []  # no state is in the empty set
        names = tuple(dict.fromkeys(query.names))
        attributes = self._attributes
        if names:  # Locate by name: the name index, in one round trip
            by_name = self._sql.scoped_find_by_name
            states = None if query.states is None else sorted(int(state) for state in query.states)
            object_type = None if query.object_type is None else int(query.object_type)

            async def by_name_job(connection: Any) -> list[ObjectRecord]:
                rows = await connection.fetch(
                    by_name, tenant_id, list(names), object_type, states, query.service
                )
                return [record_from_row(row, attributes, remember=False) for row in rows]

            return await self._database.run(by_name_job, readonly=True, explicit=False)
        statement, parameters = _find_statement(self._sql, tenant_id, query)

        async def job(connection: Any) -> list[ObjectRecord]:
            rows = await connection.fetch(statement, *parameters)
            return [record_from_row(row, attributes, remember=False) for row in rows]

        return await self._database.run(job, tenant=tenant_id, readonly=True)

    async def close(self) -> None:
        self._closed = True
        if self._owns_database:
            await self._database.close()


# -- the key hierarchy and the seal configuration --------------------------------------------------


def _ivk_values(record: IvkRecord) -> tuple[object, ...]:
    return (
        record.version,
        int(record.state),
        record.blob,
        record.created_at,
        record.wrap_count,
        record.grace_at,
        record.deprecated_at,
        record.retired_at,
    )


class _Lost(Exception):
    """A conditional write found its condition false: roll back, answer False."""


class PostgresHierarchyStore:
    """``HierarchyStore`` and ``SealRecords`` in PostgreSQL.

    Tenant roots and service keys are read and written in tenant-scoped transactions; the
    operator scans go through the schema's ``SECURITY DEFINER`` scan functions (the only paths
    across tenants, ``rls.migrations``). IVK versions and the seal configuration are system rows
    only the application role can read."""

    def __init__(self, database: PostgresDatabase, *, owns_database: bool = False) -> None:
        self._database = database
        self._owns_database = owns_database
        self._sql = _HierarchySql().qualified(database.settings.schema)
        self._closed = False

    @classmethod
    async def open(cls, settings: PostgresSettings) -> PostgresHierarchyStore:
        return cls(await PostgresDatabase.open(settings), owns_database=True)

    @classmethod
    def attach(cls, database: PostgresDatabase) -> PostgresHierarchyStore:
        return cls(database, owns_database=False)

    @property
    def database(self) -> PostgresDatabase:
        return self._database

    async def _run(
        self, job: Job[T], *, tenant: str | None = None, readonly: bool = False, idempotent: bool = False
    ) -> T:
        if self._closed:
            raise StorageClosed
        return await self._database.run(job, tenant=tenant, readonly=readonly, idempotent=idempotent)

    async def _conditional(self, job: Job[None], *, tenant: str | None = None) -> bool:
        """Run a write that raises ``_Lost`` when its condition does not hold; True if it wrote."""
        try:
            await self._run(job, tenant=tenant)
        except _Lost:
            return False
        return True

    async def close(self) -> None:
        self._closed = True
        if self._owns_database:
            await self._database.close()

    # Seal configuration -------------------------------------------------------------------------
    async def load_seal_config(self) -> SealConfig | None:
        sql = self._sql

        async def job(connection: Any) -> SealConfig | None:
            row = await connection.fetchrow(sql.load_seal)
            if row is None:
                return None
            return seal_config_from_row(row)

        return await self._run(job, readonly=True)

    async def save_seal_config(self, config: SealConfig) -> None:
        sql = self._sql

        async def job(connection: Any) -> None:
            await connection.execute(
                sql.save_seal,
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
            )

        await self._run(job, idempotent=True)  # writing the same row twice is writing it once

    # IVK versions -------------------------------------------------------------------------------
    async def list_ivks(self) -> list[IvkRecord]:
        sql = self._sql

        async def job(connection: Any) -> list[IvkRecord]:
            return [ivk_from_row(row) for row in await connection.fetch(sql.list_ivks)]

        return await self._run(job, readonly=True)

    async def create_first_ivk(self, record: IvkRecord) -> bool:
        sql = self._sql

        async def job(connection: Any) -> None:
            await connection.execute("SELECT pg_catalog.pg_advisory_xact_lock($1)", _IVK_LOCK)
            if await connection.fetchval(sql.any_ivk):
                raise _Lost
            await connection.execute(sql.insert_ivk, *_ivk_values(record))

        return await self._conditional(job)

    async def rotate_ivk(self, expected_active: int, new: IvkRecord, now: float) -> bool:
        sql = self._sql

        async def job(connection: Any) -> None:
            await connection.execute("SELECT pg_catalog.pg_advisory_xact_lock($1)", _IVK_LOCK)
            if await connection.fetchval(sql.active_ivk, int(IvkState.ACTIVE)) != expected_active:
                raise _Lost
            await connection.execute(
                sql.grace_to_deprecated, int(IvkState.DEPRECATED), now, int(IvkState.GRACE)
            )
            await connection.execute(sql.active_to_grace, int(IvkState.GRACE), now, expected_active)
            await connection.execute(sql.insert_ivk, *_ivk_values(new))

        return await self._conditional(job)

    async def reserve_ivk_wraps(self, version: int, count: int) -> int:
        sql = self._sql

        async def job(connection: Any) -> int:
            total = await connection.fetchval(sql.reserve_wraps, count, version)
            if total is None:
                raise StorageError("no such IVK version")
            return int(total)

        return await self._run(job)

    async def deprecate_ivk(self, version: int, now: float) -> bool:
        sql = self._sql

        async def job(connection: Any) -> None:
            status = await connection.execute(
                sql.deprecate, int(IvkState.DEPRECATED), now, version, int(IvkState.GRACE)
            )
            if status != "UPDATE 1":
                raise _Lost

        return await self._conditional(job)

    async def retire_ivk(self, version: int, left_active_before: float, now: float) -> bool:
        sql = self._sql

        async def job(connection: Any) -> None:
            status = await connection.execute(
                sql.retire, int(IvkState.RETIRED), now, version, int(IvkState.DEPRECATED), left_active_before
            )
            if status != "UPDATE 1":
                raise _Lost

        return await self._conditional(job)

    async def count_ivk_references(self, version: int) -> int:
        sql = self._sql

        async def job(connection: Any) -> int:
            return int(await connection.fetchval(sql.count_references, version))

        return await self._run(job, readonly=True)

    # L2: tenant roots ---------------------------------------------------------------------------
    async def get_tenant_root(self, tenant_id: str) -> TenantRootRecord | None:
        sql = self._sql

        async def job(connection: Any) -> TenantRootRecord | None:
            row = await connection.fetchrow(sql.get_root, tenant_id)
            return None if row is None else tenant_root_from_row(row)

        return await self._run(job, tenant=tenant_id, readonly=True)

    async def create_tenant_root(self, record: TenantRootRecord) -> bool:
        sql = self._sql
        sovereign_ivk = wrapping_version(record.sovereign_binding)
        active_ivk = wrapping_version(record.active_binding)

        async def job(connection: Any) -> None:
            status = await connection.execute(
                sql.create_root,
                record.tenant_id,
                record.l2_id,
                record.keystore_kind,
                record.l1_key_id,
                record.sovereign_binding,
                sovereign_ivk,
                record.active_binding,
                active_ivk,
                record.linked,
                record.last_l1_check,
                int(record.l1_state),
                record.l1_state_at,
                record.created_at,
            )
            if status != "INSERT 0 1":
                raise _Lost

        return await self._conditional(job, tenant=record.tenant_id)

    async def update_tenant_roots(self, records: Sequence[TenantRootRecord]) -> set[str]:
        sql = self._sql
        rows = [
            (
                record.tenant_id,
                (
                    record.keystore_kind,
                    record.l1_key_id,
                    record.sovereign_binding,
                    wrapping_version(record.sovereign_binding),
                    record.active_binding,
                    wrapping_version(record.active_binding),
                    record.linked,
                    record.last_l1_check,
                    int(record.l1_state),
                    record.l1_state_at,
                    record.tenant_id,
                    record.l2_id,
                    record.revision,
                ),
            )
            for record in records
        ]
        if not rows:
            return set()

        async def job(connection: Any) -> set[str]:
            written: set[str] = set()
            for tenant_id, values in rows:
                await set_tenant(connection, tenant_id)  # one transaction, each row in its tenant's scope
                if await connection.execute(sql.update_root, *values) == "UPDATE 1":
                    written.add(tenant_id)
            return written

        return await self._run(job)

    async def list_tenant_roots(
        self, *, after: str | None, limit: int, linked_only: bool
    ) -> list[TenantRootRecord]:
        sql = self._sql

        async def job(connection: Any) -> list[TenantRootRecord]:
            return [
                tenant_root_from_row(row)
                for row in await connection.fetch(sql.scan_roots, after or "", limit, linked_only)
            ]

        return await self._run(job, readonly=True)

    async def list_tenant_roots_wrapped_below(
        self, ivk_version: int, *, after: str | None, limit: int
    ) -> list[TenantRootRecord]:
        sql = self._sql

        async def job(connection: Any) -> list[TenantRootRecord]:
            rows = await connection.fetch(sql.scan_wrapped_below, ivk_version, after or "", limit)
            return [tenant_root_from_row(row) for row in rows]

        return await self._run(job, readonly=True)

    # L3: service keys ---------------------------------------------------------------------------
    async def list_service_keys(self, tenant_id: str, service: str) -> list[ServiceKeyRecord]:
        sql = self._sql

        async def job(connection: Any) -> list[ServiceKeyRecord]:
            return [
                service_key_from_row(row)
                for row in await connection.fetch(sql.list_service_keys, tenant_id, service)
            ]

        return await self._run(job, tenant=tenant_id, readonly=True)

    async def add_service_key(self, record: ServiceKeyRecord) -> bool:
        sql = self._sql

        async def job(connection: Any) -> None:
            newest = await connection.fetchval(sql.newest_service_key, record.tenant_id, record.service)
            if newest != record.version - 1:
                raise _Lost
            await connection.execute(
                sql.retire_service_key,
                int(ServiceKeyState.DECRYPT_ONLY),
                record.tenant_id,
                record.service,
                int(ServiceKeyState.ACTIVE),
            )
            # Another Core adding the same version first makes this insert a no-op: lost.
            status = await connection.execute(
                sql.insert_service_key,
                record.tenant_id,
                record.service,
                record.version,
                int(ServiceKeyState.ACTIVE),
                record.blob,
                record.created_at,
                record.wrap_count,
            )
            if status != "INSERT 0 1":
                raise _Lost

        return await self._conditional(job, tenant=record.tenant_id)

    async def reserve_service_key_wraps(self, tenant_id: str, service: str, version: int, count: int) -> int:
        sql = self._sql

        async def job(connection: Any) -> int:
            # One statement: the row lock orders Cores reserving at once, each adding to the last.
            total = await connection.fetchval(
                sql.reserve_service_key_wraps, count, tenant_id, service, version
            )
            if total is None:
                raise StorageError("no such service key version")
            return int(total)

        return await self._run(job, tenant=tenant_id)
