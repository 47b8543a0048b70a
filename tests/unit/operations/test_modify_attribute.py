"""Modify Attribute (4.15): new values, the state they cause, and every refusal of 11.16."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kmip_server.errors import ConcurrentModification
from kmip_server.model import ModifyAttributeRequestPayload, ModifyAttributeResponsePayload, UsageLimits
from kmip_server.operations import modify_attribute
from kmip_server.operations.attribute_change import MAX_ATTEMPTS
from tests.unit.engine.support import NOW, Core, create_aes, run_core, tenant, uid_item
from tests.unit.operations.attribute_support import add, attribute, custom, failed, modify, name, shown
from tests.unit.operations.racing import RacingStore, racing_context, with_attributes
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    Operation,
    ResultReason,
    State,
    UsageLimitsUnit,
)


def test_activation_date_of_an_active_key_is_permission_denied(tmp_path: Path) -> None:
    """SKLC-M-3-14."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKLC-M-3-14")
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await failed(core, modify(uid, attribute("Activation Date", NOW)), ResultReason.PERMISSION_DENIED)
        assert (await shown(core, uid, "State"))["State"][0].value is State.ACTIVE

    run_core(tmp_path, scenario)


def test_dates_that_pass_change_the_state(tmp_path: Path) -> None:
    """3.22 transitions 4 and 6 through Modify Attribute."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Activation Date", NOW + 1000),))
        core.clock[0] = NOW + 10
        answer = await core.ok(modify(uid, attribute("Activation Date", NOW + 5)))
        assert isinstance(answer, ModifyAttributeResponsePayload)
        assert answer.attribute == attribute("Activation Date", NOW + 5)
        attributes = await shown(core, uid, "State", "Activation Date", "Last Change Date")
        assert attributes["State"][0].value is State.ACTIVE
        assert attributes["Last Change Date"][0].value == NOW + 10
        await core.ok(add(uid, attribute("Deactivation Date", NOW + 1000)))
        await core.ok(modify(uid, attribute("Deactivation Date", NOW + 10)))
        assert (await shown(core, uid, "State"))["State"][0].value is State.DEACTIVATED
        # Deactivated: the Deactivation Date is fixed now.
        await failed(
            core, modify(uid, attribute("Deactivation Date", NOW + 20)), ResultReason.PERMISSION_DENIED
        )

    run_core(tmp_path, scenario)


def test_process_start_and_protect_stop_until_reached(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(
            core, extra=(attribute("Process Start Date", NOW + 10), attribute("Protect Stop Date", NOW + 20))
        )
        await core.ok(modify(uid, attribute("Process Start Date", NOW + 11)))
        core.clock[0] = NOW + 11
        await failed(
            core, modify(uid, attribute("Process Start Date", NOW + 30)), ResultReason.PERMISSION_DENIED
        )
        await core.ok(modify(uid, attribute("Protect Stop Date", NOW + 40)))

    run_core(tmp_path, scenario)


def test_an_attribute_the_object_lacks_is_invalid_field_an_index_it_lacks_item_not_found(
    tmp_path: Path,
) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="one")
        await failed(core, modify(uid, attribute("Contact Information", "x")), ResultReason.INVALID_FIELD)
        await failed(core, modify(uid, custom("x-absent", "x")), ResultReason.INVALID_FIELD)
        await failed(
            core, modify(uid, dataclasses.replace(name("two"), index=1)), ResultReason.ITEM_NOT_FOUND
        )
        await failed(
            core, modify(uid, attribute("Contact Information", "x", index=1)), ResultReason.INVALID_FIELD
        )

    run_core(tmp_path, scenario)


def test_read_only_attributes_are_permission_denied(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        for read_only in (
            attribute("Cryptographic Usage Mask", CryptographicUsageMask.ENCRYPT),
            attribute("Cryptographic Algorithm", CryptographicAlgorithm.AES),
            attribute("Cryptographic Length", 128),
            attribute("State", State.ACTIVE),
            attribute("Initial Date", NOW),
            attribute("Last Change Date", NOW),
            attribute("Unique Identifier", uid),
            attribute("Fresh", False),
            custom("y-server", "v"),
        ):
            await failed(core, modify(uid, read_only), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_names_stay_unique(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core, name="taken")
        uid = await create_aes(core, name="first")
        await core.ok(add(uid, name("second")))
        await failed(core, modify(uid, name("taken")), ResultReason.ILLEGAL_OPERATION)
        await failed(core, modify(uid, name("second")), ResultReason.ILLEGAL_OPERATION)
        await core.ok(modify(uid, name("first")))  # its own value again: no change
        answer = await core.ok(modify(uid, dataclasses.replace(name("renamed"), index=1)))
        assert answer.attribute == dataclasses.replace(name("renamed"), index=1)
        names = (await shown(core, uid, "Name"))["Name"]
        assert [(a.index, a.value.name_value) for a in names] == [(None, "first"), (1, "renamed")]

    run_core(tmp_path, scenario)


def test_sensitive_and_extractable_carry_their_history(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Sensitive", True), attribute("Extractable", False)))
        before = await shown(core, uid, "Always Sensitive", "Never Extractable")
        assert (before["Always Sensitive"][0].value, before["Never Extractable"][0].value) == (True, True)
        await core.ok(modify(uid, attribute("Sensitive", False)))
        await core.ok(modify(uid, attribute("Extractable", True)))
        await core.ok(modify(uid, attribute("Sensitive", True)))
        await core.ok(modify(uid, attribute("Extractable", False)))
        after = await shown(core, uid, "Sensitive", "Always Sensitive", "Extractable", "Never Extractable")
        assert after["Sensitive"][0].value is True
        assert after["Always Sensitive"][0].value is False
        assert after["Extractable"][0].value is False
        assert after["Never Extractable"][0].value is False

    run_core(tmp_path, scenario)


def test_usage_limits_until_allocated(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        limits = UsageLimits(usage_limits_total=100, usage_limits_unit=UsageLimitsUnit.OBJECT)
        uid = await create_aes(core, extra=(attribute("Usage Limits", limits),))
        answer = await core.ok(modify(uid, attribute("Usage Limits", UsageLimits(usage_limits_total=50))))
        assert answer.attribute.value == UsageLimits(
            usage_limits_total=50, usage_limits_count=50, usage_limits_unit=UsageLimitsUnit.OBJECT
        )
        # Once usage has been allocated (Count below Total), the limits are fixed (3.21).
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        used = UsageLimits(
            usage_limits_total=50, usage_limits_count=40, usage_limits_unit=UsageLimitsUnit.OBJECT
        )
        attributes = tuple(
            dataclasses.replace(a, value=used) if a.name == "Usage Limits" else a for a in record.attributes
        )
        await core.store.replace(
            dataclasses.replace(record, attributes=attributes), expected_revision=record.revision
        )
        await failed(
            core,
            modify(uid, attribute("Usage Limits", UsageLimits(usage_limits_total=60))),
            ResultReason.PERMISSION_DENIED,
        )

    run_core(tmp_path, scenario)


def test_custom_attributes_and_indices(tmp_path: Path) -> None:
    """SKFF-M-9-14's x-attribute1 and x-attribute2, and a second instance by index."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(add(uid, custom("x-attribute1", "Value1")))
        await core.ok(add(uid, custom("x-attribute1", "Second")))
        answer = await core.ok(modify(uid, custom("x-attribute1", "ModifiedValue1")))
        assert answer.attribute == custom("x-attribute1", "ModifiedValue1")
        await core.ok(modify(uid, dataclasses.replace(custom("x-attribute1", "Modified2"), index=1)))
        values = (await shown(core, uid, "x-attribute1"))["x-attribute1"]
        assert [(a.index, a.value.value) for a in values] == [(None, "ModifiedValue1"), (1, "Modified2")]

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"), name="theirs")
        other = await failed(core, modify(theirs, name("stolen")), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, modify("absent", name("stolen")), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message
        names = (await shown(core, theirs, "Name", peer=tenant("tenant-b")))["Name"]
        assert names[0].value.name_value == "theirs"

    run_core(tmp_path, scenario)


def test_a_concurrent_change_is_retried_on_what_is_stored_now(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(add(uid, attribute("Contact Information", "before")))
        competitor = custom("x-competitor", "theirs")
        store = RacingStore(core.store, lambda record: with_attributes(record, competitor), races=1)
        ctx = racing_context(core, store)
        payload = ModifyAttributeRequestPayload(
            unique_identifier=uid, attribute=attribute("Contact Information", "mine")
        )
        await modify_attribute.handle(ctx, payload)
        assert store.replaces == 2
        attributes = await shown(core, uid, "Contact Information", "x-competitor")
        assert attributes["Contact Information"][0].value == "mine"
        assert "x-competitor" in attributes  # the competitor's change survived ours

    run_core(tmp_path, scenario)


def test_a_writer_that_always_wins_is_a_concurrent_modification(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(add(uid, attribute("Contact Information", "before")))
        store = RacingStore(core.store, lambda record: record, races=MAX_ATTEMPTS)
        ctx = racing_context(core, store)
        payload = ModifyAttributeRequestPayload(
            unique_identifier=uid, attribute=attribute("Contact Information", "mine")
        )
        with pytest.raises(ConcurrentModification):
            await modify_attribute.handle(ctx, payload)
        assert store.replaces == MAX_ATTEMPTS
        assert (await shown(core, uid, "Contact Information"))["Contact Information"][0].value == "before"

    run_core(tmp_path, scenario)
