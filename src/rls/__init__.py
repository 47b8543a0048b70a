"""PostgreSQL schema, migrations, row-level security and the tenant-scoped transaction helper.

- ``rls.roles``: the owner role and the application role (``Roles``).
- ``rls.migrations``: the schema as ordered migrations (``MIGRATIONS``), with its policies.
- ``rls.runner``: the runner (``migrate``), idempotent, recording versions in a table;
  ``schema_state`` for a store that checks the database before it serves.
- ``rls.tenant``: ``tenant_transaction`` / ``set_tenant``, the only way to see a tenant's rows.

Imports the standard library only; the asyncpg connection is passed in by the caller.
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
