"""The key hierarchy (DESIGN section 3): MasterKey -> IVK -> L2 (tenant) -> L3 (service) -> L4.

The server composes one ``KeyHierarchy`` per Core and calls it per request; see its module.
"""

from kmip_server.hierarchy.clock import Clock, ManualClock, SystemClock
from kmip_server.hierarchy.errors import (
    HierarchyError,
    L1Refused,
    L1Unreachable,
    LinkConflict,
    MasterKeyRejected,
    NotReady,
    Sealed,
    StoreConflict,
    TenantLocked,
    TenantNotLinked,
    UnknownKeystore,
    UnwrapFailed,
)
from kmip_server.hierarchy.facade import KeyHierarchy, RecheckSummary, ScrubReport, TenantStatus
from kmip_server.hierarchy.settings import HierarchySettings

__all__ = [
    "Clock",
    "HierarchyError",
    "HierarchySettings",
    "KeyHierarchy",
    "L1Refused",
    "L1Unreachable",
    "LinkConflict",
    "ManualClock",
    "MasterKeyRejected",
    "NotReady",
    "RecheckSummary",
    "ScrubReport",
    "Sealed",
    "StoreConflict",
    "SystemClock",
    "TenantLocked",
    "TenantNotLinked",
    "TenantStatus",
    "UnknownKeystore",
    "UnwrapFailed",
]
