"""Tenant isolation enforced by PostgreSQL itself, seen from the application role.

Each test writes SQL that a buggy store could send (no tenant filter, a session-level tenant,
a role switch) and checks that the database, not our query code, keeps tenants apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kmip_server.storage import (
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from kmip_server.storage.postgres import PostgresDatabase, PostgresHierarchyStore, PostgresObjectStore
from rls import TenantScopeError, quote_identifier, set_tenant, tenant_transaction
from tests.integration.storage.stores import record
from tests.support.postgres import admin_connection, place_settings, session
from unseal.blob import BlobHeader, Layer, cipher_for, wrap
from unseal.records import SealConfig, SealMode

TENANT_TABLES = ("objects", "object_names", "held_names", "tenant_roots", "service_keys")
SYSTEM_TABLES = ("ivk_versions", "seal_config")
CIPHER = cipher_for(bytes(32))


def tenant_root(tenant: str) -> TenantRootRecord:
    blob = wrap(BlobHeader(Layer.L2_SOVEREIGN, tenant, f"l2-{tenant}", 1, "ivk", 1), CIPHER, b"k" * 32)
    return TenantRootRecord(
        tenant_id=tenant,
        l2_id=f"l2-{tenant}",
        keystore_kind="software",
        l1_key_id="key",
        sovereign_binding=blob,
        active_binding=None,
        linked=False,
        last_l1_check=None,
        l1_state=L1State.OK,
        l1_state_at=1.0,
        created_at=1.0,
    )


async def populate(place: Path) -> str:
    """Two tenants' rows in every tenant table, plus the system rows; the schema's name."""
    settings = await place_settings(place)
    database = await PostgresDatabase.open(settings)
    objects, hierarchy = PostgresObjectStore.attach(database), PostgresHierarchyStore.attach(database)
    try:
        for tenant in ("acme", "globex"):
            for number in range(3):
                # The first holds the names (held_names); the others repeat them, unheld.
                await objects.insert(
                    record(f"{tenant}-{number}", tenant, names=(f"{tenant}-name", "shared")),
                    unique_names=number == 0,
                )
            assert await hierarchy.create_tenant_root(tenant_root(tenant))
            assert await hierarchy.add_service_key(
                ServiceKeyRecord(tenant, "svc", 1, ServiceKeyState.ACTIVE, b"l3", 1.0)
            )
        assert await hierarchy.create_first_ivk(IvkRecord(1, IvkState.ACTIVE, b"ivk", 1.0, 0))
        await hierarchy.save_seal_config(SealConfig("c", "r", SealMode.SHAMIR, 1, 1, b"check"))
    finally:
        await database.close()
    return settings.schema


@asynccontextmanager
async def as_app() -> AsyncIterator[Any]:
    """A plain connection as the application role (what the Core logs in as)."""
    async with admin_connection((await session()).roles.app) as connection:
        yield connection


async def tenants_seen(connection: Any, schema: str, table: str) -> list[str]:
    """Every tenant id the connection can see in ``table``: the query has no tenant filter."""
    rows = await connection.fetch(f"SELECT tenant_id FROM {quote_identifier(schema)}.{table}")
    return sorted({row["tenant_id"] for row in rows})


def test_a_query_without_a_tenant_filter_sees_only_the_scoped_tenant(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = await populate(tmp_path)
        objects = f"{quote_identifier(schema)}.objects"
        async with as_app() as connection:
            for tenant in ("acme", "globex"):
                async with tenant_transaction(connection, tenant):
                    for table in TENANT_TABLES:
                        assert await tenants_seen(connection, schema, table) == [tenant], table
                    uids = await connection.fetch(f"SELECT unique_identifier FROM {objects} ORDER BY seq")
                    assert [row[0] for row in uids] == [f"{tenant}-{n}" for n in range(3)]
                    # Writes without a filter reach only the tenant's own rows too.
                    assert (
                        await connection.execute(f"UPDATE {objects} SET revision = revision + 1")
                        == "UPDATE 3"
                    )
            # Locate by a name both tenants use: one tenant's objects only.
            async with tenant_transaction(connection, "acme", readonly=True):
                found = await connection.fetch(
                    f"SELECT o.unique_identifier FROM {quote_identifier(schema)}.object_names n"
                    f" JOIN {objects} o ON o.seq = n.seq WHERE n.name = 'shared'"
                )
                assert sorted(row[0] for row in found) == ["acme-0", "acme-1", "acme-2"]
            # Inserting or moving a row into another tenant is refused (WITH CHECK).
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with tenant_transaction(connection, "acme"):
                    await connection.execute(
                        f"INSERT INTO {objects} (unique_identifier, tenant_id, service, object_type, state,"
                        " attributes, revision) VALUES ('planted', 'globex', 's', 2, 1, '', 0)"
                    )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with tenant_transaction(connection, "acme"):
                    await connection.execute(f"UPDATE {objects} SET tenant_id = 'globex'")
            async with tenant_transaction(connection, "globex"):
                assert await connection.execute(
                    f"DELETE FROM {objects} WHERE unique_identifier LIKE 'acme-%'"
                ) == ("DELETE 0")
        async with admin_connection() as superuser:  # the ground truth: nothing moved, nothing lost
            counts = await superuser.fetch(
                f"SELECT tenant_id, count(*), min(revision) FROM {objects} GROUP BY tenant_id ORDER BY 1"
            )
            assert [tuple(row) for row in counts] == [("acme", 3, 1), ("globex", 3, 1)]

    asyncio.run(scenario())


def test_with_no_tenant_set_nothing_is_visible(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = await populate(tmp_path)
        async with as_app() as connection:
            for table in TENANT_TABLES:
                assert await tenants_seen(connection, schema, table) == [], table  # no transaction
                async with connection.transaction():
                    assert await tenants_seen(connection, schema, table) == [], table
            # The setting alone, without the helper's binding to the transaction, is not enough.
            async with connection.transaction():
                await connection.execute("SET LOCAL app.tenant_id = 'acme'")
                assert await tenants_seen(connection, schema, "objects") == []
            with pytest.raises(TenantScopeError):
                async with tenant_transaction(connection, ""):
                    pass
            with pytest.raises(TenantScopeError):
                await set_tenant(connection, "acme")  # outside a transaction it would not end with one

    asyncio.run(scenario())


def test_a_connection_returned_to_the_pool_carries_no_tenant(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = await populate(tmp_path)
        settings = await place_settings(tmp_path, min_connections=1, max_connections=1)
        database = await PostgresDatabase.open(settings)
        probe = "SELECT pg_catalog.pg_backend_pid(), pg_catalog.current_setting('app.tenant_id', true)"
        try:
            async with database.pool.acquire() as connection:
                async with tenant_transaction(connection, "acme"):
                    first_pid, inside = await connection.fetchrow(probe)
                    assert inside == "acme"
                    assert await tenants_seen(connection, schema, "objects") == ["acme"]
                # Even a tenant set for the whole session, the trick a buggy call might play ...
                await connection.execute("SELECT pg_catalog.set_config('app.tenant_id', 'acme', false)")
                await connection.execute("SET app.tenant_scope = 'forged'")
            async with database.pool.acquire() as connection:
                pid, after = await connection.fetchrow(probe)
                assert pid == first_pid  # the same server session, handed out again ...
                assert after in ("", None)  # ... carrying no tenant
                assert await connection.fetchval(
                    "SELECT pg_catalog.current_setting('app.tenant_scope', true)"
                ) in (
                    "",
                    None,
                )
                assert await tenants_seen(connection, schema, "objects") == []
            # And through the store's own path: each call sees its own tenant only.
            objects = PostgresObjectStore.attach(database)
            assert await objects.get("globex", "acme-0") is None
            assert (await objects.get("acme", "acme-0")) is not None
        finally:
            await database.close()

    asyncio.run(scenario())


def test_a_session_level_tenant_is_ineffective_in_the_next_transaction(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = await populate(tmp_path)
        async with as_app() as connection:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_catalog.set_config('app.tenant_id', 'acme', false),"
                    " pg_catalog.set_config('app.tenant_scope',"
                    " (EXTRACT(epoch FROM pg_catalog.transaction_timestamp()))::text, false)"
                )
                assert await tenants_seen(connection, schema, "objects") == ["acme"]  # this transaction only
            assert await connection.fetchval("SELECT pg_catalog.current_setting('app.tenant_id')") == "acme"
            assert await tenants_seen(connection, schema, "objects") == []  # outlived its transaction: void
            async with connection.transaction():
                assert await tenants_seen(connection, schema, "objects") == []
            await connection.execute("SET app.tenant_id = 'globex'")
            assert await tenants_seen(connection, schema, "objects") == []

    asyncio.run(scenario())


def test_role_and_session_tricks_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = await populate(tmp_path)
        roles = (await session()).roles
        async with as_app() as connection:
            attributes = await connection.fetchrow(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolinherit FROM pg_catalog.pg_roles"
                " WHERE rolname = current_user"
            )
            assert tuple(attributes) == (False, False, False, False)
            for statement in (
                f"SET ROLE {quote_identifier(roles.owner)}",
                "SET ROLE postgres",
                f"SET SESSION AUTHORIZATION {quote_identifier(roles.owner)}",
                "SET SESSION AUTHORIZATION postgres",
                f"ALTER ROLE {quote_identifier(roles.app)} BYPASSRLS",
                f"GRANT {quote_identifier(roles.owner)} TO {quote_identifier(roles.app)}",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute(statement)
            # What is allowed changes nothing: still the application role, still no rows.
            await connection.execute("RESET ROLE")
            await connection.execute("SET SESSION AUTHORIZATION DEFAULT")
            await connection.execute("RESET ALL")
            assert await connection.fetchval("SELECT current_user") == roles.app
            assert await tenants_seen(connection, schema, "objects") == []
            # row_security = off does not lift the policies for a role without BYPASSRLS: it fails.
            await connection.execute("SET row_security = off")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await tenants_seen(connection, schema, "objects")

    asyncio.run(scenario())


def test_the_application_role_cannot_change_or_disable_row_level_security(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = quote_identifier(await populate(tmp_path))
        async with as_app() as connection:
            for table in TENANT_TABLES + SYSTEM_TABLES:
                for statement in (
                    f"ALTER TABLE {schema}.{table} DISABLE ROW LEVEL SECURITY",
                    f"ALTER TABLE {schema}.{table} NO FORCE ROW LEVEL SECURITY",
                    f"ALTER TABLE {schema}.{table} OWNER TO CURRENT_USER",
                    f"CREATE POLICY everything ON {schema}.{table} USING (true)",
                ):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await connection.execute(statement)
            for statement in (
                f"DROP POLICY tenant_rows ON {schema}.objects",
                f"ALTER POLICY tenant_rows ON {schema}.objects USING (true)",
                f"CREATE FUNCTION {schema}.leak() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                f"CREATE TABLE {schema}.stash (x int)",
                f"CREATE OR REPLACE FUNCTION {schema}.ivk_references(integer) RETURNS bigint"
                " LANGUAGE sql AS 'SELECT 0::bigint'",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute(statement)
        async with admin_connection() as superuser:  # every table still ENABLEd and FORCEd
            flags = await superuser.fetch(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname = ANY($2::text[])",
                schema.strip('"'),
                list(TENANT_TABLES + SYSTEM_TABLES),
            )
            assert sorted((row[0], row[1], row[2]) for row in flags) == sorted(
                (table, True, True) for table in TENANT_TABLES + SYSTEM_TABLES
            )

    asyncio.run(scenario())


def test_system_tables_are_readable_only_by_the_cores_role(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = quote_identifier(await populate(tmp_path))
        roles = (await session()).roles
        stranger = f"{roles.app[:-4]}_other"
        async with admin_connection() as superuser:
            await superuser.execute(f"CREATE ROLE {quote_identifier(stranger)} LOGIN")
        try:
            async with as_app() as connection:
                assert await connection.fetchval(f"SELECT count(*) FROM {schema}.ivk_versions") == 1
                assert await connection.fetchval(f"SELECT count(*) FROM {schema}.seal_config") == 1
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.execute(f"DELETE FROM {schema}.ivk_versions")
            async with admin_connection(stranger) as other:
                for table in (*SYSTEM_TABLES, *TENANT_TABLES):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await other.fetch(f"SELECT * FROM {schema}.{table}")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await other.fetch(f"SELECT * FROM {schema}.scan_tenant_roots('', 10, false)")
            async with admin_connection() as superuser, superuser.transaction():
                # Even the owner of the tables reads no IVK and no seal row (FORCE, no policy for it).
                await superuser.execute(f"SET LOCAL ROLE {quote_identifier(roles.owner)}")
                for table in SYSTEM_TABLES:
                    assert await superuser.fetchval(f"SELECT count(*) FROM {schema}.{table}") == 0, table
                assert await superuser.fetchval(f"SELECT count(*) FROM {schema}.objects") == 0
        finally:
            async with admin_connection() as superuser:
                await superuser.execute(f"DROP ROLE {quote_identifier(stranger)}")

    asyncio.run(scenario())


def test_the_operator_scans_are_the_only_path_across_tenants_and_cover_tenant_roots_only(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        schema = quote_identifier(await populate(tmp_path))
        async with as_app() as connection:
            rows = await connection.fetch(f"SELECT tenant_id FROM {schema}.scan_tenant_roots('', 10, false)")
            assert [row[0] for row in rows] == ["acme", "globex"]
            assert await connection.fetchval(f"SELECT {schema}.ivk_references(1)") == 2
            functions = await connection.fetch(
                "SELECT p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
                " ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.prosecdef ORDER BY 1",
                schema.strip('"'),
            )
            assert [row[0] for row in functions] == [
                "ivk_references",
                "scan_tenant_roots",
                "scan_tenant_roots_wrapped_below",
            ]

    asyncio.run(scenario())


def test_the_one_round_trip_reads_scope_themselves_and_end_with_their_statement(tmp_path: Path) -> None:
    async def scenario() -> None:
        schema = quote_identifier(await populate(tmp_path))
        get = f"SELECT unique_identifier FROM {schema}.scoped_get_object($1, $2)"
        find = f"SELECT unique_identifier FROM {schema}.scoped_find_by_name($1, $2::text[], NULL, NULL, NULL)"
        async with as_app() as connection:
            assert await connection.fetchval(get, "acme", "acme-1") == "acme-1"
            assert await connection.fetchval(get, "acme", "globex-1") is None  # another tenant's: absent
            found = await connection.fetch(find, "globex", ["shared"])
            assert sorted(row[0] for row in found) == ["globex-0", "globex-1", "globex-2"]
            # The scope was the statement's own transaction: the next statement sees nothing.
            assert await tenants_seen(connection, schema.strip('"'), "objects") == []
            with pytest.raises(asyncpg.RaiseError):
                await connection.fetch(get, "", "acme-1")
        roles = (await session()).roles
        stranger = f"{roles.app[:-4]}_reader"
        async with admin_connection() as superuser:
            await superuser.execute(f"CREATE ROLE {quote_identifier(stranger)} LOGIN")
        try:
            async with admin_connection(stranger) as other:
                for statement, arguments in ((get, ("acme", "acme-1")), (find, ("acme", ["shared"]))):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await other.fetch(statement, *arguments)
        finally:
            async with admin_connection() as superuser:
                await superuser.execute(f"DROP ROLE {quote_identifier(stranger)}")

    asyncio.run(scenario())
