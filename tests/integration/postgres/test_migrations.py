"""The migration runner and ``openkcm db``: idempotent, recorded, refusing what would weaken RLS."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from pathlib import Path

import asyncpg
import pytest

from kmip_server.cli import main
from kmip_server.config import StorageKind, parse_config
from kmip_server.storage import ServiceKeyState
from kmip_server.storage.objects import DuplicateName
from kmip_server.storage.postgres import (
    PostgresDatabase,
    PostgresHierarchyStore,
    PostgresObjectStore,
    SchemaNotCurrent,
)
from rls import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    MigrationError,
    Roles,
    migrate,
    quote_identifier,
    schema_state,
    tenant_transaction,
)
from tests.integration.storage.stores import record
from tests.support.postgres import admin_connection, session
from ttlv.kmip14 import State
from unseal.blob import MAX_WRAPS_PER_KEY


def fresh_schema() -> str:
    return f"m_{secrets.token_hex(4)}"


def test_migrate_is_idempotent_records_versions_and_the_store_checks_them() -> None:
    async def scenario() -> None:
        current = await session()
        schema = fresh_schema()
        async with admin_connection() as superuser:
            assert (await schema_state(superuser, schema=schema, timeout=10)).version == 0
            with pytest.raises(SchemaNotCurrent, match="openkcm db migrate"):
                await PostgresObjectStore.open(current.settings(schema))
            first = await migrate(superuser, current.roles, schema=schema)
            assert (first.applied, first.version) == (tuple(m.version for m in MIGRATIONS), LATEST_VERSION)
            again = await migrate(superuser, current.roles, schema=schema)
            assert (again.applied, again.version) == ((), LATEST_VERSION)
            recorded = await superuser.fetch(
                f"SELECT version, name, checksum FROM {quote_identifier(schema)}.schema_migrations ORDER BY 1"
            )
            assert [tuple(row) for row in recorded] == [(m.version, m.name, m.checksum) for m in MIGRATIONS]
            assert (await schema_state(superuser, schema=schema, timeout=10)).current
        store = await PostgresObjectStore.open(current.settings(schema))
        try:
            await store.insert(record("after-migration"))
            assert await store.get("tenant-a", "after-migration") is not None
        finally:
            await store.close()

    asyncio.run(scenario())


def test_migration_3_makes_the_oldest_live_carrier_of_each_name_its_holder() -> None:
    """Names stored before held_names existed (duplicates included, from the race it closes):
    each live name is held by its oldest carrier, a destroyed object's names by nobody."""

    async def scenario() -> None:
        current = await session()
        schema = fresh_schema()
        quoted = quote_identifier(schema)
        rows = [  # uid, tenant, state, names
            ("o1", "tenant-a", State.ACTIVE, ("dup", "solo")),
            ("o2", "tenant-a", State.PRE_ACTIVE, ("dup",)),
            ("o3", "tenant-a", State.DESTROYED, ("gone",)),
            ("o4", "tenant-b", State.ACTIVE, ("dup",)),
        ]
        async with admin_connection() as superuser:  # a superuser: no row-level security
            await migrate(superuser, current.roles, schema=schema, migrations=MIGRATIONS[:2])
            seqs = {}
            for uid, tenant, state, names in rows:
                seqs[uid] = await superuser.fetchval(
                    f"INSERT INTO {quoted}.objects (unique_identifier, tenant_id, service, object_type,"
                    " state, attributes, revision) VALUES ($1, $2, 'svc', 2, $3, '', 0) RETURNING seq",
                    uid,
                    tenant,
                    int(state),
                )
                for one in names:
                    await superuser.execute(
                        f"INSERT INTO {quoted}.object_names (tenant_id, name, seq) VALUES ($1, $2, $3)",
                        tenant,
                        one,
                        seqs[uid],
                    )
            applied = (await migrate(superuser, current.roles, schema=schema)).applied
            assert applied == tuple(m.version for m in MIGRATIONS[2:])  # 3 and every later one
            held = await superuser.fetch(
                f"SELECT tenant_id, name, seq FROM {quoted}.held_names ORDER BY 1, 2"
            )
            assert [tuple(row) for row in held] == [
                ("tenant-a", "dup", seqs["o1"]),
                ("tenant-a", "solo", seqs["o1"]),
                ("tenant-b", "dup", seqs["o4"]),
            ]
            flags = await superuser.fetch(
                "SELECT c.relname, c.relforcerowsecurity FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1"
                " AND c.relname IN ('objects', 'object_names', 'held_names')",
                schema,
            )
            assert sorted(tuple(row) for row in flags) == [  # FORCE is back on every one
                ("held_names", True),
                ("object_names", True),
                ("objects", True),
            ]
        store = await PostgresObjectStore.open(current.settings(schema))
        try:
            with pytest.raises(DuplicateName):
                await store.insert(record("new-dup", names=("dup",)))
            await store.insert(record("new-gone", names=("gone",)))  # a destroyed object's name is free
            await store.insert(record("new-b", "tenant-b", names=("solo",)))
        finally:
            await store.close()

    asyncio.run(scenario())


def test_migration_4_counts_existing_l3_versions_as_spent_under_the_tables_policy() -> None:
    """L3 versions stored before wraps were counted made an unknown number: each starts at
    MAX_WRAPS_PER_KEY (spent under any setting; the migration runs as the owner, under FORCE, so
    it must lift FORCE to reach every tenant's rows) and reserves from there; the new column is
    the tenant-owned table's, so its row-level security and grants cover it."""

    async def scenario() -> None:
        current = await session()
        schema = fresh_schema()
        service_keys = f"{quote_identifier(schema)}.service_keys"
        async with admin_connection() as superuser:  # a superuser: no row-level security
            await migrate(superuser, current.roles, schema=schema, migrations=MIGRATIONS[:3])
            for tenant, version, state in (("tenant-a", 1, 2), ("tenant-a", 2, 1), ("tenant-b", 1, 1)):
                await superuser.execute(
                    f"INSERT INTO {service_keys} (tenant_id, service, version, state, blob, created_at)"
                    " VALUES ($1, 'svc', $2, $3, 'l3', 1.0)",
                    tenant,
                    version,
                    state,
                )
            applied = (await migrate(superuser, current.roles, schema=schema)).applied
            assert applied == tuple(m.version for m in MIGRATIONS[3:])  # 4 and every later one
            column = await superuser.fetchrow(
                "SELECT data_type, is_nullable, column_default FROM information_schema.columns"
                " WHERE table_schema = $1 AND table_name = 'service_keys' AND column_name = 'wrap_count'",
                schema,
            )
            assert tuple(column) == ("bigint", "NO", "0")
        store = await PostgresHierarchyStore.open(current.settings(schema))
        try:
            stored = await store.list_service_keys("tenant-a", "svc")
            assert [(r.version, r.state, r.wrap_count) for r in stored] == [
                (1, ServiceKeyState.DECRYPT_ONLY, MAX_WRAPS_PER_KEY),
                (2, ServiceKeyState.ACTIVE, MAX_WRAPS_PER_KEY),
            ]
            assert await store.reserve_service_key_wraps("tenant-a", "svc", 2, 3) == MAX_WRAPS_PER_KEY + 3
            assert await store.reserve_service_key_wraps("tenant-b", "svc", 1, 1) == MAX_WRAPS_PER_KEY + 1
        finally:
            await store.close()
        async with admin_connection(current.roles.app) as app:
            # Another tenant's count can be neither read nor moved, even by a query with no filter.
            async with tenant_transaction(app, "tenant-b"):
                assert await app.execute(f"UPDATE {service_keys} SET wrap_count = 0") == "UPDATE 1"
                assert await app.fetchval(f"SELECT sum(wrap_count) FROM {service_keys}") == 0
            assert await app.execute(f"UPDATE {service_keys} SET wrap_count = 0") == "UPDATE 0"
        async with admin_connection() as superuser:
            counts = await superuser.fetch(
                f"SELECT tenant_id, version, wrap_count FROM {service_keys} ORDER BY 1, 2"
            )
            assert [tuple(row) for row in counts] == [
                ("tenant-a", 1, MAX_WRAPS_PER_KEY),
                ("tenant-a", 2, MAX_WRAPS_PER_KEY + 3),
                ("tenant-b", 1, 0),  # set by tenant-b's own transaction above
            ]

    asyncio.run(scenario())


def test_two_runners_at_once_apply_each_migration_once() -> None:
    async def scenario() -> None:
        current = await session()
        schema = fresh_schema()
        async with admin_connection() as one, admin_connection() as other:
            reports = await asyncio.gather(
                migrate(one, current.roles, schema=schema), migrate(other, current.roles, schema=schema)
            )
        assert sorted(report.applied for report in reports) == [(), tuple(m.version for m in MIGRATIONS)]

    asyncio.run(scenario())


def test_a_database_that_differs_from_the_code_is_refused() -> None:
    async def scenario() -> None:
        current = await session()
        schema = fresh_schema()
        table = f"{quote_identifier(schema)}.schema_migrations"
        async with admin_connection() as superuser:
            await migrate(superuser, current.roles, schema=schema)
            await superuser.execute(f"UPDATE {table} SET checksum = 'edited'")
            with pytest.raises(MigrationError, match="differs"):
                await migrate(superuser, current.roles, schema=schema)
            for migration in MIGRATIONS:
                await superuser.execute(
                    f"UPDATE {table} SET checksum = $1 WHERE version = $2",
                    migration.checksum,
                    migration.version,
                )
            await superuser.execute(
                f"INSERT INTO {table} (version, name, checksum) VALUES (999, 'future', 'x')"
            )
            with pytest.raises(MigrationError, match="does not know"):
                await migrate(superuser, current.roles, schema=schema)
            await superuser.execute(f"DELETE FROM {table} WHERE version = 999")
            with pytest.raises(MigrationError, match="other roles"):
                await migrate(
                    superuser, Roles(owner=current.roles.owner, app=f"{current.roles.app}_x"), schema=schema
                )
            # A half-applied migration is never left behind: a failing one rolls back whole.
            broken = (
                *MIGRATIONS,
                Migration(LATEST_VERSION + 1, "broken", "CREATE TABLE {schema}.t (x int); SELECT 1/0;"),
            )
            with pytest.raises(asyncpg.DivisionByZeroError):
                await migrate(superuser, current.roles, schema=schema, migrations=broken)
            assert await superuser.fetchval("SELECT to_regclass($1)", f"{schema}.t") is None
            assert (await schema_state(superuser, schema=schema, timeout=10)).version == LATEST_VERSION

    asyncio.run(scenario())


def test_an_application_role_that_could_bypass_rls_is_refused() -> None:
    async def scenario() -> None:
        current = await session()
        bypass = Roles(owner=current.roles.owner, app=f"{current.roles.app}_bypass")
        member = Roles(owner=current.roles.owner, app=f"{current.roles.app}_member")
        async with admin_connection() as superuser:
            await superuser.execute(f"CREATE ROLE {quote_identifier(bypass.app)} LOGIN BYPASSRLS")
            await superuser.execute(f"CREATE ROLE {quote_identifier(member.app)} LOGIN")
            await superuser.execute(
                f"GRANT {quote_identifier(member.owner)} TO {quote_identifier(member.app)}"
            )
            try:
                with pytest.raises(MigrationError, match="BYPASSRLS"):
                    await migrate(superuser, bypass, schema=fresh_schema())
                with pytest.raises(MigrationError, match="member"):
                    await migrate(superuser, member, schema=fresh_schema())
            finally:
                for role in (bypass.app, member.app):
                    await superuser.execute(f"DROP ROLE {quote_identifier(role)}")

    asyncio.run(scenario())


def openkcm(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``openkcm ARGS`` in this process (the command line's own entry point): status, out, err."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out.strip(), captured.err.strip()


def test_openkcm_db_migrate_and_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    current = asyncio.run(session())
    schema = fresh_schema()
    roles = ["--owner-role", current.roles.owner, "--app-role", current.roles.app]
    dsn = current.superuser_dsn

    assert openkcm(capsys, "db", "status", "--dsn", dsn, "--schema", schema)[:2] == (
        1,
        f"schema {schema}: version 0 (this openkcm: {LATEST_VERSION})",
    )
    monkeypatch.setenv("OPENKCM_DB_ADMIN_DSN", dsn)
    status, out, err = openkcm(capsys, "db", "migrate", "--schema", schema, *roles)
    assert status == 0, err
    assert f"now at version {LATEST_VERSION}" in out
    status, out, err = openkcm(capsys, "db", "migrate", "--dsn", dsn, "--schema", schema, *roles)
    assert status == 0, err
    assert "nothing to do" in out
    assert openkcm(capsys, "db", "status", "--schema", schema)[0] == 0

    status, _, err = openkcm(capsys, "db", "migrate", "--dsn", dsn, "--schema", "Robert'); DROP TABLE x;--")
    assert status == 2
    assert "not a plain identifier" in err
    status, _, err = openkcm(
        capsys,
        "db",
        "migrate",
        "--schema",
        schema,
        "--owner-role",
        current.roles.owner,
        "--app-role",
        "someone",
    )
    assert status == 1
    assert "migration refused" in err
    status, _, err = openkcm(
        capsys, "db", "status", "--dsn", "postgresql://postgres@127.0.0.1:1/x", "--schema", schema
    )
    assert status == 1
    assert "cannot reach the database" in err
    monkeypatch.delenv("OPENKCM_DB_ADMIN_DSN")
    assert openkcm(capsys, "db", "migrate", "--schema", schema)[0] == 2  # no database given


def test_the_storage_kind_and_its_settings_come_from_the_environment(tmp_path: Path) -> None:
    secret_dsn = "postgresql://openkcm_app:s3cret-password@db.example/openkcm"
    config = parse_config(
        {"storage": {"kind": "postgres"}},
        base_dir=tmp_path,
        environ={
            "OPENKCM_STORAGE__POSTGRES__DSN": secret_dsn,
            "OPENKCM_STORAGE__POSTGRES__MAX_CONNECTIONS": "3",
            "OPENKCM_STORAGE__POSTGRES__SCHEMA": "tenant_keys",
        },
    )
    storage = config.storage
    assert storage.kind is StorageKind.POSTGRES
    assert (storage.postgres.dsn, storage.postgres.max_connections, storage.postgres.schema) == (
        secret_dsn,
        3,
        "tenant_keys",
    )
    assert "s3cret" not in repr(config)
    assert dataclasses.replace(storage.postgres, dsn="").dsn == ""


def test_a_core_started_on_an_unmigrated_schema_says_what_to_do() -> None:
    async def scenario() -> None:
        current = await session()
        with pytest.raises(SchemaNotCurrent) as raised:
            await PostgresDatabase.open(current.settings(fresh_schema()))
        assert "run `openkcm db migrate`" in str(raised.value)

    asyncio.run(scenario())
