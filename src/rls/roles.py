"""The two database roles of an OpenKCM deployment, and how their names reach SQL.

- ``owner``: owns the schema, every table and function (NOLOGIN). Migrations run as it
  (``SET LOCAL ROLE``). It is subject to row-level security too (``FORCE``): it reads tenant
  rows only through the operator-scan policy, and no IVK or seal row at all.
- ``app``: the role the Core logs in as. Not a superuser, no ``BYPASSRLS``, no ``CREATEROLE``,
  not a member of the owner: it cannot change a policy, disable row-level security, or become
  anyone else. It reads and writes tenant rows only inside a tenant-scoped transaction
  (``rls.tenant``), and it alone reads the system tables (IVKs, seal configuration).

Role names are cluster-wide in PostgreSQL, so they are settings (tests make unique ones).
They are restricted to plain lowercase identifiers and always double-quoted in SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_APP_ROLE", "DEFAULT_OWNER_ROLE", "Roles", "quote_identifier"]

DEFAULT_OWNER_ROLE = "openkcm_owner"
DEFAULT_APP_ROLE = "openkcm_app"
MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier; only plain lowercase identifiers are accepted."""
    if not _IDENTIFIER.fullmatch(name) or len(name) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(
            f"not a plain identifier (lowercase letters, digits and '_', at most {MAX_IDENTIFIER_LENGTH})"
        )
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Roles:
    owner: str = DEFAULT_OWNER_ROLE
    app: str = DEFAULT_APP_ROLE

    def __post_init__(self) -> None:
        quote_identifier(self.owner)
        quote_identifier(self.app)
        if self.owner == self.app:
            raise ValueError("the owner and the application role must be two roles")
