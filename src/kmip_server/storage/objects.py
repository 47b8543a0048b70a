"""The storage interface for KMIP managed objects and their attributes.

Invariants:
- Every call names the tenant, and every implementation scopes every query to it: a record of
  another tenant is indistinguishable from one that does not exist (``get`` returns None).
- A record's key material is only ever stored as ``material``: the TTLV encoding of the managed
  object (``kmip_server.model`` object: Symmetric Key, Secret Data, ...) wrapped as an L4 blob
  under the owner's L3 (``KeyHierarchy.wrap_l4``). No plaintext key byte reaches a store.
- ``attributes`` holds every attribute except Unique Identifier, Object Type and State, which
  are the record's own fields (the engine presents them as attributes).
- Writes are durable when the call returns (the engine answers only after that).
- ``replace`` is optimistic: it succeeds only if the stored ``revision`` is still
  ``expected_revision`` and stores the record with ``revision + 1``; otherwise
  ``ConcurrentUpdate``, so two Cores racing on one object cannot both win.
- Destroyed objects stay, with their attributes and without material (KMIP 1.4 section 4.21).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from kmip_server.model import Attribute, Name
from kmip_server.storage.errors import StorageError
from ttlv.kmip14 import ObjectType, State


class ConcurrentUpdate(StorageError):
    """The record changed since it was read; the caller re-reads and decides again."""

    def __init__(self) -> None:
        super().__init__("the object was changed concurrently")


class DuplicateIdentifier(StorageError):
    def __init__(self) -> None:
        super().__init__("an object with this unique identifier already exists")


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    unique_identifier: str
    tenant_id: str
    service: str  # the owning service: its L3 wraps ``material``
    object_type: ObjectType
    state: State
    attributes: tuple[Attribute, ...]
    material: bytes | None = field(default=None, repr=False)  # L4 blob of the managed object
    revision: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """The Name attribute values (what Locate by name matches), in index order."""
        return tuple(
            attribute.value.name_value
            for attribute in self.attributes
            if attribute.name == "Name" and isinstance(attribute.value, Name)
        )


@dataclass(frozen=True, slots=True)
class LocateQuery:
    """What a store can narrow by index; the engine applies every other Locate filter itself.

    Every given criterion must hold (AND). ``names``: each must be one of the object's Name values.
    Records come back in creation order (oldest first), so Offset Items is stable."""

    object_type: ObjectType | None = None
    states: frozenset[State] | None = None
    names: tuple[str, ...] = ()
    service: str | None = None


class ObjectStore(abc.ABC):
    """Managed-object persistence. Implementations: in-memory (tests), SQLite (embedded), PostgreSQL."""

    @abc.abstractmethod
    async def insert(self, record: ObjectRecord) -> None:
        """Store a new record (``DuplicateIdentifier`` if the identifier exists, in any tenant)."""

    @abc.abstractmethod
    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        """The tenant's record, or None (also when it belongs to another tenant)."""

    @abc.abstractmethod
    async def replace(self, record: ObjectRecord, *, expected_revision: int) -> ObjectRecord:
        """Store ``record`` over the one at ``expected_revision``; returns it with its new revision."""

    @abc.abstractmethod
    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        """Remove a record entirely. Used only to undo a Create/Register within a batch (Undo)."""

    @abc.abstractmethod
    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        """The tenant's records matching ``query``, in creation order."""

    async def close(self) -> None:  # noqa: B027 - stores without resources need not override
        """Release connections."""
