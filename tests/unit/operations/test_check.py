"""Check (4.10): usage mask against mask, state and dates; usage limits; lease time; the
refusal (Permission Denied, ID Placeholder emptied) and 11.11's other errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmip_server.model import (
    CheckResponsePayload,
    GetRequestPayload,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
    UsageLimits,
)
from kmip_server.objects import ObjectSettings
from kmip_server.operations.check import PROCESSING_USAGES, USAGES_BY_STATE
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
from tests.unit.operations.attribute_support import attribute, check, failed, register_opaque
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    CryptographicUsageMask,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    State,
)

U = CryptographicUsageMask


def revoke(uid: str, code: RevocationReasonCode) -> RequestBatchItem:
    reason = RevocationReason(revocation_reason_code=code)
    return batch_item(Operation.REVOKE, RevokeRequestPayload(unique_identifier=uid, revocation_reason=reason))


def test_every_state_has_its_usages() -> None:
    assert set(USAGES_BY_STATE) == set(State)
    assert not USAGES_BY_STATE[State.PRE_ACTIVE]
    assert U.ENCRYPT in USAGES_BY_STATE[State.ACTIVE]
    assert U.ENCRYPT not in PROCESSING_USAGES
    assert U.DECRYPT in USAGES_BY_STATE[State.COMPROMISED]


def test_an_allowed_use_answers_the_unique_identifier(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        payload = await core.ok(check(uid, cryptographic_usage_mask=U.ENCRYPT))
        assert isinstance(payload, CheckResponsePayload)
        assert payload.unique_identifier == uid
        assert payload.cryptographic_usage_mask is None
        assert (await core.ok(check(uid))).unique_identifier == uid  # nothing asked: nothing refused

    run_core(tmp_path, scenario)


def test_a_usage_outside_the_mask_is_permission_denied_and_empties_the_placeholder(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        answer = await failed(
            core, check(uid, cryptographic_usage_mask=U.WRAP_KEY), ResultReason.PERMISSION_DENIED
        )
        assert "Cryptographic Usage Mask" in (answer.result_message or "")
        response = await core.send(
            create_item(aes_template()),
            check(None, cryptographic_usage_mask=U.ENCRYPT),  # Pre-Active: refused
            batch_item(Operation.GET, GetRequestPayload()),
            batch_error_continuation_option=BatchErrorContinuationOption.CONTINUE,
        )
        created, checked, got = response.batch_items
        assert created.result_status is ResultStatus.SUCCESS
        assert checked.result_reason is ResultReason.PERMISSION_DENIED
        assert got.result_reason is ResultReason.MISSING_DATA  # the placeholder was emptied

    run_core(tmp_path, scenario)


def test_batched_after_create_and_activate_then_get(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(aes_template()),
            uid_item(Operation.ACTIVATE),
            check(None, cryptographic_usage_mask=U.ENCRYPT | U.DECRYPT),
            batch_item(Operation.GET, GetRequestPayload()),
        )
        assert [item.result_status for item in response.batch_items] == [ResultStatus.SUCCESS] * 4

    run_core(tmp_path, scenario)


def test_the_state_decides_protection_and_processing(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        deactivated = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, deactivated))
        await core.ok(revoke(deactivated, RevocationReasonCode.SUPERSEDED))
        await core.ok(check(deactivated, cryptographic_usage_mask=U.DECRYPT))
        await failed(
            core, check(deactivated, cryptographic_usage_mask=U.ENCRYPT), ResultReason.PERMISSION_DENIED
        )
        await failed(
            core,
            check(deactivated, cryptographic_usage_mask=U.ENCRYPT | U.DECRYPT),
            ResultReason.PERMISSION_DENIED,
        )
        compromised = await create_aes(core)
        await core.ok(revoke(compromised, RevocationReasonCode.KEY_COMPROMISE))
        await core.ok(check(compromised, cryptographic_usage_mask=U.DECRYPT))
        await failed(
            core, check(compromised, cryptographic_usage_mask=U.ENCRYPT), ResultReason.PERMISSION_DENIED
        )
        await core.ok(uid_item(Operation.DESTROY, compromised))
        await failed(
            core, check(compromised, cryptographic_usage_mask=U.DECRYPT), ResultReason.PERMISSION_DENIED
        )

    run_core(tmp_path, scenario)


def test_process_start_and_protect_stop_dates(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(
            core,
            extra=(
                attribute("Activation Date", NOW),
                attribute("Process Start Date", NOW + 10),
                attribute("Protect Stop Date", NOW + 20),
            ),
        )
        await core.ok(check(uid, cryptographic_usage_mask=U.ENCRYPT))
        await failed(core, check(uid, cryptographic_usage_mask=U.DECRYPT), ResultReason.PERMISSION_DENIED)
        core.clock[0] = NOW + 15
        await core.ok(check(uid, cryptographic_usage_mask=U.ENCRYPT | U.DECRYPT))
        core.clock[0] = NOW + 21
        await core.ok(check(uid, cryptographic_usage_mask=U.DECRYPT))
        await failed(core, check(uid, cryptographic_usage_mask=U.ENCRYPT), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_usage_limits_count(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        limited = await create_aes(
            core, extra=(attribute("Usage Limits", UsageLimits(usage_limits_total=100)),)
        )
        await core.ok(check(limited, usage_limits_count=100))
        answer = await failed(core, check(limited, usage_limits_count=101), ResultReason.PERMISSION_DENIED)
        assert "Usage Limits Count" in (answer.result_message or "")
        unlimited = await create_aes(core)
        await core.ok(check(unlimited, usage_limits_count=10**12))

    run_core(tmp_path, scenario)


def test_lease_time_at_most_the_objects(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await core.ok(check(uid, lease_time=3600))
        answer = await failed(
            core,
            check(uid, lease_time=3601, cryptographic_usage_mask=U.SIGN),  # both refused
            ResultReason.PERMISSION_DENIED,
        )
        assert "Cryptographic Usage Mask, Lease Time" in (answer.result_message or "")

    run_core(tmp_path, scenario)  # the default Lease Time: 3600 s


def test_a_lease_only_where_obtain_lease_grants_one(tmp_path: Path) -> None:
    """4.10: the Lease Time checked is one a batched Obtain Lease would grant, so a Pre-Active or
    destroyed key fails it; a Deactivated one (it may still decrypt) passes."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        answer = await failed(core, check(uid, lease_time=60), ResultReason.PERMISSION_DENIED)
        assert (answer.result_message or "").endswith("Lease Time")
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await core.ok(check(uid, lease_time=60))
        await core.ok(revoke(uid, RevocationReasonCode.CESSATION_OF_OPERATION))
        await core.ok(check(uid, lease_time=60))
        await core.ok(uid_item(Operation.DESTROY, uid))
        await failed(core, check(uid, lease_time=60), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


@pytest.mark.parametrize("lease_time", [None, 0])
def test_no_lease_time_no_lease_limit(tmp_path: Path, lease_time: int | None) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await core.ok(check(uid, lease_time=10**6))

    run_core(tmp_path, scenario, object_settings=ObjectSettings(lease_time=lease_time))


def test_opaque_objects_cannot_be_checked(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_opaque(core)
        await failed(core, check(uid, cryptographic_usage_mask=U.ENCRYPT), ResultReason.ILLEGAL_OPERATION)

    run_core(tmp_path, scenario)


def test_another_tenants_object_is_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"))
        other = await failed(core, check(theirs), ResultReason.ITEM_NOT_FOUND)
        missing = await failed(core, check("absent"), ResultReason.ITEM_NOT_FOUND)
        assert other.result_message == missing.result_message

    run_core(tmp_path, scenario)
