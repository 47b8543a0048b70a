"""Activate (4.19), Revoke (4.20), Destroy (4.21): transitions, the dates they set, the errors
of 11.20-11.22, and destroyed objects keeping their attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kmip_server.attribute_policy import presented
from kmip_server.model import (
    Attribute,
    GetRequestPayload,
    OpaqueObject,
    RegisterRequestPayload,
    RevocationReason,
    RevokeRequestPayload,
    TemplateAttribute,
)
from tests.unit.engine.support import NOW, Core, batch_item, create_aes, run_core, uid_item
from ttlv.kmip14 import ObjectType, Operation, ResultReason, ResultStatus, RevocationReasonCode, State


def revoke(uid: str, code: RevocationReasonCode, occurred: int | None = None) -> Any:
    return batch_item(
        Operation.REVOKE,
        RevokeRequestPayload(
            unique_identifier=uid,
            revocation_reason=RevocationReason(revocation_reason_code=code, revocation_message="test"),
            compromise_occurrence_date=occurred,
        ),
    )


async def attributes(core: Core, uid: str) -> dict[str, Any]:
    record = await core.store.get("tenant-a", uid)
    assert record is not None
    return {a.name: a.value for a in presented(record)}


def test_sklc_m_2_sequence(tmp_path: Path) -> None:
    """SKLC-M-2-14 without its Get Attributes: Create, Activate, Destroy refused, Revoke
    (Key Compromise, occurrence 1970-01-01T00:00:06), Destroy."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKLC-M-2-14")
        core.clock[0] = NOW + 10
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        shown = await attributes(core, uid)
        assert shown["State"] is State.ACTIVE
        assert shown["Activation Date"] == NOW + 10
        assert shown["Last Change Date"] == NOW + 10
        assert "Deactivation Date" not in shown

        denied = await core.one(uid_item(Operation.DESTROY, uid))
        assert (denied.result_status, denied.result_reason) == (
            ResultStatus.OPERATION_FAILED,
            ResultReason.PERMISSION_DENIED,
        )

        core.clock[0] = NOW + 20
        await core.ok(revoke(uid, RevocationReasonCode.KEY_COMPROMISE, occurred=6))
        shown = await attributes(core, uid)
        assert shown["State"] is State.COMPROMISED
        assert shown["Compromise Date"] == NOW + 20
        assert shown["Compromise Occurrence Date"] == 6
        assert shown["Revocation Reason"].revocation_reason_code is RevocationReasonCode.KEY_COMPROMISE

        core.clock[0] = NOW + 30
        await core.ok(uid_item(Operation.DESTROY, uid))
        shown = await attributes(core, uid)
        assert shown["State"] is State.DESTROYED_COMPROMISED
        assert shown["Destroy Date"] == NOW + 30
        # Destroyed objects keep every attribute, but not their key material.
        for name in (
            "Name",
            "Digest",
            "Cryptographic Algorithm",
            "Initial Date",
            "Activation Date",
            "Compromise Date",
        ):
            assert name in shown
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert record.material is None
        again = await core.one(uid_item(Operation.DESTROY, uid))
        assert again.result_reason is ResultReason.PERMISSION_DENIED

    run_core(tmp_path, scenario)


def test_revoke_with_other_reasons_deactivates_active_objects_only(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        refused = await core.one(revoke(uid, RevocationReasonCode.CESSATION_OF_OPERATION))
        assert refused.result_reason is ResultReason.ILLEGAL_OPERATION
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        core.clock[0] = NOW + 5
        await core.ok(revoke(uid, RevocationReasonCode.SUPERSEDED))
        shown = await attributes(core, uid)
        assert shown["State"] is State.DEACTIVATED
        assert shown["Deactivation Date"] == NOW + 5
        assert "Compromise Date" not in shown
        # Deactivated objects still serve their key (for processing protected data), and can go.
        assert (
            await core.one(batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)))
        ).result_status is (ResultStatus.SUCCESS)
        await core.ok(uid_item(Operation.DESTROY, uid))
        assert (await attributes(core, uid))["State"] is State.DESTROYED
        # Destroyed -> Destroyed Compromised (3.22 transition 10); the occurrence date
        # defaults to the Initial Date.
        await core.ok(revoke(uid, RevocationReasonCode.KEY_COMPROMISE))
        shown = await attributes(core, uid)
        assert shown["State"] is State.DESTROYED_COMPROMISED
        assert shown["Compromise Occurrence Date"] == shown["Initial Date"] == NOW

    run_core(tmp_path, scenario)


def test_refusals(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        twice = await core.one(uid_item(Operation.ACTIVATE, uid))
        assert twice.result_reason is ResultReason.PERMISSION_DENIED  # 11.20: not Pre-Active
        odd = await core.one(revoke(uid, RevocationReasonCode.UNSPECIFIED, occurred=5))
        assert odd.result_reason is ResultReason.INVALID_FIELD  # no occurrence date without compromise
        assert (await attributes(core, uid))["State"] is State.ACTIVE
        opaque = await core.ok(
            batch_item(
                Operation.REGISTER,
                RegisterRequestPayload(
                    object_type=ObjectType.OPAQUE_OBJECT,
                    template_attribute=TemplateAttribute(),
                    managed_object=OpaqueObject(opaque_data_type=0x80000001, opaque_data_value=b"x"),  # type: ignore[arg-type]
                ),
            )
        )
        cannot = await core.one(uid_item(Operation.ACTIVATE, opaque.unique_identifier))
        assert cannot.result_reason is ResultReason.ILLEGAL_OPERATION  # 11.20: not able to be activated
        # OMOS-M-1-14: an opaque object can be destroyed, and has no State attribute to show.
        await core.ok(uid_item(Operation.DESTROY, opaque.unique_identifier))
        shown = await attributes(core, opaque.unique_identifier)
        assert "State" not in shown
        assert shown["Destroy Date"] == NOW

    run_core(tmp_path, scenario)


def test_deactivation_date_reached(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core, extra=(Attribute(name="Deactivation Date", value=NOW + 100),))
        await core.ok(uid_item(Operation.ACTIVATE, uid))
        core.clock[0] = NOW + 100
        # Any load applies the date: here an Activate, refused since the key is no longer Pre-Active.
        late = await core.one(uid_item(Operation.ACTIVATE, uid))
        assert late.result_reason is ResultReason.PERMISSION_DENIED
        shown = await attributes(core, uid)
        assert shown["State"] is State.DEACTIVATED

    run_core(tmp_path, scenario)
