"""Batch semantics (KMIP 1.4 sections 6.3-6.13, 7.2, 11.43): order, Unique Batch Item ID echo,
Error Continuation Stop / Continue / Undo, the ID Placeholder, Maximum Response Size and the
batch item limit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kmip_server.engine import EngineSettings, RequestEngine
from kmip_server.errors import InvalidField
from kmip_server.identity import Role
from kmip_server.model import (
    CheckRequestPayload,
    CheckResponsePayload,
    CreateResponsePayload,
    GetRequestPayload,
    GetResponsePayload,
    KeyBlock,
    KeyValue,
    SymmetricKey,
)
from kmip_server.operations import REGISTRY, HandlerSpec, OperationContext
from kmip_server.storage.objects import LocateQuery
from tests.unit.engine.support import (
    Core,
    aes_template,
    batch_item,
    create_aes,
    create_item,
    payload_of,
    run_core,
    uid_item,
)
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    CryptographicAlgorithm,
    KeyFormatType,
    Operation,
    ResultReason,
    ResultStatus,
    State,
)

MISSING = "00000000-0000-4000-8000-000000000000"
STOP, CONTINUE, UNDO = (
    BatchErrorContinuationOption.STOP,
    BatchErrorContinuationOption.CONTINUE,
    BatchErrorContinuationOption.UNDO,
)


async def count_objects(core: Core, tenant: str = "tenant-a") -> int:
    return len(await core.store.find(tenant, LocateQuery()))


def test_items_run_in_order_and_echo_their_ids(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(batch_id=b"\x01first"),
            create_item(batch_id=b"\x02second"),
            uid_item(Operation.ACTIVATE, batch_id=b"third"),
            batch_order_option=True,
        )
        assert [item.unique_batch_item_id for item in response.batch_items] == [
            b"\x01first",
            b"\x02second",
            b"third",
        ]
        assert [item.operation for item in response.batch_items] == [
            Operation.CREATE,
            Operation.CREATE,
            Operation.ACTIVATE,
        ]
        second = payload_of(response.batch_items[1], CreateResponsePayload).unique_identifier
        activated = response.batch_items[2].response_payload
        assert activated is not None
        assert (
            getattr(activated, "unique_identifier", None) == second
        )  # the placeholder is the latest Create's
        assert response.response_header.batch_count == 3

    run_core(tmp_path, scenario)


def test_stop_is_the_default_and_returns_nothing_for_unprocessed_items(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        for option in (None, STOP):
            before = await count_objects(core)
            response = await core.send(
                create_item(batch_id=b"a"),
                uid_item(Operation.ACTIVATE, MISSING, b"b"),
                create_item(batch_id=b"c"),
                batch_error_continuation_option=option,
            )
            assert [item.unique_batch_item_id for item in response.batch_items] == [b"a", b"b"]
            assert response.response_header.batch_count == 2
            assert response.batch_items[0].result_status is ResultStatus.SUCCESS
            assert response.batch_items[1].result_status is ResultStatus.OPERATION_FAILED
            assert response.batch_items[1].result_reason is ResultReason.ITEM_NOT_FOUND
            assert await count_objects(core) == before + 1  # completed operations are not undone

    run_core(tmp_path, scenario)


def test_continue_processes_every_item(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(batch_id=b"a"),
            uid_item(Operation.ACTIVATE, MISSING, b"b"),
            create_item(batch_id=b"c"),
            batch_error_continuation_option=CONTINUE,
        )
        assert [item.result_status for item in response.batch_items] == [
            ResultStatus.SUCCESS,
            ResultStatus.OPERATION_FAILED,
            ResultStatus.SUCCESS,
        ]
        assert await count_objects(core) == 2

    run_core(tmp_path, scenario)


def test_undo_compensates_earlier_items_and_answers_them_undone(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        existing = await create_aes(core)
        before = await core.store.get("tenant-a", existing)
        assert before is not None
        response = await core.send(
            create_item(batch_id=b"1"),
            uid_item(Operation.ACTIVATE, existing, b"2"),
            batch_item(Operation.GET, GetRequestPayload(unique_identifier=existing), b"3"),
            uid_item(Operation.DESTROY, MISSING, b"4"),
            create_item(batch_id=b"5"),
            batch_error_continuation_option=UNDO,
            batch_order_option=True,
        )
        assert [item.unique_batch_item_id for item in response.batch_items] == [b"1", b"2", b"3", b"4"]
        assert [item.result_status for item in response.batch_items] == [
            ResultStatus.OPERATION_UNDONE
        ] * 3 + [ResultStatus.OPERATION_FAILED]
        assert all(item.response_payload is None for item in response.batch_items)
        # The Create is gone, the Activate and Get's Fresh change are reverted.
        assert await count_objects(core) == 1
        after = await core.store.get("tenant-a", existing)
        assert after is not None
        assert after.state is State.PRE_ACTIVE
        assert after.attributes == before.attributes

    run_core(tmp_path, scenario)


def test_a_failed_item_leaves_no_partial_change(tmp_path: Path) -> None:
    """A handler that stores an object and then fails: the engine compensates its own work."""

    async def create_then_fail(ctx: OperationContext, payload: CheckRequestPayload) -> CheckResponsePayload:
        key = SymmetricKey(
            key_block=KeyBlock(
                key_format_type=KeyFormatType.RAW,
                key_value=KeyValue(key_material=bytes(16)),
                cryptographic_algorithm=CryptographicAlgorithm.AES,
                cryptographic_length=128,
            )
        )
        await ctx.objects.create(key, (), State.PRE_ACTIVE)
        raise InvalidField("refused after the write")

    registry = dict(REGISTRY)
    registry[Operation.CHECK] = HandlerSpec(
        Operation.CHECK, create_then_fail, frozenset({Role.TENANT_CLIENT}), mutates=True
    )

    async def scenario(core: Core) -> None:
        engine = RequestEngine(objects=core.objects, seal=core.seal, registry=registry)
        core = dataclasses.replace(core, engine=engine)
        answer = await core.one(batch_item(Operation.CHECK, CheckRequestPayload()))
        assert answer.result_reason is ResultReason.INVALID_FIELD
        assert answer.result_message == "refused after the write"
        assert await count_objects(core) == 0

    run_core(tmp_path, scenario)


def test_id_placeholder_chains_and_does_not_outlive_the_message(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(),
            uid_item(Operation.ACTIVATE),
            batch_item(Operation.GET, GetRequestPayload()),
            batch_order_option=True,
        )
        created = payload_of(response.batch_items[0], CreateResponsePayload).unique_identifier
        got = payload_of(response.batch_items[2], GetResponsePayload)
        assert got.unique_identifier == created
        # A new message has no placeholder.
        answer = await core.one(batch_item(Operation.GET, GetRequestPayload()))
        assert answer.result_status is ResultStatus.OPERATION_FAILED
        assert answer.result_reason is ResultReason.MISSING_DATA

    run_core(tmp_path, scenario)


def test_maximum_response_size(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = await create_aes(core)
        get = batch_item(Operation.GET, GetRequestPayload(unique_identifier=key))
        roomy = await core.one(get, maximum_response_size=4096)
        assert roomy.result_status is ResultStatus.SUCCESS
        tight = await core.one(get, maximum_response_size=200)
        assert tight.result_status is ResultStatus.OPERATION_FAILED
        assert tight.result_reason is ResultReason.RESPONSE_TOO_LARGE
        assert tight.response_payload is None
        # A Create whose answer does not fit is undone, not left behind unreported.
        before = await count_objects(core)
        created = await core.one(create_item(aes_template(name="too-large")), maximum_response_size=120)
        assert created.result_reason is ResultReason.RESPONSE_TOO_LARGE
        assert await count_objects(core) == before

    run_core(tmp_path, scenario)


def test_batch_item_limit_refuses_the_whole_message(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(*(create_item() for _ in range(4)))
        assert len(response.batch_items) == 1
        only = response.batch_items[0]
        assert only.operation is None
        assert only.result_status is ResultStatus.OPERATION_FAILED
        assert only.result_reason is ResultReason.INVALID_MESSAGE
        assert await count_objects(core) == 0
        ok = await core.send(*(create_item() for _ in range(3)))
        assert [item.result_status for item in ok.batch_items] == [ResultStatus.SUCCESS] * 3

    run_core(tmp_path, scenario, settings=EngineSettings(max_batch_items=3))
