"""Locate (4.9): every kind of filter, paging, storage status, group members, the ID
Placeholder, date-driven states, tenants, and 11.10's refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmip_server.model import (
    ApplicationSpecificInformation,
    GetRequestPayload,
    Link,
    LocateResponsePayload,
    Name,
    RevocationReason,
    RevokeRequestPayload,
    UsageLimits,
)
from kmip_server.operations import locate as locate_module
from kmip_server.operations.locate import LARGEST_DATE_TIME, value_matches
from tests.unit.engine.support import (
    NOW,
    Core,
    aes_template,
    batch_item,
    create_aes,
    create_item,
    run_core,
    tenant,
    uid_item,
)
from tests.unit.operations.attribute_support import (
    add,
    attribute,
    custom,
    failed,
    locate,
    name,
    payload_any,
    register_opaque,
)
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    LinkType,
    NameType,
    ObjectGroupMember,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    State,
    StorageStatusMask,
)

U = CryptographicUsageMask


async def found(core: Core, *attributes: object, peer: object = None, **fields: object) -> tuple[str, ...]:
    payload = await core.ok(locate(*attributes, **fields), peer)  # type: ignore[arg-type]
    assert isinstance(payload, LocateResponsePayload)
    return payload.unique_identifiers


def test_by_object_type_and_name_then_get_through_the_placeholder(tmp_path: Path) -> None:
    """SKFF-M-9-14's Locate, and TL-M-3-14's Locate + Get in one batch."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKFF-M-9-14")
        await create_aes(core, name="another")
        assert await found(core, attribute("Object Type", ObjectType.SYMMETRIC_KEY), name("SKFF-M-9-14")) == (
            uid,
        )
        response = await core.send(
            locate(name("SKFF-M-9-14")), batch_item(Operation.GET, GetRequestPayload())
        )
        located, got = response.batch_items
        assert got.result_status is ResultStatus.SUCCESS
        assert payload_any(got).unique_identifier == uid
        assert payload_any(located).located_items is None  # no paging asked: as the OASIS cases
        assert await found(core, attribute("Object Type", ObjectType.SECRET_DATA), name("SKFF-M-9-14")) == ()
        assert await found(core, name("nobody")) == ()

    run_core(tmp_path, scenario)


def test_several_matches_empty_the_placeholder(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core)
        await create_aes(core)
        response = await core.send(
            locate(attribute("Object Type", ObjectType.SYMMETRIC_KEY)),
            batch_item(Operation.GET, GetRequestPayload()),
        )
        located, got = response.batch_items
        assert len(payload_any(located).unique_identifiers) == 2
        assert got.result_reason is ResultReason.MISSING_DATA
        # Maximum Items 1 returns one: that one is the placeholder.
        response = await core.send(locate(maximum_items=1), batch_item(Operation.GET, GetRequestPayload()))
        located, got = response.batch_items
        assert payload_any(got).unique_identifier == payload_any(located).unique_identifiers[0]
        assert payload_any(located).located_items == 2

    run_core(tmp_path, scenario)


def test_everything_live_in_creation_order_destroyed_only_by_state(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uids = [await create_aes(core, name=f"k{i}") for i in range(4)]
        await core.ok(uid_item(Operation.DESTROY, uids[1]))
        assert await found(core) == (uids[0], uids[2], uids[3])
        assert await found(core, attribute("State", State.DESTROYED)) == (uids[1],)
        assert await found(core, name("k1")) == ()
        assert await found(core, name("k1"), attribute("State", State.DESTROYED)) == (uids[1],)
        assert await found(core, attribute("State", State.PRE_ACTIVE)) == (uids[0], uids[2], uids[3])
        assert await found(core, attribute("State", State.PRE_ACTIVE), attribute("State", State.ACTIVE)) == ()

    run_core(tmp_path, scenario)


def test_state_is_the_one_the_dates_give_now(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        later = await create_aes(core, extra=(attribute("Activation Date", NOW + 10),))
        assert await found(core, attribute("State", State.ACTIVE)) == ()
        core.clock[0] = NOW + 10
        assert await found(core, attribute("State", State.ACTIVE)) == (later,)
        assert await found(core, attribute("State", State.PRE_ACTIVE)) == ()

    run_core(tmp_path, scenario)


def test_opaque_objects_have_no_state_to_match(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        opaque = await register_opaque(core, name("blob"))
        assert await found(core, name("blob")) == (opaque,)
        assert await found(core, name("blob"), attribute("State", State.PRE_ACTIVE)) == ()
        assert await found(core, attribute("Cryptographic Usage Mask", 0)) == ()  # no mask at all
        assert await found(core, attribute("Object Type", ObjectType.OPAQUE_OBJECT)) == (opaque,)

    run_core(tmp_path, scenario)


def test_usage_mask_needs_every_requested_bit(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        both = await create_aes(core, mask=U.ENCRYPT | U.DECRYPT)
        wrap = await create_aes(core, mask=U.WRAP_KEY | U.UNWRAP_KEY | U.ENCRYPT)
        assert await found(core, attribute("Cryptographic Usage Mask", U.ENCRYPT)) == (both, wrap)
        assert await found(core, attribute("Cryptographic Usage Mask", U.ENCRYPT | U.DECRYPT)) == (both,)
        assert await found(core, attribute("Cryptographic Usage Mask", U.DECRYPT | U.WRAP_KEY)) == ()
        # Two instances: both must hold.
        assert await found(
            core,
            attribute("Cryptographic Usage Mask", U.ENCRYPT),
            attribute("Cryptographic Usage Mask", U.WRAP_KEY),
        ) == (wrap,)

    run_core(tmp_path, scenario)


def test_dates_one_instance_is_a_time_two_a_range(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        first = await create_aes(core)
        core.clock[0] = NOW + 100
        second = await create_aes(core, extra=(attribute("Activation Date", NOW + 500),))
        core.clock[0] = NOW + 200
        third = await create_aes(core, extra=(attribute("Activation Date", NOW + 900),))
        assert await found(core, attribute("Initial Date", NOW + 100)) == (second,)
        span = (attribute("Initial Date", NOW + 100), attribute("Initial Date", NOW))  # either order
        assert await found(core, *span) == (first, second)
        assert await found(
            core, attribute("Initial Date", NOW + 100), attribute("Initial Date", NOW + 200)
        ) == (
            second,
            third,
        )
        # The largest Date-Time stands for "not set".
        assert await found(core, attribute("Activation Date", LARGEST_DATE_TIME)) == (first,)
        assert await found(
            core, attribute("Activation Date", NOW + 600), attribute("Activation Date", LARGEST_DATE_TIME)
        ) == (first, third)
        assert await found(
            core, attribute("Activation Date", NOW), attribute("Activation Date", NOW + 600)
        ) == (second,)
        await failed(
            core,
            locate(*(attribute("Initial Date", NOW + i) for i in range(3))),
            ResultReason.INVALID_FIELD,
        )

    run_core(tmp_path, scenario)


def test_structures_match_on_the_fields_given(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key, target = await create_aes(core), await create_aes(core)
        link = Link(link_type=LinkType.NEXT_LINK, linked_object_identifier=target)
        await core.ok(add(key, attribute("Link", link)))
        assert await found(core, attribute("Link", link)) == (key,)
        only_target = Link(link_type=None, linked_object_identifier=target)  # type: ignore[arg-type]
        assert await found(core, attribute("Link", only_target)) == (key,)
        wrong = Link(link_type=LinkType.PREVIOUS_LINK, linked_object_identifier=target)
        assert await found(core, attribute("Link", wrong)) == ()
        any_type = Name(name_value="typed", name_type=None)  # type: ignore[arg-type]
        typed = await create_aes(core, name="typed")
        assert await found(core, attribute("Name", any_type)) == (typed,)
        uri = Name(name_value="typed", name_type=NameType.URI)
        assert await found(core, attribute("Name", uri)) == ()

    run_core(tmp_path, scenario)


def test_application_specific_information_and_custom_attributes(tmp_path: Path) -> None:
    """TL-M-3-14: Object Type and Application Specific Information."""

    async def scenario(core: Core) -> None:
        info = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO", application_data="1234")
        tape = await create_aes(
            core, extra=(attribute("Application Specific Information", info), custom("x-ID", "TL-M-2-14"))
        )
        await create_aes(core)
        asked = (
            attribute("Object Type", ObjectType.SYMMETRIC_KEY),
            attribute("Application Specific Information", info),
        )
        assert await found(core, *asked) == (tape,)
        other = ApplicationSpecificInformation(application_namespace="LIBRARY-LTO", application_data="9999")
        assert await found(core, attribute("Application Specific Information", other)) == ()
        assert await found(core, custom("x-ID", "TL-M-2-14")) == (tape,)
        assert await found(core, custom("x-ID", "TL-M-9-14")) == ()
        assert await found(core, attribute("Unique Identifier", tape)) == (tape,)
        assert (
            await found(
                core,
                attribute("Cryptographic Algorithm", CryptographicAlgorithm.AES),
                attribute("Cryptographic Length", 128),
            )
            == ()
        )

    run_core(tmp_path, scenario)


def test_usage_limits_at_least_the_requested(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        small = await create_aes(core, extra=(attribute("Usage Limits", UsageLimits(usage_limits_total=10)),))
        large = await create_aes(
            core, extra=(attribute("Usage Limits", UsageLimits(usage_limits_total=1000)),)
        )
        await create_aes(core)  # no limits: not matched by a Usage Limits request
        assert await found(core, attribute("Usage Limits", UsageLimits(usage_limits_count=10))) == (
            small,
            large,
        )
        assert await found(core, attribute("Usage Limits", UsageLimits(usage_limits_total=11))) == (large,)

    run_core(tmp_path, scenario)


def test_object_groups_and_group_members(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        group = attribute("Object Group", "tapes")
        a = await create_aes(core, extra=(group,))
        b = await create_aes(core, extra=(group,))
        c = await create_aes(core, extra=(group,))
        await create_aes(core, extra=(attribute("Object Group", "other"),))
        assert await found(core, group) == (a, b, c)
        await core.ok(batch_item(Operation.GET, GetRequestPayload(unique_identifier=a)))  # no longer Fresh
        assert await found(core, group, object_group_member=ObjectGroupMember.GROUP_MEMBER_FRESH) == (b, c)
        # Default: the newest Active member.
        assert await found(core, group, object_group_member=ObjectGroupMember.GROUP_MEMBER_DEFAULT) == ()
        await core.ok(uid_item(Operation.ACTIVATE, a))
        await core.ok(uid_item(Operation.ACTIVATE, b))
        assert await found(core, group, object_group_member=ObjectGroupMember.GROUP_MEMBER_DEFAULT) == (b,)

    run_core(tmp_path, scenario)


def test_offset_and_maximum_items(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uids = [await create_aes(core) for _ in range(5)]
        page = await core.ok(locate(offset_items=1, maximum_items=2))
        assert page.unique_identifiers == tuple(uids[1:3])
        assert page.located_items == 5
        assert (await core.ok(locate(offset_items=4))).unique_identifiers == (uids[4],)
        assert (await core.ok(locate(offset_items=9))).unique_identifiers == ()
        none = await core.ok(locate(maximum_items=0))
        assert (none.unique_identifiers, none.located_items) == ((), 5)
        await failed(core, locate(maximum_items=-1), ResultReason.INVALID_FIELD)
        await failed(core, locate(offset_items=-1), ResultReason.INVALID_FIELD)
        # KMIP 1.2 has no Offset Items or Located Items.
        old = await core.send(locate(maximum_items=2), version=(1, 2))
        payload = payload_any(old.batch_items[0])
        assert (payload.unique_identifiers, payload.located_items) == (tuple(uids[:2]), None)

    run_core(tmp_path, scenario)


def test_the_internal_maximum_reports_located_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate_module, "MAX_LOCATED", 3)

    async def scenario(core: Core) -> None:
        uids = [await create_aes(core) for _ in range(4)]
        payload = await core.ok(locate())
        assert payload.unique_identifiers == tuple(uids[:3])
        assert payload.located_items == 4
        assert (await core.ok(locate(maximum_items=10))).unique_identifiers == tuple(uids[:3])

    run_core(tmp_path, scenario)


def test_storage_status_mask(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        on_line = StorageStatusMask.ON_LINE_STORAGE
        assert await found(core, storage_status_mask=on_line) == (uid,)
        assert await found(core, storage_status_mask=on_line | StorageStatusMask.ARCHIVAL_STORAGE) == (uid,)
        assert await found(core, storage_status_mask=StorageStatusMask.ARCHIVAL_STORAGE) == ()

    run_core(tmp_path, scenario)


def test_attributes_of_later_versions_are_invalid_field(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core, extra=(attribute("Description", "d"),))
        assert len(await found(core, attribute("Description", "d"))) == 1
        answer = await core.one(locate(attribute("Description", "d")), version=(1, 2))
        assert answer.result_reason is ResultReason.INVALID_FIELD

    run_core(tmp_path, scenario)


def test_another_tenants_objects_are_never_located(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"), name="shared name")
        mine = await create_aes(core, name="shared name")
        assert await found(core, name("shared name")) == (mine,)
        assert await found(core, attribute("Unique Identifier", theirs)) == ()
        assert await found(core) == (mine,)
        assert await found(core, peer=tenant("tenant-b")) == (theirs,)

    run_core(tmp_path, scenario)


def test_revoked_keys_are_found_by_their_state(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        reason = RevocationReason(revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE)
        await core.ok(
            batch_item(
                Operation.REVOKE, RevokeRequestPayload(unique_identifier=uid, revocation_reason=reason)
            )
        )
        assert await found(core, attribute("State", State.COMPROMISED)) == (uid,)
        assert await found(core, attribute("State", State.ACTIVE)) == ()

    run_core(tmp_path, scenario)


def test_value_matches_partial_structures() -> None:
    full = Link(link_type=LinkType.PARENT_LINK, linked_object_identifier="p")
    assert value_matches(Link(link_type=None, linked_object_identifier="p"), full)  # type: ignore[arg-type]
    assert value_matches(Link(link_type=LinkType.PARENT_LINK, linked_object_identifier=None), full)  # type: ignore[arg-type]
    assert not value_matches(Link(link_type=LinkType.CHILD_LINK, linked_object_identifier=None), full)  # type: ignore[arg-type]
    assert not value_matches(Name(name_value="p", name_type=None), full)  # type: ignore[arg-type]
    assert value_matches(None, full)
    assert not value_matches("a", "b")


def test_create_then_locate_in_one_batch(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(create_item(aes_template(name="batched")), locate(name("batched")))
        created, located = response.batch_items
        assert payload_any(located).unique_identifiers == (payload_any(created).unique_identifier,)

    run_core(tmp_path, scenario)
