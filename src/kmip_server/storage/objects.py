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
- Names (KMIP 1.4 section 3.2: unique within the tenant). A record *holds* its names when it is
  live (not in ``DESTROYED_STATES``) and written with ``unique_names``; each name of a tenant is
  held by one record at most, and the store checks it in the transaction that writes, so two
  writers racing for one name (coroutines, processes or Cores) cannot both win: the loser gets
  ``DuplicateName`` and nothing of its write is stored. A write that gives a record a name it
  did not have is refused when another record holds that name. A name the record had and keeps
  is held again if free and otherwise kept without being held (a duplicate stored before names
  were unique, or with ``unique_names`` off), so that an unrelated change of such an object
  never fails on its name. A destroyed record holds none of its names (it keeps them as
  attributes, and Locate by name still finds it): its names are free for new objects.
- ``write_many`` is all-or-nothing: its replaces (in order, so that a name one record gives up
  is free for the next) and then its inserts, in one transaction; any ``ConcurrentUpdate``,
  ``DuplicateIdentifier`` or ``DuplicateName`` stores nothing of it. Re-key uses it, so that
  the new key taking the Name and the old key giving it up are one write.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
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


class DuplicateName(StorageError):
    """Another live record of the tenant holds a name the write gives a record (module docstring).
    The operations answer it as their own Name check does (Invalid Field or Illegal Operation)."""

    def __init__(self) -> None:
        super().__init__("another object of the tenant already has this name")


DESTROYED_STATES = frozenset({State.DESTROYED, State.DESTROYED_COMPROMISED})
"""States in which a record holds none of its names (its key material is gone, 4.21)."""


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


def held_names(record: ObjectRecord, *, unique_names: bool) -> tuple[str, ...]:
    """The names ``record`` holds once written (module docstring), each once, sorted (writers
    that claim several names claim them in one order, so they do not deadlock each other)."""
    if not unique_names or record.state in DESTROYED_STATES:
        return ()
    return tuple(sorted(set(record.names)))


def one_tenant(records: Iterable[ObjectRecord]) -> str:
    """The tenant of every record of a ``write_many`` (a write is within one tenant)."""
    tenants = {record.tenant_id for record in records}
    if len(tenants) != 1:
        raise StorageError("a write of several records is within one tenant")
    return tenants.pop()


Replacement = tuple[ObjectRecord, int]
"""A record to store over the one at this revision (``ObjectStore.replace``'s arguments)."""


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
    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        """Store a new record (``DuplicateIdentifier`` if the identifier exists, in any tenant;
        ``DuplicateName`` if another record holds one of its names)."""

    @abc.abstractmethod
    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        """The tenant's record, or None (also when it belongs to another tenant)."""

    @abc.abstractmethod
    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        """Store ``record`` over the one at ``expected_revision``; returns it with its new revision
        (``ConcurrentUpdate``, or ``DuplicateName`` for a name it gains that another record holds)."""

    @abc.abstractmethod
    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        """``replace`` each of ``replaces``, then ``insert`` each of ``inserts``, all in one
        transaction of one tenant: all stored, or (on any error) none. Returns the replaced
        records as stored, with their new revisions, in the order given."""

    @abc.abstractmethod
    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        """Remove a record entirely. Used only to undo a Create/Register within a batch (Undo)."""

    @abc.abstractmethod
    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        """The tenant's records matching ``query``, in creation order."""

    async def close(self) -> None:  # noqa: B027 - stores without resources need not override
        """Release connections."""
