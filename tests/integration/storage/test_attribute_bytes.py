"""The SQL object stores (SQLite, PostgreSQL) write each attribute's bytes once and reuse them
(``storage.encoding.AttributeEncodings``): what they store must stay exactly the model's
encoding of the whole Template-Attribute, whatever they reused."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmip_server.model import Attribute, TemplateAttribute
from kmip_server.model.codec import struct_to_bytes
from kmip_server.storage.encoding import ATTRIBUTE_ENCODINGS
from kmip_server.storage.objects import ObjectStore
from rls.roles import quote_identifier
from tests.integration.storage.stores import STORE_KINDS, custom, record, rich_attributes
from tests.support.postgres import admin_connection, place_settings
from ttlv.item import ItemType
from ttlv.kmip14 import CryptographicAlgorithm, Tag


def model_bytes(attributes: tuple[Attribute, ...]) -> bytes:
    return struct_to_bytes(TemplateAttribute(attributes=attributes), Tag.TEMPLATE_ATTRIBUTE, (1, 4))


async def _sqlite_bytes(place: Path, uid: str) -> bytes:
    connection = sqlite3.connect(place / "objects.db")  # the file STORE_KINDS["sqlite"] opens
    try:
        row = connection.execute(
            "SELECT attributes FROM objects WHERE unique_identifier = ?", (uid,)
        ).fetchone()
    finally:
        connection.close()
    return bytes(row[0])


async def _postgres_bytes(place: Path, uid: str) -> bytes:
    objects = f"{quote_identifier((await place_settings(place)).schema)}.objects"
    async with admin_connection() as connection:
        blob = await connection.fetchval(
            f"SELECT attributes FROM {objects} WHERE unique_identifier = $1",
            uid,
        )
    return bytes(blob)


@dataclass(frozen=True, slots=True)
class SqlKind:
    open: Callable[[Path], Awaitable[ObjectStore]]  # the store kept at this place (``STORE_KINDS``)
    stored_bytes: Callable[[Path, str], Awaitable[bytes]]  # its attributes column, read past the store


SQL_KINDS = {
    "sqlite": SqlKind(STORE_KINDS["sqlite"].open, _sqlite_bytes),
    "postgres": SqlKind(STORE_KINDS["postgres"].open, _postgres_bytes),
}


@pytest.fixture(params=sorted(SQL_KINDS))
def sql_kind(request: pytest.FixtureRequest) -> SqlKind:
    return SQL_KINDS[request.param]


def test_stored_attributes_are_the_model_encoding_first_time_and_reused(
    sql_kind: SqlKind, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store, stored_bytes = await sql_kind.open(tmp_path), sql_kind.stored_bytes
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
            assert await stored_bytes(tmp_path, uid) == model_bytes(attributes)
            assert await store.get("tenant-a", uid) == stored
        await store.close()

    asyncio.run(scenario())


def test_equal_values_of_different_types_keep_their_own_bytes(sql_kind: SqlKind, tmp_path: Path) -> None:
    """True == 1 in Python; a Boolean and an Integer are different TTLV items all the same."""

    async def scenario() -> None:
        store, stored_bytes = await sql_kind.open(tmp_path), sql_kind.stored_bytes
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
                assert await stored_bytes(tmp_path, uid) == model_bytes(attributes)
        await store.close()

    asyncio.run(scenario())


def test_the_remembered_encodings_stay_within_their_bound(sql_kind: SqlKind, tmp_path: Path) -> None:
    async def scenario() -> None:
        store, stored_bytes = await sql_kind.open(tmp_path), sql_kind.stored_bytes
        remembered = store._encodings._entries  # type: ignore[attr-defined] # the bound is what is tested
        for number in range(ATTRIBUTE_ENCODINGS + 50):
            attributes = (Attribute(name="Object Group", value=f"group-{number}"),)
            await store.insert(record(f"uid-{number}", attributes=attributes))
            assert len(remembered) <= ATTRIBUTE_ENCODINGS
        last = f"uid-{ATTRIBUTE_ENCODINGS + 49}"
        assert await stored_bytes(tmp_path, last) == model_bytes(
            (Attribute(name="Object Group", value=f"group-{ATTRIBUTE_ENCODINGS + 49}"),)
        )
        await store.close()

    asyncio.run(scenario())
