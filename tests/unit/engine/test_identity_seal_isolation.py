"""Who may do what: sealed server, unknown identities, roles, tenant isolation, and the one
translation of failures (including unexpected ones, with a correlation id)."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import kmip_server.errors as errors_module
from kmip_server.engine import TRANSLATIONS, RequestEngine, translate
from kmip_server.errors import KmipError
from kmip_server.hierarchy import HierarchyError
from kmip_server.hierarchy.errors import ALL_ERRORS
from kmip_server.identity import Role
from kmip_server.model import (
    CheckRequestPayload,
    CheckResponsePayload,
    GetAttributesRequestPayload,
    GetRequestPayload,
    QueryRequestPayload,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
)
from kmip_server.model.errors import InvalidField as ModelInvalidField
from kmip_server.operations import REGISTRY, HandlerSpec, OperationContext
from kmip_server.storage.errors import StorageTimeout
from tests.unit.engine.support import (
    OPERATOR,
    UNKNOWN,
    Core,
    batch_item,
    create_aes,
    create_item,
    run_core,
    tenant,
    uid_item,
)
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    State,
)

QUERY = batch_item(Operation.QUERY, QueryRequestPayload(query_functions=(QueryFunction.QUERY_OPERATIONS,)))


def test_sealed_server_fails_every_item_clearly(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = await create_aes(core)
        core.seal.unsealed = False
        response = await core.send(
            QUERY,
            create_item(),
            uid_item(Operation.ACTIVATE, key),
            batch_error_continuation_option=BatchErrorContinuationOption.CONTINUE,
        )
        assert len(response.batch_items) == 3
        for item in response.batch_items:
            assert item.result_status is ResultStatus.OPERATION_FAILED
            assert item.result_reason is ResultReason.GENERAL_FAILURE
            assert item.result_message is not None
            assert "sealed" in item.result_message
        core.seal.unsealed = True
        assert (await core.one(uid_item(Operation.ACTIVATE, key))).result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)


def test_unknown_identity_is_denied_everything_and_audited(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        core.seal.unsealed = False  # an unknown caller does not even learn that the server is sealed
        response = await core.send(
            QUERY,
            create_item(),
            peer=UNKNOWN,
            batch_error_continuation_option=BatchErrorContinuationOption.CONTINUE,
        )
        assert [item.result_reason for item in response.batch_items] == [ResultReason.PERMISSION_DENIED] * 2
        denied = [event for event in core.audit if event.identity is UNKNOWN]
        assert [event.result_reason for event in denied] == [ResultReason.PERMISSION_DENIED] * 2
        assert {event.operation for event in denied} == {Operation.QUERY, Operation.CREATE}

    run_core(tmp_path, scenario)


def test_operator_may_query_but_not_touch_keys(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        assert (await core.one(QUERY, OPERATOR)).result_status is ResultStatus.SUCCESS
        answer = await core.one(create_item(), OPERATOR)
        assert answer.result_reason is ResultReason.PERMISSION_DENIED
        for spec in REGISTRY.values():
            assert Role.UNKNOWN not in spec.roles

    run_core(tmp_path, scenario)


def test_another_tenants_identifier_is_indistinguishable_from_a_missing_one(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        theirs = await create_aes(core, tenant("tenant-b"))
        missing = "6f1c1e43-6d0d-4a44-9f0b-5a1f6f1f0000"
        me = tenant("tenant-a")
        revoke = RevocationReason(revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE)
        probes: dict[Operation, Callable[[str], RequestBatchItem]] = {
            Operation.GET: lambda uid: batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)),
            Operation.ACTIVATE: lambda uid: uid_item(Operation.ACTIVATE, uid),
            Operation.DESTROY: lambda uid: uid_item(Operation.DESTROY, uid),
            Operation.REVOKE: lambda uid: batch_item(
                Operation.REVOKE, RevokeRequestPayload(unique_identifier=uid, revocation_reason=revoke)
            ),
        }
        for operation, build in probes.items():
            other = await core.one(build(theirs), me)
            absent = await core.one(build(missing), me)
            assert other.result_status is ResultStatus.OPERATION_FAILED, operation
            assert other.result_reason is ResultReason.ITEM_NOT_FOUND, operation
            assert (other.result_reason, other.result_message) == (
                absent.result_reason,
                absent.result_message,
            )
        # And nothing happened to tenant-b's key.
        record = await core.store.get("tenant-b", theirs)
        assert record is not None
        assert record.state is State.PRE_ACTIVE
        assert record.material is not None
        # Another service of the same tenant shares the tenant's objects (unwrapped with the owner's L3).
        mine = await create_aes(core, tenant("tenant-a", "svc"))
        got = await core.one(
            batch_item(Operation.GET, GetRequestPayload(unique_identifier=mine)), tenant("tenant-a", "other")
        )
        assert got.result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)


def test_unexpected_errors_are_general_failure_with_a_logged_correlation_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ctx: OperationContext, payload: CheckRequestPayload) -> CheckResponsePayload:
        raise RuntimeError("secret-ish internal detail")

    registry = dict(REGISTRY)
    registry[Operation.CHECK] = HandlerSpec(
        Operation.CHECK, broken, frozenset({Role.TENANT_CLIENT}), mutates=False
    )

    async def scenario(core: Core) -> None:
        core = dataclasses.replace(
            core, engine=RequestEngine(objects=core.objects, seal=core.seal, registry=registry)
        )
        with caplog.at_level(logging.ERROR, logger="kmip_server.engine"):
            answer = await core.one(batch_item(Operation.CHECK, CheckRequestPayload()))
        assert answer.result_reason is ResultReason.GENERAL_FAILURE
        assert answer.result_message is not None
        assert "secret-ish" not in answer.result_message
        found = re.search(r"correlation id ([0-9a-f]{32})", answer.result_message)
        assert found is not None
        logged = [r for r in caplog.records if found.group(1) in r.getMessage()]
        assert logged
        assert logged[0].exc_info is not None

    run_core(tmp_path, scenario)


def _subclasses(module: object, base: type[KmipError]) -> list[type[KmipError]]:
    return [
        value
        for _name, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, base) and value.__module__ == getattr(module, "__name__", "")
    ]


def test_translation_table_covers_every_error_family() -> None:
    families = [family for family, _describe in TRANSLATIONS]
    assert families[:3] == [KmipError, ModelInvalidField.__mro__[1], HierarchyError]
    for cls in _subclasses(errors_module, KmipError):
        error = cls()
        reason, message = translate(error)
        assert reason is cls.result_reason
        assert message == cls.default
    for hierarchy_error in ALL_ERRORS:
        assert translate(hierarchy_error()) == (hierarchy_error.result_reason, hierarchy_error.message)
    assert translate(ModelInvalidField("Name: wrong item type")) == (
        ResultReason.INVALID_FIELD,
        "Name: wrong item type",
    )
    # A store that is down or slow is said plainly (General Failure), not as an internal error,
    # and nothing of the cause (SQL, driver text) reaches the client.
    outage = StorageTimeout()
    outage.__cause__ = OSError("connection refused by 10.0.0.7: secret dsn")
    assert translate(outage) == (
        ResultReason.GENERAL_FAILURE,
        "storage timed out; the request may be retried",
    )


def test_get_attributes_is_not_mine_to_serve_yet(tmp_path: Path) -> None:
    """Operations outside the registry (another helper's) answer Operation Not Supported."""

    async def scenario(core: Core) -> None:
        answer = await core.one(
            batch_item(Operation.GET_ATTRIBUTES, GetAttributesRequestPayload(unique_identifier="x"))
        )
        if Operation.GET_ATTRIBUTES in REGISTRY:
            assert answer.result_reason is not ResultReason.OPERATION_NOT_SUPPORTED
        else:
            assert answer.result_reason is ResultReason.OPERATION_NOT_SUPPORTED

    run_core(tmp_path, scenario)


def test_a_tenant_whose_chain_is_cut_is_refused(tmp_path: Path) -> None:
    """A tenant never linked, and one unlinked (the kill-switch): Permission Denied, no material."""

    async def scenario(core: Core) -> None:
        stranger = await core.one(create_item(), tenant("tenant-never-linked"))
        assert stranger.result_reason is ResultReason.PERMISSION_DENIED
        key = await create_aes(core, tenant("tenant-b"))
        await core.hierarchy.unlink_tenant("tenant-b")
        cut = await core.one(
            batch_item(Operation.GET, GetRequestPayload(unique_identifier=key)), tenant("tenant-b")
        )
        assert cut.result_status is ResultStatus.OPERATION_FAILED
        assert cut.result_reason is ResultReason.PERMISSION_DENIED
        assert (
            await core.one(create_item(), tenant("tenant-b"))
        ).result_reason is ResultReason.PERMISSION_DENIED
        # The other tenant is untouched.
        assert (await core.one(create_item(), tenant("tenant-a"))).result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)


def test_message_level_failures_are_audited(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await core.send_bytes(b"not ttlv at all", UNKNOWN)
        (event,) = core.audit
        assert event.identity is UNKNOWN
        assert event.operation is None
        assert event.result_reason is ResultReason.INVALID_MESSAGE

    run_core(tmp_path, scenario)
