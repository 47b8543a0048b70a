"""Obtain Lease (4.17): the lease is the object's Lease Time (ObjectSettings.lease_time at
creation, 3.20), 0 when it has none; Last Change Date in the answer; 11.18's refusals by state
and object type; the ID Placeholder; the setting in the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from kmip.core.enums import Operation as PkOperation
from kmip.core.messages.payloads import ObtainLeaseRequestPayload as PykmipObtainLease

from kmip_server.config import parse_config
from kmip_server.model import (
    KeyBlock,
    KeyValue,
    ObtainLeaseRequestPayload,
    ObtainLeaseResponsePayload,
    RegisterRequestPayload,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
    SecretData,
    TemplateAttribute,
    response_from_bytes,
)
from kmip_server.objects import DEFAULT_LEASE_TIME, ObjectSettings, first_value
from kmip_server.operations import REGISTRY
from kmip_server.operations.obtain_lease import LEASE_REFUSALS
from tests.support import pykmip_corpus as corpus
from tests.unit.engine.support import (
    NOW,
    Core,
    batch_item,
    create_aes,
    create_item,
    payload_of,
    run_core,
    tenant,
    uid_item,
)
from tests.unit.operations.attribute_support import (
    add,
    attribute,
    check,
    failed,
    locate,
    name,
    register_opaque,
)
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    SecretDataType,
    State,
)


def obtain_lease(uid: str | None) -> RequestBatchItem:
    return batch_item(Operation.OBTAIN_LEASE, ObtainLeaseRequestPayload(unique_identifier=uid))


def revoke(uid: str, code: RevocationReasonCode) -> RequestBatchItem:
    reason = RevocationReason(revocation_reason_code=code)
    return batch_item(Operation.REVOKE, RevokeRequestPayload(unique_identifier=uid, revocation_reason=reason))


async def lease(core: Core, uid: str) -> ObtainLeaseResponsePayload:
    return payload_of(await core.one(obtain_lease(uid)), ObtainLeaseResponsePayload)


def test_every_state_has_its_row() -> None:
    assert set(LEASE_REFUSALS) == set(State)
    assert LEASE_REFUSALS[State.ACTIVE] is None
    assert LEASE_REFUSALS[State.PRE_ACTIVE] is not None
    assert Operation.OBTAIN_LEASE in REGISTRY


def test_an_active_key_is_leased_for_its_lease_time(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        answer = await lease(core, uid)
        assert answer == ObtainLeaseResponsePayload(
            unique_identifier=uid, lease_time=DEFAULT_LEASE_TIME, last_change_date=NOW
        )
        # The Last Change Date tells the client its cached attributes are stale.
        core.clock[0] = NOW + 100
        await core.ok(add(uid, attribute("Contact Information", "ops")))
        assert (await lease(core, uid)).last_change_date == NOW + 100
        # Obtaining a lease changes nothing.
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert first_value(record.attributes, "Last Change Date") == NOW + 100

    run_core(tmp_path, scenario)


def test_leases_by_state(tmp_path: Path) -> None:
    """11.18: no lease for an object that may not be used at all (Pre-Active, destroyed); a
    Deactivated or Compromised one may still process data (3.22) and is leased."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        refused = await failed(core, obtain_lease(uid), ResultReason.PERMISSION_DENIED)
        assert "Pre-Active" in (refused.result_message or "")
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        await core.ok(revoke(uid, RevocationReasonCode.CESSATION_OF_OPERATION))
        assert (await lease(core, uid)).lease_time == DEFAULT_LEASE_TIME
        await core.ok(revoke(uid, RevocationReasonCode.KEY_COMPROMISE))
        assert (await lease(core, uid)).lease_time == DEFAULT_LEASE_TIME
        await core.ok(uid_item(Operation.DESTROY, uid))
        await failed(core, obtain_lease(uid), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_an_activation_date_that_passed_makes_it_leasable(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(attribute("Activation Date", NOW + 10),))
        await failed(core, obtain_lease(uid), ResultReason.PERMISSION_DENIED)
        core.clock[0] = NOW + 10
        assert (await lease(core, uid)).lease_time == DEFAULT_LEASE_TIME

    run_core(tmp_path, scenario)


@pytest.mark.parametrize("setting", [None, 0])
def test_no_lease_time_is_a_lease_without_limit(tmp_path: Path, setting: int | None) -> None:
    """4.17: a lease of zero means no lease interval is effective."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        assert (await lease(core, uid)).lease_time == 0

    run_core(tmp_path, scenario, object_settings=ObjectSettings(lease_time=setting))


def test_objects_keep_the_lease_time_they_were_created_with(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        assert (await lease(core, uid)).lease_time == 120

    run_core(tmp_path, scenario, object_settings=ObjectSettings(lease_time=120))


def test_registered_cryptographic_objects_are_leased_opaque_ones_are_not(tmp_path: Path) -> None:
    """3.20 applies to All Cryptographic Objects: Secret Data yes, Opaque Objects no."""

    async def scenario(core: Core) -> None:
        secret = SecretData(
            secret_data_type=SecretDataType.PASSWORD,
            key_block=KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=b"pw")),
        )
        payload = await core.ok(
            batch_item(
                Operation.REGISTER,
                RegisterRequestPayload(
                    object_type=ObjectType.SECRET_DATA,
                    template_attribute=TemplateAttribute(),
                    managed_object=secret,
                ),
            )
        )
        await core.ok(uid_item(Operation.ACTIVATE, payload.unique_identifier))
        assert (await lease(core, payload.unique_identifier)).lease_time == DEFAULT_LEASE_TIME
        opaque = await register_opaque(core)
        record = await core.store.get("tenant-a", opaque)
        assert record is not None
        assert first_value(record.attributes, "Lease Time") is None
        refused = await failed(core, obtain_lease(opaque), ResultReason.PERMISSION_DENIED)
        assert "not a cryptographic object" in (refused.result_message or "")

    run_core(tmp_path, scenario)


def test_unknown_and_foreign_objects_are_not_found(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"))
        await core.ok(uid_item(Operation.ACTIVATE, theirs), tenant("tenant-b"))
        foreign = await failed(core, obtain_lease(theirs), ResultReason.ITEM_NOT_FOUND)
        unknown = await failed(core, obtain_lease("no-such-object"), ResultReason.ITEM_NOT_FOUND)
        assert foreign.result_message == unknown.result_message

    run_core(tmp_path, scenario)


def test_locate_check_then_obtain_lease_in_one_batch(tmp_path: Path) -> None:
    """4.10: Locate, Check with a Lease Time, then the batched Obtain Lease, both on the ID
    Placeholder; a Check that fails stops the batch before the lease."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="leased")
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        response = await core.send(locate(name("leased")), check(None, lease_time=600), obtain_lease(None))
        assert [item.result_status for item in response.batch_items] == [ResultStatus.SUCCESS] * 3
        granted = payload_of(response.batch_items[2], ObtainLeaseResponsePayload)
        assert (granted.unique_identifier, granted.lease_time) == (uid, DEFAULT_LEASE_TIME)
        response = await core.send(
            locate(name("leased")),
            check(None, lease_time=DEFAULT_LEASE_TIME + 1),
            obtain_lease(None),
            batch_error_continuation_option=BatchErrorContinuationOption.STOP,
        )
        reasons = [item.result_reason for item in response.batch_items]
        assert reasons == [None, ResultReason.PERMISSION_DENIED]
        # A new key's placeholder: Create, then Obtain Lease of the still Pre-Active key fails.
        response = await core.send(
            create_item(),
            obtain_lease(None),
            batch_error_continuation_option=BatchErrorContinuationOption.CONTINUE,
        )
        assert response.batch_items[1].result_reason is ResultReason.PERMISSION_DENIED

    run_core(tmp_path, scenario)


def test_the_lease_time_is_configured_in_objects(tmp_path: Path) -> None:
    config = parse_config({"objects": {"lease_time": 900}}, base_dir=tmp_path, environ={})
    assert config.objects.lease_time == 900
    assert parse_config({}, base_dir=tmp_path, environ={}).objects.lease_time == DEFAULT_LEASE_TIME
    from_environment = parse_config({}, base_dir=tmp_path, environ={"OPENKCM_OBJECTS__LEASE_TIME": "0"})
    assert from_environment.objects.lease_time == 0


@pytest.mark.parametrize("version", [(1, 2), (1, 4)])
def test_a_pykmip_request(tmp_path: Path, version: tuple[int, int]) -> None:
    """An independent peer writes the request: PyKMIP 0.11's Obtain Lease payload (its parser
    does not implement the response payload, so the answer is read with our model)."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        request = [(PkOperation.OBTAIN_LEASE, PykmipObtainLease(uid), None)]
        data = corpus.write_message(corpus._request(version, request), version)
        answer = await core.engine.handle(data, tenant("tenant-a"))
        assert answer is not None
        response = response_from_bytes(answer)
        assert response.response_header.protocol_version.minor == version[1]
        granted = payload_of(response.batch_items[0], ObtainLeaseResponsePayload)
        assert granted == ObtainLeaseResponsePayload(
            unique_identifier=uid, lease_time=DEFAULT_LEASE_TIME, last_change_date=NOW
        )

    run_core(tmp_path, scenario)
