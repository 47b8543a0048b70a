"""A throwaway PostgreSQL database for one test session, and a migrated schema per test.

The PostgreSQL server running on the machine (``OPENKCM_TEST_POSTGRES_DSN``, default the
trust-authenticated superuser ``postgres`` on 127.0.0.1:5432) is used through:

- ``PostgresSession``: per pytest process, one fresh database (``okt_<pid>_<random>``) and
  two fresh roles (owner, application), all dropped when the process exits; the default
  schema (``openkcm``) is migrated at once. A child process that needs it before its test
  process made it creates it under the test process's pid, and the test process adopts it. Its description
  is exported in ``OPENKCM_TEST_POSTGRES_SESSION`` so that child processes (a store killed by
  SIGKILL, a Core subprocess) use the same database instead of making their own.
- ``await session.new_schema(label)``: ``rls.runner`` run into a fresh schema of that
  database (what ``openkcm db migrate`` does), returning the ``PostgresSettings`` that a Core's
  store would use: the application role, no password, that schema. Creating a schema is
  cheap; creating and dropping databases is not (each drop checkpoints).
- ``place_settings(place)``: the schema kept for a test's directory (made on first use, read
  back afterwards, also by another process), so a store "reopened at the same place" sees
  what it stored.

When the server cannot be reached the tests that need it are skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kmip_server.storage.postgres import PostgresSettings
from rls import Roles, migrate, quote_identifier

__all__ = [
    "ADMIN_DSN",
    "PostgresSession",
    "admin_connection",
    "place_settings",
    "session",
]

ADMIN_DSN = os.environ.get("OPENKCM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SESSION_ENV = "OPENKCM_TEST_POSTGRES_SESSION"
PLACE_FILE = "postgres-schema.json"
PREFIX = "okt_"
CONNECT_TIMEOUT = 10.0
TEST_POOL = {"min_connections": 1, "max_connections": 4, "timeout": 20.0}


def _with_database(dsn: str, database: str, user: str | None = None) -> str:
    """``dsn`` pointed at another database (and user); DSNs here are plain URLs without options."""
    scheme, rest = dsn.split("://", 1)
    credentials, _, location = rest.rpartition("@")
    host = location.split("/", 1)[0]
    if user is not None:
        credentials = user
    return f"{scheme}://{credentials + '@' if credentials else ''}{host}/{database}"


@dataclass(frozen=True, slots=True)
class PostgresSession:
    admin_dsn: str
    database: str
    roles: Roles
    owner_pid: int  # the process that drops everything at exit

    @property
    def superuser_dsn(self) -> str:
        """The session database as the superuser."""
        return _with_database(self.admin_dsn, self.database)

    def dsn(self, user: str | None = None) -> str:
        """The session database as ``user`` (default: the application role)."""
        return _with_database(self.admin_dsn, self.database, user or self.roles.app)

    def settings(self, schema: str, **overrides: Any) -> PostgresSettings:
        return PostgresSettings(**{"dsn": self.dsn(), "schema": schema, **TEST_POOL, **overrides})

    async def new_schema(self, label: str = "s") -> PostgresSettings:
        """A freshly migrated schema: the settings of a Core's store over it."""
        schema = f"{label}_{secrets.token_hex(4)}"
        quote_identifier(schema)
        connection = await asyncpg.connect(self.superuser_dsn, timeout=CONNECT_TIMEOUT)
        try:
            await migrate(connection, self.roles, schema=schema)
        finally:
            await connection.close()
        return self.settings(schema)


_current: PostgresSession | None = None

# The test process (one per xdist worker) names its database after its own pid; a child process it
# starts (a store killed by SIGKILL) inherits that pid, so a database the child happens to create
# first is the test process's, adopted by it and dropped at its exit, never by the child.
_ROOT_ENV = f"OPENKCM_TEST_POSTGRES_ROOT_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
os.environ.setdefault(_ROOT_ENV, str(os.getpid()))


def _root_pid() -> int:
    return int(os.environ[_ROOT_ENV])


def _session_of(database: str) -> PostgresSession:
    return PostgresSession(
        admin_dsn=ADMIN_DSN,
        database=database,
        roles=Roles(owner=f"{database}_owner", app=f"{database}_app"),
        owner_pid=_root_pid(),
    )


async def _admin() -> Any:
    try:
        return await asyncpg.connect(ADMIN_DSN, timeout=CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN} ({type(exc).__name__})")


async def _create() -> PostgresSession:
    """The root's session: one a child made already, or a new database (default schema migrated,
    so that the roles exist from the start)."""
    prefix = f"{PREFIX}{_root_pid()}_"
    admin = await _admin()
    try:
        existing = await admin.fetchval(
            "SELECT min(datname) FROM pg_database WHERE starts_with(datname, $1)", prefix
        )
        if existing is not None:
            return _session_of(existing)
        await _drop_orphans(admin)
        created = _session_of(f"{prefix}{secrets.token_hex(3)}")
        await admin.execute(f"CREATE DATABASE {quote_identifier(created.database)}")
    finally:
        await admin.close()
    connection = await asyncpg.connect(created.superuser_dsn, timeout=CONNECT_TIMEOUT)
    try:
        await migrate(connection, created.roles)
    finally:
        await connection.close()
    return created


async def _drop(session: PostgresSession) -> None:
    admin = await asyncpg.connect(session.admin_dsn, timeout=CONNECT_TIMEOUT)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_identifier(session.database)} WITH (FORCE)")
        for role in (session.roles.app, session.roles.owner):
            await admin.execute(f"DROP ROLE IF EXISTS {quote_identifier(role)}")
    finally:
        await admin.close()


async def _drop_orphans(admin: Any) -> None:
    """Databases and roles of earlier test processes that died before they could drop them."""
    rows = await admin.fetch(
        "SELECT datname AS name, 'database' AS kind FROM pg_database WHERE datname LIKE $1"
        " UNION ALL SELECT rolname, 'role' FROM pg_roles WHERE rolname LIKE $1",
        PREFIX + "%",
    )
    databases: list[str] = []
    roles: list[str] = []
    for row in rows:
        pid = row["name"][len(PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            (databases if row["kind"] == "database" else roles).append(row["name"])
    for name in databases:
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")
    for name in sorted(roles, key=lambda role: not role.endswith("_app")):  # members before owners
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f"DROP ROLE IF EXISTS {quote_identifier(name)}")


_dropped_at_exit: set[str] = set()


def _drop_at_exit(session: PostgresSession) -> None:
    """In the root process only: drop ``session`` when the process exits (once)."""
    if os.getpid() == session.owner_pid and session.database not in _dropped_at_exit:
        _dropped_at_exit.add(session.database)
        atexit.register(_at_exit, session)


def _at_exit(session: PostgresSession) -> None:
    if os.getpid() == session.owner_pid:
        asyncio.run(_drop(session))


async def session() -> PostgresSession:
    """This test process's session (made on first use), or the parent process's one."""
    global _current  # noqa: PLW0603 - one session per process, by design
    if _current is None:
        inherited = os.environ.get(SESSION_ENV)
        if inherited:
            fields = json.loads(inherited)
            _current = PostgresSession(
                admin_dsn=fields["admin_dsn"],
                database=fields["database"],
                roles=Roles(**fields["roles"]),
                owner_pid=fields["owner_pid"],
            )
        else:
            _current = await _create()
            _drop_at_exit(_current)
            os.environ[SESSION_ENV] = json.dumps(
                {**dataclasses.asdict(_current), "roles": dataclasses.asdict(_current.roles)}
            )
    return _current


def close_session() -> None:
    """Drop this process's session now (idempotent; also done at exit). Must run outside a loop."""
    global _current  # noqa: PLW0603
    if _current is not None and _current.owner_pid == os.getpid():
        asyncio.run(_drop(_current))
        _dropped_at_exit.discard(_current.database)
        os.environ.pop(SESSION_ENV, None)
        _current = None


async def place_settings(place: Path, **overrides: Any) -> PostgresSettings:
    """The schema kept for ``place`` (a test's directory): made on first use, then reused, also
    by another process (the marker names the database and the schema)."""
    current = await session()
    marker = place / PLACE_FILE
    if marker.exists():
        kept = json.loads(marker.read_text())
        owner = current if kept["database"] == current.database else _session_of(kept["database"])
        _drop_at_exit(owner)
        return owner.settings(kept["schema"], **overrides)
    settings = await current.new_schema("place")
    marker.write_text(json.dumps({"database": current.database, "schema": settings.schema}))
    return dataclasses.replace(settings, **overrides) if overrides else settings


@contextlib.asynccontextmanager
async def admin_connection(user: str | None = None) -> AsyncIterator[Any]:
    """A connection to the session database as the superuser (or as ``user``)."""
    current = await session()
    connection = await asyncpg.connect(
        current.dsn(user) if user is not None else current.superuser_dsn, timeout=CONNECT_TIMEOUT
    )
    try:
        yield connection
    finally:
        await connection.close()
