"""An in-memory ObjectStore for unit tests of the engine and the operations. Not durable."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kmip_server.storage.objects import (
    ConcurrentUpdate,
    DuplicateIdentifier,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
)


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self._records: dict[str, ObjectRecord] = {}  # insertion order is creation order

    async def insert(self, record: ObjectRecord) -> None:
        if record.unique_identifier in self._records:
            raise DuplicateIdentifier
        self._records[record.unique_identifier] = record

    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        record = self._records.get(unique_identifier)
        return record if record is not None and record.tenant_id == tenant_id else None

    async def replace(self, record: ObjectRecord, *, expected_revision: int) -> ObjectRecord:
        current = await self.get(record.tenant_id, record.unique_identifier)
        if current is None or current.revision != expected_revision:
            raise ConcurrentUpdate
        stored = dataclasses.replace(record, revision=expected_revision + 1)
        self._records[record.unique_identifier] = stored
        return stored

    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        if await self.get(tenant_id, unique_identifier) is not None:
            del self._records[unique_identifier]

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
