"""Managed objects as both SQL stores (SQLite and PostgreSQL) store them: a record's row, its
attributes as bytes, and the record read back from a row.

Invariants:
- Attributes are stored as one TTLV byte string: the record's Attribute structures as the
  children of a Template-Attribute, encoded and decoded by the message model's own codec
  (KMIP 1.4 encoding, so no field is dropped). The bytes are those of the whole structure
  encoded at once, whichever single attributes' bytes were remembered (``AttributeEncodings``).
- A record is encoded before its write is queued or a connection taken: a bad attribute fails
  its own call only, and nothing is stored that could not be read back under the limits.
- Decoded attributes are remembered by their stored bytes (``AttributeCache``, least recently
  used dropped first, none above ``ATTRIBUTE_CACHE_MAX_BYTES``): equal bytes decode to equal
  immutable values, so an entry can never be stale. Every read still reads the row, so state,
  material and revision are always the stored ones, whichever process or Core wrote them; only
  the decoding of bytes already seen is saved.
- Each store's SELECT lists the columns in the order ``record_from_row`` reads them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ttlv
from kmip_server.model import Attribute, ModelError, TemplateAttribute
from kmip_server.model.codec import decode_struct, struct_to_bytes
from kmip_server.storage.errors import StorageError
from kmip_server.storage.objects import ObjectRecord, Replacement, held_names, one_tenant
from ttlv.codec import structure_header
from ttlv.item import Item, ItemType
from ttlv.kmip14 import ObjectType, State, Tag

__all__ = [
    "ATTRIBUTE_CACHE_MAX_BYTES",
    "ATTRIBUTE_ENCODINGS",
    "DEFAULT_ATTRIBUTE_CACHE",
    "DEFAULT_ATTRIBUTE_LIMITS",
    "AttributeCache",
    "AttributeEncodings",
    "EncodedRecord",
    "encode_record",
    "encode_writes",
    "record_from_row",
]

_MAX_ATTRIBUTES_BYTES = 16 << 20
DEFAULT_ATTRIBUTE_LIMITS = ttlv.Limits(
    max_message_size=_MAX_ATTRIBUTES_BYTES,
    max_depth=64,  # above a request's own limit: whatever a request carried fits
    max_items=_MAX_ATTRIBUTES_BYTES // 8,  # an item takes at least 8 bytes: the size bounds it
)
"""The most one record's attributes may encode to. Checked before a write, so that nothing is
stored that could not be read back."""

_STORAGE_VERSION = (1, 4)  # attributes are encoded with every field KMIP 1.4 knows

ATTRIBUTE_ENCODINGS = 1024
"""Single attributes whose stored bytes are remembered (``AttributeEncodings``): the values
new objects share, each a few dozen bytes."""

ATTRIBUTE_CACHE_MAX_BYTES = 2048
"""Attributes encoded larger than this are decoded at every read, never remembered: a cache
holds at most its capacity times a few times this much."""

DEFAULT_ATTRIBUTE_CACHE = 2048
"""Decoded attribute sets an object store keeps (``AttributeCache``), by default: the stores'
``attribute_cache`` setting (``SqliteSettings``, ``PostgresSettings``)."""


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """A record as its row: what a store binds, computed before the write is queued."""

    unique_identifier: str
    tenant_id: str
    service: str
    object_type: int
    state: int
    attributes: bytes
    material: bytes | None = field(repr=False)
    revision: int
    names: tuple[str, ...]  # each once, in the record's order
    holds: tuple[str, ...]  # the names it holds once written (``storage.objects.held_names``)


class AttributeEncodings:
    """The stored bytes of single attributes by (name, index, value type, value). Most
    attributes of new objects repeat from one to the next (algorithm, length, usage mask,
    Fresh, Sensitive, Lease Time, ...) and equal values of one type under one name encode to
    the same bytes; an unhashable value is encoded every time. Bounded by starting afresh when
    full (the values that repeat are back after one encoding each); every step is one dict
    operation, atomic as such, so no lock."""

    __slots__ = ("_capacity", "_entries")

    def __init__(self, capacity: int = ATTRIBUTE_ENCODINGS) -> None:
        self._capacity = capacity
        self._entries: dict[tuple[object, ...], bytes] = {}

    def encode(self, attribute: Attribute) -> bytes:
        value = attribute.value
        key = (attribute.name, attribute.index, type(value), value)
        try:
            found = self._entries.get(key)
        except TypeError:  # unhashable
            return struct_to_bytes(attribute, Tag.ATTRIBUTE, _STORAGE_VERSION)
        if found is not None:
            return found
        encoded = struct_to_bytes(attribute, Tag.ATTRIBUTE, _STORAGE_VERSION)
        entries = self._entries
        if len(entries) >= self._capacity:
            entries.clear()
        entries[key] = encoded
        return encoded


def encode_record(
    record: ObjectRecord, limits: ttlv.Limits, encodings: AttributeEncodings, *, unique_names: bool
) -> EncodedRecord:
    """``record`` as its row, written with ``unique_names`` (``ObjectStore.insert``); ``StorageError``
    if its attributes cannot be encoded or exceed ``limits``."""
    # The record's Attribute structures, each encoded on its own (or remembered), are the items
    # of the Template-Attribute: the bytes are those of the whole structure encoded at once.
    parts: list[bytes] = []
    nested = False
    encode = encodings.encode
    try:
        for attribute in record.attributes:
            parts.append(encode(attribute))
            value = attribute.value
            if isinstance(value, Item) and value.type is ItemType.STRUCTURE:
                nested = True
        body = b"".join(parts)
        attributes = structure_header(Tag.TEMPLATE_ATTRIBUTE, len(body)) + body
    except (ModelError, ttlv.TTLVError, TypeError, AttributeError, ValueError) as exc:
        raise StorageError("refusing to store attributes that cannot be encoded") from exc
    if len(attributes) > limits.max_message_size:
        raise StorageError("the object's attributes exceed the store's size limit")
    if nested:
        # A custom value's structure has the depth and item count its creator chose: check
        # that it reads back under the limits (rare, so the cost of a decode is fine).
        try:
            ttlv.decode(attributes, limits)
        except ttlv.DecodeError as exc:
            raise StorageError("the object's attributes exceed the store's limits") from exc
    return EncodedRecord(
        unique_identifier=record.unique_identifier,
        tenant_id=record.tenant_id,
        service=record.service,
        object_type=int(record.object_type),
        state=int(record.state),
        attributes=attributes,
        material=None if record.material is None else bytes(record.material),
        revision=record.revision,
        names=tuple(dict.fromkeys(record.names)),
        holds=held_names(record, unique_names=unique_names),
    )


def encode_writes(
    inserts: Sequence[ObjectRecord],
    replaces: Sequence[Replacement],
    limits: ttlv.Limits,
    encodings: AttributeEncodings,
    *,
    unique_names: bool,
) -> tuple[str, list[tuple[EncodedRecord, int]], list[EncodedRecord]]:
    """The rows of one ``ObjectStore.write_many`` (at least one record), every one encoded before
    anything is written: their one tenant, the replaces with their expected revisions, the inserts."""
    tenant_id = one_tenant([*inserts, *(record for record, _revision in replaces)])
    replaced = [
        (encode_record(record, limits, encodings, unique_names=unique_names), revision)
        for record, revision in replaces
    ]
    inserted = [encode_record(record, limits, encodings, unique_names=unique_names) for record in inserts]
    return tenant_id, replaced, inserted


def _decode_attributes(blob: bytes, limits: ttlv.Limits) -> tuple[Attribute, ...]:
    try:
        # Lenient (not STRICT): the bytes are our own, and whatever the engine stored must
        # come back, attribute names of later protocol versions included.
        structure = decode_struct(TemplateAttribute, ttlv.decode(blob, limits), 0)
    except (ModelError, ttlv.TTLVError) as exc:
        raise StorageError("stored attributes cannot be decoded") from exc
    return structure.attributes


class AttributeCache:
    """Decoded attribute sets by their stored bytes, least recently used dropped first
    (``capacity`` 0: every read decodes afresh). Used from an event loop and reader threads
    alike, hence the lock."""

    __slots__ = ("_capacity", "_entries", "_limits", "_lock")

    def __init__(self, capacity: int, limits: ttlv.Limits) -> None:
        self._capacity = capacity
        self._limits = limits
        self._entries: dict[bytes, tuple[Attribute, ...]] = {}  # oldest use first
        self._lock = threading.Lock()

    def decode(self, blob: bytes, *, remember: bool) -> tuple[Attribute, ...]:
        """The attributes of ``blob``; ``remember`` keeps them (point reads do; a Locate's
        many rows only look up, so that one large result does not flush what ``get`` uses)."""
        if not self._capacity or len(blob) > ATTRIBUTE_CACHE_MAX_BYTES:
            return _decode_attributes(blob, self._limits)
        entries = self._entries
        with self._lock:
            found = entries.pop(blob, None)
            if found is not None:
                entries[blob] = found
                return found
        decoded = _decode_attributes(blob, self._limits)
        if remember:
            with self._lock:
                entries[blob] = decoded
                if len(entries) > self._capacity:
                    del entries[next(iter(entries))]
        return decoded


def record_from_row(row: Sequence[Any], attributes: AttributeCache, *, remember: bool) -> ObjectRecord:
    """unique_identifier, tenant_id, service, object_type, state, attributes, material, revision."""
    try:
        object_type, state = ObjectType(row[3]), State(row[4])
    except ValueError as exc:
        raise StorageError("stored object type or state is not a KMIP 1.4 value") from exc
    return ObjectRecord(
        unique_identifier=row[0],
        tenant_id=row[1],
        service=row[2],
        object_type=object_type,
        state=state,
        attributes=attributes.decode(row[5], remember=remember),
        material=row[6],
        revision=row[7],
    )
