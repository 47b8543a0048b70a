"""The SQLite object store writes each attribute's bytes once and reuses them: what it stores
must stay exactly the model's encoding of the whole Template-Attribute, whatever it reused."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

from kmip_server.model import Attribute, TemplateAttribute
from kmip_server.model.codec import struct_to_bytes
from kmip_server.storage.sqlite_database import SqliteDatabase
from kmip_server.storage.sqlite_objects import ATTRIBUTE_ENCODINGS, SqliteObjectStore
from tests.integration.storage.stores import custom, record, rich_attributes
from ttlv.item import ItemType
from ttlv.kmip14 import CryptographicAlgorithm, Tag


def model_bytes(attributes: tuple[Attribute, ...]) -> bytes:
    return struct_to_bytes(TemplateAttribute(attributes=attributes), Tag.TEMPLATE_ATTRIBUTE, (1, 4))


async def stored_bytes(database: SqliteDatabase, uid: str) -> bytes:
    def job(connection: sqlite3.Connection) -> bytes:
        row = connection.execute(
            "SELECT attributes FROM objects WHERE unique_identifier = ?", (uid,)
        ).fetchone()
        return bytes(row[0])

    return await database.read(job)


def test_stored_attributes_are_the_model_encoding_first_time_and_reused(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        store = await SqliteObjectStore.attach(database)
        rich = rich_attributes("k")
        sets = [
            rich,
            rich,  # every attribute's bytes reused
            rich[::-1],  # the same ones in another order
            rich[:5] + tuple(dataclasses.replace(a, index=7) for a in rich[5:9]) + rich[9:],
            (),
        ]
        for number, attributes in enumerate(sets):
            uid = f"uid-{number}"
            stored = record(uid, attributes=attributes)
            await store.insert(stored, unique_names=False)  # the sets repeat their Names
            assert await stored_bytes(database, uid) == model_bytes(attributes)
            assert await store.get("tenant-a", uid) == stored
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_equal_values_of_different_types_keep_their_own_bytes(tmp_path: Path) -> None:
    """True == 1 in Python; a Boolean and an Integer are different TTLV items all the same."""

    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        store = await SqliteObjectStore.attach(database)
        variants = [
            (custom("x-flag", ItemType.BOOLEAN, True),),
            (custom("x-flag", ItemType.INTEGER, 1),),
            (custom("x-flag", ItemType.ENUMERATION, 1),),
            (Attribute(name="Cryptographic Length", value=3),),
            (Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.TRIPLE_DES),),
        ]
        for round_ in range(2):
            for number, attributes in enumerate(variants):
                uid = f"uid-{round_}-{number}"
                await store.insert(record(uid, attributes=attributes))
                assert await stored_bytes(database, uid) == model_bytes(attributes)
        await store.close()
        await database.close()

    asyncio.run(scenario())


def test_the_remembered_encodings_stay_within_their_bound(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await SqliteDatabase.open(tmp_path / "o.db")
        store = await SqliteObjectStore.attach(database)
        remembered = store._encodings._entries  # the bound is what is tested
        for number in range(ATTRIBUTE_ENCODINGS + 50):
            attributes = (Attribute(name="Object Group", value=f"group-{number}"),)
            await store.insert(record(f"uid-{number}", attributes=attributes))
            assert len(remembered) <= ATTRIBUTE_ENCODINGS
        last = f"uid-{ATTRIBUTE_ENCODINGS + 49}"
        assert await stored_bytes(database, last) == model_bytes(
            (Attribute(name="Object Group", value=f"group-{ATTRIBUTE_ENCODINGS + 49}"),)
        )
        await store.close()
        await database.close()

    asyncio.run(scenario())
