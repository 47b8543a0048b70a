"""PostgreSQL schema, migrations, row-level security and the tenant-scoped transaction helper.

- ``rls.roles``: the owner role and the application role (``Roles``).
- ``rls.migrations``: the schema as ordered migrations (``MIGRATIONS``), with its policies.
- ``rls.runner``: the runner (``migrate``, ``migrate_database`` for ``openkcm db migrate``),
  idempotent, recording versions in a table; ``schema_state`` for a store that checks the
  database before it serves.
- ``rls.tenant``: ``tenant_transaction`` / ``set_tenant``: how a transaction comes to see one
  tenant's rows (the schema's ``scoped_*`` read functions do the same inside the server).

Imports the standard library only; asyncpg connections are passed in by the caller (only
``migrate_database`` and ``database_state`` open one themselves, importing asyncpg then).
"""

from rls.migrations import LATEST_VERSION, MIGRATIONS, SCHEMA, Migration
from rls.roles import DEFAULT_APP_ROLE, DEFAULT_OWNER_ROLE, Roles, quote_identifier
from rls.runner import MigrationError, MigrationReport, SchemaState, migrate, schema_state
from rls.tenant import TENANT_SETTING, TenantScopeError, set_tenant, tenant_transaction

__all__ = [
    "DEFAULT_APP_ROLE",
    "DEFAULT_OWNER_ROLE",
    "LATEST_VERSION",
    "MIGRATIONS",
    "SCHEMA",
    "TENANT_SETTING",
    "Migration",
    "MigrationError",
    "MigrationReport",
    "Roles",
    "SchemaState",
    "TenantScopeError",
    "migrate",
    "quote_identifier",
    "schema_state",
    "set_tenant",
    "tenant_transaction",
]
