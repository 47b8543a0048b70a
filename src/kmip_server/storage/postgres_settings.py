"""``[storage.postgres]``: the PostgreSQL storage plugin's settings (no asyncpg import here, so
reading a configuration stays cheap; the plugin itself is ``kmip_server.storage.postgres``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmip_server.storage.encoding import DEFAULT_ATTRIBUTE_CACHE
from rls.migrations import SCHEMA
from rls.roles import quote_identifier

__all__ = ["DEFAULT_TIMEOUT", "PostgresSettings"]

DEFAULT_TIMEOUT = 10.0  # seconds one storage call may take, retries included
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to open one connection
DEFAULT_MIN_CONNECTIONS = 1
DEFAULT_MAX_CONNECTIONS = 10
DEFAULT_MAX_ATTEMPTS = 4  # attempts of a call that is safe to repeat
DEFAULT_RETRY_BACKOFF = 0.05  # seconds before the second attempt; doubles each time
DEFAULT_IDLE_LIFETIME = 300.0  # seconds an unused pooled connection is kept
DEFAULT_STATEMENT_CACHE = 256  # prepared statements kept per connection


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """``[storage.postgres]``: where the database is and how the Core uses it."""

    dsn: str = field(default="", repr=False)  # postgresql://openkcm_app@host/db (may hold a password)
    min_connections: int = DEFAULT_MIN_CONNECTIONS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    idle_lifetime: float = DEFAULT_IDLE_LIFETIME
    statement_cache: int = DEFAULT_STATEMENT_CACHE
    schema: str = SCHEMA  # where ``openkcm db migrate`` put the tables
    attribute_cache: int = DEFAULT_ATTRIBUTE_CACHE
    """How many decoded attribute sets the object store keeps, by their stored bytes
    (``storage.encoding.AttributeCache``, as the SQLite store's); 0 decodes every read afresh."""

    def __post_init__(self) -> None:
        quote_identifier(self.schema)  # ValueError unless a plain identifier
        if not 0 <= self.min_connections <= self.max_connections or self.max_connections < 1:
            raise ValueError("PostgreSQL settings: need 0 <= min_connections <= max_connections, max >= 1")
        if self.timeout <= 0 or self.connect_timeout <= 0 or self.idle_lifetime <= 0:
            raise ValueError("PostgreSQL settings: timeouts must be positive")
        if (
            self.max_attempts < 1
            or self.retry_backoff < 0
            or self.statement_cache < 0
            or self.attribute_cache < 0
        ):
            raise ValueError(
                "PostgreSQL settings: max_attempts >= 1;"
                " retry_backoff, statement_cache and attribute_cache >= 0"
            )
