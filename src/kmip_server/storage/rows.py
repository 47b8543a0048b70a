"""Rows of the key hierarchy's tables, as both SQL stores (SQLite and PostgreSQL) select them.

Each store's SELECT lists the columns in the order these functions read, so one mapping serves
both: a record type that gains a field changes here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmip_server.storage.errors import StorageError
from kmip_server.storage.hierarchy import (
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from unseal.blob import UnwrapError, peek
from unseal.records import SealConfig, SealMode


def wrapping_version(blob: bytes | None) -> int | None:
    """The IVK version a binding is wrapped under, indexed so the scrubber finds stale ones."""
    if blob is None:
        return None
    try:
        return peek(blob).wrapping_key_version
    except UnwrapError:
        raise StorageError("refusing to store a malformed blob") from None


def ivk_from_row(row: Sequence[Any]) -> IvkRecord:
    """version, state, blob, created_at, wrap_count, grace_at, deprecated_at, retired_at."""
    return IvkRecord(
        version=row[0],
        state=IvkState(row[1]),
        blob=row[2],
        created_at=row[3],
        wrap_count=row[4],
        grace_at=row[5],
        deprecated_at=row[6],
        retired_at=row[7],
    )


def tenant_root_from_row(row: Sequence[Any]) -> TenantRootRecord:
    """tenant_id, l2_id, keystore_kind, l1_key_id, sovereign_binding, active_binding, linked,
    last_l1_check, l1_state, l1_state_at, created_at, revision."""
    return TenantRootRecord(
        tenant_id=row[0],
        l2_id=row[1],
        keystore_kind=row[2],
        l1_key_id=row[3],
        sovereign_binding=row[4],
        active_binding=row[5],
        linked=bool(row[6]),  # SQLite stores booleans as integers
        last_l1_check=row[7],
        l1_state=L1State(row[8]),
        l1_state_at=row[9],
        created_at=row[10],
        revision=row[11],
    )


def service_key_from_row(row: Sequence[Any]) -> ServiceKeyRecord:
    """tenant_id, service, version, state, blob, created_at, wrap_count."""
    return ServiceKeyRecord(
        tenant_id=row[0],
        service=row[1],
        version=row[2],
        state=ServiceKeyState(row[3]),
        blob=row[4],
        created_at=row[5],
        wrap_count=row[6],
    )


def seal_config_from_row(row: Sequence[Any]) -> SealConfig:
    """cluster_id, region, mode, threshold, share_count, check_value, seal_blob, seal_keystore,
    seal_key_id, share_set_id."""
    return SealConfig(
        cluster_id=row[0],
        region=row[1],
        mode=SealMode(row[2]),
        threshold=row[3],
        share_count=row[4],
        check_value=row[5],
        seal_blob=row[6],
        seal_keystore=row[7],
        seal_key_id=row[8],
        share_set_id=row[9],
    )
