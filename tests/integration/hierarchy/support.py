"""Building blocks for the hierarchy tests: a Core over a SQLite file, and an L1 line we can cut.

``L1Line`` is a fault-injecting proxy in front of a real keystore driver (the software one or
AWS KMS through moto): it counts the calls that reach the driver and, when cut, answers
``KeystoreUnavailable`` the way a network partition would. It never imitates the driver's
own answers: disabling or deleting a key is done in the real backend, through its console.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from keystores.base import KeyStatus, Keystore, KeystoreUnavailable
from kmip_server.hierarchy import HierarchySettings, KeyHierarchy, ManualClock
from kmip_server.storage.sqlite import SqliteStore
from unseal.memory import SecretBuffer

CLUSTER_ID = "cluster-test"


class L1Line(Keystore):
    def __init__(self, inner: Keystore, *, delay: float = 0.0) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.calls: Counter[str] = Counter()
        self.cut = False
        self.delay = delay

    async def _reach(self, method: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.cut:
            raise KeystoreUnavailable("line cut")
        self.calls[method] += 1

    async def validate(self, key_id: str) -> None:
        await self._reach("validate")
        await self.inner.validate(key_id)

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        await self._reach("encrypt")
        return await self.inner.encrypt(key_id, plaintext, context)

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        await self._reach("decrypt")
        return await self.inner.decrypt(key_id, ciphertext, context)

    async def key_status(self, key_id: str) -> KeyStatus:
        await self._reach("key_status")
        return await self.inner.key_status(key_id)


@contextlib.asynccontextmanager
async def core(
    db: Path,
    lines: Mapping[str, Keystore],
    master_key: SecretBuffer,
    clock: ManualClock,
    settings: HierarchySettings | None = None,
    *,
    attach: bool = True,
) -> AsyncIterator[KeyHierarchy]:
    """One Core: a store over ``db`` and a hierarchy attached to ``master_key``; sealed and closed on exit."""
    store = await SqliteStore.open(db)
    hierarchy = KeyHierarchy(
        store=store, keystores=lines, cluster_id=CLUSTER_ID, settings=settings, clock=clock
    )
    try:
        if attach:
            await hierarchy.attach(master_key)
        yield hierarchy
    finally:
        hierarchy.detach()
        await store.close()


async def stored_blobs(db: Path) -> dict[str, list[bytes]]:
    """Every wrapped blob of the hierarchy in ``db``, by kind (read through the store's own API)."""
    store = await SqliteStore.open(db)
    try:
        roots = await store.list_tenant_roots(after=None, limit=1_000_000, linked_only=False)
        blobs: dict[str, list[bytes]] = {"sovereign": [], "active": [], "ivk": []}
        for root in roots:
            blobs["sovereign"].append(root.sovereign_binding)
            if root.active_binding is not None:
                blobs["active"].append(root.active_binding)
        blobs["ivk"] = [record.blob for record in await store.list_ivks() if record.blob is not None]
        return blobs
    finally:
        await store.close()
