"""The tenant-scoped transaction: the only way the application role sees a tenant's rows.

Invariants:
- Every policy on a tenant-owned table admits a row only when its ``tenant_id`` equals the
  tenant named by ``app.tenant_id`` **and** ``app.tenant_scope`` holds the start time of the
  running transaction (``TENANT_SCOPE_TOKEN``). ``set_tenant`` sets both with ``is_local``
  true, inside a transaction, in one statement; at COMMIT or ROLLBACK both vanish.
- So nothing survives in a pooled connection: a value left by a session-level ``SET`` or
  ``set_config(..., false)`` no longer matches the next transaction's start time, and the
  pool's reset (``RESET ALL``) clears it anyway. With no tenant set, a query returns no rows.
- A tenant is never empty: the empty string is what an unset setting reads as.
- Several tenants may be set one after the other in one transaction (a batch update of
  tenant roots); each statement sees the tenant set last.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = [
    "SCOPE_SETTING",
    "SET_TENANT",
    "TENANT_SCOPE_TOKEN",
    "TENANT_SETTING",
    "TenantScopeError",
    "set_tenant",
    "tenant_transaction",
]

TENANT_SETTING = "app.tenant_id"
SCOPE_SETTING = "app.tenant_scope"
TENANT_SCOPE_TOKEN = "(EXTRACT(epoch FROM pg_catalog.transaction_timestamp()))::pg_catalog.text"  # noqa: S105
"""What binds a tenant setting to one transaction: its start time (the same for every
statement of a transaction, different for the next one on the connection), as exact text that
no session setting (DateStyle, TimeZone) changes."""

SET_TENANT = (
    f"SELECT pg_catalog.set_config('{TENANT_SETTING}', $1, true),"
    f" pg_catalog.set_config('{SCOPE_SETTING}', {TENANT_SCOPE_TOKEN}, true)"
)


class TenantScopeError(ValueError):
    """A tenant scope was asked for with no tenant, or outside a transaction."""


async def set_tenant(connection: Any, tenant_id: str, *, timeout: float | None = None) -> None:
    """Scope the rest of the running transaction on ``connection`` (asyncpg) to ``tenant_id``."""
    if not tenant_id:
        raise TenantScopeError("a tenant id is never empty")
    if not connection.is_in_transaction():
        raise TenantScopeError("a tenant is set only inside a transaction (it ends with it)")
    await connection.execute(SET_TENANT, tenant_id, timeout=timeout)


@contextlib.asynccontextmanager
async def tenant_transaction(
    connection: Any, tenant_id: str, *, readonly: bool = False, timeout: float | None = None
) -> AsyncIterator[Any]:
    """A transaction on ``connection`` in which ``tenant_id``'s rows, and only they, are visible.

    Commits when the body returns, rolls back when it raises."""
    if not tenant_id:
        raise TenantScopeError("a tenant id is never empty")
    async with connection.transaction(readonly=readonly):
        await set_tenant(connection, tenant_id, timeout=timeout)
        yield connection
