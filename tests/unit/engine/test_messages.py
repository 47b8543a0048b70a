"""Message-level behaviour: protocol versions, headers, message-level failures and hostile
input (KMIP 1.4 sections 6, 7 and 11.1)."""

from __future__ import annotations

import dataclasses
import struct
import time
from pathlib import Path

import pytest

import ttlv
from kmip_server.model import (
    Authentication,
    Credential,
    DiscoverVersionsRequestPayload,
    MessageExtension,
    ProtocolVersion,
    QueryRequestPayload,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    UsernamePasswordCredential,
    encode_request,
    request_to_bytes,
)
from kmip_server.model.codec import make_item
from kmip_server.model.payloads import PollRequestPayload
from kmip_server.storage.objects import LocateQuery
from tests.unit.engine.support import NOW, Core, batch_item, create_item, run_core
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    CredentialType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    Tag,
)

QUERY = batch_item(Operation.QUERY, QueryRequestPayload(query_functions=(QueryFunction.QUERY_OPERATIONS,)))


def message_bytes(version: tuple[int, int], *items: Item, batch_count: int | None = None) -> bytes:
    """A Request Message built from raw Items (to say what the model would refuse to build)."""
    header = make_item(
        Tag.REQUEST_HEADER,
        ItemType.STRUCTURE,
        (
            make_item(
                Tag.PROTOCOL_VERSION,
                ItemType.STRUCTURE,
                (
                    make_item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, version[0]),
                    make_item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, version[1]),
                ),
            ),
            make_item(Tag.BATCH_COUNT, ItemType.INTEGER, len(items) if batch_count is None else batch_count),
        ),
    )
    return ttlv.encode(make_item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, (header, *items)))


def raw_batch_item(operation: int, *payload: Item) -> Item:
    return make_item(
        Tag.BATCH_ITEM,
        ItemType.STRUCTURE,
        (
            make_item(Tag.OPERATION, ItemType.ENUMERATION, operation),
            make_item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, payload),
        ),
    )


def query_item() -> Item:
    return raw_batch_item(
        Operation.QUERY, make_item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, QueryFunction.QUERY_OPERATIONS)
    )


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4])
def test_each_version_is_answered_in_kind(tmp_path: Path, minor: int) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(QUERY, version=(1, minor), client_correlation_value="client-42")
        header = response.response_header
        assert header.protocol_version.version == (1, minor)
        assert header.time_stamp == NOW
        assert response.batch_items[0].result_status is ResultStatus.SUCCESS
        # The correlation values are 1.4 fields: present in 1.4, left out before.
        if minor == 4:
            assert header.client_correlation_value == "client-42"
            assert header.server_correlation_value
        else:
            assert header.server_correlation_value is None

    run_core(tmp_path, scenario)


def test_later_minor_version_is_processed_and_answered_in_1_4(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        unknown_field = make_item(0x540123, ItemType.INTEGER, 7)  # ignored in a 1.5 message (11.1)
        item = raw_batch_item(
            Operation.QUERY,
            make_item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, QueryFunction.QUERY_OPERATIONS),
            unknown_field,
        )
        response = await core.send_bytes(message_bytes((1, 5), item))
        assert response.response_header.protocol_version.version == (1, 4)
        assert response.batch_items[0].result_status is ResultStatus.SUCCESS
        # The same unknown field in a 1.4 message is Invalid Field.
        strict = await core.send_bytes(message_bytes((1, 4), item))
        assert strict.batch_items[0].result_reason is ResultReason.INVALID_FIELD

    run_core(tmp_path, scenario)


def test_other_major_version_is_a_message_level_invalid_message(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send_bytes(message_bytes((2, 0), query_item()))
        assert response.response_header.protocol_version.version == (1, 4)
        (only,) = response.batch_items
        assert only.operation is None
        assert only.result_status is ResultStatus.OPERATION_FAILED
        assert only.result_reason is ResultReason.INVALID_MESSAGE

    run_core(tmp_path, scenario)


def test_batch_count_mismatch_answers_in_the_request_version(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send_bytes(message_bytes((1, 2), query_item(), batch_count=2))
        assert response.response_header.protocol_version.version == (1, 2)
        (only,) = response.batch_items
        assert only.operation is None
        assert only.result_reason is ResultReason.INVALID_MESSAGE

    run_core(tmp_path, scenario)


def test_discover_versions(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        def versions(*pairs: tuple[int, int]) -> DiscoverVersionsRequestPayload:
            return DiscoverVersionsRequestPayload(
                protocol_versions=tuple(ProtocolVersion(major=a, minor=b) for a, b in pairs)
            )

        for offered, expected in (
            ((), [(1, 4), (1, 3), (1, 2), (1, 1), (1, 0)]),
            (((1, 2), (1, 0)), [(1, 2), (1, 0)]),
            (((1, 0), (1, 4)), [(1, 4), (1, 0)]),  # the server's order of preference
            (((2, 0), (1, 9)), []),
        ):
            payload = await core.ok(batch_item(Operation.DISCOVER_VERSIONS, versions(*offered)))
            assert [v.version for v in payload.protocol_versions] == expected
        # Discover Versions is a KMIP 1.1 operation: not in a 1.0 message.
        response = await core.send_bytes(message_bytes((1, 0), raw_batch_item(Operation.DISCOVER_VERSIONS)))
        assert response.batch_items[0].result_reason is ResultReason.OPERATION_NOT_SUPPORTED

    run_core(tmp_path, scenario)


def test_unsupported_and_unknown_operations(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        poll = batch_item(Operation.POLL, PollRequestPayload(asynchronous_correlation_value=b"x"))
        answer = await core.one(poll)
        assert answer.operation is Operation.POLL
        assert answer.result_reason is ResultReason.OPERATION_NOT_SUPPORTED
        response = await core.send_bytes(message_bytes((1, 4), raw_batch_item(0x7FFF)))
        (only,) = response.batch_items
        assert only.operation is None
        assert only.result_reason is ResultReason.OPERATION_NOT_SUPPORTED

    run_core(tmp_path, scenario)


def test_header_options_that_change_nothing(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        # Asynchronous Indicator: processed synchronously. Authentication: ignored, the TLS
        # identity (tenant-a) acts, not the username in the message.
        credential = Credential(
            credential_type=CredentialType.USERNAME_AND_PASSWORD,
            credential_value=UsernamePasswordCredential(username="tenant-b", password="x"),
        )
        answer = await core.one(
            create_item(),
            asynchronous_indicator=True,
            authentication=Authentication(credentials=(credential,)),
        )
        assert answer.result_status is ResultStatus.SUCCESS
        assert len(await core.store.find("tenant-a", LocateQuery())) == 1
        assert len(await core.store.find("tenant-b", LocateQuery())) == 0

    run_core(tmp_path, scenario)


def test_message_extensions(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        def extended(critical: bool) -> RequestBatchItem:
            extension = MessageExtension(
                vendor_identification="someone",
                criticality_indicator=critical,
                vendor_extension=make_item(Tag.VENDOR_EXTENSION, ItemType.STRUCTURE, ()),
            )
            return dataclasses.replace(QUERY, message_extension=extension)

        critical = await core.one(extended(True))
        assert critical.result_reason is ResultReason.FEATURE_NOT_SUPPORTED
        ignored = await core.one(extended(False))
        assert ignored.result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)


def _structure_nested(depth: int) -> bytes:
    data = b""
    for _ in range(depth):
        data = (
            struct.pack(">I", (Tag.REQUEST_MESSAGE << 8) | ItemType.STRUCTURE)
            + struct.pack(">I", len(data))
            + data
        )
    return data


HOSTILE = {
    "empty": b"",
    "garbage": bytes(range(256)) * 4,
    "a header only": struct.pack(">II", (Tag.REQUEST_MESSAGE << 8) | ItemType.STRUCTURE, 1 << 31),
    "truncated": b"",  # filled in below from a real request
    "nested 10,000 deep": _structure_nested(10_000),
    "not a request": ttlv.encode(make_item(Tag.RESPONSE_MESSAGE, ItemType.STRUCTURE, ())),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bytes_get_a_message_level_invalid_message(tmp_path: Path, case: str) -> None:
    async def scenario(core: Core) -> None:
        data = HOSTILE[case]
        if case == "truncated":
            data = request_to_bytes(
                RequestMessage(
                    request_header=RequestHeader(
                        protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1
                    ),
                    batch_items=(QUERY,),
                )
            )[:-5]
        response = await core.send_bytes(data)
        (only,) = response.batch_items
        assert only.operation is None
        assert only.result_status is ResultStatus.OPERATION_FAILED
        assert only.result_reason is ResultReason.INVALID_MESSAGE

    run_core(tmp_path, scenario)


def test_ten_thousand_batch_items_are_refused_quickly(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        data = message_bytes((1, 4), *(query_item() for _ in range(10_000)))
        started = time.perf_counter()
        response = await core.send_bytes(data)
        elapsed = time.perf_counter() - started
        (only,) = response.batch_items
        assert only.result_reason is ResultReason.INVALID_MESSAGE
        print(f"10,000-item batch refused in {elapsed * 1000:.1f} ms")  # informative, not asserted

    run_core(tmp_path, scenario)


def test_request_model_round_trip_helper_matches_raw_builder() -> None:
    # Guard for the raw builder used above: it makes what the model would make.
    request = RequestMessage(
        request_header=RequestHeader(protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1),
        batch_items=(QUERY,),
    )
    assert ttlv.encode(encode_request(request)) == message_bytes((1, 4), query_item())
