"""KMIP 1.4 messages (section 7): headers, batch items, and the entry points of the model.

Entry points (the only places that turn errors into their wire meaning):
- ``decode_request_batch(item)``: for the server. Message-level problems (not a Request
  Message, a bad header, a protocol major version other than 1, Batch Count not matching)
  raise ``ModelError``; a batch item that cannot be decoded becomes, in place, the
  ``ModelError`` that says how to answer it (with its Operation, Unique Batch Item ID and index
  when they could be read), so that the other batch items still run (section 11.1 row 2).
- ``decode_request`` / ``decode_response``: the whole message or the first error.
- ``encode_request`` / ``encode_response``: for the protocol version in the message's header;
  fields that version does not define are omitted, operations it does not define are refused.
- ``*_from_bytes`` / ``*_to_bytes``: the same through ``ttlv.decode`` / ``ttlv.encode``.

Version handling: every version 1.0-1.4 decodes, and every field defined by 1.4 is accepted
whatever the header's minor version (clients commonly mix). Unknown fields are InvalidField in
messages of versions 1.0-1.4 and ignored in messages of a later 1.x minor version (section
11.1 rows 4-5). Header problems are InvalidMessage ("Message cannot be parsed").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import ttlv
from kmip_server.model.base import Authentication, MessageExtension, Nonce, ProtocolVersion
from kmip_server.model.codec import (
    STRICT,
    Custom,
    DateTime,
    DependsOn,
    NonEmpty,
    Version,
    codec_for,
    encode_struct,
    make_item,
    model,
    struct_to_bytes,
    write_item,
    write_struct,
)
from kmip_server.model.errors import (
    InvalidField,
    InvalidMessage,
    ModelEncodeError,
    ModelError,
    OperationNotSupported,
)
from kmip_server.model.payloads import OPERATIONS, RequestPayload, ResponsePayload
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    AttestationType,
    BatchErrorContinuationOption,
    Operation,
    ResultReason,
    ResultStatus,
    Tag,
)
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "SUPPORTED_VERSIONS",
    "DecodedRequest",
    "RequestBatchItem",
    "RequestHeader",
    "RequestMessage",
    "ResponseBatchItem",
    "ResponseHeader",
    "ResponseMessage",
    "decode_request",
    "decode_request_batch",
    "decode_response",
    "decode_response_payload",
    "encode_request",
    "encode_response",
    "prepare_codecs",
    "request_from_bytes",
    "request_to_bytes",
    "response_from_bytes",
    "response_to_bytes",
]

SUPPORTED_VERSIONS: tuple[Version, ...] = ((1, 4), (1, 3), (1, 2), (1, 1), (1, 0))
"""The protocol versions this model implements, in decreasing order of preference."""

_LATEST_MINOR = 4

# Enum members bound once: reading ``Tag.X`` or ``ItemType.X`` is an attribute lookup on an
# enum class (tens of nanoseconds each), and these are read for every message.
_STRUCTURE = ItemType.STRUCTURE
_ENUMERATION = ItemType.ENUMERATION
_BATCH_ITEM = int(Tag.BATCH_ITEM)
_PROTOCOL_VERSION = int(Tag.PROTOCOL_VERSION)
_PROTOCOL_VERSION_MAJOR = int(Tag.PROTOCOL_VERSION_MAJOR)
_PROTOCOL_VERSION_MINOR = int(Tag.PROTOCOL_VERSION_MINOR)
_OPERATION = int(Tag.OPERATION)
_UNIQUE_BATCH_ITEM_ID = int(Tag.UNIQUE_BATCH_ITEM_ID)
_REQUEST_MESSAGE = int(Tag.REQUEST_MESSAGE)
_RESPONSE_MESSAGE = int(Tag.RESPONSE_MESSAGE)
_OPERATION_BY_VALUE = Operation._value2member_map_


# --------------------------------------------------------------------------------------------
# Payload selection by Operation (section 7.2, Tables 283 and 285)


def _decode_operation(item: Item, ctx: int) -> Operation:
    """Operation (section 6.2): a value with no payloads here is Operation Not Supported
    (section 11.1), not Invalid Field like other enumerations."""
    value = item.value
    if item.type is not _ENUMERATION or (
        type(value) is not int and (not isinstance(value, int) or isinstance(value, bool))
    ):
        raise InvalidField("Operation: wrong item type")
    operation = _OPERATION_BY_VALUE.get(value)
    if operation is None or operation not in OPERATIONS:
        raise OperationNotSupported("Operation not supported")
    return operation


_operation_items: dict[int, Item] = {}  # Operation value -> its Item, Operation tag (memo)


def _encode_operation(operation: Operation, tag: int, version: Version) -> Item:
    value = int(operation)
    if tag != _OPERATION:
        return make_item(tag, _ENUMERATION, value)
    item = _operation_items.get(value)
    if item is None:
        item = make_item(tag, _ENUMERATION, value)
        if value in _OPERATION_BY_VALUE:  # the table's values only: a bounded memo
            _operation_items[value] = item
    return item


_operation_bytes: dict[int, bytes] = {}  # Operation value -> its item's bytes (memo)


def _write_operation(operation: Operation, tag: int, version: Version, out: list[bytes | bytearray]) -> int:
    if tag == _OPERATION:
        value = int(operation)
        written = _operation_bytes.get(value)
        if written is None:
            written = ttlv.encode(_encode_operation(operation, tag, version))
            if value in _OPERATION_BY_VALUE:  # the table's values only: a bounded memo
                _operation_bytes[value] = written
        out.append(written)
        return len(written)
    return write_item(_encode_operation(operation, tag, version), version, out)


_OPERATION_FIELD = Custom(_decode_operation, _encode_operation, _write_operation)


def _operation_spec(operation: Any) -> Any:
    spec = OPERATIONS.get(operation) if operation is not None else None
    if spec is None:
        raise OperationNotSupported("Operation not supported")
    return spec


_request_decoders: dict[int, Callable[[Item, int], Any]] = {}  # Operation -> payload decoder (memo)
_NOT_SEEN: Any = object()


def _decode_request_payload(item: Item, ctx: int, operation: Any) -> RequestPayload:
    decode = _request_decoders.get(operation)
    if decode is None:
        if operation is None:
            raise InvalidMessage("Batch Item: REQUIRED field Operation missing")
        decode = _request_decoders[operation] = codec_for(_operation_spec(operation).request).decode
    result: RequestPayload = decode(item, ctx)
    return result


def _encode_request_payload(payload: RequestPayload, tag: int, version: Version, operation: Any) -> Item:
    spec = _operation_spec(operation)
    if version < spec.since:
        raise ModelEncodeError(f"{spec.operation.name}: not defined in KMIP {version[0]}.{version[1]}")
    return encode_struct(payload, tag, version)


def _write_request_payload(
    payload: RequestPayload, tag: int, version: Version, operation: Any, out: list[bytes | bytearray]
) -> int:
    spec = _operation_spec(operation)
    if version < spec.since:
        raise ModelEncodeError(f"{spec.operation.name}: not defined in KMIP {version[0]}.{version[1]}")
    return write_struct(payload, tag, version, out)


_response_decoders: dict[int, Callable[[Item, int], Any] | None] = {}  # Operation -> decoder (memo)


def _decode_response_payload(item: Item, ctx: int, operation: Any) -> ResponsePayload:
    if operation is None:
        return item  # a failed message-level response: nothing says what the payload is
    decode = _response_decoders.get(operation, _NOT_SEEN)
    if decode is _NOT_SEEN:
        cls = _operation_spec(operation).response
        decode = _response_decoders[operation] = None if cls is None else codec_for(cls).decode
    if decode is None:
        return item  # Poll: the payload of the polled operation (see decode_response_payload)
    result: ResponsePayload = decode(item, ctx)
    return result


def _encode_response_payload(payload: ResponsePayload, tag: int, version: Version, operation: Any) -> Item:
    if operation is not None:
        spec = _operation_spec(operation)
        if version < spec.since:
            raise ModelEncodeError(f"{spec.operation.name}: not defined in KMIP {version[0]}.{version[1]}")
    if isinstance(payload, Item):
        return payload if payload.tag == tag else make_item(tag, payload.type, payload.value)
    return encode_struct(payload, tag, version)


def _write_response_payload(
    payload: ResponsePayload, tag: int, version: Version, operation: Any, out: list[bytes | bytearray]
) -> int:
    if operation is not None:
        spec = _operation_spec(operation)
        if version < spec.since:
            raise ModelEncodeError(f"{spec.operation.name}: not defined in KMIP {version[0]}.{version[1]}")
    if isinstance(payload, Item):
        return write_item(_encode_response_payload(payload, tag, version, operation), version, out)
    return write_struct(payload, tag, version, out)


# --------------------------------------------------------------------------------------------
# Headers, batch items, messages (section 7)


@model
class RequestHeader:
    """Section 7.2, Table 282."""

    protocol_version: Annotated[ProtocolVersion, Tag.PROTOCOL_VERSION]
    maximum_response_size: Annotated[int | None, Tag.MAXIMUM_RESPONSE_SIZE] = None
    client_correlation_value: Annotated[str | None, Tag.CLIENT_CORRELATION_VALUE] = None
    server_correlation_value: Annotated[str | None, Tag.SERVER_CORRELATION_VALUE] = None
    asynchronous_indicator: Annotated[bool | None, Tag.ASYNCHRONOUS_INDICATOR] = None
    attestation_capable_indicator: Annotated[bool | None, Tag.ATTESTATION_CAPABLE_INDICATOR] = None
    attestation_types: Annotated[tuple[AttestationType, ...], Tag.ATTESTATION_TYPE] = ()
    authentication: Annotated[Authentication | None, Tag.AUTHENTICATION] = None
    batch_error_continuation_option: Annotated[
        BatchErrorContinuationOption | None, Tag.BATCH_ERROR_CONTINUATION_OPTION
    ] = None
    batch_order_option: Annotated[bool | None, Tag.BATCH_ORDER_OPTION] = None
    time_stamp: Annotated[DateTime | None, Tag.TIME_STAMP] = None
    batch_count: Annotated[int, Tag.BATCH_COUNT]


@model
class ResponseHeader:
    """Section 7.2, Table 284."""

    protocol_version: Annotated[ProtocolVersion, Tag.PROTOCOL_VERSION]
    time_stamp: Annotated[DateTime, Tag.TIME_STAMP]
    nonce: Annotated[Nonce | None, Tag.NONCE] = None
    attestation_types: Annotated[tuple[AttestationType, ...], Tag.ATTESTATION_TYPE] = ()
    client_correlation_value: Annotated[str | None, Tag.CLIENT_CORRELATION_VALUE] = None
    server_correlation_value: Annotated[str | None, Tag.SERVER_CORRELATION_VALUE] = None
    batch_count: Annotated[int, Tag.BATCH_COUNT]


@model
class RequestBatchItem:
    """Section 7.2, Table 283. The payload's class is the Operation's (``payloads.OPERATIONS``)."""

    operation: Annotated[Operation, Tag.OPERATION, _OPERATION_FIELD]
    unique_batch_item_id: Annotated[bytes | None, Tag.UNIQUE_BATCH_ITEM_ID] = None
    request_payload: Annotated[
        RequestPayload,
        Tag.REQUEST_PAYLOAD,
        DependsOn("operation", _decode_request_payload, _encode_request_payload, _write_request_payload),
    ]
    message_extension: Annotated[MessageExtension | None, Tag.MESSAGE_EXTENSION] = None


@model
class ResponseBatchItem:
    """Section 7.2, Table 285. Operation is absent only in answers to unparsable messages."""

    operation: Annotated[Operation | None, Tag.OPERATION, _OPERATION_FIELD] = None
    unique_batch_item_id: Annotated[bytes | None, Tag.UNIQUE_BATCH_ITEM_ID] = None
    result_status: Annotated[ResultStatus, Tag.RESULT_STATUS]
    result_reason: Annotated[ResultReason | None, Tag.RESULT_REASON] = None
    result_message: Annotated[str | None, Tag.RESULT_MESSAGE] = None
    asynchronous_correlation_value: Annotated[bytes | None, Tag.ASYNCHRONOUS_CORRELATION_VALUE] = None
    response_payload: Annotated[
        ResponsePayload | None,
        Tag.RESPONSE_PAYLOAD,
        DependsOn("operation", _decode_response_payload, _encode_response_payload, _write_response_payload),
    ] = None
    message_extension: Annotated[MessageExtension | None, Tag.MESSAGE_EXTENSION] = None


@model
class RequestMessage:
    """Section 7.1, Table 280."""

    request_header: Annotated[RequestHeader, Tag.REQUEST_HEADER]
    batch_items: Annotated[tuple[RequestBatchItem, ...], Tag.BATCH_ITEM, NonEmpty()]


@model
class ResponseMessage:
    """Section 7.1, Table 281."""

    response_header: Annotated[ResponseHeader, Tag.RESPONSE_HEADER]
    batch_items: Annotated[tuple[ResponseBatchItem, ...], Tag.BATCH_ITEM, NonEmpty()]


_REQUEST = (_REQUEST_MESSAGE, int(Tag.REQUEST_HEADER), RequestHeader, RequestBatchItem)
_RESPONSE = (_RESPONSE_MESSAGE, int(Tag.RESPONSE_HEADER), ResponseHeader, ResponseBatchItem)


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A request whose header decoded: each batch item decoded, or the error to answer it with."""

    header: RequestHeader
    batch_items: tuple[RequestBatchItem | ModelError, ...]


# --------------------------------------------------------------------------------------------
# Decoding


def _message_parts(item: Item, message_tag: int, header_tag: int) -> tuple[Item, list[Item], list[Item]]:
    """The header, the batch items and any other children of a message Structure."""
    value = item.value
    if item.tag != message_tag or item.type is not _STRUCTURE or type(value) is not tuple:
        raise InvalidMessage("not a KMIP message of the expected kind")
    header: Item | None = None
    batch: list[Item] = []
    others: list[Item] = []
    for child in value:
        tag = getattr(child, "tag", None)
        if tag == _BATCH_ITEM:
            batch.append(child)
        elif tag == header_tag:
            if header is not None:
                raise InvalidMessage("message header present more than once")
            header = child
        else:
            others.append(child)
    if header is None:
        raise InvalidMessage("message header missing")
    return header, batch, others


def _peek_version(header: Item) -> Version:
    """The Protocol Version of a header Item, read before the rest so as to know the rules."""
    value = header.value
    if header.type is not _STRUCTURE or type(value) is not tuple:
        raise InvalidMessage("message header is not a Structure")
    for child in value:
        if getattr(child, "tag", None) == _PROTOCOL_VERSION:
            major = minor = None
            parts = child.value
            if child.type is _STRUCTURE and type(parts) is tuple:
                for part in parts:
                    tag = getattr(part, "tag", None)
                    if tag == _PROTOCOL_VERSION_MAJOR:
                        major = part.value
                    elif tag == _PROTOCOL_VERSION_MINOR:
                        minor = part.value
            if type(major) is not int or type(minor) is not int or minor < 0:
                raise InvalidMessage("Protocol Version cannot be parsed")
            if major != 1:
                raise InvalidMessage("protocol major version not supported")
            return (major, minor)
    raise InvalidMessage("message header: REQUIRED field Protocol Version missing")


def _context(version: Version) -> int:
    return STRICT if version[1] <= _LATEST_MINOR else 0


def _decode_header(cls: type[Any], header: Item, ctx: int) -> Any:
    try:
        return codec_for(cls).decode(header, ctx)
    except InvalidMessage:
        raise
    except ModelError as exc:
        raise InvalidMessage(f"message header cannot be parsed: {exc.message}") from exc


def _check_message(others: list[Item], batch: list[Item], batch_count: int, ctx: int) -> None:
    if others and ctx & STRICT:
        raise InvalidMessage("unknown field in message")
    if not batch:
        raise InvalidMessage("message without Batch Item")
    if batch_count != len(batch):
        raise InvalidMessage("Batch Count does not match the Batch Items")


def _peek_batch_item(item: Item) -> tuple[Operation | int | None, bytes | None]:
    """Best-effort Operation and Unique Batch Item ID of a batch item that failed to decode."""
    operation: Operation | int | None = None
    batch_id: bytes | None = None
    value = getattr(item, "value", None)
    if type(value) is tuple:
        for child in value:
            tag = getattr(child, "tag", None)
            child_value = getattr(child, "value", None)
            if tag == _OPERATION and type(child_value) is int:
                operation = _OPERATION_BY_VALUE.get(child_value, child_value)  # type: ignore[assignment]
            elif tag == _UNIQUE_BATCH_ITEM_ID and type(child_value) is bytes:
                batch_id = child_value
    return operation, batch_id


def _annotate(error: ModelError, item: Item, index: int) -> ModelError:
    error.operation, error.unique_batch_item_id = _peek_batch_item(item)
    error.batch_index = index
    return error


def _decode_message(
    item: Item, kind: tuple[int, int, type, type], raise_first: bool
) -> tuple[Any, tuple[Any, ...]]:
    """The decoded header and batch items (or, with ``raise_first`` False, their errors)."""
    message_tag, header_tag, header_cls, batch_cls = kind
    header_item, batch, others = _message_parts(item, message_tag, header_tag)
    ctx = _context(_peek_version(header_item))
    header = _decode_header(header_cls, header_item, ctx)
    _check_message(others, batch, header.batch_count, ctx)
    decode_item = codec_for(batch_cls).decode
    items: list[Any] = []
    for index, batch_item in enumerate(batch):
        try:
            items.append(decode_item(batch_item, ctx))
        except ModelError as exc:
            _annotate(exc, batch_item, index)
            if raise_first:
                raise
            items.append(exc)
    return header, tuple(items)


def _pair_builder(cls: type) -> Callable[[Any, Any], Any]:
    """``cls(first, second)`` for a frozen slotted dataclass of two fields, through its slots (the
    same object its ``__init__`` makes, without two ``object.__setattr__`` calls)."""
    first, second = (cls.__dict__[f.name].__set__ for f in dataclasses.fields(cls))
    new = object.__new__

    def build(a: Any, b: Any) -> Any:
        obj: Any = new(cls)
        first(obj, a)
        second(obj, b)
        return obj

    return build


_new_decoded_request = _pair_builder(DecodedRequest)
_new_request_message = _pair_builder(RequestMessage)
_new_response_message = _pair_builder(ResponseMessage)


def decode_request_batch(item: Item) -> DecodedRequest:
    """Decode a Request Message for a server: see the module docstring.

    Raises ``ModelError`` (InvalidMessage) for message-level problems only.
    """
    header, items = _decode_message(item, _REQUEST, raise_first=False)
    result: DecodedRequest = _new_decoded_request(header, items)
    return result


def decode_request(item: Item) -> RequestMessage:
    """Decode a Request Message; raises the first ``ModelError`` (annotated with its batch item)."""
    header, items = _decode_message(item, _REQUEST, raise_first=True)
    result: RequestMessage = _new_request_message(header, items)
    return result


def decode_response(item: Item) -> ResponseMessage:
    """Decode a Response Message; raises the first ``ModelError`` (annotated with its batch item)."""
    header, items = _decode_message(item, _RESPONSE, raise_first=True)
    result: ResponseMessage = _new_response_message(header, items)
    return result


def decode_response_payload(operation: Operation, item: Item, version: Version = (1, 4)) -> ResponsePayload:
    """Decode a raw Response Payload Item (a Poll's) as the payload of ``operation``."""
    return _decode_response_payload(item, _context(version), operation)


# --------------------------------------------------------------------------------------------
# Encoding


def encode_request(message: RequestMessage) -> Item:
    """The Item of ``message`` for the protocol version in its header."""
    version = message.request_header.protocol_version.version
    return make_item(_REQUEST_MESSAGE, _STRUCTURE, codec_for(RequestMessage).encode(message, version))


def encode_response(message: ResponseMessage) -> Item:
    """The Item of ``message`` for the protocol version in its header."""
    version = message.response_header.protocol_version.version
    return make_item(_RESPONSE_MESSAGE, _STRUCTURE, codec_for(ResponseMessage).encode(message, version))


# --------------------------------------------------------------------------------------------
# Preparation


def prepare_codecs() -> int:
    """Compile every codec now rather than on first use (a server calls this at start-up so
    that no request pays for it); returns how many message classes were compiled."""
    from kmip_server.model.attribute_table import ATTRIBUTES  # noqa: PLC0415
    from kmip_server.model.attributes import attribute_value_codec  # noqa: PLC0415
    from kmip_server.model.base import CREDENTIAL_VALUE_TYPES, TRANSPARENT_KEY_TYPES  # noqa: PLC0415
    from kmip_server.model.objects import MANAGED_OBJECTS  # noqa: PLC0415

    classes: set[type] = {RequestMessage, ResponseMessage}
    for spec in OPERATIONS.values():
        classes.add(spec.request)
        if spec.response is not None:
            classes.add(spec.response)
    classes.update(cls for _tag, cls in MANAGED_OBJECTS.values())
    classes.update(TRANSPARENT_KEY_TYPES.values())
    classes.update(CREDENTIAL_VALUE_TYPES.values())
    for cls in classes:
        codec_for(cls)
    for name in ATTRIBUTES:
        attribute_value_codec(name)
    return len(classes)


# --------------------------------------------------------------------------------------------
# Bytes


def _ttlv_decode(data: bytes | bytearray | memoryview, limits: Limits) -> Item:
    try:
        return ttlv.decode(data, limits)
    except ttlv.DecodeError as exc:
        raise InvalidMessage("message is not valid TTLV") from exc


def _to_bytes(message: Any, tag: int, version: Version, encode_message: Callable[[Any], Item]) -> bytes:
    try:
        if type(message) is RequestMessage or type(message) is ResponseMessage:
            return struct_to_bytes(message, tag, version)
        return ttlv.encode(encode_message(message))  # not quite a message: as encode_* treats it
    except ttlv.EncodeError as exc:
        raise ModelEncodeError("message cannot be encoded as TTLV") from exc


def request_from_bytes(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> RequestMessage:
    """``decode_request`` of the TTLV ``data`` (invalid TTLV: InvalidMessage, cause chained)."""
    return decode_request(_ttlv_decode(data, limits))


def request_to_bytes(message: RequestMessage) -> bytes:
    """The TTLV bytes of ``encode_request(message)`` (written without building its Items)."""
    version = message.request_header.protocol_version.version
    return _to_bytes(message, _REQUEST_MESSAGE, version, encode_request)


def response_from_bytes(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> ResponseMessage:
    """``decode_response`` of the TTLV ``data`` (invalid TTLV: InvalidMessage, cause chained)."""
    return decode_response(_ttlv_decode(data, limits))


def response_to_bytes(message: ResponseMessage) -> bytes:
    """The TTLV bytes of ``encode_response(message)`` (written without building its Items)."""
    version = message.response_header.protocol_version.version
    return _to_bytes(message, _RESPONSE_MESSAGE, version, encode_response)
