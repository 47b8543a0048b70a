"""Get Attribute List (4.13): every name once, as Get Attributes shows them."""

from __future__ import annotations

from pathlib import Path

from kmip_server.model import GetAttributeListResponsePayload
from tests.unit.engine.support import Core, create_aes, run_core, tenant, uid_item
from tests.unit.operations.attribute_support import (
    add,
    custom,
    delete,
    failed,
    get_attribute_list,
    get_attributes,
    name,
    register_opaque,
)
from ttlv.kmip14 import Operation, ResultReason


async def names_of(core: Core, uid: str) -> tuple[str, ...]:
    payload = await core.ok(get_attribute_list(uid))
    assert isinstance(payload, GetAttributeListResponsePayload)
    assert payload.unique_identifier == uid
    return payload.attribute_names


def test_the_names_match_get_attributes(tmp_path: Path) -> None:
    """SKFF-M-9-14: the list of a key, including what Revoke and Activate added."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKFF-M-9-14")
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await core.ok(add(uid, name("second name")))
        names = await names_of(core, uid)
        assert len(names) == len(set(names))
        everything = await core.ok(get_attributes(uid))
        assert names == tuple(dict.fromkeys(a.name for a in everything.attributes))
        assert names[:3] == ("Unique Identifier", "Object Type", "State")
        for expected in ("Activation Date", "Cryptographic Usage Mask", "Digest", "Name", "Initial Date"):
            assert expected in names

    run_core(tmp_path, scenario)


def test_custom_attributes_come_and_go(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        assert "x-ID" not in await names_of(core, uid)
        await core.ok(add(uid, custom("x-ID", "TL-M-2-14")))
        assert "x-ID" in await names_of(core, uid)
        await core.ok(delete(uid, "x-ID"))
        assert "x-ID" not in await names_of(core, uid)

    run_core(tmp_path, scenario)


def test_opaque_objects_list_no_state(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_opaque(core)
        names = await names_of(core, uid)
        assert "State" not in names
        assert names[:2] == ("Unique Identifier", "Object Type")

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"))
        other = await failed(core, get_attribute_list(theirs), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, get_attribute_list("nope"), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message

    run_core(tmp_path, scenario)
