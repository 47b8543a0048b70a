"""The SQL object stores' cache of decoded attributes (``storage.encoding.AttributeCache``), on
SQLite and PostgreSQL: what is read is always what is stored, whoever stored it, and the cache
keeps within its bounds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kmip_server.model import Attribute
from kmip_server.storage.encoding import ATTRIBUTE_CACHE_MAX_BYTES, DEFAULT_ATTRIBUTE_CACHE
from kmip_server.storage.objects import LocateQuery, ObjectStore
from kmip_server.storage.postgres import PostgresObjectStore, PostgresSettings
from kmip_server.storage.sqlite_database import SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from tests.integration.storage.stores import custom, record, rich_attributes
from tests.support.postgres import place_settings
from ttlv.item import ItemType
from ttlv.kmip14 import State


async def _sqlite(place: Path, attribute_cache: int) -> ObjectStore:
    return await SqliteObjectStore.open(place / "objects.db", SqliteSettings(attribute_cache=attribute_cache))


async def _postgres(place: Path, attribute_cache: int) -> ObjectStore:
    return await PostgresObjectStore.open(await place_settings(place, attribute_cache=attribute_cache))


Opener = Callable[[Path, int], Awaitable[ObjectStore]]
"""Opens (or reopens) the store kept at a place, keeping that many decoded attribute sets."""

CACHING_KINDS: dict[str, Opener] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(CACHING_KINDS))
def opener(request: pytest.FixtureRequest) -> Opener:
    return CACHING_KINDS[request.param]


def cached_entries(store: ObjectStore) -> dict[bytes, object]:
    entries: dict[bytes, object] = store._attributes._entries  # type: ignore[attr-defined] # the bound is tested
    return entries


def test_get_reads_what_another_core_stored_every_time(opener: Opener, tmp_path: Path) -> None:
    """Two stores on one database stand for two Cores (or worker processes): every change one
    makes, the other's next get returns, whether or not its attributes changed (and on SQLite
    through its record cache as well, on by default)."""

    async def scenario() -> None:
        here = await opener(tmp_path, DEFAULT_ATTRIBUTE_CACHE)
        there = await opener(tmp_path, DEFAULT_ATTRIBUTE_CACHE)
        original = record("uid-1", attributes=rich_attributes("uid-1"))
        await here.insert(original)
        assert await here.get("tenant-a", "uid-1") == original
        assert await here.get("tenant-a", "uid-1") == original  # the second read decodes nothing

        deactivated = await there.replace(
            dataclasses.replace(original, state=State.DEACTIVATED), expected_revision=0
        )
        assert await here.get("tenant-a", "uid-1") == deactivated
        destroyed = await there.replace(
            dataclasses.replace(deactivated, state=State.DESTROYED, material=None), expected_revision=1
        )
        seen = await here.get("tenant-a", "uid-1")
        assert seen == destroyed
        assert seen is not None
        assert seen.material is None
        renamed = await there.replace(
            dataclasses.replace(
                destroyed, attributes=(*destroyed.attributes, custom("x-new", ItemType.INTEGER, 1))
            ),
            expected_revision=2,
        )
        assert await here.get("tenant-a", "uid-1") == renamed
        await there.delete("tenant-a", "uid-1")
        assert await here.get("tenant-a", "uid-1") is None
        await here.close()
        await there.close()

    asyncio.run(scenario())


def test_records_with_the_same_attributes_each_come_back_as_themselves(
    opener: Opener, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = await opener(tmp_path, DEFAULT_ATTRIBUTE_CACHE)
        shared = rich_attributes("same")
        first = record("uid-1", attributes=shared)
        second = record("uid-2", service="other", state=State.PRE_ACTIVE, attributes=shared, material=b"two")
        third = record("uid-3", "tenant-b", attributes=shared)
        for each in (first, second, third):
            await store.insert(each, unique_names=False)  # the Names repeat with the rest
        for _ in range(2):
            assert await store.get("tenant-a", "uid-1") == first
            assert await store.get("tenant-a", "uid-2") == second
            assert await store.get("tenant-b", "uid-3") == third
            assert await store.get("tenant-a", "uid-3") is None
        await store.close()

    asyncio.run(scenario())


def test_the_attribute_cache_keeps_within_its_bounds(opener: Opener, tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await opener(tmp_path, 3)
        cached = cached_entries(store)
        records = [
            record(f"uid-{n}", attributes=(Attribute(name="Object Group", value=f"group-{n}"),))
            for n in range(8)
        ]
        large = record(
            "uid-large",
            attributes=(custom("x-blob", ItemType.BYTE_STRING, bytes(ATTRIBUTE_CACHE_MAX_BYTES)),),
        )
        for each in (*records, large):
            await store.insert(each)

        assert len(await store.find("tenant-a", LocateQuery())) == 9
        assert not cached  # a Locate only looks up
        for order in (records, records[::-1], records[::2]):
            for each in order:
                assert await store.get("tenant-a", each.unique_identifier) == each
                assert len(cached) <= 3
        assert await store.get("tenant-a", "uid-large") == large
        assert len(cached) <= 3
        assert all(len(blob) <= ATTRIBUTE_CACHE_MAX_BYTES for blob in cached)
        await store.close()

    asyncio.run(scenario())


def test_without_the_attribute_cache_every_read_decodes(opener: Opener, tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await opener(tmp_path, 0)
        key = record("uid-1", attributes=rich_attributes("uid-1"))
        await store.insert(key)
        assert await store.get("tenant-a", "uid-1") == key
        assert await store.get("tenant-a", "uid-1") == key
        assert not cached_entries(store)
        await store.close()

    asyncio.run(scenario())


def test_a_negative_attribute_cache_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        SqliteSettings(attribute_cache=-1)
    with pytest.raises(ValueError, match="attribute_cache >= 0"):
        PostgresSettings(attribute_cache=-1)
