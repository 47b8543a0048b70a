"""Delete Attribute (4.16): what goes, what stays where it was, and every refusal of 11.17."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kmip_server.model import DeleteAttributeResponsePayload, LocateResponsePayload, UsageLimits
from tests.unit.engine.support import NOW, Core, create_aes, run_core, tenant
from tests.unit.operations.attribute_support import (
    add,
    attribute,
    custom,
    delete,
    failed,
    locate,
    name,
    payload_any,
    shown,
)
from ttlv.kmip14 import ResultReason


def test_the_deleted_instance_is_returned_and_gone(tmp_path: Path) -> None:
    """SKFF-M-9-14: x-attribute1 and x-attribute2 deleted in one batch."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(add(uid, custom("x-attribute1", "ModifiedValue1")))
        await core.ok(add(uid, custom("x-attribute2", "ModifiedValue2")))
        core.clock[0] = NOW + 9
        response = await core.send(delete(uid, "x-attribute1"), delete(uid, "x-attribute2"))
        answers = [payload_any(item) for item in response.batch_items]
        assert all(isinstance(a, DeleteAttributeResponsePayload) for a in answers)
        assert [a.attribute for a in answers] == [
            custom("x-attribute1", "ModifiedValue1"),
            custom("x-attribute2", "ModifiedValue2"),
        ]
        attributes = await shown(core, uid)
        assert "x-attribute1" not in attributes
        assert "x-attribute2" not in attributes
        assert attributes["Last Change Date"][0].value == NOW + 9

    run_core(tmp_path, scenario)


def test_other_instances_keep_their_indices(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="n0")
        await core.ok(add(uid, name("n1")))
        await core.ok(add(uid, name("n2")))
        answer = await core.ok(delete(uid, "Name", 1))
        assert answer.attribute == dataclasses.replace(name("n1"), index=1)
        await core.ok(delete(uid, "Name"))  # index 0
        names = (await shown(core, uid, "Name"))["Name"]
        assert [(a.index, a.value.name_value) for a in names] == [(2, "n2")]
        await failed(core, delete(uid, "Name", 1), ResultReason.ITEM_NOT_FOUND)
        await failed(core, delete(uid, "Name", 0), ResultReason.ITEM_NOT_FOUND)
        await core.ok(delete(uid, "Name", 2))
        assert "Name" not in await shown(core, uid)

    run_core(tmp_path, scenario)


def test_required_and_read_only_attributes_are_permission_denied(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Activation Date", NOW + 100),))
        for kept in (
            "Cryptographic Usage Mask",
            "Cryptographic Algorithm",
            "Sensitive",
            "Extractable",
            "Initial Date",
            "Last Change Date",
            "Digest",
            "State",
            "Unique Identifier",
            "Object Type",
            "Activation Date",  # not deletable by a client (3.24)
            "Fresh",
            "y-server",
        ):
            await failed(core, delete(uid, kept), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_what_the_object_lacks_is_item_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await failed(core, delete(uid, "Contact Information"), ResultReason.ITEM_NOT_FOUND)
        await failed(core, delete(uid, "x-never-added"), ResultReason.ITEM_NOT_FOUND)
        await failed(core, delete(uid, "Not An Attribute"), ResultReason.ITEM_NOT_FOUND)
        await core.ok(add(uid, attribute("Object Group", "g")))
        await failed(core, delete(uid, "Object Group", 4), ResultReason.ITEM_NOT_FOUND)

    run_core(tmp_path, scenario)


def test_usage_limits_only_until_allocated(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        limits = UsageLimits(usage_limits_total=10)
        fresh = await create_aes(core, extra=(attribute("Usage Limits", limits),))
        await core.ok(delete(fresh, "Usage Limits"))
        used = await create_aes(core, extra=(attribute("Usage Limits", limits),))
        record = await core.store.get("tenant-a", used)
        assert record is not None
        spent = UsageLimits(usage_limits_total=10, usage_limits_count=3)
        attributes = tuple(
            dataclasses.replace(a, value=spent) if a.name == "Usage Limits" else a for a in record.attributes
        )
        await core.store.replace(
            dataclasses.replace(record, attributes=attributes), expected_revision=record.revision
        )
        await failed(core, delete(used, "Usage Limits"), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_a_deleted_name_is_no_longer_located_and_free_again(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="to go")
        await core.ok(delete(uid, "Name"))
        found = await core.ok(locate(name("to go")))
        assert isinstance(found, LocateResponsePayload)
        assert found.unique_identifiers == ()
        other = await create_aes(core, name="to go")
        assert (await core.ok(locate(name("to go")))).unique_identifiers == (other,)

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"), name="theirs")
        other = await failed(core, delete(theirs, "Name"), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, delete("absent", "Name"), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message
        assert (await shown(core, theirs, "Name", peer=tenant("tenant-b")))["Name"]

    run_core(tmp_path, scenario)
