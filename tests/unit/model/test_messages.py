"""Messages: the entry points, version handling, and every message-level error with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    CreateResponsePayload,
    CryptographicParameters,
    DecodedRequest,
    EncryptRequestPayload,
    GetAttributesResponsePayload,
    InvalidField,
    InvalidMessage,
    ModelEncodeError,
    ModelError,
    OperationNotSupported,
    ProtocolVersion,
    QueryRequestPayload,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    TemplateAttribute,
    UniqueIdentifierResponsePayload,
    decode_request,
    decode_request_batch,
    decode_response,
    decode_response_payload,
    encode_request,
    encode_response,
    request_from_bytes,
    request_to_bytes,
    response_from_bytes,
    response_to_bytes,
)
from ttlv.codec import encode
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    AttestationType,
    BlockCipherMode,
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    Tag,
)

T = ItemType


def version(minor: int, major: int = 1) -> ProtocolVersion:
    return ProtocolVersion(major=major, minor=minor)


def create_item(batch_id: bytes | None = None) -> RequestBatchItem:
    return RequestBatchItem(
        operation=Operation.CREATE,
        unique_batch_item_id=batch_id,
        request_payload=CreateRequestPayload(
            object_type=ObjectType.SYMMETRIC_KEY,
            template_attribute=TemplateAttribute(
                attributes=(Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),)
            ),
        ),
    )


def request(*items: RequestBatchItem, minor: int = 4, **header: Any) -> RequestMessage:
    return RequestMessage(
        request_header=RequestHeader(protocol_version=version(minor), batch_count=len(items), **header),
        batch_items=items,
    )


def replace_child(item: Item, path: tuple[int, ...], new: Item | None) -> Item:
    """``item`` with the child at ``path`` (indices) replaced, or removed when ``new`` is None."""
    index, rest = path[0], path[1:]
    children = list(item.children)
    if rest:
        children[index] = replace_child(children[index], rest, new)
    elif new is None:
        del children[index]
    else:
        children[index] = new
    return Item(item.tag, item.type, tuple(children))


def append_child(item: Item, path: tuple[int, ...], new: Item) -> Item:
    if not path:
        return Item(item.tag, item.type, (*item.children, new))
    children = list(item.children)
    children[path[0]] = append_child(children[path[0]], path[1:], new)
    return Item(item.tag, item.type, tuple(children))


TWO = request(create_item(b"\x01"), create_item(b"\x02"))
TWO_ITEM = encode_request(TWO)
# Paths in TWO_ITEM: 0 header, 1 and 2 batch items; in a batch item: 0 operation, 1 id, 2 payload.


# --- round trips ------------------------------------------------------------------------------


def test_request_round_trip_items_and_bytes() -> None:
    assert decode_request(TWO_ITEM) == TWO
    assert request_from_bytes(request_to_bytes(TWO)) == TWO
    assert request_to_bytes(TWO) == encode(TWO_ITEM)


def test_response_round_trip_items_and_bytes() -> None:
    response = ResponseMessage(
        response_header=ResponseHeader(protocol_version=version(2), time_stamp=1_700_000_000, batch_count=2),
        batch_items=(
            ResponseBatchItem(
                operation=Operation.CREATE,
                unique_batch_item_id=b"\x01",
                result_status=ResultStatus.SUCCESS,
                response_payload=CreateResponsePayload(
                    object_type=ObjectType.SYMMETRIC_KEY, unique_identifier="1"
                ),
            ),
            ResponseBatchItem(
                operation=Operation.DESTROY,
                result_status=ResultStatus.OPERATION_FAILED,
                result_reason=ResultReason.ITEM_NOT_FOUND,
                result_message="not found",
            ),
        ),
    )
    assert decode_response(encode_response(response)) == response
    assert response_from_bytes(response_to_bytes(response)) == response


def test_message_level_failure_response_without_operation() -> None:
    """Section 11.1: an unparsable message is answered by a batch item without Operation."""
    response = ResponseMessage(
        response_header=ResponseHeader(protocol_version=version(4), time_stamp=0, batch_count=1),
        batch_items=(
            ResponseBatchItem(
                result_status=ResultStatus.OPERATION_FAILED, result_reason=ResultReason.INVALID_MESSAGE
            ),
        ),
    )
    assert decode_response(encode_response(response)) == response


def test_every_version_decodes() -> None:
    for minor in range(5):
        message = request(create_item(), minor=minor)
        assert decode_request(encode_request(message)) == message


# --- per batch item errors --------------------------------------------------------------------


def test_bad_payload_fails_its_batch_item_only() -> None:
    bad_payload = Item(Tag.REQUEST_PAYLOAD, T.STRUCTURE, ())  # Object Type missing
    broken = replace_child(TWO_ITEM, (2, 2), bad_payload)
    decoded = decode_request_batch(broken)
    assert isinstance(decoded, DecodedRequest)
    first, second = decoded.batch_items
    assert first == TWO.batch_items[0]
    assert isinstance(second, InvalidMessage)
    assert second.result_reason is ResultReason.INVALID_MESSAGE
    assert (second.operation, second.unique_batch_item_id, second.batch_index) == (
        Operation.CREATE,
        b"\x02",
        1,
    )
    assert second.in_batch_item
    with pytest.raises(InvalidMessage) as caught:
        decode_request(broken)
    assert caught.value.unique_batch_item_id == b"\x02"


@pytest.mark.parametrize("operation", [0, 0x2C, 0x80000001, 0x7FFFFFFF])
def test_unknown_operation_is_operation_not_supported(operation: int) -> None:
    broken = replace_child(TWO_ITEM, (1, 0), Item(Tag.OPERATION, T.ENUMERATION, operation))
    first = decode_request_batch(broken).batch_items[0]
    assert isinstance(first, OperationNotSupported)
    assert first.result_reason is ResultReason.OPERATION_NOT_SUPPORTED
    assert first.unique_batch_item_id == b"\x01"
    assert first.operation == operation


def test_bad_field_value_in_payload_is_invalid_field() -> None:
    broken = replace_child(TWO_ITEM, (1, 2, 0), Item(Tag.OBJECT_TYPE, T.ENUMERATION, 0x99))
    first = decode_request_batch(broken).batch_items[0]
    assert isinstance(first, InvalidField)
    assert first.result_reason is ResultReason.INVALID_FIELD


def test_batch_item_that_is_not_a_structure() -> None:
    broken = replace_child(TWO_ITEM, (2,), Item(Tag.BATCH_ITEM, T.INTEGER, 1))
    second = decode_request_batch(broken).batch_items[1]
    assert isinstance(second, ModelError)
    assert (second.operation, second.unique_batch_item_id, second.batch_index) == (None, None, 1)


def test_batch_item_without_operation_or_payload_is_invalid_message() -> None:
    for path in ((1, 0), (1, 2)):
        broken = replace_child(TWO_ITEM, path, None)
        assert isinstance(decode_request_batch(broken).batch_items[0], InvalidMessage)


def test_unknown_field_in_batch_item() -> None:
    extra = Item(0x540001, T.TEXT_STRING, "vendor")
    broken = append_child(TWO_ITEM, (1,), extra)
    assert isinstance(decode_request_batch(broken).batch_items[0], InvalidField)


# --- message level errors ---------------------------------------------------------------------


def _header_with(field: Item | None, drop: int | None = None) -> Item:
    header = TWO_ITEM.children[0]
    children = [c for c in header.children if drop is None or c.tag != drop]
    if field is not None:
        children.insert(1, field)
    return replace_child(TWO_ITEM, (0,), Item(Tag.REQUEST_HEADER, T.STRUCTURE, tuple(children)))


@pytest.mark.parametrize(
    "message",
    [
        Item(Tag.RESPONSE_MESSAGE, T.STRUCTURE, TWO_ITEM.children),  # the wrong kind of message
        Item(Tag.REQUEST_MESSAGE, T.BYTE_STRING, b"x"),
        Item(Tag.REQUEST_MESSAGE, T.STRUCTURE, TWO_ITEM.children[1:]),  # no header
        Item(Tag.REQUEST_MESSAGE, T.STRUCTURE, (TWO_ITEM.children[0],)),  # no batch item
        Item(Tag.REQUEST_MESSAGE, T.STRUCTURE, (TWO_ITEM.children[0], *TWO_ITEM.children)),  # header twice
        Item(
            Tag.REQUEST_MESSAGE, T.STRUCTURE, (*TWO_ITEM.children, TWO_ITEM.children[1])
        ),  # Batch Count 2 != 3
        append_child(TWO_ITEM, (), Item(Tag.COMMENT, T.TEXT_STRING, "x")),  # unknown field in the message
        _header_with(None, drop=Tag.PROTOCOL_VERSION),
        _header_with(None, drop=Tag.BATCH_COUNT),
        _header_with(Item(Tag.BATCH_COUNT, T.INTEGER, 2)),  # Batch Count twice
        _header_with(
            Item(Tag.MAXIMUM_RESPONSE_SIZE, T.TEXT_STRING, "big")
        ),  # a header field of the wrong type
        _header_with(Item(Tag.COMMENT, T.TEXT_STRING, "x")),  # unknown field in the header
        replace_child(TWO_ITEM, (0, 0), Item(Tag.PROTOCOL_VERSION, T.INTEGER, 14)),
        replace_child(TWO_ITEM, (0, 0, 0), Item(Tag.PROTOCOL_VERSION_MAJOR, T.INTEGER, 2)),  # major version 2
        replace_child(TWO_ITEM, (0, 0, 0), Item(Tag.PROTOCOL_VERSION_MAJOR, T.INTEGER, 0)),
    ],
    ids=[
        "response-tag",
        "not-a-structure",
        "no-header",
        "no-batch-item",
        "two-headers",
        "batch-count-mismatch",
        "unknown-message-field",
        "no-protocol-version",
        "no-batch-count",
        "batch-count-twice",
        "header-field-wrong-type",
        "unknown-header-field",
        "protocol-version-not-a-structure",
        "major-version-2",
        "major-version-0",
    ],
)
def test_message_level_errors_are_invalid_message(message: Item) -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode_request_batch(message)
    assert caught.value.result_reason is ResultReason.INVALID_MESSAGE
    assert not caught.value.in_batch_item


def test_invalid_ttlv_bytes_are_invalid_message() -> None:
    with pytest.raises(InvalidMessage) as caught:
        request_from_bytes(b"\x42\x00\x78\x01\x00\x00\x00\x10")
    assert caught.value.__cause__ is not None
    with pytest.raises(InvalidMessage):
        response_from_bytes(b"")


# --- versions ---------------------------------------------------------------------------------


def test_later_minor_version_ignores_unknown_fields() -> None:
    """Section 11.1: same major, different minor version: unknown fields are ignored."""
    future = replace_child(TWO_ITEM, (0, 0, 1), Item(Tag.PROTOCOL_VERSION_MINOR, T.INTEGER, 7))
    future = append_child(future, (), Item(0x420200, T.TEXT_STRING, "from 1.7"))
    future = append_child(future, (0,), Item(0x420201, T.INTEGER, 1))
    future = append_child(future, (1,), Item(0x420202, T.INTEGER, 1))
    future = append_child(future, (1, 2), Item(0x420203, T.INTEGER, 1))
    decoded = decode_request(future)
    assert decoded.request_header.protocol_version == version(7)
    assert decoded.batch_items == TWO.batch_items
    strict = replace_child(future, (0, 0, 1), Item(Tag.PROTOCOL_VERSION_MINOR, T.INTEGER, 4))
    with pytest.raises(ModelError):
        decode_request(strict)


def test_later_minor_version_keeps_unknown_attribute_names_raw() -> None:
    attribute = Attribute(name="Quantum Safe", value=Item(Tag.ATTRIBUTE_VALUE, T.BOOLEAN, True))
    message = request(
        RequestBatchItem(
            operation=Operation.CREATE,
            request_payload=CreateRequestPayload(
                object_type=ObjectType.SYMMETRIC_KEY,
                template_attribute=TemplateAttribute(attributes=(attribute,)),
            ),
        ),
        minor=5,
    )
    assert decode_request(encode_request(message)) == message
    current = request(*message.batch_items, minor=4)
    with pytest.raises(InvalidField):
        decode_request(encode_request(current))


def test_encoding_omits_header_fields_newer_than_the_version() -> None:
    message = request(
        create_item(), minor=1, attestation_types=(AttestationType.TPM_QUOTE,), client_correlation_value="c"
    )
    header = encode_request(message).children[0]
    assert [c.tag for c in header.children] == [Tag.PROTOCOL_VERSION, Tag.BATCH_COUNT]
    newer = request(
        create_item(), minor=4, attestation_types=(AttestationType.TPM_QUOTE,), client_correlation_value="c"
    )
    assert decode_request(encode_request(newer)) == newer


def test_encoding_omits_payload_fields_newer_than_the_version() -> None:
    payload = EncryptRequestPayload(
        unique_identifier="1",
        cryptographic_parameters=CryptographicParameters(
            block_cipher_mode=BlockCipherMode.CBC, cryptographic_algorithm=CryptographicAlgorithm.AES
        ),
        data=b"data",
        init_indicator=True,  # KMIP 1.3
    )
    message = request(RequestBatchItem(operation=Operation.ENCRYPT, request_payload=payload), minor=2)
    decoded = decode_request(encode_request(message)).batch_items[0].request_payload
    assert isinstance(decoded, EncryptRequestPayload)
    assert decoded.init_indicator is None
    assert decoded.cryptographic_parameters == payload.cryptographic_parameters  # both fields are 1.2


@pytest.mark.parametrize(
    ("operation", "payload", "minor"),
    [
        (Operation.ENCRYPT, EncryptRequestPayload(data=b"x"), 1),
        (Operation.DISCOVER_VERSIONS, None, 0),
    ],
)
def test_encoding_refuses_operations_newer_than_the_version(
    operation: Operation, payload: Any, minor: int
) -> None:
    from kmip_server.model import DiscoverVersionsRequestPayload  # noqa: PLC0415

    payload = payload or DiscoverVersionsRequestPayload()
    message = request(RequestBatchItem(operation=operation, request_payload=payload), minor=minor)
    with pytest.raises(ModelEncodeError) as caught:
        encode_request(message)
    assert caught.value.result_reason is ResultReason.GENERAL_FAILURE


def test_response_encoding_refuses_operations_newer_than_the_version() -> None:
    response = ResponseMessage(
        response_header=ResponseHeader(protocol_version=version(3), time_stamp=0, batch_count=1),
        batch_items=(
            ResponseBatchItem(
                operation=Operation.IMPORT,
                result_status=ResultStatus.SUCCESS,
                response_payload=UniqueIdentifierResponsePayload(unique_identifier="1"),
            ),
        ),
    )
    with pytest.raises(ModelEncodeError):
        encode_response(response)


# --- Poll -------------------------------------------------------------------------------------


def test_poll_response_payload_stays_raw_until_typed() -> None:
    inner = GetAttributesResponsePayload(unique_identifier="1")
    from kmip_server.model.codec import encode_struct  # noqa: PLC0415

    raw = encode_struct(inner, Tag.RESPONSE_PAYLOAD)
    response = ResponseMessage(
        response_header=ResponseHeader(protocol_version=version(4), time_stamp=0, batch_count=1),
        batch_items=(
            ResponseBatchItem(
                operation=Operation.POLL, result_status=ResultStatus.SUCCESS, response_payload=raw
            ),
        ),
    )
    decoded = decode_response(encode_response(response))
    assert decoded.batch_items[0].response_payload == raw
    assert decode_response_payload(Operation.GET_ATTRIBUTES, raw) == inner
    with pytest.raises(OperationNotSupported):
        decode_response_payload(0x80000001, raw)  # type: ignore[arg-type]


def test_query_round_trip_with_repeated_enumerations() -> None:
    message = request(
        RequestBatchItem(
            operation=Operation.QUERY,
            request_payload=QueryRequestPayload(
                query_functions=(QueryFunction.QUERY_OPERATIONS, QueryFunction.QUERY_OBJECTS)
            ),
        )
    )
    assert decode_request(encode_request(message)) == message


def test_prepare_codecs_compiles_every_message_class_once() -> None:
    from kmip_server.model import prepare_codecs  # noqa: PLC0415
    from kmip_server.model.codec import codec_for  # noqa: PLC0415

    before = codec_for(RequestMessage)
    assert prepare_codecs() > 90
    assert codec_for(RequestMessage) is before
