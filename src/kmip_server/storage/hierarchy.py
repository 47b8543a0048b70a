"""What the key hierarchy persists, and the storage interface it needs.

Invariants:
- Only wrapped blobs are stored (``unseal.blob`` format): no record here holds key material
  in the clear, so a dump of the database opens nothing without the MasterKey and, for L2,
  without the customer's L1.
- Records are values (frozen dataclasses). A tenant root is changed only by compare-and-set
  on its ``revision``: concurrent writers (link, unlink, re-check, scrubber, other Cores)
  never overwrite each other's result; the loser re-reads and decides again.
- Every read or write of a tenant-owned row names its tenant. The only queries that span
  tenants are the operator's maintenance scans (re-check every tenant, scrub old IVK
  versions), and they return whole records, each still carrying its own tenant id.
- A method returns only after its write is durable: an acknowledged link, unlink or new key
  version survives a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from unseal.records import SealRecords


class IvkState(IntEnum):
    """Life of an IVK version (DESIGN section 3). Transitions: see ``kmip_server.hierarchy.ivk``."""

    ACTIVE = 1  # exactly one: every new IVK wrap
    GRACE = 2  # the previous active: unwraps, and bindings are re-wrapped to active on access
    DEPRECATED = 3  # unwrap only, loaded on demand
    RETIRED = 4  # nothing references it; its blob is gone


class L1State(IntEnum):
    """What the tenant's L1 keystore said last time it was asked."""

    OK = 1
    UNREACHABLE = 2  # unavailable or throttled: usable until the sovereign TTL runs out
    REFUSED = 3  # disabled, deleted, denied or would not decrypt: failed closed


class ServiceKeyState(IntEnum):
    ACTIVE = 1  # the newest version of a service's L3: every new L4 wrap
    DECRYPT_ONLY = 2  # an older version: unwraps L4 made before the rotation


@dataclass(frozen=True, slots=True)
class IvkRecord:
    version: int
    state: IvkState
    blob: bytes | None  # Layer.IVK, wrapped by the MasterKey; None once retired
    created_at: float
    wrap_count: int  # wraps reserved under this version (an upper bound on wraps made)
    grace_at: float | None = None  # when it stopped being active
    deprecated_at: float | None = None
    retired_at: float | None = None


@dataclass(frozen=True, slots=True)
class TenantRootRecord:
    """A tenant's L2: its two bindings and what L1 said about it."""

    tenant_id: str
    l2_id: str
    keystore_kind: str
    l1_key_id: str
    sovereign_binding: bytes  # Layer.L2_SOVEREIGN: the L1 ciphertext of L2, wrapped by an IVK
    active_binding: bytes | None  # Layer.L2_ACTIVE: L2 wrapped by an IVK; None while unlinked or refused
    linked: bool
    last_l1_check: float | None  # last *successful* L1 decrypt of the sovereign binding
    l1_state: L1State
    l1_state_at: float
    created_at: float
    revision: int = 0  # compare-and-set token; the store increments it on every update


@dataclass(frozen=True, slots=True)
class ServiceKeyRecord:
    """One version of a (tenant, service) L3, wrapped by the tenant's L2 (Layer.L3)."""

    tenant_id: str
    service: str
    version: int
    state: ServiceKeyState
    blob: bytes
    created_at: float
    wrap_count: int = 0  # L4 wraps reserved under this version (an upper bound on wraps made)


class HierarchyStore(SealRecords, Protocol):
    """Persistence for the key hierarchy (and the seal configuration). Every method is async."""

    # IVK versions -----------------------------------------------------------------------
    async def list_ivks(self) -> list[IvkRecord]:
        """Every version, retired ones included, by ascending version."""
        ...

    async def create_first_ivk(self, record: IvkRecord) -> bool:
        """Insert the first (active) version if there is no IVK at all; False if one exists."""
        ...

    async def rotate_ivk(self, expected_active: int, new: IvkRecord, now: float) -> bool:
        """Atomically: the grace version becomes deprecated, ``expected_active`` becomes grace
        and ``new`` becomes active. False (and nothing changes) if ``expected_active`` is not
        the active version any more."""
        ...

    async def reserve_ivk_wraps(self, version: int, count: int) -> int:
        """Add ``count`` to the version's wrap count; the new total."""
        ...

    async def deprecate_ivk(self, version: int, now: float) -> bool:
        """Grace -> deprecated; False if it is not in grace."""
        ...

    async def retire_ivk(self, version: int, left_active_before: float, now: float) -> bool:
        """Deprecated -> retired and its blob deleted, only if no tenant root references it and
        it stopped being active before ``left_active_before``; False otherwise."""
        ...

    async def count_ivk_references(self, version: int) -> int:
        """How many bindings (sovereign or active) are wrapped under this IVK version."""
        ...

    # L2: tenant roots -------------------------------------------------------------------
    async def get_tenant_root(self, tenant_id: str) -> TenantRootRecord | None: ...

    async def create_tenant_root(self, record: TenantRootRecord) -> bool:
        """Insert; False if the tenant already has a root."""
        ...

    async def update_tenant_roots(self, records: Sequence[TenantRootRecord]) -> set[str]:
        """Replace each record whose stored revision still equals ``record.revision`` (the
        stored revision becomes ``record.revision + 1``), in one transaction. Returns the
        tenant ids that were written; the others changed meanwhile."""
        ...

    async def list_tenant_roots(
        self, *, after: str | None, limit: int, linked_only: bool
    ) -> list[TenantRootRecord]:
        """Operator scan, by ascending tenant id, strictly after ``after``."""
        ...

    async def list_tenant_roots_wrapped_below(
        self, ivk_version: int, *, after: str | None, limit: int
    ) -> list[TenantRootRecord]:
        """Operator scan for the scrubber: roots with a binding under an IVK version older than
        ``ivk_version``, by ascending tenant id, strictly after ``after``."""
        ...

    # L3: service keys -------------------------------------------------------------------
    async def list_service_keys(self, tenant_id: str, service: str) -> list[ServiceKeyRecord]:
        """Every version of one service's L3, by ascending version."""
        ...

    async def add_service_key(self, record: ServiceKeyRecord) -> bool:
        """Insert ``record`` (state ACTIVE) as the next version: only if the newest stored version
        is ``record.version - 1`` (0: none). The previous version becomes DECRYPT_ONLY in the
        same transaction. False if another writer got there first."""
        ...

    async def reserve_service_key_wraps(self, tenant_id: str, service: str, version: int, count: int) -> int:
        """Add ``count`` to that version's wrap count, atomically (several Cores reserve at once);
        the new total. ``StorageError`` if there is no such version."""
        ...

    async def close(self) -> None: ...
