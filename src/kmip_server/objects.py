"""The managed-object service: KMIP objects in and out of the store, their key material wrapped
as L4 blobs, their attributes kept by the rules of section 3.

Invariants:
- Every access is tenant-scoped by construction: operations reach objects only through a
  ``TenantObjects`` made for the caller's (tenant, service) by the engine. Another tenant's
  identifier is ``ItemNotFound`` with the same message as one that never existed.
- Key material is never stored in the clear: a managed object is TTLV-encoded (KMIP 1.4
  encoding of the object, e.g. the Symmetric Key structure) and wrapped with
  ``KeyHierarchy.wrap_l4`` under the owner's current L3, bound to the tenant and the object's
  Unique Identifier. Reading unwraps on the synchronous hot path when the keys are warm and
  warms them once otherwise; the unwrapped buffer is zeroized as soon as it is decoded. (The
  decoded model object holds immutable ``bytes``: those cannot be wiped and live until collected.)
- Unique Identifiers are random UUID4 strings, so they reveal neither order nor count.
- Each change made on behalf of a batch item is recorded with its compensation in the
  request's ``UndoJournal`` (delete what was created, put back the previous record), so that
  the engine can undo a batch (Batch Error Continuation Option Undo) or a failed item.
- Date-driven state changes (an Activation or Deactivation Date that has passed, section 3.22)
  are applied when an object is loaded and written back at once; they are server processes, not
  the client's doing, and are not journaled.
- Stored attributes never include Unique Identifier, Object Type and State (``RECORD_FIELDS``);
  ``attribute_policy.presented`` adds them back. A new object's multi-instance attributes are
  stored in index order without an Attribute Index (the n-th instance of a name has index n);
  ``attribute_policy`` keeps the indices once instances come and go.
- Names (3.2: "unique within a given key management domain", the domain being the tenant): a
  Name carried by a live object of the tenant cannot be given to another object, by Create,
  Register or Re-key (Invalid Field, 11.2, 11.4) or by Add or Modify Attribute (Illegal
  Operation, 11.15, 11.16): ``TenantObjects.name_in_use`` decides for all of them. A destroyed
  object keeps its Name attribute (as it keeps every attribute, 4.21) but no longer holds the
  name: its key material is gone and Destroy "MAY" drop its metadata altogether, so a key
  destroyed at the end of its life does not block its successor; Locate by name therefore
  finds the live object (``operations.locate``). ``ObjectSettings.unique_names`` turns the
  rule off for clients whose test suites repeat names. ``name_in_use`` is the fast path that
  answers before any key is generated; the guarantee is the store's (``storage.objects``: a
  write giving a live object a name another live object holds is ``DuplicateName``, checked in
  the write's own transaction), which the operations answer with the same Result Reason, so
  two requests racing for one name (on one Core or two) cannot both win.
- A request that writes several records (Create Key Pair, Re-key, Re-key Key Pair, Derive Key)
  writes them with one ``TenantObjects.write``: one transaction, all or nothing, so a crash
  never leaves half of it (a Name on both the old and the new key, a link one way only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import ttlv
from kmip_server.errors import (
    ConcurrentModification,
    ItemNotFound,
    KeyValueNotPresent,
)
from kmip_server.hierarchy import KeyHierarchy
from kmip_server.lifecycle import Event, date_driven_state, transition
from kmip_server.model import (
    ATTRIBUTES,
    Attribute,
    AttributeValue,
    Digest,
    KeyBlock,
    ManagedObject,
    ModelError,
    RNGParameters,
    object_type_of,
)
from kmip_server.model.codec import STRICT, Version, decode_struct, encode_struct, struct_to_bytes
from kmip_server.model.objects import MANAGED_OBJECTS
from kmip_server.storage.objects import (
    DESTROYED_STATES,
    ConcurrentUpdate,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
    Replacement,
)
from ttlv.item import Item
from ttlv.kmip14 import (
    CryptographicUsageMask,
    HashingAlgorithm,
    ObjectType,
    Operation,
    RNGAlgorithm,
    State,
    Tag,
)
from unseal.memory import zeroize

__all__ = [
    "DEFAULT_LEASE_TIME",
    "DESTROYED_STATES",
    "MAX_LEASE_TIME",
    "RECORD_FIELDS",
    "ObjectService",
    "ObjectSettings",
    "StoredObjectCorrupt",
    "TenantObjects",
    "UndoJournal",
    "attribute_values",
    "digest_of",
    "first_value",
    "new_object_attributes",
    "replace_attribute",
    "transitioned",
    "without_attribute",
]

log = logging.getLogger(__name__)

_STORED_VERSION: Version = (1, 4)  # managed objects are stored in the KMIP 1.4 encoding
_MAX_SAVE_ATTEMPTS = 3  # date-driven write-backs that lose a race re-read this many times

RECORD_FIELDS = frozenset({"Unique Identifier", "Object Type", "State"})
"""Attributes that are fields of ``ObjectRecord``, never stored in its attributes (and never
set or changed by a client)."""

DEFAULT_LEASE_TIME = 3600
"""Seconds: the Lease Time (3.20) new cryptographic objects get unless configured otherwise (the
value the OASIS test cases expect, SKLC-O-1-14)."""
MAX_LEASE_TIME = (1 << 32) - 1
"""The largest Interval (9.1.1.4: an unsigned 32-bit number of seconds)."""

_CLASS_BY_TAG: dict[int, type] = dict(MANAGED_OBJECTS.values())


_OS_RNG = RNGParameters(rng_algorithm=RNGAlgorithm.UNSPECIFIED)


class StoredObjectCorrupt(Exception):
    """A stored object did not decode after a successful unwrap: a server bug or corruption.
    Deliberately not a ``KmipError``: the engine answers General Failure and logs it."""


@dataclass(frozen=True, slots=True)
class ObjectSettings:
    """Server choices for the attributes the server sets."""

    lease_time: int | None = DEFAULT_LEASE_TIME
    """Lease Time (3.20, seconds) given to the new cryptographic objects (3.20 "All Cryptographic
    Objects": not Opaque Objects) of Create, Register and Re-key: the longest lease Obtain Lease
    grants on them and Check accepts. 0 means "no lease interval is effective" (4.17: the client
    may use the object without a lease limit); None sets no Lease Time at all, which Obtain Lease
    and Check treat the same way. Objects keep the value they were created with."""
    random_number_generator: RNGParameters | None = field(default_factory=lambda: _OS_RNG)
    """Random Number Generator (3.44) of generated keys: the operating system's CSPRNG
    (``os.urandom``), which matches none of the named RNG algorithms: Unspecified."""
    unique_names: bool = True
    """Refuse to give an object a Name that a live object of the tenant already has (Create,
    Register, Re-key: Invalid Field, 11.2, 11.4; Add and Modify Attribute: Illegal Operation,
    11.15, 11.16). False lets names repeat across objects, as some clients' test suites expect
    (one object still cannot carry one name twice)."""
    default_usage_mask: CryptographicUsageMask = (
        CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
    )
    """Cryptographic Usage Mask (3.19, always has a value) when a request gives none."""

    def __post_init__(self) -> None:
        if self.lease_time is not None and not 0 <= self.lease_time <= MAX_LEASE_TIME:
            raise ValueError(f"lease_time must be between 0 and {MAX_LEASE_TIME} seconds")


# --------------------------------------------------------------------------------------------
# The undo journal


Compensation = Callable[[], Awaitable[None]]


class UndoJournal:
    """Compensations of one request's changes, by batch item, run in reverse to undo them.

    ``item`` is the index of the batch item being processed (set by the engine) and tags each
    compensation recorded meanwhile."""

    __slots__ = ("_entries", "item")

    def __init__(self) -> None:
        self._entries: list[tuple[int, Compensation]] = []
        self.item = 0

    def record(self, compensation: Compensation) -> None:
        self._entries.append((self.item, compensation))

    def __len__(self) -> int:
        return len(self._entries)

    async def undo(self, *, item: int | None = None) -> set[int]:
        """Run the compensations (of batch item ``item`` only, or of all) newest first and drop
        them. Returns the batch items whose compensation failed (logged; not undone)."""
        failed: set[int] = set()
        keep: list[tuple[int, Compensation]] = []
        for index, compensation in reversed(self._entries):
            if item is not None and index != item:
                keep.append((index, compensation))
                continue
            try:
                await compensation()
            except Exception:
                correlation = uuid.uuid4().hex
                log.exception("undo of batch item %d failed [correlation %s]", index, correlation)
                failed.add(index)
        keep.reverse()
        self._entries = keep
        return failed


# --------------------------------------------------------------------------------------------
# Attribute bookkeeping (pure)


def attribute_values(attributes: Iterable[Attribute], name: str) -> list[AttributeValue]:
    """Every value of attribute ``name``, in index order."""
    return [attribute.value for attribute in attributes if attribute.name == name]


def first_value(attributes: Iterable[Attribute], name: str) -> AttributeValue | None:
    """The value of attribute ``name`` (index 0), or None."""
    for attribute in attributes:
        if attribute.name == name:
            return attribute.value
    return None


def replace_attribute(
    attributes: tuple[Attribute, ...], name: str, value: AttributeValue
) -> tuple[Attribute, ...]:
    """``attributes`` with the single instance of ``name`` set to ``value`` (added at the end if absent)."""
    result: list[Attribute] = []
    placed = False
    for attribute in attributes:
        if attribute.name == name:
            if not placed:
                result.append(Attribute(name=name, value=value))
                placed = True
            continue
        result.append(attribute)
    if not placed:
        result.append(Attribute(name=name, value=value))
    return tuple(result)


def without_attribute(attributes: tuple[Attribute, ...], name: str) -> tuple[Attribute, ...]:
    """``attributes`` without any instance of ``name``."""
    return tuple(attribute for attribute in attributes if attribute.name != name)


def digest_of(managed_object: ManagedObject) -> Digest | None:
    """The SHA-256 Digest (3.17) of an object as registered or created: of the Key Material
    (its bytes, or the TTLV encoding of a Key Material structure; a wrapped Key Value's bytes),
    the Certificate Value, or the Opaque Data Value. None when there is nothing to digest."""
    key_block: KeyBlock | None = getattr(managed_object, "key_block", None)
    if key_block is not None:
        key_value = key_block.key_value
        if key_value is None:
            return None
        if isinstance(key_value, bytes):
            data = key_value
        else:
            material = key_value.key_material
            if isinstance(material, bytes | bytearray):
                data = bytes(material)
            elif isinstance(material, Item):
                data = ttlv.encode(material)
            else:
                data = ttlv.encode(encode_struct(material, Tag.KEY_MATERIAL, _STORED_VERSION))
        return Digest(
            hashing_algorithm=HashingAlgorithm.SHA_256,
            digest_value=hashlib.sha256(data).digest(),
            key_format_type=key_block.key_format_type,
        )
    value = getattr(managed_object, "certificate_value", None)
    if value is None:
        value = getattr(managed_object, "opaque_data_value", None)
    if value is None:
        return None
    return Digest(hashing_algorithm=HashingAlgorithm.SHA_256, digest_value=hashlib.sha256(value).digest())


def new_object_attributes(
    object_type: ObjectType,
    client_attributes: Sequence[Attribute],
    *,
    operation: Operation,
    now: int,
    server_set: Sequence[Attribute] = (),
    settings: ObjectSettings,
) -> tuple[State, tuple[Attribute, ...]]:
    """The State and stored attributes of a new object (Create, Register, and the other
    creating operations): the client's attributes (checked and shaped by
    ``attribute_policy.check_client_attributes``) and those the server sets implicitly on
    ``operation`` (section 3 rules tables: dates, Fresh, Lease Time from the settings...),
    ``server_set`` (Digest, algorithm and length, certificate fields...) winning over the
    client's for single-instance attributes.

    The State follows section 3.22 transition 1: Pre-Active, or Active at once when the
    Activation Date given has passed (and Deactivated when the Deactivation Date has too)."""
    # The Attribute objects given are kept as they are unless they carry an Attribute Index
    # (stored attributes have none: the n-th instance of a name has index n).
    given: dict[str, list[Attribute]] = {}
    for attribute in client_attributes:
        given.setdefault(attribute.name, []).append(attribute)
    for attribute in server_set:
        given[attribute.name] = [attribute]

    def applies(name: str) -> bool:
        rule = ATTRIBUTES[name]
        return object_type in rule.applies_to and operation in rule.implicitly_set_by

    def default(name: str, value: AttributeValue) -> None:
        if name not in given and applies(name):
            given[name] = [Attribute(name=name, value=value)]

    default("Initial Date", now)
    default("Last Change Date", now)
    default("Original Creation Date", now)
    default("Fresh", True)
    if settings.lease_time is not None:
        default("Lease Time", settings.lease_time)
    if operation is Operation.CREATE and settings.random_number_generator is not None:
        default("Random Number Generator", settings.random_number_generator)
    default("Cryptographic Usage Mask", settings.default_usage_mask)
    default("Sensitive", False)
    default("Extractable", True)
    if applies("Always Sensitive"):
        sensitive = bool(given["Sensitive"][0].value)
        given["Always Sensitive"] = [Attribute(name="Always Sensitive", value=sensitive)]
    if applies("Never Extractable"):
        never = not given["Extractable"][0].value
        given["Never Extractable"] = [Attribute(name="Never Extractable", value=never)]

    activation = _date(given, "Activation Date")
    deactivation = _date(given, "Deactivation Date")
    state, _applied = date_driven_state(State.PRE_ACTIVE, activation, deactivation, now)
    if object_type not in ATTRIBUTES["State"].applies_to:
        state = State.PRE_ACTIVE  # Opaque Objects have no State attribute; the record keeps one
    attributes = tuple(
        attribute if attribute.index is None else Attribute(name=attribute.name, value=attribute.value)
        for instances in given.values()
        for attribute in instances
    )
    return state, attributes


def transitioned(record: ObjectRecord, event: Event, now: int) -> ObjectRecord:
    """``record`` after lifecycle ``event`` at ``now``: its new state and the dates the transition
    sets (``lifecycle.TRANSITIONS``). Raises the lifecycle's refusal error. A Destroy drops the
    key material (the L4 blob) and keeps every attribute (section 4.21)."""
    step = transition(record.state, event)
    if step is None:
        return record
    attributes = record.attributes
    for name in step.sets_dates:
        attributes = replace_attribute(attributes, name, now)
    material = None if step.state in DESTROYED_STATES else record.material
    return dataclasses.replace(record, state=step.state, attributes=attributes, material=material)


def _date(given: dict[str, list[Attribute]], name: str) -> int | None:
    instances = given.get(name)
    value = instances[0].value if instances else None
    return value if isinstance(value, int) else None


def _object_bytes(managed_object: ManagedObject) -> bytes:
    tag = MANAGED_OBJECTS[object_type_of(managed_object)][0]
    return struct_to_bytes(managed_object, tag, _STORED_VERSION)


def _decode_object(data: bytearray) -> ManagedObject:
    try:
        item = ttlv.decode(data)
        cls = _CLASS_BY_TAG[item.tag]
        result: ManagedObject = decode_struct(cls, item, STRICT)
    except (ttlv.DecodeError, ModelError, KeyError) as exc:
        raise StoredObjectCorrupt("a stored managed object does not decode") from exc
    return result


# --------------------------------------------------------------------------------------------
# The service


class ObjectService:
    """One per Core: the store, the key hierarchy and the server's attribute choices."""

    __slots__ = ("_hierarchy", "_store", "settings")

    def __init__(
        self, store: ObjectStore, hierarchy: KeyHierarchy, settings: ObjectSettings | None = None
    ) -> None:
        self._store = store
        self._hierarchy = hierarchy
        self.settings = settings or ObjectSettings()

    def scope(self, tenant_id: str, service: str, journal: UndoJournal) -> TenantObjects:
        """The objects of ``tenant_id`` as seen by its ``service``, changes recorded in ``journal``."""
        return TenantObjects(
            self._store, self._hierarchy, self.settings, tenant_id=tenant_id, service=service, journal=journal
        )


class TenantObjects:
    """One tenant's objects, for one request. New objects belong to ``service`` (its L3 wraps
    them); existing objects are unwrapped with their owning service's L3."""

    __slots__ = ("_hierarchy", "_journal", "_store", "service", "settings", "tenant_id")

    def __init__(
        self,
        store: ObjectStore,
        hierarchy: KeyHierarchy,
        settings: ObjectSettings,
        *,
        tenant_id: str,
        service: str,
        journal: UndoJournal,
    ) -> None:
        self._store = store
        self._hierarchy = hierarchy
        self.settings = settings
        self.tenant_id = tenant_id
        self.service = service
        self._journal = journal

    # Reading ---------------------------------------------------------------------------------
    async def load(self, unique_identifier: str, *, now: int) -> ObjectRecord:
        """The tenant's object (date-driven state changes applied), or ``ItemNotFound``."""
        for _attempt in range(_MAX_SAVE_ATTEMPTS):
            record = await self._store.get(self.tenant_id, unique_identifier)
            if record is None:
                raise ItemNotFound
            if record.state is not State.PRE_ACTIVE and record.state is not State.ACTIVE:
                return record
            updated = self._dates_applied(record, now)
            if updated is record:
                return record
            try:
                return await self._store.replace(
                    updated, expected_revision=record.revision, unique_names=self.settings.unique_names
                )
            except ConcurrentUpdate:
                continue
        raise ConcurrentModification

    @staticmethod
    def _dates_applied(record: ObjectRecord, now: int) -> ObjectRecord:
        activation = first_value(record.attributes, "Activation Date")
        deactivation = first_value(record.attributes, "Deactivation Date")
        state, applied = date_driven_state(
            record.state,
            activation if isinstance(activation, int) else None,
            deactivation if isinstance(deactivation, int) else None,
            now,
        )
        if not applied:
            return record
        last_change = first_value(record.attributes, "Last Change Date")
        changed_at = max(date for _step, date in applied)
        if isinstance(last_change, int):
            changed_at = max(changed_at, last_change)
        attributes = replace_attribute(record.attributes, "Last Change Date", changed_at)
        return dataclasses.replace(record, state=state, attributes=attributes)

    async def find(self, query: LocateQuery) -> Sequence[ObjectRecord]:
        """The tenant's records matching ``query``, in creation order (no date evaluation)."""
        return await self._store.find(self.tenant_id, query)

    async def name_in_use(self, names: Iterable[str], *, other_than: str | None = None) -> bool:
        """Whether a live (not destroyed) object of the tenant other than ``other_than`` already
        has one of ``names``: the one rule of Create, Register, Re-key, Add and Modify Attribute
        (module docstring). Always False when ``ObjectSettings.unique_names`` is off."""
        if not self.settings.unique_names:
            return False
        for name in names:
            for record in await self._store.find(self.tenant_id, LocateQuery(names=(name,))):
                if record.unique_identifier != other_than and record.state not in DESTROYED_STATES:
                    return True
        return False

    async def managed_object(self, record: ObjectRecord) -> ManagedObject:
        """The record's managed object, unwrapped (``KeyValueNotPresent`` once destroyed)."""
        blob = record.material
        if blob is None:
            raise KeyValueNotPresent
        plain = await self._hierarchy.unwrap_l4_async(
            self.tenant_id, record.service, record.unique_identifier, blob
        )
        try:
            return _decode_object(plain)
        finally:
            zeroize(plain)

    # Writing ---------------------------------------------------------------------------------
    async def new_record(
        self, managed_object: ManagedObject, attributes: tuple[Attribute, ...], state: State
    ) -> ObjectRecord:
        """A new object owned by this service, its material wrapped under the service's L3, not
        yet stored (``write`` stores it; ``create`` does both)."""
        unique_identifier = str(uuid.uuid4())
        plain = _object_bytes(managed_object)
        blob = await self._hierarchy.wrap_l4_async(self.tenant_id, self.service, unique_identifier, plain)
        return ObjectRecord(
            unique_identifier=unique_identifier,
            tenant_id=self.tenant_id,
            service=self.service,
            object_type=object_type_of(managed_object),
            state=state,
            attributes=tuple([a for a in attributes if a.name not in RECORD_FIELDS]),
            material=blob,
        )

    async def create(
        self, managed_object: ManagedObject, attributes: tuple[Attribute, ...], state: State
    ) -> ObjectRecord:
        """Store a new object owned by this service, its material wrapped under the service's L3
        (``DuplicateName`` when another live object holds one of its names)."""
        record = await self.new_record(managed_object, attributes, state)
        await self.write(inserts=(record,))
        return record

    async def write(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[tuple[ObjectRecord, ObjectRecord]] = (),
    ) -> list[ObjectRecord]:
        """Store new records (from ``new_record``) and changes (``after`` over ``before``, as
        ``save``) in one transaction: all or nothing. ``ConcurrentModification`` if one of the
        ``before`` changed since it was read, ``DuplicateName`` if a name is another live
        object's; then nothing is stored. Returns the ``after`` records as stored. Journaled:
        undo deletes the new records, then puts each ``before`` back."""
        pairs: list[Replacement] = [(after, before.revision) for before, after in replaces]
        try:
            stored = await self._store.write_many(
                inserts=inserts, replaces=pairs, unique_names=self.settings.unique_names
            )
        except ConcurrentUpdate:
            raise ConcurrentModification from None
        store, tenant_id, unique_names = self._store, self.tenant_id, self.settings.unique_names
        created = [record.unique_identifier for record in inserts]
        restores = [(before, written) for (before, _after), written in zip(replaces, stored, strict=True)]

        async def undo() -> None:
            # The new records first: the names they took are free again for the old ones.
            for unique_identifier in created:
                await store.delete(tenant_id, unique_identifier)
            for before, written in restores:
                await _restore(store, before, written, unique_names=unique_names)

        self._journal.record(undo)
        return stored

    async def save(self, before: ObjectRecord, after: ObjectRecord) -> ObjectRecord:
        """Store ``after`` over ``before`` (same object; ``ConcurrentModification`` if it changed
        since ``before`` was read, ``DuplicateName`` if it gains a name another live object
        holds). Journaled: undo puts ``before`` back."""
        unique_names = self.settings.unique_names
        try:
            stored = await self._store.replace(
                after, expected_revision=before.revision, unique_names=unique_names
            )
        except ConcurrentUpdate:
            raise ConcurrentModification from None
        store = self._store

        async def restore() -> None:
            await _restore(store, before, stored, unique_names=unique_names)

        self._journal.record(restore)
        return stored


async def _restore(
    store: ObjectStore, before: ObjectRecord, written: ObjectRecord, *, unique_names: bool
) -> None:
    """Put ``before`` back over ``written``. Later compensations of this request may have put
    back our own version with a new revision: what must match is the content we wrote, not the
    revision number."""
    current = await store.get(before.tenant_id, before.unique_identifier)
    if current is None or dataclasses.replace(current, revision=written.revision) != written:
        raise ConcurrentUpdate
    await store.replace(before, expected_revision=current.revision, unique_names=unique_names)
