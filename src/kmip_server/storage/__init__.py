"""Storage: the interfaces the server persists through, and their implementations.

``hierarchy`` is the key hierarchy's own records; ``sqlite`` the embedded implementation.
Managed objects (KMIP) and PostgreSQL come in later and extend this package.
"""

from kmip_server.storage.errors import StorageClosed, StorageError, StorageTimeout
from kmip_server.storage.hierarchy import (
    HierarchyStore,
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)

__all__ = [
    "HierarchyStore",
    "IvkRecord",
    "IvkState",
    "L1State",
    "ServiceKeyRecord",
    "ServiceKeyState",
    "StorageClosed",
    "StorageError",
    "StorageTimeout",
    "TenantRootRecord",
]
