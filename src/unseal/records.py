"""What the unseal layer persists, and the storage protocol it needs (implemented by kmip_server storage).

Nothing here is secret: the MasterKey never leaves memory in plaintext. What is stored is a
check value (to tell a right reconstruction from a wrong one) and, in auto-unseal mode, the seal blob.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class SealMode(enum.Enum):
    SHAMIR = "shamir"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class SealConfig:
    cluster_id: str
    region: str
    mode: SealMode
    threshold: int  # M: shares needed (recovery shares in auto mode)
    share_count: int  # N
    check_value: bytes  # HMAC-SHA256 of a fixed label under the MasterKey, bound to cluster_id
    seal_blob: bytes | None = None  # auto mode: the MasterKey sealed by the seal keystore
    seal_keystore: str | None = None  # auto mode: which keystore kind
    seal_key_id: str | None = None  # auto mode: the seal key's id in that keystore
    share_set_id: int | None = None  # SLIP-39 identifier of the current share set


class SealRecords(Protocol):
    """Persistence for the seal configuration: one row per cluster."""

    async def load_seal_config(self) -> SealConfig | None: ...

    async def save_seal_config(self, config: SealConfig) -> None: ...
