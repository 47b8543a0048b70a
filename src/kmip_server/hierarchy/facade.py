"""``KeyHierarchy``: the one object the server talks to for every key above L4.

Invariants:
- Kill-switch first: ``unlink_tenant`` wipes the tenant's L2 and L3 from memory before it
  touches storage, and every task that was opening that tenant meanwhile finds out (a
  per-tenant revocation count) and throws its keys away instead of installing them.
- A tenant's L2 comes into memory from the active binding only while the last successful L1
  check is younger than ``sovereign_ttl``; otherwise only through the customer's L1. The hot
  path re-checks that deadline on every call, so no background task has to be on time.
- The L1 re-check *decrypts* the sovereign binding rather than calling ``validate``: a key can
  look fine to a metadata call (DescribeKey, C_GetAttributeValue) while the customer has
  revoked our decrypt permission or grant, replaced imported key material, or the binding no
  longer opens; only a decrypt proves that L1 still releases this L2. The L2 it returns is
  compared (constant time) with the one in memory. The cost is one L1 call per tenant per
  interval, the same call a relink makes.
- L1 answers are sorted by ``KeystoreError.retryable``: a non-retryable answer (disabled,
  deleted, denied, would not decrypt) fails the tenant closed at once and deletes its active
  binding; a retryable one (unavailable, throttled, timeout) changes nothing until the TTL ends.
- The L4 hot path (``wrap_l4``/``unwrap_l4``) is synchronous: dictionary look-ups, one clock
  read, one AES-GCM call. No I/O, no awaits, no lock. When a key it needs is not warm it
  raises ``NotReady``; ``await ensure_ready(tenant, service)`` and call again.
- L4 wraps are counted per L3 version, as IVK wraps are: ``wrap_l4`` only spends wraps this
  Core already reserved in the store (``l3_wrap_reservation`` at a time, one store round trip
  per block, ``keys.wraps_granted``); the async path reserves, one reservation per service at
  a time on this Core. Once a version's reservations reach ``l3_max_wraps`` (the AES-GCM
  random-nonce bound) its L3 rotates, as by age; no version is ever wrapped under more often,
  whatever the number of Cores. A crash only over-counts.
- Opening a tenant or a service is single-flight: a hundred concurrent requests for a cold
  tenant make one store read and at most one L1 call.
- Every stored change is a compare-and-set; a conflict re-reads and decides again.
- ``detach`` (seal) wipes every L2, drops every L3 and IVK cipher, and turns away whatever
  was in flight (a seal generation count).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keystores.base import Keystore, KeystoreDecryptFailed, KeystoreError, KeystoreUnavailable
from kmip_server.hierarchy.clock import Clock, SystemClock
from kmip_server.hierarchy.errors import (
    HierarchyError,
    L1Refused,
    L1Unreachable,
    LinkConflict,
    NotReady,
    Sealed,
    StoreConflict,
    TenantLocked,
    TenantNotLinked,
    UnknownKeystore,
    UnwrapFailed,
)
from kmip_server.hierarchy.ivk import IVK_KEY_ID, KEY_SIZE, IvkRing, Use
from kmip_server.hierarchy.keys import (
    L2_KEY_VERSION,
    L4_KEY_VERSION,
    ServiceKeys,
    SingleFlight,
    TenantKeys,
    wraps_granted,
)
from kmip_server.hierarchy.settings import HierarchySettings
from kmip_server.storage.errors import StorageError
from kmip_server.storage.hierarchy import (
    HierarchyStore,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from unseal.blob import BlobHeader, Layer, UnwrapError, cipher_for, peek, unwrap, unwrap_selecting, wrap
from unseal.memory import SecretBuffer, zeroize

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantStatus:
    tenant_id: str
    exists: bool
    linked: bool = False
    usable: bool = False  # linked, bound, L1 not refusing, last good L1 check within the TTL
    warm: bool = False  # L2 is in this Core's memory
    l2_id: str | None = None
    keystore_kind: str | None = None
    l1_key_id: str | None = None
    l1_state: L1State | None = None
    last_l1_check: float | None = None
    honoured_until: float | None = None  # last good L1 check + sovereign TTL


@dataclass(frozen=True, slots=True)
class RecheckSummary:
    ok: int = 0
    unreachable: int = 0
    refused: int = 0
    errors: int = 0  # storage or unexpected failures (logged); the tenant's state is unchanged


@dataclass(frozen=True, slots=True)
class ScrubReport:
    active_version: int
    rewrapped: int  # tenant roots whose bindings were re-wrapped to the active IVK
    conflicts: int  # changed meanwhile and left for the next run
    failed: int  # bindings that would not unwrap (logged): they keep their old IVK referenced
    retired: tuple[int, ...]  # IVK versions retired by this run


@dataclass(frozen=True, slots=True)
class _Refusal:
    error: type[HierarchyError]
    retry_after: float


class KeyHierarchy:
    """MasterKey -> IVK -> L2 (tenant) -> L3 (service) -> L4 wraps, for one Core."""

    def __init__(
        self,
        *,
        store: HierarchyStore,
        keystores: Mapping[str, Keystore],
        cluster_id: str,
        settings: HierarchySettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._keystores = keystores
        self._cluster_id = cluster_id
        self._settings = settings or HierarchySettings()
        self._clock = clock or SystemClock()
        self._ring = IvkRing(store, self._settings, self._clock)
        self._tenants: dict[str, TenantKeys] = {}
        self._refusals: dict[str, _Refusal] = {}  # tenants this Core turns away without asking again
        self._revocations: dict[str, int] = {}  # bumped whenever a tenant's keys are wiped
        self._generation = 0  # bumped on every detach
        self._flights = SingleFlight()

    @property
    def settings(self) -> HierarchySettings:
        return self._settings

    # Seal and unseal ---------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self._ring.attached

    async def attach(self, master_key: SecretBuffer) -> None:
        """Unsealed: open the IVKs with ``master_key`` (``MasterKeyRejected`` if it is not this cluster's).

        The buffer stays the caller's; tenants are opened lazily on first use."""
        await self._ring.attach(master_key)

    def detach(self) -> None:
        """Sealed: wipe every key in memory. Synchronous, so a seal handler can call it directly."""
        self._generation += 1
        for keys in self._tenants.values():
            keys.close()
        self._tenants.clear()
        self._refusals.clear()
        self._flights.forget()
        self._ring.detach()

    on_seal = detach

    # The L4 hot path -----------------------------------------------------------------------
    def is_ready(self, tenant_id: str, service: str) -> bool:
        """Whether ``wrap_l4``/``unwrap_l4`` can run now without ``NotReady`` (for the current L3)."""
        keys = self._tenants.get(tenant_id)
        if keys is None:
            return False
        now = self._clock.now()
        service_keys = keys.services.get(service)
        return (
            now < keys.honoured_until
            and service_keys is not None
            and service_keys.current(now, self._settings.l3_max_wraps)
            and service_keys.unreserved > 0
        )

    def _warm(self, tenant_id: str, service: str) -> tuple[ServiceKeys, float]:
        keys = self._tenants.get(tenant_id)
        if keys is None:
            raise NotReady
        now = self._clock.now()
        if now >= keys.honoured_until:
            # The sovereign TTL ran out with no good L1 check: only L1 may open this tenant again.
            self._forget(tenant_id)
            raise NotReady
        service_keys = keys.services.get(service)
        if service_keys is None:
            raise NotReady
        return service_keys, now

    def wrap_l4(
        self, tenant_id: str, service: str, object_id: str, material: bytes | bytearray | memoryview
    ) -> bytes:
        """Wrap a managed object's key material under the service's current L3 version."""
        service_keys, now = self._warm(tenant_id, service)
        if now >= service_keys.rotate_at:
            raise NotReady  # the current L3 is too old to wrap: ensure_ready rotates it
        if not service_keys.unreserved:
            raise NotReady  # no reserved wrap left here: the async path reserves (or rotates)
        service_keys.unreserved -= 1
        return self._wrap_under(service_keys, tenant_id, service, object_id, material)

    @staticmethod
    def _wrap_under(
        service_keys: ServiceKeys,
        tenant_id: str,
        service: str,
        object_id: str,
        material: bytes | bytearray | memoryview,
    ) -> bytes:
        """One wrap under the current L3 version, already counted by the caller."""
        header = BlobHeader(
            Layer.L4, tenant_id, object_id, L4_KEY_VERSION, service, service_keys.current_version
        )
        return wrap(header, service_keys.current_cipher, material)

    def unwrap_l4(self, tenant_id: str, service: str, object_id: str, blob: bytes) -> bytearray:
        """The key material of ``object_id``, which the caller zeroizes. ``UnwrapFailed`` for any bad blob."""
        service_keys, now = self._warm(tenant_id, service)
        reload_interval = self._settings.l3_reload_interval

        def select(wrapping_key_id: str, version: int) -> AESGCM | None:
            if wrapping_key_id != service:
                return None
            cipher = service_keys.ciphers.get(version)
            if (
                cipher is None
                and version > service_keys.current_version
                and now - service_keys.loaded_at >= reload_interval
            ):
                # Maybe rotated by another Core: reload at most every l3_reload_interval.
                service_keys.stale = True
                raise NotReady
            return cipher

        try:
            # The header's tenant, layer, object id and version are compared with the caller's
            # before any cryptography: another tenant's blob fails here, like a bad tag does.
            return unwrap_selecting(
                blob,
                select,
                layer=Layer.L4,
                tenant_id=tenant_id,
                key_id=object_id,
                key_version=L4_KEY_VERSION,
            )
        except UnwrapError:
            raise UnwrapFailed from None

    async def wrap_l4_async(
        self, tenant_id: str, service: str, object_id: str, material: bytes | bytearray | memoryview
    ) -> bytes:
        """``wrap_l4``, warming the keys, reserving wraps or rotating the L3 first when needed."""
        try:
            return self.wrap_l4(tenant_id, service, object_id, material)
        except NotReady:
            service_keys = await self._reserved(tenant_id, service, claim=1)
            return self._wrap_under(service_keys, tenant_id, service, object_id, material)

    async def unwrap_l4_async(self, tenant_id: str, service: str, object_id: str, blob: bytes) -> bytearray:
        """``unwrap_l4``, warming the keys first when needed."""
        try:
            return self.unwrap_l4(tenant_id, service, object_id, blob)
        except NotReady:
            await self._service_ready(tenant_id, service)  # unwrapping needs no reserved wrap
            return self.unwrap_l4(tenant_id, service, object_id, blob)

    # Warming -------------------------------------------------------------------------------
    async def ensure_ready(self, tenant_id: str, service: str) -> None:
        """Make ``tenant_id``'s L2 and ``service``'s L3 warm (creating or rotating the L3 if due),
        with wraps of its current version reserved here. Under concurrency another caller may
        spend them first: ``wrap_l4_async`` takes its own.

        Raises ``Sealed``, ``TenantNotLinked``, ``TenantLocked`` or ``L1Unreachable``."""
        await self._reserved(tenant_id, service, claim=0)

    async def _service_ready(self, tenant_id: str, service: str) -> TenantKeys:
        """The tenant's keys with ``service``'s L3 warm and current: loaded, not older than
        ``l3_max_age``, its wrap budget not spent here (rotating the L3 when due)."""
        keys = await self._tenant_keys(tenant_id)
        service_keys = keys.services.get(service)
        if service_keys is not None and service_keys.current(self._clock.now(), self._settings.l3_max_wraps):
            return keys
        await self._flights.run(("service", tenant_id, service), lambda: self._load_service(keys, service))
        return keys

    async def _reserved(self, tenant_id: str, service: str, *, claim: int) -> ServiceKeys:
        """``service``'s warm keys with ``claim`` wraps of the current L3 version taken for the
        caller (0: with at least one left in reserve), reserving in the store when this Core has
        none left and rotating the L3 when its budget is spent. Returns without awaiting after
        the take, so the caller wraps before anything else can change the keys.

        Callers queued behind others may find each version spent before their turn (a tiny
        ``l3_max_wraps``, many Cores): that is progress, and they go on to the next version;
        only ``store_conflict_retries`` rounds in a row without a newer version give up."""
        stalled, newest = 0, 0
        while stalled < self._settings.store_conflict_retries:
            keys = await self._service_ready(tenant_id, service)
            async with keys.reserving.setdefault(service, asyncio.Lock()):
                service_keys = await self._reserve_locked(keys, service)
                if service_keys is not None:
                    service_keys.unreserved -= claim
                    return service_keys
            current = keys.services.get(service)
            version = 0 if current is None else current.current_version
            stalled = 0 if version > newest else stalled + 1
            newest = max(newest, version)
        raise StoreConflict

    async def _reserve_locked(self, keys: TenantKeys, service: str) -> ServiceKeys | None:
        """The current keys once this Core holds a reserved wrap of their version; None when they
        must be opened, reloaded or rotated first (``_service_ready`` does, or says why not)."""
        limit = self._settings.l3_max_wraps
        while True:
            service_keys = keys.services.get(service)
            now = self._clock.now()
            if (
                keys.closed
                or now >= keys.honoured_until
                or service_keys is None
                or not service_keys.current(now, limit)
            ):
                return None
            if service_keys.unreserved:
                return service_keys
            version, block = service_keys.current_version, self._settings.l3_wrap_reservation
            total = await self._store.reserve_service_key_wraps(keys.tenant_id, service, version, block)
            current = keys.services.get(service)  # reloaded meanwhile? the block is this version's
            if current is not None and current.current_version == version:
                current.unreserved += wraps_granted(total, block, limit)
                current.reserved_total = max(current.reserved_total, total)

    async def ensure_tenant_ready(self, tenant_id: str) -> None:
        """Make ``tenant_id``'s L2 warm (from the active binding, or through L1 when the TTL ran out)."""
        await self._tenant_keys(tenant_id)

    async def _tenant_keys(self, tenant_id: str) -> TenantKeys:
        keys = self._tenants.get(tenant_id)
        if keys is not None:
            if self._clock.now() < keys.honoured_until:
                return keys
            self._forget(tenant_id)  # the TTL ran out: wipe now, before opening it again
        if not self.attached:
            raise Sealed
        refusal = self._refusals.get(tenant_id)
        if refusal is not None and self._clock.now() < refusal.retry_after:
            raise refusal.error
        return await self._flights.run(("tenant", tenant_id), lambda: self._hydrate(tenant_id))

    async def _hydrate(self, tenant_id: str) -> TenantKeys:
        generation, revocations = self._generation, self._revocations.get(tenant_id, 0)
        record = await self._store.get_tenant_root(tenant_id)
        if record is None or not record.linked:
            self._refuse(tenant_id, TenantNotLinked)
            raise TenantNotLinked
        if self._active_binding_honoured(record, self._clock.now()):
            assert record.active_binding is not None
            l2 = await self._open_binding(record, Layer.L2_ACTIVE, record.active_binding)
            try:
                await self._rewrap_if_in_grace(record)
            except BaseException:
                l2.wipe()
                raise
        else:
            try:
                l2, record = await self._confirm_with_l1(record)
            except L1Unreachable:
                self._refuse(tenant_id, L1Unreachable)
                raise
        if generation != self._generation or revocations != self._revocations.get(tenant_id, 0):
            l2.wipe()  # sealed, unlinked or failed closed while we were opening it
            raise self._voided_error(tenant_id)
        assert record.last_l1_check is not None
        return self._install(tenant_id, record.l2_id, l2, record.last_l1_check + self._settings.sovereign_ttl)

    def _active_binding_honoured(self, record: TenantRootRecord, now: float) -> bool:
        return (
            record.linked
            and record.active_binding is not None
            and record.l1_state is not L1State.REFUSED
            and record.last_l1_check is not None
            and now - record.last_l1_check < self._settings.sovereign_ttl
        )

    async def _load_service(self, keys: TenantKeys, service: str) -> None:
        tenant_id = keys.tenant_id
        records = await self._store.list_service_keys(tenant_id, service)
        if (
            not records
            or self._clock.now() - records[-1].created_at >= self._settings.l3_max_age
            or records[-1].wrap_count >= self._settings.l3_max_wraps
        ):
            if keys.closed:
                raise NotReady
            await self._add_service_key(keys, service, records[-1].version + 1 if records else 1)
            records = await self._store.list_service_keys(tenant_id, service)
        if keys.closed:
            raise NotReady  # wiped while we read: the caller's next ensure_ready says why
        ciphers: dict[int, AESGCM] = {}
        for record in records:
            try:
                material = unwrap(
                    record.blob,
                    keys.cipher(),
                    layer=Layer.L3,
                    tenant_id=tenant_id,
                    key_id=service,
                    key_version=record.version,
                )
            except UnwrapError:
                log.exception(
                    "an L3 version of a tenant would not unwrap under its L2 (version %d)", record.version
                )
                raise UnwrapFailed from None
            try:
                ciphers[record.version] = cipher_for(material)
            finally:
                zeroize(material)
        newest = records[-1]
        now = self._clock.now()
        rotate_at = newest.created_at + self._settings.l3_max_age
        loaded = ServiceKeys(tenant_id, service, ciphers, rotate_at, now, reserved_total=newest.wrap_count)
        previous = keys.services.get(service)
        if previous is not None and previous.current_version == loaded.current_version:
            # Reloaded (another Core rotated, or a newer L4 was seen): this Core's reservation of
            # the version stays this Core's, spent once.
            loaded.unreserved, previous.unreserved = previous.unreserved, 0
            loaded.reserved_total = max(loaded.reserved_total, previous.reserved_total)
        keys.services[service] = loaded

    async def _add_service_key(self, keys: TenantKeys, service: str, version: int) -> bool:
        header = BlobHeader(Layer.L3, keys.tenant_id, service, version, keys.l2_id, L2_KEY_VERSION)
        with SecretBuffer.random(KEY_SIZE) as material:
            blob = wrap(header, keys.cipher(), material.view())
        record = ServiceKeyRecord(
            keys.tenant_id, service, version, ServiceKeyState.ACTIVE, blob, self._clock.now()
        )
        return await self._store.add_service_key(record)

    async def rotate_l3(self, tenant_id: str, service: str) -> int:
        """Make a new L3 version for ``service`` now; old L4 keep unwrapping. Returns the new version."""
        keys = await self._tenant_keys(tenant_id)
        for _ in range(self._settings.store_conflict_retries):
            records = await self._store.list_service_keys(tenant_id, service)
            version = records[-1].version + 1 if records else 1
            if await self._add_service_key(keys, service, version):
                await self._load_service(keys, service)
                return version
        raise StoreConflict

    # L2 bindings -----------------------------------------------------------------------------
    def _context(self, tenant_id: str, l2_id: str) -> dict[str, str]:
        return {"tenant": tenant_id, "l2_id": l2_id, "cluster": self._cluster_id}

    def _keystore(self, kind: str) -> Keystore:
        keystore = self._keystores.get(kind)
        if keystore is None:
            raise UnknownKeystore
        return keystore

    async def _open_binding(self, record: TenantRootRecord, layer: Layer, blob: bytes) -> SecretBuffer:
        """Unwrap a binding with the IVK it names: L2 (active) or the L1 ciphertext (sovereign)."""
        try:
            cipher = await self._ring.unwrap_cipher(peek(blob).wrapping_key_version)
            plain = unwrap(
                blob,
                cipher,
                layer=layer,
                tenant_id=record.tenant_id,
                key_id=record.l2_id,
                key_version=L2_KEY_VERSION,
            )
        except UnwrapError:
            log.exception("a tenant root binding would not unwrap (layer %s)", layer.name)
            raise TenantLocked from None
        try:
            return SecretBuffer(plain)
        finally:
            zeroize(plain)

    async def _bind(self, tenant_id: str, l2_id: str, layer: Layer, plaintext: memoryview | bytes) -> bytes:
        version, cipher = await self._ring.wrap_cipher()
        header = BlobHeader(layer, tenant_id, l2_id, L2_KEY_VERSION, IVK_KEY_ID, version)
        return wrap(header, cipher, plaintext)

    async def _l1_call(self, call: Awaitable[bytes | bytearray]) -> bytes | bytearray:
        try:
            async with asyncio.timeout(self._settings.l1_call_timeout):
                return await call
        except TimeoutError:
            raise KeystoreUnavailable from None

    async def _l1_open(self, record: TenantRootRecord) -> SecretBuffer:
        """Ask the customer's L1 for L2 (decrypt the sovereign binding). Raises ``KeystoreError``."""
        try:
            keystore = self._keystore(record.keystore_kind)
        except UnknownKeystore:
            log.exception("tenant root names a keystore kind that is not configured")
            raise KeystoreUnavailable from None  # configuration, not the customer: bounded by the TTL
        with await self._open_binding(record, Layer.L2_SOVEREIGN, record.sovereign_binding) as ciphertext:
            context = self._context(record.tenant_id, record.l2_id)
            plain = await self._l1_call(keystore.decrypt(record.l1_key_id, bytes(ciphertext.view()), context))
        try:
            if len(plain) != KEY_SIZE:
                raise KeystoreDecryptFailed
            return SecretBuffer(plain)
        finally:
            if isinstance(plain, bytearray):
                zeroize(plain)

    async def _confirm_with_l1(
        self, record: TenantRootRecord, *, relink: bool = False
    ) -> tuple[SecretBuffer, TenantRootRecord]:
        """L1 decrypts the sovereign binding: record the answer, and return L2 with the stored record.

        Success refreshes the last check (and, when linked or relinking, makes a new active
        binding if there is none). A refusal deletes the active binding, wipes the tenant here
        and raises ``TenantLocked``; an unreachable L1 raises ``L1Unreachable`` and changes nothing
        else (the TTL decides)."""
        try:
            l2 = await self._l1_open(record)
        except KeystoreError as exc:
            refused = not exc.retryable
            log.warning(
                "L1 keystore %s answered %s for tenant %s",
                record.keystore_kind,
                type(exc).__name__,
                record.tenant_id,
            )
            if refused:  # memory first: the store write below may fail or be slow
                self._forget(record.tenant_id)
                self._refuse(record.tenant_id, TenantLocked)
            await self._record_l1_failure(record, refused=refused)
            raise (TenantLocked if refused else L1Unreachable) from None
        try:
            stored = await self._record_l1_success(record, l2, relink=relink)
        except BaseException:
            l2.wipe()
            raise
        return l2, stored

    async def _record_l1_success(
        self, record: TenantRootRecord, l2: SecretBuffer, *, relink: bool
    ) -> TenantRootRecord:
        async def change(current: TenantRootRecord, now: float) -> TenantRootRecord:
            linked = current.linked or relink
            active = current.active_binding
            if linked and active is None:
                active = await self._bind(current.tenant_id, current.l2_id, Layer.L2_ACTIVE, l2.view())
            return dataclasses.replace(
                current,
                linked=linked,
                active_binding=active if linked else None,
                last_l1_check=now,
                l1_state=L1State.OK,
                l1_state_at=now,
            )

        return await self._update_root(record, change)

    async def _record_l1_failure(self, record: TenantRootRecord, *, refused: bool) -> None:
        async def change(current: TenantRootRecord, now: float) -> TenantRootRecord:
            if refused:
                return dataclasses.replace(
                    current, active_binding=None, l1_state=L1State.REFUSED, l1_state_at=now
                )
            if current.l1_state is L1State.REFUSED:
                return current  # "unreachable" tells nothing new about a refusing key
            return dataclasses.replace(current, l1_state=L1State.UNREACHABLE, l1_state_at=now)

        await self._update_root(record, change)

    async def _update_root(
        self,
        record: TenantRootRecord,
        change: Callable[[TenantRootRecord, float], Awaitable[TenantRootRecord]],
    ) -> TenantRootRecord:
        """Compare-and-set ``change(record)``, re-reading and re-deciding on conflict."""
        current: TenantRootRecord | None = record
        for _ in range(self._settings.store_conflict_retries):
            if current is None or current.l2_id != record.l2_id:
                raise TenantNotLinked  # deleted or replaced meanwhile
            new = await change(current, self._clock.now())
            if new == current:
                return current
            if current.tenant_id in await self._store.update_tenant_roots([new]):
                return dataclasses.replace(new, revision=new.revision + 1)
            current = await self._store.get_tenant_root(record.tenant_id)
        raise StoreConflict

    async def _rewrap_if_in_grace(self, record: TenantRootRecord) -> None:
        """Lazily move a binding found under a grace IVK to the active one (best effort)."""
        blobs = [record.sovereign_binding, record.active_binding]
        if not any(
            blob and Use.REWRAP_ON_ACCESS in self._ring.uses(peek(blob).wrapping_key_version)
            for blob in blobs
        ):
            return
        try:
            rewrapped = await self._rewrapped(record, {})
            if rewrapped is not None:
                await self._store.update_tenant_roots([rewrapped])
        except (HierarchyError, StorageError, UnwrapError):
            log.warning("lazy re-wrap of a tenant root failed; the scrubber will retry", exc_info=True)

    async def _rewrapped(
        self, record: TenantRootRecord, ciphers: dict[int, AESGCM]
    ) -> TenantRootRecord | None:
        """``record`` with both bindings under the active IVK, or None if they already are."""
        version, cipher = await self._ring.wrap_cipher(2)
        changed = False
        new_blobs: dict[Layer, bytes | None] = {}
        for layer, blob in (
            (Layer.L2_SOVEREIGN, record.sovereign_binding),
            (Layer.L2_ACTIVE, record.active_binding),
        ):
            if blob is None or peek(blob).wrapping_key_version >= version:
                new_blobs[layer] = blob
                continue
            old = peek(blob).wrapping_key_version
            if old not in ciphers:
                ciphers[old] = await self._ring.unwrap_cipher(old)
            plain = unwrap(
                blob,
                ciphers[old],
                layer=layer,
                tenant_id=record.tenant_id,
                key_id=record.l2_id,
                key_version=L2_KEY_VERSION,
            )
            try:
                header = BlobHeader(
                    layer, record.tenant_id, record.l2_id, L2_KEY_VERSION, IVK_KEY_ID, version
                )
                new_blobs[layer] = wrap(header, cipher, plain)
            finally:
                zeroize(plain)
            changed = True
        if not changed:
            return None
        sovereign = new_blobs[Layer.L2_SOVEREIGN]
        assert sovereign is not None
        return dataclasses.replace(
            record, sovereign_binding=sovereign, active_binding=new_blobs[Layer.L2_ACTIVE]
        )

    # Memory bookkeeping ----------------------------------------------------------------------
    def _forget(self, tenant_id: str) -> None:
        """Wipe the tenant's keys here, and void every opening of it in flight."""
        self._revocations[tenant_id] = self._revocations.get(tenant_id, 0) + 1
        keys = self._tenants.pop(tenant_id, None)
        if keys is not None:
            keys.close()

    def _voided_error(self, tenant_id: str) -> HierarchyError:
        """Why an opening of ``tenant_id`` that was in flight must not be installed."""
        if not self.attached:
            return Sealed()
        refusal = self._refusals.get(tenant_id)
        return NotReady() if refusal is None else refusal.error()

    def _refuse(self, tenant_id: str, error: type[HierarchyError]) -> None:
        retry_after = self._clock.now() + self._settings.l1_retry_after_failure
        self._refusals[tenant_id] = _Refusal(error, retry_after)

    # Tenant administration -------------------------------------------------------------------
    async def link_tenant(self, tenant_id: str, keystore_kind: str, l1_key_id: str) -> TenantStatus:
        """Make the tenant's L2 and bind it to the customer's L1 key. Idempotent for the same key;
        an unlinked tenant with the same key is relinked (through L1)."""
        if not self.attached:
            raise Sealed
        keystore = self._keystore(keystore_kind)
        existing = await self._store.get_tenant_root(tenant_id)
        if existing is None:
            created = await self._create_root(tenant_id, keystore, keystore_kind, l1_key_id)
            if created:
                return await self.tenant_status(tenant_id)
            existing = await self._store.get_tenant_root(tenant_id)  # linked concurrently
            assert existing is not None
        if (existing.keystore_kind, existing.l1_key_id) != (keystore_kind, l1_key_id):
            raise LinkConflict
        if existing.linked and existing.l1_state is not L1State.REFUSED:
            return await self.tenant_status(tenant_id)
        return await self.relink_tenant(tenant_id)

    async def _create_root(self, tenant_id: str, keystore: Keystore, kind: str, l1_key_id: str) -> bool:
        l2_id = f"l2-{uuid.uuid4().hex}"
        context = self._context(tenant_id, l2_id)
        generation, revocations = self._generation, self._revocations.get(tenant_id, 0)
        l2 = SecretBuffer.random(KEY_SIZE)
        try:
            try:
                ciphertext = bytes(await self._l1_call(keystore.encrypt(l1_key_id, l2.view(), context)))
                # Prove L1 opens what it made before anything depends on it.
                check = await self._l1_call(keystore.decrypt(l1_key_id, ciphertext, context))
                try:
                    if not l2.equals(check):
                        raise KeystoreDecryptFailed
                finally:
                    if isinstance(check, bytearray):
                        zeroize(check)
            except KeystoreError as exc:
                log.warning("L1 keystore %s refused a link: %s", kind, type(exc).__name__)
                raise (L1Unreachable if exc.retryable else L1Refused) from None
            sovereign = await self._bind(tenant_id, l2_id, Layer.L2_SOVEREIGN, ciphertext)
            active = await self._bind(tenant_id, l2_id, Layer.L2_ACTIVE, l2.view())
            now = self._clock.now()
            record = TenantRootRecord(
                tenant_id=tenant_id,
                l2_id=l2_id,
                keystore_kind=kind,
                l1_key_id=l1_key_id,
                sovereign_binding=sovereign,
                active_binding=active,
                linked=True,
                last_l1_check=now,
                l1_state=L1State.OK,
                l1_state_at=now,
                created_at=now,
            )
            if not await self._store.create_tenant_root(record):
                l2.wipe()
                return False
        except BaseException:
            l2.wipe()
            raise
        if generation == self._generation and revocations == self._revocations.get(tenant_id, 0):
            self._install(tenant_id, l2_id, l2, now + self._settings.sovereign_ttl)
        else:
            l2.wipe()
        return True

    def _install(self, tenant_id: str, l2_id: str, l2: SecretBuffer, honoured_until: float) -> TenantKeys:
        """Make ``l2`` the tenant's warm L2 (wiping any previous one here)."""
        previous = self._tenants.pop(tenant_id, None)
        if previous is not None:
            previous.close()
        keys = self._tenants[tenant_id] = TenantKeys(tenant_id, l2_id, l2, honoured_until)
        self._refusals.pop(tenant_id, None)
        return keys

    async def unlink_tenant(self, tenant_id: str) -> TenantStatus:
        """The kill-switch: wipe L2 and L3 here at once, then delete the active binding.

        The sovereign binding stays; only the customer's L1 can open the tenant again
        (``relink_tenant``). Idempotent."""
        self._forget(tenant_id)
        self._refuse(tenant_id, TenantNotLinked)
        record = await self._store.get_tenant_root(tenant_id)
        if record is None:
            raise TenantNotLinked

        async def change(current: TenantRootRecord, now: float) -> TenantRootRecord:
            return dataclasses.replace(current, linked=False, active_binding=None)

        await self._update_root(record, change)
        self._forget(tenant_id)  # anything that raced in while we wrote
        return await self.tenant_status(tenant_id)

    async def relink_tenant(self, tenant_id: str) -> TenantStatus:
        """Link again after an unlink or a refusal: only through L1 (decrypt the sovereign binding)."""
        if not self.attached:
            raise Sealed
        record = await self._store.get_tenant_root(tenant_id)
        if record is None:
            raise TenantNotLinked
        generation, revocations = self._generation, self._revocations.get(tenant_id, 0)
        try:
            l2, stored = await self._confirm_with_l1(record, relink=True)
        except TenantLocked:
            if not record.linked:
                self._refuse(tenant_id, TenantNotLinked)  # still unlinked: say so, not "locked"
            raise L1Refused from None
        if generation == self._generation and revocations == self._revocations.get(tenant_id, 0):
            assert stored.last_l1_check is not None
            self._install(tenant_id, stored.l2_id, l2, stored.last_l1_check + self._settings.sovereign_ttl)
        else:
            l2.wipe()
            self._refusals.pop(tenant_id, None)
        return await self.tenant_status(tenant_id)

    async def recheck_tenant(self, tenant_id: str) -> TenantStatus:
        """Ask L1 now (what the periodic re-check does for every linked tenant)."""
        record = await self._store.get_tenant_root(tenant_id)
        if record is not None:
            await self._flights.run(("recheck", tenant_id), lambda: self._recheck(record))
        return await self.tenant_status(tenant_id)

    async def _recheck(self, record: TenantRootRecord) -> L1State | None:
        tenant_id = record.tenant_id
        if not record.linked:
            self._forget(tenant_id)  # unlinked elsewhere (another Core, the CMK)
            return None
        try:
            l2, stored = await self._confirm_with_l1(record)
        except TenantLocked:
            return L1State.REFUSED
        except L1Unreachable:
            keys = self._tenants.get(tenant_id)
            if keys is not None and self._clock.now() >= keys.honoured_until:
                self._forget(tenant_id)
            return L1State.UNREACHABLE
        with l2:
            keys = self._tenants.get(tenant_id)
            if keys is not None:
                if keys.l2_id == stored.l2_id and keys.l2.equals(l2):
                    assert stored.last_l1_check is not None
                    keys.honoured_until = stored.last_l1_check + self._settings.sovereign_ttl
                else:
                    log.exception(
                        "L1 returned a different L2 than the one in memory; failing the tenant closed"
                    )
                    self._forget(tenant_id)
        self._refusals.pop(tenant_id, None)
        return L1State.OK

    async def recheck_all(self) -> RecheckSummary:
        """Re-check every linked tenant against its L1 (bounded concurrency)."""
        if not self.attached:
            raise Sealed
        counts = {L1State.OK: 0, L1State.UNREACHABLE: 0, L1State.REFUSED: 0}
        errors = 0
        gate = asyncio.Semaphore(self._settings.l1_recheck_concurrency)

        async def one(record: TenantRootRecord) -> None:
            nonlocal errors
            async with gate:
                try:
                    outcome = await self._flights.run(
                        ("recheck", record.tenant_id), lambda: self._recheck(record)
                    )
                except (HierarchyError, StorageError):
                    log.exception("re-check of a tenant failed")
                    errors += 1
                    return
            if outcome is not None:
                counts[outcome] += 1

        after: str | None = None
        while True:
            page = await self._store.list_tenant_roots(
                after=after, limit=self._settings.l1_recheck_page, linked_only=True
            )
            if not page:
                break
            async with asyncio.TaskGroup() as group:
                for record in page:
                    group.create_task(one(record))
            after = page[-1].tenant_id
        return RecheckSummary(
            counts[L1State.OK], counts[L1State.UNREACHABLE], counts[L1State.REFUSED], errors
        )

    async def tenant_status(self, tenant_id: str) -> TenantStatus:
        record = await self._store.get_tenant_root(tenant_id)
        keys = self._tenants.get(tenant_id)
        if record is None:
            return TenantStatus(tenant_id, exists=False)
        honoured_until = None
        if record.linked and record.active_binding is not None and record.last_l1_check is not None:
            honoured_until = record.last_l1_check + self._settings.sovereign_ttl
        return TenantStatus(
            tenant_id=tenant_id,
            exists=True,
            linked=record.linked,
            usable=self._active_binding_honoured(record, self._clock.now()),
            warm=keys is not None and keys.l2_id == record.l2_id,
            l2_id=record.l2_id,
            keystore_kind=record.keystore_kind,
            l1_key_id=record.l1_key_id,
            l1_state=record.l1_state,
            last_l1_check=record.last_l1_check,
            honoured_until=honoured_until,
        )

    # IVK rotation and the scrubber ---------------------------------------------------------
    async def rotate_ivk(self) -> int:
        """Make a new active IVK now (the previous one enters grace). Returns its version."""
        return await self._ring.rotate()

    def ivk_versions(self) -> list[tuple[int, IvkState]]:
        """This Core's view of the IVK versions and their states (for status pages and tests)."""
        return [(record.version, record.state) for record in self._ring.records()]

    async def scrub(self) -> ScrubReport:
        """Re-wrap every binding under an older IVK to the active one (in batches), then retire
        the versions that nothing references and whose grace is over. Runs to completion."""
        await self._ring.refresh()
        rewrapped = conflicts = failed = 0
        for _ in range(self._settings.store_conflict_retries):
            done, conflicted, broken = await self._scrub_pass(self._ring.active_version)
            rewrapped, conflicts, failed = rewrapped + done, conflicts + conflicted, failed + broken
            if not conflicted:
                break
        retired = await self._ring.retire_unreferenced()
        return ScrubReport(self._ring.active_version, rewrapped, conflicts, failed, tuple(retired))

    async def _scrub_pass(self, active: int) -> tuple[int, int, int]:
        rewrapped = conflicts = failed = 0
        after: str | None = None
        ciphers: dict[int, AESGCM] = {}
        while True:
            page = await self._store.list_tenant_roots_wrapped_below(
                active, after=after, limit=self._settings.scrub_batch_size
            )
            if not page:
                return rewrapped, conflicts, failed
            batch = []
            for record in page:
                try:
                    new = await self._rewrapped(record, ciphers)
                except UnwrapError:
                    log.exception("scrubber: a tenant root binding would not unwrap; left as it is")
                    failed += 1
                    continue
                if new is not None:
                    batch.append(new)
            written = await self._store.update_tenant_roots(batch)
            rewrapped += len(written)
            conflicts += len(batch) - len(written)
            after = page[-1].tenant_id

    async def maintain(self) -> ScrubReport:
        """One round of background duty: IVK policy (age, wrap count, grace), then scrub."""
        await self._ring.apply_policy()
        return await self.scrub()

    async def run(self) -> None:
        """Run the periodic L1 re-check and maintenance until cancelled (put it in a TaskGroup)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._every(self._settings.l1_recheck_interval, self.recheck_all))
            group.create_task(self._every(self._settings.maintenance_interval, self.maintain))

    async def _every(self, interval: float, duty: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self.attached:
                continue
            try:
                await duty()
            except Exception:  # a duty that fails must not end the others; CancelledError still ends it
                log.exception("background key hierarchy duty failed; retrying next round")
