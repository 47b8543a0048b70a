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
    """Persistence for the seal configuration: one row per cluster.

    ``save_seal_config`` replaces the row (init writes it first, rekey-shares replaces it).
    The controller reads before it initializes, but two Cores running ``init`` against one
    store at the same instant would race; implementations backed by a shared database should
    make the first write an insert that fails if a row exists.
    """

    async def load_seal_config(self) -> SealConfig | None: ...

    async def save_seal_config(self, config: SealConfig) -> None: ...


class MemorySealRecords:
    """A ``SealRecords`` kept in this process: for tests and throwaway development clusters."""

    __slots__ = ("_config", "saves")

    def __init__(self, config: SealConfig | None = None) -> None:
        self._config = config
        self.saves = 0  # how many times a configuration was written

    async def load_seal_config(self) -> SealConfig | None:
        return self._config

    async def save_seal_config(self, config: SealConfig) -> None:
        self._config = config
        self.saves += 1
