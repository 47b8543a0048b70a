"""Get Attributes (4.12): names in request order, absent ones left out, all when none named,
destroyed objects, indices, protocol versions, ID Placeholder, tenants, and 11.13's refusal."""

from __future__ import annotations

from pathlib import Path

from kmip_server.attribute_policy import presented
from kmip_server.model import GetAttributesResponsePayload, ResponseMessage
from tests.unit.engine.support import (
    NOW,
    Core,
    aes_template,
    create_aes,
    create_item,
    run_core,
    tenant,
    uid_item,
)
from tests.unit.operations.attribute_support import (
    add,
    attribute,
    failed,
    get_attributes,
    name,
    payload_any,
    register_opaque,
    shown,
)
from ttlv.kmip14 import CryptographicUsageMask, ObjectType, Operation, ResultReason, ResultStatus, State


def test_named_attributes_come_in_request_order_and_absent_ones_are_left_out(tmp_path: Path) -> None:
    """SKLC-M-3-14's first Get Attributes, plus names the key has no value for."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKLC-M-3-14")
        names = (
            "State",
            "Cryptographic Usage Mask",
            "Unique Identifier",
            "Object Type",
            "Activation Date",  # not set on a Pre-Active key
            "Cryptographic Algorithm",
            "Cryptographic Length",
            "Digest",
            "Initial Date",
            "Last Change Date",
            "No Such Attribute",  # not an attribute at all: absent too
        )
        payload = await core.ok(get_attributes(uid, *names))
        assert isinstance(payload, GetAttributesResponsePayload)
        assert payload.unique_identifier == uid
        got = [a.name for a in payload.attributes]
        assert got == [n for n in names if n not in {"Activation Date", "No Such Attribute"}]
        values = {a.name: a.value for a in payload.attributes}
        assert values["State"] is State.PRE_ACTIVE
        assert values["Unique Identifier"] == uid
        assert values["Object Type"] is ObjectType.SYMMETRIC_KEY
        assert (
            values["Cryptographic Usage Mask"]
            == CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
        )
        assert values["Initial Date"] == values["Last Change Date"] == NOW
        assert all(a.index is None for a in payload.attributes)

    run_core(tmp_path, scenario)


def test_only_absent_names_answer_the_unique_identifier_alone(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        payload = await core.ok(get_attributes(uid, "Deactivation Date", "Contact Information"))
        assert payload.unique_identifier == uid
        assert payload.attributes == ()

    run_core(tmp_path, scenario)


def test_without_names_every_attribute_is_returned(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="all")
        payload = await core.ok(get_attributes(uid))
        names = [a.name for a in payload.attributes]
        assert names[:3] == ["Unique Identifier", "Object Type", "State"]
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert payload.attributes == presented(record)  # no index anywhere yet

    run_core(tmp_path, scenario)


def test_the_same_name_twice_is_invalid_message(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await failed(core, get_attributes(uid, "State", "Name", "State"), ResultReason.INVALID_MESSAGE)

    run_core(tmp_path, scenario)


def test_destroyed_objects_still_answer(tmp_path: Path) -> None:
    """SKLC-O-1-14: Get Attributes (all) after Destroy."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKLC-O-1-14")
        core.clock[0] = NOW + 5
        await core.ok(uid_item(Operation.DESTROY, uid))
        attributes = await shown(core, uid)
        assert attributes["State"][0].value is State.DESTROYED
        assert attributes["Destroy Date"][0].value == NOW + 5
        assert attributes["Last Change Date"][0].value == NOW + 5
        for kept in ("Name", "Digest", "Cryptographic Algorithm", "Cryptographic Length", "Initial Date"):
            assert kept in attributes

    run_core(tmp_path, scenario)


def test_every_instance_of_a_multi_instance_attribute_with_its_index(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="first")
        await core.ok(add(uid, name("second")))
        await core.ok(add(uid, name("third")))
        names = (await shown(core, uid, "Name"))["Name"]
        assert [(a.index, a.value.name_value) for a in names] == [
            (None, "first"),
            (1, "second"),
            (2, "third"),
        ]

    run_core(tmp_path, scenario)


def test_attributes_of_later_protocol_versions_are_not_shown(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Description", "a 1.4 attribute"),))
        newest = await core.ok(get_attributes(uid))
        assert "Description" in [a.name for a in newest.attributes]
        response = await core.send(get_attributes(uid), version=(1, 2))
        older = payload_any(response.batch_items[0])
        assert isinstance(older, GetAttributesResponsePayload)
        names = {a.name for a in older.attributes}
        assert "Description" not in names
        assert "Sensitive" not in names  # 1.4
        assert "Original Creation Date" in names  # 1.2
        asked = await core.send(get_attributes(uid, "Description", "State"), version=(1, 2))
        only = payload_any(asked.batch_items[0])
        assert [a.name for a in only.attributes] == ["State"]

    run_core(tmp_path, scenario)


def test_state_follows_the_dates(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Activation Date", NOW + 10),))
        assert (await shown(core, uid, "State"))["State"][0].value is State.PRE_ACTIVE
        core.clock[0] = NOW + 10
        assert (await shown(core, uid, "State"))["State"][0].value is State.ACTIVE

    run_core(tmp_path, scenario)


def test_opaque_objects_have_no_state(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_opaque(core, name("blob"))
        attributes = await shown(core, uid)
        assert "State" not in attributes
        assert attributes["Object Type"][0].value is ObjectType.OPAQUE_OBJECT

    run_core(tmp_path, scenario)


def test_the_id_placeholder_names_the_object(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response: ResponseMessage = await core.send(
            create_item(aes_template()), get_attributes(None, "State")
        )
        created, got = response.batch_items
        assert got.result_status is ResultStatus.SUCCESS
        assert payload_any(got).unique_identifier == payload_any(created).unique_identifier

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"), name="secret")
        other = await failed(core, get_attributes(theirs), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(
            core, get_attributes("0c5b6a0e-0000-4000-8000-000000000000"), ResultReason.ITEM_NOT_FOUND
        )
        assert other.result_message == missing.result_message
        assert (await shown(core, theirs, "Name", peer=tenant("tenant-b")))["Name"]

    run_core(tmp_path, scenario)
