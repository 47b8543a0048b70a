"""IVK versions: the internal keys, wrapped by the MasterKey, that wrap every L2 binding.

Invariants:
- Exactly one version is active (the store's unique index enforces it); only it wraps.
- What each state allows is the table ``STATE_USES``; transitions are ``TRANSITIONS`` and each
  one is a compare-and-set in the store, so several Cores can run this at once.
- A version is retired (its blob deleted) only when no binding references it and it left
  active at least ``ivk_grace_period`` ago, so a Core that has not yet seen a rotation and
  still wraps under the old version never produces a blob nothing can open.
- Wraps are counted before they are made: blocks of ``ivk_wrap_reservation`` are added to the
  stored count, so a crash can only over-count, and the version rotates before its count
  passes ``ivk_max_wraps``.
- Active and grace versions are kept as ciphers in memory; deprecated ones are unwrapped on
  demand and dropped after use. ``detach`` drops everything.
"""

from __future__ import annotations

import asyncio
import enum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.hierarchy.clock import Clock
from kmip_server.hierarchy.errors import MasterKeyRejected, Sealed, StoreConflict
from kmip_server.hierarchy.settings import HierarchySettings
from kmip_server.storage.hierarchy import HierarchyStore, IvkRecord, IvkState
from unseal.blob import BlobHeader, Layer, UnwrapError, cipher_for, unwrap, wrap
from unseal.memory import SecretBuffer, zeroize

IVK_KEY_ID = "ivk"
MASTER_KEY_ID = "master"
MASTER_KEY_VERSION = 1
KEY_SIZE = 32


class Use(enum.Flag):
    NONE = 0
    WRAP = enum.auto()
    UNWRAP = enum.auto()
    KEEP_WARM = enum.auto()  # cipher held in memory rather than unwrapped on demand
    REWRAP_ON_ACCESS = enum.auto()  # a binding found under it is re-wrapped to active when used


STATE_USES: dict[IvkState, Use] = {
    IvkState.ACTIVE: Use.WRAP | Use.UNWRAP | Use.KEEP_WARM,
    IvkState.GRACE: Use.UNWRAP | Use.KEEP_WARM | Use.REWRAP_ON_ACCESS,
    IvkState.DEPRECATED: Use.UNWRAP,
    IvkState.RETIRED: Use.NONE,
}


class Event(enum.Enum):
    ROTATED = "rotated"  # a newer version became active
    GRACE_ELAPSED = "grace_elapsed"
    UNREFERENCED = "unreferenced"  # the scrubber found nothing under it


TRANSITIONS: dict[tuple[IvkState, Event], IvkState] = {
    (IvkState.ACTIVE, Event.ROTATED): IvkState.GRACE,
    (IvkState.GRACE, Event.ROTATED): IvkState.DEPRECATED,
    (IvkState.GRACE, Event.GRACE_ELAPSED): IvkState.DEPRECATED,
    (IvkState.DEPRECATED, Event.UNREFERENCED): IvkState.RETIRED,
}


def ivk_header(version: int) -> BlobHeader:
    return BlobHeader(Layer.IVK, "", IVK_KEY_ID, version, MASTER_KEY_ID, MASTER_KEY_VERSION)


class IvkRing:
    """This Core's view of the IVK versions, and the only code that wraps or unwraps one."""

    def __init__(self, store: HierarchyStore, settings: HierarchySettings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._master: AESGCM | None = None
        self._records: dict[int, IvkRecord] = {}
        self._warm: dict[int, AESGCM] = {}
        self._active = 0
        self._unreserved = 0  # wraps still covered by this Core's last reservation on the active version
        self._lock = asyncio.Lock()  # reservations and rotations (never on the L4 hot path)

    @property
    def attached(self) -> bool:
        return self._master is not None

    @property
    def active_version(self) -> int:
        self._require_master()
        return self._active

    def records(self) -> list[IvkRecord]:
        return [self._records[version] for version in sorted(self._records)]

    def uses(self, version: int) -> Use:
        record = self._records.get(version)
        return Use.NONE if record is None else STATE_USES[record.state]

    # Attach, detach, refresh -----------------------------------------------------------
    async def attach(self, master_key: SecretBuffer) -> None:
        """Open the IVKs with ``master_key`` (creating version 1 on a new cluster)."""
        master = cipher_for(master_key.view())
        records = await self._store.list_ivks()
        if not records:
            with SecretBuffer.random(KEY_SIZE) as material:
                blob = wrap(ivk_header(1), master, material.view())
            now = self._clock.now()
            await self._store.create_first_ivk(IvkRecord(1, IvkState.ACTIVE, blob, now, 0))
            records = await self._store.list_ivks()  # another Core may have created it first
        try:
            self._install(master, records)
        except UnwrapError:
            self.detach()
            raise MasterKeyRejected from None
        self._master = master

    def detach(self) -> None:
        self._master = None
        self._warm.clear()
        self._records.clear()
        self._active = 0
        self._unreserved = 0

    async def refresh(self) -> None:
        """Re-read the versions (another Core may have rotated)."""
        master = self._require_master()
        self._install(master, await self._store.list_ivks())

    def _install(self, master: AESGCM, records: list[IvkRecord]) -> None:
        active = [record.version for record in records if record.state is IvkState.ACTIVE]
        if len(active) != 1:
            raise UnwrapError  # a store without exactly one active IVK opens nothing
        warm = {
            record.version: self._warm.get(record.version) or self._open(master, record)
            for record in records
            if Use.KEEP_WARM in STATE_USES[record.state]
        }
        if active[0] != self._active:
            self._unreserved = 0
        self._records = {record.version: record for record in records}
        self._warm = warm
        self._active = active[0]

    @staticmethod
    def _open(master: AESGCM, record: IvkRecord) -> AESGCM:
        if record.blob is None:
            raise UnwrapError
        material = unwrap(
            record.blob,
            master,
            layer=Layer.IVK,
            tenant_id="",
            key_id=IVK_KEY_ID,
            key_version=record.version,
        )
        try:
            return cipher_for(material)
        finally:
            zeroize(material)

    def _require_master(self) -> AESGCM:
        if self._master is None:
            raise Sealed
        return self._master

    # Using versions --------------------------------------------------------------------
    async def wrap_cipher(self, count: int = 1) -> tuple[int, AESGCM]:
        """The active version and its cipher, with ``count`` wraps reserved under it."""
        self._require_master()
        async with self._lock:
            if self._rotation_due_by_age():
                await self._rotate_locked()
            while self._unreserved < count:
                version = self._active
                block = max(count, self._settings.ivk_wrap_reservation)
                total = await self._store.reserve_ivk_wraps(version, block)
                if total > self._settings.ivk_max_wraps:
                    await self._rotate_locked()
                    continue
                if version == self._active:
                    self._unreserved += block
            self._unreserved -= count
            return self._active, self._warm[self._active]

    async def unwrap_cipher(self, version: int) -> AESGCM:
        """A cipher for unwrapping under ``version``; ``UnwrapError`` if it cannot unwrap any more."""
        master = self._require_master()
        if version not in self._records:
            await self.refresh()
        cipher = self._warm.get(version)
        if cipher is not None:
            return cipher
        record = self._records.get(version)
        if record is None or Use.UNWRAP not in STATE_USES[record.state]:
            raise UnwrapError
        return self._open(master, record)

    # Rotation and state policy ---------------------------------------------------------
    def _rotation_due_by_age(self) -> bool:
        record = self._records[self._active]
        return self._clock.now() - record.created_at >= self._settings.ivk_max_age

    async def rotate(self) -> int:
        """Make a new active version now (by command). Returns it."""
        self._require_master()
        async with self._lock:
            await self._rotate_locked()
            return self._active

    async def _rotate_locked(self) -> None:
        master = self._require_master()
        for _ in range(self._settings.store_conflict_retries):
            expected = self._active
            version = max(self._records) + 1
            with SecretBuffer.random(KEY_SIZE) as material:
                blob = wrap(ivk_header(version), master, material.view())
            new = IvkRecord(version, IvkState.ACTIVE, blob, self._clock.now(), 0)
            rotated = await self._store.rotate_ivk(expected, new, self._clock.now())
            await self.refresh()
            if rotated:
                return
        raise StoreConflict

    async def apply_policy(self) -> None:
        """Rotate if the active version is too old or too used; end grace periods that ran out."""
        self._require_master()
        async with self._lock:
            await self.refresh()
            record = self._records[self._active]
            if self._rotation_due_by_age() or record.wrap_count >= self._settings.ivk_max_wraps:
                await self._rotate_locked()
            now = self._clock.now()
            for old in list(self._records.values()):
                if (
                    (old.state, Event.GRACE_ELAPSED) in TRANSITIONS
                    and old.grace_at is not None
                    and now - old.grace_at >= self._settings.ivk_grace_period
                ):
                    await self._store.deprecate_ivk(old.version, now)
            await self.refresh()

    async def retire_unreferenced(self) -> list[int]:
        """Retire every deprecated version that nothing references and whose grace is over."""
        self._require_master()
        now = self._clock.now()
        retired = []
        async with self._lock:
            for old in list(self._records.values()):
                if (old.state, Event.UNREFERENCED) in TRANSITIONS and await self._store.retire_ivk(
                    old.version, now - self._settings.ivk_grace_period, now
                ):
                    retired.append(old.version)
            await self.refresh()
        return retired
