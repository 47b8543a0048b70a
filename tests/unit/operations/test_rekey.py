"""Re-key (4.4): the replacement's key and attributes (Tables 172 and 173), the links between
the two keys, names moving, the ID Placeholder, undo, and 11.5's refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kmip_server.errors import ConcurrentModification, PermissionDenied
from kmip_server.model import (
    Attribute,
    GetRequestPayload,
    KeyBlock,
    KeyValue,
    Link,
    RegisterRequestPayload,
    ReKeyRequestPayload,
    ReKeyResponsePayload,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
    SecretData,
    TemplateAttribute,
    UsageLimits,
)
from kmip_server.operations import rekey as rekey_operation
from kmip_server.operations.attribute_change import MAX_ATTEMPTS
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
    attribute,
    custom,
    failed,
    locate,
    name,
    payload_any,
    shown,
)
from tests.unit.operations.racing import RacingStore, RecordingStore, racing_context, with_attributes
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    SecretDataType,
    State,
)


def rekey(uid: str | None, offset: int | None = None, *template: Attribute) -> RequestBatchItem:
    return batch_item(
        Operation.RE_KEY,
        ReKeyRequestPayload(
            unique_identifier=uid,
            offset=offset,
            template_attribute=TemplateAttribute(attributes=template) if template else None,
        ),
    )


async def key_bytes(core: Core, uid: str) -> bytes:
    payload = await core.ok(batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)))
    material: bytes = payload.managed_object.key_block.key_value.key_material
    return material


async def values(core: Core, uid: str) -> dict[str, list[object]]:
    return {n: [a.value for a in instances] for n, instances in (await shown(core, uid)).items()}


def test_the_replacement_takes_over(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old = await create_aes(
            core,
            name="payroll",
            extra=(
                attribute("Activation Date", NOW),
                attribute("Usage Limits", UsageLimits(usage_limits_total=1000)),
                custom("x-owner", "team-7"),
                attribute("Object Group", "payroll-keys"),
                attribute("Contact Information", "ops"),
            ),
        )
        core.clock[0] = NOW + 60
        payload = await core.ok(rekey(old))
        assert isinstance(payload, ReKeyResponsePayload)
        new = payload.unique_identifier
        assert new != old
        old_bytes, new_bytes = await key_bytes(core, old), await key_bytes(core, new)
        assert len(new_bytes) == 32
        assert new_bytes != old_bytes

        mine = await values(core, new)
        assert mine["State"] == [State.ACTIVE]  # Activation Date copied, and it has passed
        assert mine["Activation Date"] == [NOW]
        assert (
            mine["Initial Date"] == mine["Last Change Date"] == mine["Original Creation Date"] == [NOW + 60]
        )
        assert mine["Cryptographic Algorithm"] == [CryptographicAlgorithm.AES]
        assert mine["Cryptographic Length"] == [256]
        assert [n.name_value for n in mine["Name"]] == ["payroll"]  # type: ignore[attr-defined]
        assert mine["Link"] == [Link(link_type=LinkType.REPLACED_OBJECT_LINK, linked_object_identifier=old)]
        assert mine["Usage Limits"] == [UsageLimits(usage_limits_total=1000, usage_limits_count=1000)]
        assert mine["x-owner"][0].value == "team-7"  # type: ignore[attr-defined]
        assert mine["Object Group"] == ["payroll-keys"]
        assert mine["Contact Information"] == ["ops"]
        assert mine["Fresh"] == [False]  # served by the Get above
        assert "Random Number Generator" in mine
        digest = mine["Digest"][0]
        assert digest.digest_value == hashlib.sha256(new_bytes).digest()  # type: ignore[attr-defined]

        theirs = await values(core, old)
        assert "Name" not in theirs
        assert theirs["State"] == [State.ACTIVE]  # unchanged
        assert theirs["Link"] == [
            Link(link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier=new)
        ]
        assert theirs["Last Change Date"] == [NOW + 60]
        assert (await core.ok(locate(name("payroll")))).unique_identifiers == (new,)

    run_core(tmp_path, scenario)


def test_a_compromised_key_leaves_its_compromise_behind(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old = await create_aes(core, name="leaked")
        reason = RevocationReason(revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE)
        await core.ok(
            batch_item(
                Operation.REVOKE, RevokeRequestPayload(unique_identifier=old, revocation_reason=reason)
            )
        )
        new = (await core.ok(rekey(old))).unique_identifier
        mine = await values(core, new)
        assert mine["State"] == [State.PRE_ACTIVE]
        for gone in ("Compromise Date", "Compromise Occurrence Date", "Revocation Reason", "Destroy Date"):
            assert gone not in mine
        assert (await values(core, old))["State"] == [State.COMPROMISED]

    run_core(tmp_path, scenario)


def test_offset_shifts_the_dates(tmp_path: Path) -> None:
    """Table 172."""

    async def scenario(core: Core) -> None:
        old = await create_aes(
            core,
            extra=(
                attribute("Activation Date", NOW + 100),
                attribute("Process Start Date", NOW + 150),
                attribute("Protect Stop Date", NOW + 400),
                attribute("Deactivation Date", NOW + 500),
            ),
        )
        core.clock[0] = NOW + 1000
        new = (await core.ok(rekey(old, 50))).unique_identifier
        mine = await values(core, new)
        shift = (NOW + 1050) - (NOW + 100)
        assert mine["Initial Date"] == [NOW + 1000]
        assert mine["Activation Date"] == [NOW + 1050]
        assert mine["Process Start Date"] == [NOW + 150 + shift]
        assert mine["Protect Stop Date"] == [NOW + 400 + shift]
        assert mine["Deactivation Date"] == [NOW + 500 + shift]
        assert mine["State"] == [State.PRE_ACTIVE]
        core.clock[0] = NOW + 1050
        assert (await values(core, new))["State"] == [State.ACTIVE]

    run_core(tmp_path, scenario)


def test_without_offset_the_dates_are_copied(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old = await create_aes(
            core, extra=(attribute("Activation Date", NOW + 100), attribute("Deactivation Date", NOW + 200))
        )
        core.clock[0] = NOW + 300
        new = (await core.ok(rekey(old))).unique_identifier
        mine = await values(core, new)
        assert (mine["Activation Date"], mine["Deactivation Date"]) == ([NOW + 100], [NOW + 200])
        assert mine["State"] == [State.DEACTIVATED]  # both dates have passed (3.22 transition 1)

    run_core(tmp_path, scenario)


def test_offset_refusals(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        plain = await create_aes(core)
        await failed(core, rekey(plain, 10, attribute("Activation Date", NOW)), ResultReason.INVALID_MESSAGE)
        await failed(
            core, rekey(plain, 10, attribute("Deactivation Date", NOW + 9)), ResultReason.INVALID_MESSAGE
        )
        # Only an Activation Date to compute: fine.
        new = (await core.ok(rekey(plain, 10))).unique_identifier
        assert (await values(core, new))["Activation Date"] == [NOW + 10]
        undated = await create_aes(core, extra=(attribute("Deactivation Date", NOW + 9),))
        await failed(core, rekey(undated, 10), ResultReason.ILLEGAL_OPERATION)

    run_core(tmp_path, scenario)


def test_a_template_overrides_and_a_template_name_leaves_the_old_names(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core, name="in use")
        old = await create_aes(core, name="old name", extra=(attribute("Contact Information", "old"),))
        await failed(core, rekey(old, None, name("in use")), ResultReason.INVALID_FIELD)
        await failed(
            core, rekey(old, None, attribute("Cryptographic Length", 128)), ResultReason.INVALID_FIELD
        )
        new = (
            await core.ok(rekey(old, None, name("new name"), attribute("Contact Information", "new")))
        ).unique_identifier
        mine = await values(core, new)
        assert [n.name_value for n in mine["Name"]] == ["new name"]  # type: ignore[attr-defined]
        assert mine["Contact Information"] == ["new"]
        assert [n.name_value for n in (await values(core, old))["Name"]] == ["old name"]  # type: ignore[attr-defined]

    run_core(tmp_path, scenario)


def test_keys_that_cannot_be_rekeyed(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        secret = await core.ok(
            batch_item(
                Operation.REGISTER,
                RegisterRequestPayload(
                    object_type=ObjectType.SECRET_DATA,
                    template_attribute=TemplateAttribute(),
                    managed_object=SecretData(
                        secret_data_type=SecretDataType.PASSWORD,
                        key_block=KeyBlock(
                            key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=b"pw")
                        ),
                    ),
                ),
            )
        )
        await failed(core, rekey(secret.unique_identifier), ResultReason.PERMISSION_DENIED)
        destroyed = await create_aes(core)
        await core.ok(uid_item(Operation.DESTROY, destroyed))
        await failed(core, rekey(destroyed), ResultReason.KEY_VALUE_NOT_PRESENT)
        once = await create_aes(core)
        await core.ok(rekey(once))
        await failed(core, rekey(once), ResultReason.PERMISSION_DENIED)  # one replacement per key (3.35)

    run_core(tmp_path, scenario)


def test_the_id_placeholder_in_and_out(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(aes_template(name="batch")), rekey(None), uid_item(Operation.ACTIVATE)
        )
        created, rekeyed, activated = response.batch_items
        assert [i.result_status for i in response.batch_items] == [ResultStatus.SUCCESS] * 3
        new = payload_any(rekeyed).unique_identifier
        assert payload_any(activated).unique_identifier == new
        assert (await values(core, new))["State"] == [State.ACTIVE]
        assert (await values(core, payload_any(created).unique_identifier))["State"] == [State.PRE_ACTIVE]

    run_core(tmp_path, scenario)


def test_undo_puts_the_old_key_back_and_drops_the_new(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old = await create_aes(core, name="kept")
        before = await core.store.get("tenant-a", old)
        response = await core.send(
            rekey(old),
            uid_item(Operation.DESTROY, "absent"),
            batch_error_continuation_option=BatchErrorContinuationOption.UNDO,
        )
        assert [i.result_status for i in response.batch_items] == [
            ResultStatus.OPERATION_UNDONE,
            ResultStatus.OPERATION_FAILED,
        ]
        after = await core.store.get("tenant-a", old)
        assert after is not None
        assert before is not None
        assert after.attributes == before.attributes
        assert (await core.ok(locate())).unique_identifiers == (old,)

    run_core(tmp_path, scenario)


def test_another_tenants_key_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"), name="theirs")
        other = await failed(core, rekey(theirs), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, rekey("absent"), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message
        assert (await core.ok(locate(), tenant("tenant-b"))).unique_identifiers == (theirs,)

    run_core(tmp_path, scenario)


# -- A concurrent change of the existing key ---------------------------------------------------


def test_a_concurrent_change_of_the_existing_key_is_retried(tmp_path: Path) -> None:
    """The replacement derived from a stale copy is dropped and Re-key starts over: the one
    replacement left inherits the competitor's change, which the existing key keeps too."""

    async def scenario(core: Core) -> None:
        old = await create_aes(core, name="raced")
        competitor = custom("x-competitor", "won")
        store = RacingStore(core.store, lambda record: with_attributes(record, competitor), races=1)
        answer = await rekey_operation.handle(
            racing_context(core, store), ReKeyRequestPayload(unique_identifier=old)
        )
        assert store.replaces == 2
        new = answer.unique_identifier
        assert set(core.store._records) == {old, new}  # the first attempt's replacement is gone
        existing = await values(core, old)
        assert "x-competitor" in existing
        assert "Name" not in existing
        replacement_link = Link(link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier=new)
        assert existing["Link"] == [replacement_link]
        replacement = await values(core, new)
        assert "x-competitor" in replacement
        assert [n.name_value for n in replacement["Name"]] == ["raced"]  # type: ignore[attr-defined]

    run_core(tmp_path, scenario)


def test_a_writer_that_always_wins_is_a_concurrent_modification(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old = await create_aes(core, name="contended")
        before = await core.store.get("tenant-a", old)
        store = RacingStore(core.store, lambda record: record, races=MAX_ATTEMPTS)
        with pytest.raises(ConcurrentModification):
            await rekey_operation.handle(
                racing_context(core, store), ReKeyRequestPayload(unique_identifier=old)
            )
        assert store.replaces == MAX_ATTEMPTS
        assert set(core.store._records) == {old}  # no replacement left behind
        after = await core.store.get("tenant-a", old)
        assert before is not None
        assert after is not None
        assert after.attributes == before.attributes

    run_core(tmp_path, scenario)


def test_losing_to_another_rekey_is_permission_denied(tmp_path: Path) -> None:
    """3.35: one replacement per object. When another Re-key wins the race, the retry sees its
    Replacement Object Link and refuses; nothing of ours is left."""

    async def scenario(core: Core) -> None:
        old = await create_aes(core)
        winner = Link(link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier="the-winner")
        store = RacingStore(
            core.store, lambda record: with_attributes(record, attribute("Link", winner)), races=1
        )
        with pytest.raises(PermissionDenied):
            await rekey_operation.handle(
                racing_context(core, store), ReKeyRequestPayload(unique_identifier=old)
            )
        assert set(core.store._records) == {old}

    run_core(tmp_path, scenario)


def test_the_replacement_and_the_existing_keys_update_are_one_write(tmp_path: Path) -> None:
    """Regression: they were two transactions, and a SIGKILL between them left the Name on both
    keys (tests/integration/test_durability.py). One write_many now: both or neither."""

    async def scenario(core: Core) -> None:
        old = await create_aes(core, name="moved")
        store = RecordingStore(core.store)
        answer = await rekey_operation.handle(
            racing_context(core, store), ReKeyRequestPayload(unique_identifier=old)
        )
        assert store.writes == [("write_many", (answer.unique_identifier,), (old,))]
        assert (await core.ok(locate(name("moved")))).unique_identifiers == (answer.unique_identifier,)

    run_core(tmp_path, scenario)
