"""Add Attribute (4.14): what is added, the indices it gets, and every refusal of 11.15."""

from __future__ import annotations

from pathlib import Path

from kmip_server.attribute_policy import DEFAULT_ATTRIBUTE_LIMITS
from kmip_server.model import (
    AddAttributeResponsePayload,
    ApplicationSpecificInformation,
    Digest,
    Link,
    RevocationReason,
    RevokeRequestPayload,
    UsageLimits,
)
from kmip_server.model.codec import make_item
from tests.unit.engine.support import NOW, Core, batch_item, create_aes, run_core, tenant, uid_item
from tests.unit.operations.attribute_support import (
    add,
    attribute,
    custom,
    delete,
    failed,
    name,
    register_opaque,
    shown,
)
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    CryptographicUsageMask,
    HashingAlgorithm,
    LinkType,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    State,
    Tag,
    UsageLimitsUnit,
)


def test_a_custom_attribute_is_added_and_echoed(tmp_path: Path) -> None:
    """SKFF-M-9-14: x-attribute1 on a (compromised) key."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        core.clock[0] = NOW + 7
        payload = await core.ok(add(uid, custom("x-attribute1", "Value1")))
        assert isinstance(payload, AddAttributeResponsePayload)
        assert payload.unique_identifier == uid
        assert payload.attribute == custom("x-attribute1", "Value1")  # index 0: omitted
        attributes = await shown(core, uid, "x-attribute1", "Last Change Date")
        assert attributes["x-attribute1"][0].value.value == "Value1"
        assert attributes["Last Change Date"][0].value == NOW + 7

    run_core(tmp_path, scenario)


def test_instances_get_new_indices_that_never_move(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        answers = [await core.ok(add(uid, attribute("Object Group", f"g{i}"))) for i in range(3)]
        assert [a.attribute.index for a in answers] == [None, 1, 2]
        await core.ok(delete(uid, "Object Group", 1))
        fourth = await core.ok(add(uid, attribute("Object Group", "g3")))
        assert fourth.attribute.index == 3
        groups = (await shown(core, uid, "Object Group"))["Object Group"]
        assert [(a.index, a.value) for a in groups] == [(None, "g0"), (2, "g2"), (3, "g3")]
        await core.ok(delete(uid, "Object Group"))  # index 0
        groups = (await shown(core, uid, "Object Group"))["Object Group"]
        assert [(a.index, a.value) for a in groups] == [(2, "g2"), (3, "g3")]

    run_core(tmp_path, scenario)


def test_links_between_objects(tmp_path: Path) -> None:
    """AX-M-1-14: Next Link and Previous Link between two keys."""

    async def scenario(core: Core) -> None:
        first, second = await create_aes(core), await create_aes(core)
        forward = Link(link_type=LinkType.NEXT_LINK, linked_object_identifier=second)
        backward = Link(link_type=LinkType.PREVIOUS_LINK, linked_object_identifier=first)
        await core.ok(add(first, attribute("Link", forward)))
        await core.ok(add(second, attribute("Link", backward)))
        assert (await shown(core, first, "Link"))["Link"][0].value == forward
        assert (await shown(core, second, "Link"))["Link"][0].value == backward

    run_core(tmp_path, scenario)


def test_read_only_attributes_are_permission_denied(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        digest = Digest(hashing_algorithm=HashingAlgorithm.SHA_256, digest_value=b"\x00" * 32)
        for read_only in (
            attribute("Digest", digest),
            attribute("Initial Date", NOW),
            attribute("Last Change Date", NOW),
            attribute("Unique Identifier", "mine"),
            attribute("State", State.ACTIVE),
            attribute("Lease Time", 60),
            attribute("Destroy Date", NOW),
            attribute("Always Sensitive", True),
            custom("y-server-only", "no"),
        ):
            answer = await failed(core, add(uid, read_only), ResultReason.PERMISSION_DENIED)
            assert read_only.name[:20] in (answer.result_message or "")

    run_core(tmp_path, scenario)


def test_attributes_that_do_not_apply_are_permission_denied(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        opaque = await register_opaque(core)
        link = Link(link_type=LinkType.PARENT_LINK, linked_object_identifier="x")
        await failed(core, add(opaque, attribute("Link", link)), ResultReason.PERMISSION_DENIED)
        await failed(core, add(opaque, attribute("Activation Date", NOW)), ResultReason.PERMISSION_DENIED)
        # And what applies to every object is fine.
        await core.ok(add(opaque, attribute("Contact Information", "ops@example.com")))

    run_core(tmp_path, scenario)


def test_a_second_instance_of_a_single_instance_attribute_is_illegal(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(add(uid, attribute("Contact Information", "one")))
        await failed(core, add(uid, attribute("Contact Information", "two")), ResultReason.ILLEGAL_OPERATION)
        # Set at creation, so already there: Modify Attribute is the way (if allowed at all).
        mask = attribute("Cryptographic Usage Mask", CryptographicUsageMask.ENCRYPT)
        await failed(core, add(uid, mask), ResultReason.ILLEGAL_OPERATION)
        await failed(core, add(uid, attribute("Original Creation Date", NOW)), ResultReason.ILLEGAL_OPERATION)

    run_core(tmp_path, scenario)


def test_an_attribute_index_in_the_request_is_invalid_field(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await failed(core, add(uid, attribute("Object Group", "g", index=0)), ResultReason.INVALID_FIELD)
        await failed(core, add(uid, attribute("Object Group", "g", index=3)), ResultReason.INVALID_FIELD)

    run_core(tmp_path, scenario)


def test_names_stay_unique_among_live_objects(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        taken = await create_aes(core, name="taken")
        uid = await create_aes(core, name="mine")
        await failed(core, add(uid, name("taken")), ResultReason.ILLEGAL_OPERATION)
        await failed(core, add(uid, name("mine")), ResultReason.ILLEGAL_OPERATION)  # already its own
        # Another tenant's names are no concern of this tenant's (and must not be detectable).
        await create_aes(core, tenant("tenant-b"), name="theirs")
        await core.ok(add(uid, name("theirs")))
        # A destroyed object's name is free again, as for Create.
        await core.ok(uid_item(Operation.DESTROY, taken))
        await core.ok(add(uid, name("taken")))

    run_core(tmp_path, scenario)


def test_dates_follow_the_state_rules(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        other = await create_aes(core)
        # Activate set the Activation Date: a second one is not added but modified.
        await failed(core, add(uid, attribute("Activation Date", NOW)), ResultReason.ILLEGAL_OPERATION)
        # An Activation Date can only come while Pre-Active (3.24): not to a compromised key.
        revoked = await create_aes(core)
        await core.ok(
            batch_item(
                Operation.REVOKE,
                RevokeRequestPayload(
                    unique_identifier=revoked,
                    revocation_reason=RevocationReason(
                        revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE
                    ),
                ),
            )
        )
        await failed(core, add(revoked, attribute("Activation Date", NOW)), ResultReason.PERMISSION_DENIED)
        # On a Pre-Active key, an Activation Date that has passed activates it at once (3.22).
        core.clock[0] = NOW + 3
        await core.ok(add(other, attribute("Activation Date", NOW + 1)))
        attributes = await shown(core, other, "State", "Activation Date", "Last Change Date")
        assert attributes["State"][0].value is State.ACTIVE
        assert attributes["Activation Date"][0].value == NOW + 1
        assert attributes["Last Change Date"][0].value == NOW + 3
        # Deactivation Date: while Pre-Active or Active; passed, it deactivates.
        await core.ok(add(other, attribute("Deactivation Date", NOW + 2)))
        assert (await shown(core, other, "State"))["State"][0].value is State.DEACTIVATED
        compromised = await create_aes(core)
        await core.ok(add(compromised, attribute("Process Start Date", NOW + 100)))  # Pre-Active: fine
        await core.ok(uid_item(Operation.DESTROY, compromised))
        await failed(
            core, add(compromised, attribute("Deactivation Date", NOW + 50)), ResultReason.PERMISSION_DENIED
        )
        await failed(
            core, add(compromised, attribute("Protect Stop Date", NOW + 50)), ResultReason.PERMISSION_DENIED
        )

    run_core(tmp_path, scenario)


def test_application_data_must_be_given(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        bare = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO")
        await failed(
            core,
            add(uid, attribute("Application Specific Information", bare)),
            ResultReason.APPLICATION_NAMESPACE_NOT_SUPPORTED,
        )
        full = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO", application_data="123")
        await core.ok(add(uid, attribute("Application Specific Information", full)))

    run_core(tmp_path, scenario)


def test_usage_limits_count_starts_at_the_total(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        given = UsageLimits(
            usage_limits_total=500, usage_limits_count=3, usage_limits_unit=UsageLimitsUnit.BYTE
        )
        answer = await core.ok(add(uid, attribute("Usage Limits", given)))
        expected = UsageLimits(
            usage_limits_total=500, usage_limits_count=500, usage_limits_unit=UsageLimitsUnit.BYTE
        )
        assert answer.attribute.value == expected
        assert (await shown(core, uid, "Usage Limits"))["Usage Limits"][0].value == expected

    run_core(tmp_path, scenario)


def test_the_instance_limit_is_index_out_of_bounds(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        limit = DEFAULT_ATTRIBUTE_LIMITS.max_instances
        response = await core.send(*(add(uid, custom("x-many", f"v{i}")) for i in range(limit)))
        assert all(item.result_status is ResultStatus.SUCCESS for item in response.batch_items)
        await failed(core, add(uid, custom("x-many", "one too many")), ResultReason.INDEX_OUT_OF_BOUNDS)
        big = "x" * (DEFAULT_ATTRIBUTE_LIMITS.max_encoded_bytes // 4)
        for i in range(3):
            await core.ok(add(uid, custom(f"x-big{i}", big)))
        await failed(core, add(uid, custom("x-big3", big + "!")), ResultReason.INDEX_OUT_OF_BOUNDS)

    run_core(tmp_path, scenario)


def test_custom_structures_hold_no_structures(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        inner = make_item(
            Tag.ATTRIBUTE_VALUE, ItemType.STRUCTURE, (make_item(Tag.NAME_VALUE, ItemType.TEXT_STRING, "a"),)
        )
        nested = Item(Tag.ATTRIBUTE_VALUE, ItemType.STRUCTURE, (inner,))
        flat = Item(
            Tag.ATTRIBUTE_VALUE, ItemType.STRUCTURE, (make_item(Tag.NAME_VALUE, ItemType.TEXT_STRING, "a"),)
        )
        await failed(core, add(uid, attribute("x-nested", nested)), ResultReason.INVALID_FIELD)
        await core.ok(add(uid, attribute("x-flat", flat)))

    run_core(tmp_path, scenario)


def test_undo_takes_the_attribute_away_again(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        response = await core.send(
            add(uid, custom("x-undone", "v")),
            add(uid, attribute("Digest", Digest(hashing_algorithm=HashingAlgorithm.SHA_256))),
            batch_error_continuation_option=BatchErrorContinuationOption.UNDO,
        )
        assert [i.result_status for i in response.batch_items] == [
            ResultStatus.OPERATION_UNDONE,
            ResultStatus.OPERATION_FAILED,
        ]
        assert "x-undone" not in await shown(core, uid)

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"))
        other = await failed(core, add(theirs, custom("x-probe", "v")), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, add("absent", custom("x-probe", "v")), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message
        assert "x-probe" not in await shown(core, theirs, peer=tenant("tenant-b"))

    run_core(tmp_path, scenario)
