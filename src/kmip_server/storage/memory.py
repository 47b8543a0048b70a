"""An in-memory ObjectStore for unit tests of the engine and the operations. Not durable.

It keeps the contract of ``storage.objects`` as the database stores do, names included: a
write changes the dictionaries step by step and, when a step fails, puts back what the
earlier steps changed, so a failed write (``write_many`` included) leaves nothing behind. Each
call runs without an await in between: one coroutine's write is never seen half done."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kmip_server.storage.objects import (
    ConcurrentUpdate,
    DuplicateIdentifier,
    DuplicateName,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
    Replacement,
    held_names,
    one_tenant,
)

_ABSENT = object()


class _Changes:
    """What a write changed, to be put back if a later step of it fails."""

    __slots__ = ("_undo",)

    def __init__(self) -> None:
        self._undo: list[tuple[dict[Any, Any], object, object]] = []

    def set(self, mapping: dict[Any, Any], key: object, value: object) -> None:
        self._undo.append((mapping, key, mapping.get(key, _ABSENT)))
        mapping[key] = value

    def delete(self, mapping: dict[Any, Any], key: object) -> None:
        self._undo.append((mapping, key, mapping.pop(key)))

    def revert(self) -> None:
        for mapping, key, before in reversed(self._undo):
            if before is _ABSENT:
                del mapping[key]
            else:
                mapping[key] = before  # a replaced record keeps its place (creation order)


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self._records: dict[str, ObjectRecord] = {}  # insertion order is creation order
        self._held: dict[tuple[str, str], str] = {}  # (tenant, name) -> the identifier holding it

    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        await self.write_many(inserts=(record,), unique_names=unique_names)

    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        return self._get(tenant_id, unique_identifier)

    def _get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        record = self._records.get(unique_identifier)
        return record if record is not None and record.tenant_id == tenant_id else None

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        (stored,) = await self.write_many(replaces=((record, expected_revision),), unique_names=unique_names)
        return stored

    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        if not inserts and not replaces:
            return []
        one_tenant([*inserts, *(record for record, _revision in replaces)])
        changes = _Changes()
        try:
            return self._apply(changes, inserts, replaces, unique_names)
        except BaseException:
            changes.revert()
            raise

    def _apply(
        self,
        changes: _Changes,
        inserts: Sequence[ObjectRecord],
        replaces: Sequence[Replacement],
        unique_names: bool,
    ) -> list[ObjectRecord]:
        stored: list[ObjectRecord] = []
        for record, expected_revision in replaces:
            current = self._get(record.tenant_id, record.unique_identifier)
            if current is None or current.revision != expected_revision:
                raise ConcurrentUpdate
            new = dataclasses.replace(record, revision=expected_revision + 1)
            self._hold(changes, current, new, unique_names)
            changes.set(self._records, new.unique_identifier, new)
            stored.append(new)
        for record in inserts:
            if record.unique_identifier in self._records:
                raise DuplicateIdentifier
            self._hold(changes, None, record, unique_names)
            changes.set(self._records, record.unique_identifier, record)
        return stored

    def _hold(
        self, changes: _Changes, before: ObjectRecord | None, after: ObjectRecord, unique_names: bool
    ) -> None:
        held = self._held
        tenant, uid = after.tenant_id, after.unique_identifier
        had = set(before.names) if before is not None else set()
        holds = held_names(after, unique_names=unique_names)
        for name in had - set(holds):
            if held.get((tenant, name)) == uid:
                changes.delete(held, (tenant, name))
        for name in holds:
            holder = held.get((tenant, name))
            if holder is None:
                changes.set(held, (tenant, name), uid)
            elif holder != uid and name not in had:
                raise DuplicateName

    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        record = self._get(tenant_id, unique_identifier)
        if record is None:
            return
        del self._records[unique_identifier]
        for name in record.names:
            if self._held.get((tenant_id, name)) == unique_identifier:
                del self._held[(tenant_id, name)]

    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        return [record for record in self._records.values() if _matches(record, tenant_id, query)]


def _matches(record: ObjectRecord, tenant_id: str, query: LocateQuery) -> bool:
    return (
        record.tenant_id == tenant_id
        and (query.object_type is None or record.object_type == query.object_type)
        and (query.states is None or record.state in query.states)
        and (query.service is None or record.service == query.service)
        and all(name in record.names for name in query.names)
    )
