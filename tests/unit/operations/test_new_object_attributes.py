"""A new object's template (Create, Register, Re-key) is checked and shaped as Add Attribute
shapes values (attribute_policy.check_client_attributes: Usage Limits Count from the Total,
3.21; Application Data required, 3.36; flat custom structures), and one Name rule holds for
Create, Register, Re-key, Add and Modify Attribute (TenantObjects.name_in_use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmip_server.model import (
    ApplicationSpecificInformation,
    Attribute,
    OpaqueObject,
    RegisterRequestPayload,
    ReKeyRequestPayload,
    RequestBatchItem,
    TemplateAttribute,
    UsageLimits,
)
from kmip_server.model.codec import make_item
from kmip_server.objects import ObjectSettings, first_value
from tests.unit.engine.support import (
    Core,
    aes_template,
    batch_item,
    create_aes,
    create_item,
    run_core,
    tenant,
    uid_item,
)
from tests.unit.operations.attribute_support import add, attribute, failed, modify, name, shown
from ttlv.item import Item, ItemType
from ttlv.kmip14 import ObjectType, Operation, ResultReason, Tag, UsageLimitsUnit

OPAQUE_TYPE: Any = 0x80000001


def register_opaque(*attributes: Attribute) -> RequestBatchItem:
    return batch_item(
        Operation.REGISTER,
        RegisterRequestPayload(
            object_type=ObjectType.OPAQUE_OBJECT,
            template_attribute=TemplateAttribute(attributes=attributes),
            managed_object=OpaqueObject(opaque_data_type=OPAQUE_TYPE, opaque_data_value=b"v"),
        ),
    )


def rekey(uid: str, *template: Attribute) -> RequestBatchItem:
    return batch_item(
        Operation.RE_KEY,
        ReKeyRequestPayload(
            unique_identifier=uid,
            template_attribute=TemplateAttribute(attributes=template) if template else None,
        ),
    )


def create_with(*extra: Attribute) -> RequestBatchItem:
    return create_item(aes_template(extra=extra))


NESTED = Item(
    Tag.ATTRIBUTE_VALUE,
    ItemType.STRUCTURE,
    (
        make_item(
            Tag.ATTRIBUTE_VALUE, ItemType.STRUCTURE, (make_item(Tag.NAME_VALUE, ItemType.TEXT_STRING, "a"),)
        ),
    ),
)
FLAT = Item(Tag.ATTRIBUTE_VALUE, ItemType.STRUCTURE, (make_item(Tag.NAME_VALUE, ItemType.TEXT_STRING, "a"),))
BARE_APPLICATION = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO")
FULL_APPLICATION = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO", application_data="7")


def test_usage_limits_count_starts_at_the_total(tmp_path: Path) -> None:
    """3.21: the server ignores a Count given to a creating operation and sets it to the Total."""

    async def scenario(core: Core) -> None:
        given = UsageLimits(
            usage_limits_total=16, usage_limits_count=3, usage_limits_unit=UsageLimitsUnit.BYTE
        )
        expected = UsageLimits(
            usage_limits_total=16, usage_limits_count=16, usage_limits_unit=UsageLimitsUnit.BYTE
        )
        created = (await core.ok(create_with(attribute("Usage Limits", given)))).unique_identifier
        assert (await shown(core, created, "Usage Limits"))["Usage Limits"][0].value == expected
        replacement = (await core.ok(rekey(created, attribute("Usage Limits", given)))).unique_identifier
        assert (await shown(core, replacement, "Usage Limits"))["Usage Limits"][0].value == expected

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (UsageLimits(usage_limits_unit=UsageLimitsUnit.OBJECT), ResultReason.INVALID_FIELD),
        (
            UsageLimits(usage_limits_total=-1, usage_limits_unit=UsageLimitsUnit.OBJECT),
            ResultReason.INVALID_FIELD,
        ),
    ],
    ids=["no total", "negative total"],
)
def test_usage_limits_without_a_usable_total_are_refused(
    tmp_path: Path, value: UsageLimits, reason: ResultReason
) -> None:
    async def scenario(core: Core) -> None:
        await failed(core, create_with(attribute("Usage Limits", value)), reason)
        uid = await create_aes(core)
        await failed(core, add(uid, attribute("Usage Limits", value)), reason)
        assert len(core.store._records) == 1

    run_core(tmp_path, scenario)


def test_application_data_is_required_by_every_operation(tmp_path: Path) -> None:
    """11.2, 11.4, 11.15: the server generates no Application Data for any namespace."""

    async def scenario(core: Core) -> None:
        bare = attribute("Application Specific Information", BARE_APPLICATION)
        full = attribute("Application Specific Information", FULL_APPLICATION)
        namespace = ResultReason.APPLICATION_NAMESPACE_NOT_SUPPORTED
        await failed(core, create_with(bare), namespace)
        await failed(core, register_opaque(bare), namespace)
        assert not core.store._records
        created = (await core.ok(create_with(full))).unique_identifier
        registered = (await core.ok(register_opaque(full))).unique_identifier
        for uid in (created, registered):
            info = await shown(core, uid, "Application Specific Information")
            assert info["Application Specific Information"][0].value == FULL_APPLICATION
        await failed(core, rekey(created, bare), namespace)
        await failed(core, add(registered, bare), namespace)

    run_core(tmp_path, scenario)


def test_custom_structures_hold_no_structures(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await failed(core, create_with(attribute("x-nested", NESTED)), ResultReason.INVALID_FIELD)
        await failed(core, register_opaque(attribute("x-nested", NESTED)), ResultReason.INVALID_FIELD)
        assert not core.store._records
        uid = (await core.ok(create_with(attribute("x-flat", FLAT)))).unique_identifier
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert first_value(record.attributes, "x-flat") == FLAT

    run_core(tmp_path, scenario)


# -- Names ------------------------------------------------------------------------------------


def test_one_name_rule_for_every_operation(tmp_path: Path) -> None:
    """3.2: a live object's Name is refused to every other object: Create, Register, Re-key
    (Invalid Field, 11.2, 11.4) and Add, Modify Attribute (Illegal Operation, 11.15, 11.16)."""

    async def scenario(core: Core) -> None:
        holder = await create_aes(core, name="taken")
        other = await create_aes(core, name="other")
        await failed(core, create_item(aes_template(name="taken")), ResultReason.INVALID_FIELD)
        await failed(core, register_opaque(name("taken")), ResultReason.INVALID_FIELD)
        await failed(core, rekey(other, name("taken")), ResultReason.INVALID_FIELD)
        await failed(core, add(other, name("taken")), ResultReason.ILLEGAL_OPERATION)
        await failed(core, modify(other, name("taken")), ResultReason.ILLEGAL_OPERATION)
        # The holder itself may be given its own name again where that is no duplicate.
        await core.ok(modify(holder, name("taken")))
        await failed(core, add(holder, name("taken")), ResultReason.ILLEGAL_OPERATION)
        # Names are per tenant.
        await core.ok(create_item(aes_template(name="taken")), tenant("tenant-b"))

    run_core(tmp_path, scenario)


def test_a_destroyed_object_keeps_its_name_but_does_not_hold_it(tmp_path: Path) -> None:
    """4.21: attributes survive Destroy; the name is free for every operation afterwards."""

    async def scenario(core: Core) -> None:
        first = await create_aes(core, name="reused")
        await core.ok(uid_item(Operation.DESTROY, first))
        names = (await shown(core, first, "Name"))["Name"]
        assert [n.value.name_value for n in names] == ["reused"]
        second = (await core.ok(create_item(aes_template(name="reused")))).unique_identifier
        await core.ok(uid_item(Operation.DESTROY, second))
        await core.ok(register_opaque(name("reused")))
        plain = await create_aes(core)
        await failed(core, add(plain, name("reused")), ResultReason.ILLEGAL_OPERATION)  # the opaque holds it

    run_core(tmp_path, scenario)


def test_unique_names_off_lets_every_operation_repeat_names(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core, name="twice")
        await core.ok(create_item(aes_template(name="twice")))
        await core.ok(register_opaque(name("twice")))
        other = await create_aes(core, name="other")
        await core.ok(add(other, name("twice")))
        await failed(core, add(other, name("twice")), ResultReason.ILLEGAL_OPERATION)  # not twice on one
        third = await create_aes(core)
        await core.ok(add(third, name("x")))
        await core.ok(modify(third, name("twice")))

    run_core(tmp_path, scenario, object_settings=ObjectSettings(unique_names=False))
