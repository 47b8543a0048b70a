"""An object store with a competing writer, for the optimistic-concurrency paths.

``RacingStore`` wraps a real store and, before each of its next ``races`` replaces (alone or the
first of a ``write_many``), lets ``competitor`` change the same record through the wrapped
store, exactly as another request (or another Core) would between our read and our write. Not
a mock: every call reaches the wrapped store.

``RecordingStore`` wraps a real store and notes each write it passes on (which records were
inserted and replaced, by which call), so a test can tell whether a request's records were
written together (one ``write_many``: one transaction) or apart."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from kmip_server.objects import ObjectSettings, TenantObjects, UndoJournal
from kmip_server.operations import OperationContext
from kmip_server.storage.objects import LocateQuery, ObjectRecord, ObjectStore, Replacement
from tests.unit.engine.support import Core, operation_context

__all__ = ["PassThroughStore", "RacingStore", "RecordingStore", "Write", "racing_context", "with_attributes"]


class PassThroughStore(ObjectStore):
    """Every call passed on to ``inner`` (``close`` too is left to ``inner``'s owner): the base
    of the wrappers here and elsewhere, each overriding only the calls it watches or delays."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        await self.inner.insert(record, unique_names=unique_names)

    async def get(self, tenant_id: str, unique_identifier: str) -> ObjectRecord | None:
        return await self.inner.get(tenant_id, unique_identifier)

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        return await self.inner.replace(
            record, expected_revision=expected_revision, unique_names=unique_names
        )

    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        return await self.inner.write_many(inserts=inserts, replaces=replaces, unique_names=unique_names)

    async def delete(self, tenant_id: str, unique_identifier: str) -> None:
        await self.inner.delete(tenant_id, unique_identifier)

    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        return await self.inner.find(tenant_id, query)


class RacingStore(PassThroughStore):
    def __init__(
        self, inner: ObjectStore, competitor: Callable[[ObjectRecord], ObjectRecord], races: int
    ) -> None:
        super().__init__(inner)
        self.competitor = competitor
        self.races = races
        self.replaces = 0

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        await self._race(record)
        return await super().replace(record, expected_revision=expected_revision, unique_names=unique_names)

    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        if replaces:
            await self._race(replaces[0][0])
        return await super().write_many(inserts=inserts, replaces=replaces, unique_names=unique_names)

    async def _race(self, record: ObjectRecord) -> None:
        self.replaces += 1
        if self.races > 0:
            self.races -= 1
            current = await self.inner.get(record.tenant_id, record.unique_identifier)
            assert current is not None
            await self.inner.replace(self.competitor(current), expected_revision=current.revision)


Write = tuple[str, tuple[str, ...], tuple[str, ...]]
"""One write as ``RecordingStore`` saw it: the call, the identifiers inserted, those replaced."""


class RecordingStore(PassThroughStore):
    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.writes: list[Write] = []

    async def insert(self, record: ObjectRecord, *, unique_names: bool = True) -> None:
        self.writes.append(("insert", (record.unique_identifier,), ()))
        await super().insert(record, unique_names=unique_names)

    async def replace(
        self, record: ObjectRecord, *, expected_revision: int, unique_names: bool = True
    ) -> ObjectRecord:
        self.writes.append(("replace", (), (record.unique_identifier,)))
        return await super().replace(record, expected_revision=expected_revision, unique_names=unique_names)

    async def write_many(
        self,
        *,
        inserts: Sequence[ObjectRecord] = (),
        replaces: Sequence[Replacement] = (),
        unique_names: bool = True,
    ) -> list[ObjectRecord]:
        self.writes.append(
            (
                "write_many",
                tuple(record.unique_identifier for record in inserts),
                tuple(record.unique_identifier for record, _revision in replaces),
            )
        )
        return await super().write_many(inserts=inserts, replaces=replaces, unique_names=unique_names)


def racing_context(core: Core, store: ObjectStore) -> OperationContext:
    """A request context of tenant-a whose objects live in ``store``."""
    objects = TenantObjects(
        store, core.hierarchy, ObjectSettings(), tenant_id="tenant-a", service="svc", journal=UndoJournal()
    )
    return operation_context(objects, correlation="race")


def with_attributes(record: ObjectRecord, *extra: object) -> ObjectRecord:
    return dataclasses.replace(record, attributes=(*record.attributes, *extra))  # type: ignore[arg-type]
