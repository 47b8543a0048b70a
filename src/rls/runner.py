"""The migration runner: roles, schema and every pending migration, in one transaction.

``await migrate(connection, roles)`` on an asyncpg connection of a privileged user (a
superuser, or a role with CREATEROLE that is a member of the owner role):

1. takes a transaction-scoped advisory lock, so that two runners (two Cores deploying at
   once) apply each migration once;
2. creates the owner role (NOLOGIN) and the application role (LOGIN, NOSUPERUSER,
   NOBYPASSRLS, NOCREATEROLE, NOCREATEDB, NOINHERIT) if they do not exist, and refuses an
   existing application role that could bypass row-level security or become the owner;
3. creates the schema owned by the owner, and as the owner (``SET LOCAL ROLE``) the version
   table, then applies each migration not yet recorded, recording version, name and checksum;
4. commits. Any failure rolls everything back: a database is at one version or the next.

Idempotent: a second run finds every version recorded and changes nothing. A database whose
recorded migrations differ from the code's (another checksum, an unknown version, other
roles) is refused with ``MigrationError``; it is never "repaired".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rls.migrations import LATEST_VERSION, MIGRATIONS, SCHEMA, Migration
from rls.roles import Roles, quote_identifier

__all__ = [
    "DEFAULT_MIGRATION_TIMEOUT",
    "MigrationError",
    "MigrationReport",
    "SchemaState",
    "database_state",
    "migrate",
    "migrate_database",
    "schema_state",
]

DEFAULT_MIGRATION_TIMEOUT = 60.0  # seconds for each statement of a migration run
_LOCK_KEY = 0x4F4B434D_6D696772  # "OKCM" "migr": the advisory lock of this runner


class MigrationError(Exception):
    """The database cannot be brought to the code's schema; the message says why (never a value)."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[int, ...]  # versions applied by this run, in order
    version: int  # the database's version now


@dataclass(frozen=True, slots=True)
class SchemaState:
    version: int  # 0: not migrated
    latest: int = LATEST_VERSION

    @property
    def current(self) -> bool:
        return self.version == self.latest


def _render(sql: str, roles: Roles, schema: str) -> str:
    return sql.format(
        schema=quote_identifier(schema),
        owner=quote_identifier(roles.owner),
        app=quote_identifier(roles.app),
    )


_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE IF NOT EXISTS {schema}.deployment (
    singleton integer PRIMARY KEY CHECK (singleton = 1),
    owner_role text NOT NULL,
    app_role text NOT NULL
);
GRANT USAGE ON SCHEMA {schema} TO {app};
GRANT SELECT ON {schema}.schema_migrations, {schema}.deployment TO {app};
"""


async def _ensure_roles(connection: Any, roles: Roles, timeout: float) -> None:
    existing = {
        row["rolname"]: row
        for row in await connection.fetch(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole FROM pg_catalog.pg_roles"
            " WHERE rolname = ANY($1::text[])",
            [roles.owner, roles.app],
            timeout=timeout,
        )
    }
    owner, app = quote_identifier(roles.owner), quote_identifier(roles.app)
    if roles.owner not in existing:
        await connection.execute(f"CREATE ROLE {owner} NOLOGIN NOSUPERUSER NOBYPASSRLS", timeout=timeout)
    if roles.app not in existing:
        await connection.execute(
            f"CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOINHERIT"
            " NOREPLICATION",
            timeout=timeout,
        )
    else:
        found = existing[roles.app]
        if found["rolsuper"] or found["rolbypassrls"] or found["rolcreaterole"]:
            raise MigrationError(
                f"role {roles.app} is a superuser or has BYPASSRLS or CREATEROLE: it cannot be the"
                " application role (row-level security would not hold)"
            )
    member = await connection.fetchval(
        "SELECT pg_catalog.pg_has_role($1, $2, 'MEMBER')", roles.app, roles.owner, timeout=timeout
    )
    if member:
        raise MigrationError(f"role {roles.app} is a member of {roles.owner}: it could act as the owner")


async def _set_password(connection: Any, roles: Roles, password: str, timeout: float) -> None:
    # ALTER ROLE takes no parameters: format() quotes the literal inside the server.
    statement = await connection.fetchval(
        "SELECT pg_catalog.format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
        roles.app,
        password,
        timeout=timeout,
    )
    await connection.execute(statement, timeout=timeout)


async def _check_schema_owner(connection: Any, roles: Roles, schema: str, timeout: float) -> None:
    owner = await connection.fetchval(
        "SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = $1",
        schema,
        timeout=timeout,
    )
    if owner != roles.owner:
        raise MigrationError(f"schema {schema} is owned by another role than {roles.owner}")


async def _check_deployment(connection: Any, roles: Roles, schema: str, timeout: float) -> None:
    """``schema`` is quoted already."""
    recorded = await connection.fetchrow(
        f"SELECT owner_role, app_role FROM {schema}.deployment WHERE singleton = 1",  # noqa: S608
        timeout=timeout,
    )
    if recorded is None:
        await connection.execute(
            f"INSERT INTO {schema}.deployment (singleton, owner_role, app_role) VALUES (1, $1, $2)",  # noqa: S608
            roles.owner,
            roles.app,
            timeout=timeout,
        )
    elif (recorded["owner_role"], recorded["app_role"]) != (roles.owner, roles.app):
        raise MigrationError(
            "this database was migrated for other roles"
            f" (owner {recorded['owner_role']}, application {recorded['app_role']})"
        )


def _pending(recorded: dict[int, str], migrations: Sequence[Migration]) -> list[Migration]:
    known = {migration.version: migration for migration in migrations}
    unknown = sorted(set(recorded) - set(known))
    if unknown:
        raise MigrationError(f"the database has migrations this code does not know: {unknown}")
    for version, checksum in sorted(recorded.items()):
        if known[version].checksum != checksum:
            raise MigrationError(f"migration {version} recorded in the database differs from this code's")
    return [migration for migration in migrations if migration.version not in recorded]


async def migrate(
    connection: Any,
    roles: Roles,
    *,
    schema: str = SCHEMA,
    app_password: str | None = None,
    timeout: float = DEFAULT_MIGRATION_TIMEOUT,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> MigrationReport:
    """Bring the connected database to the latest schema (see the module docstring)."""
    versions = [migration.version for migration in migrations]
    if versions != sorted(set(versions)) or not versions or versions[0] < 1:
        raise MigrationError("migrations must have increasing versions from 1")
    name = schema
    schema = quote_identifier(name)
    owner = quote_identifier(roles.owner)
    applied: list[int] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_catalog.pg_advisory_xact_lock($1)", _LOCK_KEY, timeout=timeout)
        await _ensure_roles(connection, roles, timeout)
        if app_password is not None:
            await _set_password(connection, roles, app_password, timeout)
        await connection.execute(
            f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}", timeout=timeout
        )
        await _check_schema_owner(connection, roles, name, timeout)
        await connection.execute(f"SET LOCAL ROLE {owner}", timeout=timeout)
        await connection.execute(_render(_VERSION_TABLE, roles, name), timeout=timeout)
        await _check_deployment(connection, roles, schema, timeout)
        rows = await connection.fetch(
            f"SELECT version, checksum FROM {schema}.schema_migrations",  # noqa: S608
            timeout=timeout,
        )
        for migration in _pending({row["version"]: row["checksum"] for row in rows}, migrations):
            await connection.execute(_render(migration.sql, roles, name), timeout=timeout)
            await connection.execute(
                f"INSERT INTO {schema}.schema_migrations (version, name, checksum)"  # noqa: S608
                " VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
                timeout=timeout,
            )
            applied.append(migration.version)
        await connection.execute("RESET ROLE", timeout=timeout)
    return MigrationReport(applied=tuple(applied), version=versions[-1])


async def schema_state(connection: Any, *, schema: str = SCHEMA, timeout: float) -> SchemaState:
    """The schema's version in the connected database, as any role that may read it (0: none)."""
    quoted = quote_identifier(schema)
    exists = await connection.fetchval(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL", f"{quoted}.schema_migrations", timeout=timeout
    )
    if not exists:
        return SchemaState(0)
    version = await connection.fetchval(
        f"SELECT COALESCE(max(version), 0) FROM {quoted}.schema_migrations",  # noqa: S608
        timeout=timeout,
    )
    return SchemaState(int(version))


async def migrate_database(
    dsn: str,
    roles: Roles,
    *,
    schema: str = SCHEMA,
    app_password: str | None = None,
    timeout: float = DEFAULT_MIGRATION_TIMEOUT,
) -> MigrationReport:
    """Connect to ``dsn`` (a privileged user), ``migrate``, disconnect (``openkcm db migrate``)."""
    import asyncpg  # noqa: PLC0415 (only the runner needs a driver; the rest of rls takes a connection)

    connection = await asyncpg.connect(
        dsn, timeout=timeout, server_settings={"application_name": "openkcm-migrate"}
    )
    try:
        return await migrate(connection, roles, schema=schema, app_password=app_password, timeout=timeout)
    finally:
        await connection.close()


async def database_state(
    dsn: str, *, schema: str = SCHEMA, timeout: float = DEFAULT_MIGRATION_TIMEOUT
) -> SchemaState:
    """The schema version at ``dsn`` (``openkcm db status``)."""
    import asyncpg  # noqa: PLC0415

    connection = await asyncpg.connect(dsn, timeout=timeout)
    try:
        return await schema_state(connection, schema=schema, timeout=timeout)
    finally:
        await connection.close()
