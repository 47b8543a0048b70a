"""The key hierarchy's errors, each with the KMIP Result Reason a client would see.

Messages are fixed per class: they never carry key bytes, blob bytes, a keystore's text or
anything about another tenant. ``UnwrapFailed`` is deliberately the same for every cause.
"""

from __future__ import annotations

from typing import ClassVar

from ttlv.kmip14 import ResultReason


class HierarchyError(Exception):
    result_reason: ClassVar[ResultReason] = ResultReason.GENERAL_FAILURE
    message: ClassVar[str] = "key hierarchy failure"

    def __init__(self) -> None:
        super().__init__(self.message)


class Sealed(HierarchyError):
    """No MasterKey attached: nothing can be wrapped or unwrapped."""

    message = "the key server is sealed"


class MasterKeyRejected(HierarchyError):
    """The MasterKey given to ``attach`` does not open this cluster's IVKs."""

    result_reason = ResultReason.AUTHENTICATION_NOT_SUCCESSFUL
    message = "the master key does not match this cluster"


class NotReady(HierarchyError):
    """The sync hot path needs keys that are not warm: ``await ensure_ready(tenant, service)`` and retry."""

    message = "tenant keys are not loaded"


class TenantNotLinked(HierarchyError):
    """The tenant has no L2, or was unlinked (kill-switch)."""

    result_reason = ResultReason.PERMISSION_DENIED
    message = "tenant is not linked"


class TenantLocked(HierarchyError):
    """The tenant failed closed: its L1 refused, or could not be reached past the sovereign TTL."""

    result_reason = ResultReason.PERMISSION_DENIED
    message = "tenant keys are locked by the customer key"


class L1Refused(HierarchyError):
    """Link or relink: the customer's keystore refused (disabled, deleted, denied, wrong key)."""

    result_reason = ResultReason.PERMISSION_DENIED
    message = "the customer key refused"


class L1Unreachable(HierarchyError):
    """Link or relink: the customer's keystore is unavailable or throttling; retry later."""

    message = "the customer key could not be reached"


class UnknownKeystore(HierarchyError):
    """Link: no keystore of that kind is configured."""

    result_reason = ResultReason.INVALID_FIELD
    message = "unknown keystore kind"


class LinkConflict(HierarchyError):
    """Link: the tenant's L2 is bound to another L1 key; moving it is a different operation."""

    result_reason = ResultReason.ILLEGAL_OPERATION
    message = "tenant is bound to another customer key"


class UnwrapFailed(HierarchyError):
    """Any L4 unwrap failure, whatever the cause (no oracle)."""

    result_reason = ResultReason.CRYPTOGRAPHIC_FAILURE
    message = "unwrap failed"


class StoreConflict(HierarchyError):
    """A record kept changing under us beyond ``store_conflict_retries``."""

    message = "concurrent update; retry"


ALL_ERRORS: tuple[type[HierarchyError], ...] = (
    Sealed,
    MasterKeyRejected,
    NotReady,
    TenantNotLinked,
    TenantLocked,
    L1Refused,
    L1Unreachable,
    UnknownKeystore,
    LinkConflict,
    UnwrapFailed,
    StoreConflict,
)
