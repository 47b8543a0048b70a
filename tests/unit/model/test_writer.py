"""The model's writer (``struct_to_bytes``, ``request_to_bytes``, ``response_to_bytes``) gives
exactly what encoding through Items gives: the same bytes, or the same exception.

Three sources of objects: a sample of every model class (full and minimal) at every protocol
version; every message of the 75 OASIS test cases; and valid messages with one value somewhere
replaced by a hostile one (a bool for an int, an int for an enumeration, text that is not UTF-8,
a value out of range, an object of another class...). For well-typed objects the writer must also
get there on its own, without falling back to Items (else it would be right but slow).
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ttlv
from kmip_server.model import (
    OPERATIONS,
    ModelEncodeError,
    ProtocolVersion,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_to_bytes,
    response_to_bytes,
)
from kmip_server.model import codec as model_codec
from kmip_server.model.codec import Version, codec_for, encode_struct, struct_to_bytes
from tests.unit.model.samples import model_classes, sample
from ttlv.codec import structure_header
from ttlv.item import Item, ItemType
from ttlv.kmip14 import CryptographicUsageMask, ObjectType, ResultStatus, Tag
from ttlv.xml import Placeholders, from_xml_document

CLASSES = model_classes()
TAG = 0x420001
VERSIONS: list[Version] = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]
CASES = Path(__file__).resolve().parents[3] / "vectors" / "kmip-1.4" / "test-cases"


def outcome(call: Any) -> tuple[Any, ...]:
    """What ``call()`` gives: ("bytes", the bytes) or ("raises", type, text, cause type, cause text)."""
    try:
        return ("bytes", call())
    except Exception as exc:  # the exception is the outcome compared
        cause = exc.__cause__
        return ("raises", type(exc), str(exc), type(cause), str(cause))


def through_items(obj: Any, tag: int, version: Version) -> bytes:
    return ttlv.encode(encode_struct(obj, tag, version))


def written_directly(obj: Any, tag: int, version: Version) -> bytes:
    """The writer alone: any value it does not handle raises instead of falling back."""
    out: list[bytes | bytearray] = [b""]
    length = codec_for(type(obj)).write(obj, model_codec._writing_version(version), out)
    out[0] = structure_header(tag, length)
    return b"".join(out)


def message_through_items(message: RequestMessage | ResponseMessage) -> bytes:
    """What ``request_to_bytes`` / ``response_to_bytes`` gave before the writer existed."""
    try:
        if isinstance(message, RequestMessage):
            return ttlv.encode(encode_request(message))
        return ttlv.encode(encode_response(message))
    except ttlv.EncodeError as exc:
        raise ModelEncodeError("message cannot be encoded as TTLV") from exc


def message_written(message: RequestMessage | ResponseMessage) -> bytes:
    if isinstance(message, RequestMessage):
        return request_to_bytes(message)
    return response_to_bytes(message)


# --------------------------------------------------------------------------------------------
# Well-typed objects: the same bytes, by the writer alone


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
@pytest.mark.parametrize("full", [True, False], ids=["full", "minimal"])
def test_every_class_is_written_as_its_items_encode(cls: type, full: bool) -> None:
    value = sample(cls, full=full)
    for version in VERSIONS:
        expected = outcome(lambda version=version: through_items(value, TAG, version))
        assert outcome(lambda version=version: struct_to_bytes(value, TAG, version)) == expected
        if expected[0] == "bytes":
            assert written_directly(value, TAG, version) == expected[1]


def _oasis_messages() -> list[Any]:
    found = []
    for path in sorted(CASES.glob("*/*.xml")):
        for item in from_xml_document(path.read_bytes(), placeholders=Placeholders()):
            found.append(decode_request(item) if item.tag == Tag.REQUEST_MESSAGE else decode_response(item))
    return found


OASIS = _oasis_messages()


def test_every_oasis_message_is_written_as_its_items_encode() -> None:
    assert len(OASIS) > 150
    for message in OASIS:
        expected = message_through_items(message)
        assert message_written(message) == expected
        header = message.request_header if isinstance(message, RequestMessage) else message.response_header
        tag = Tag.REQUEST_MESSAGE if isinstance(message, RequestMessage) else Tag.RESPONSE_MESSAGE
        assert written_directly(message, tag, header.protocol_version.version) == expected


def test_the_comparison_can_fail() -> None:
    message = OASIS[0]
    assert isinstance(message, RequestMessage)
    other = dataclasses.replace(
        message, request_header=dataclasses.replace(message.request_header, batch_order_option=True)
    )
    assert message_written(other) != message_through_items(message)


def test_a_deferred_structure_cannot_be_encoded_outside_the_writer() -> None:
    writing = model_codec._writing_version((1, 4))
    deferred = encode_struct(ProtocolVersion(major=1, minor=4), Tag.PROTOCOL_VERSION, writing)
    assert writing == (1, 4)
    with pytest.raises(ttlv.EncodeError):
        ttlv.encode(deferred)
    with pytest.raises(ttlv.EncodeError):
        ttlv.encode(Item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, (deferred,)))


# --------------------------------------------------------------------------------------------
# Hostile values: the same bytes or the same exception


def _valid_messages() -> list[RequestMessage | ResponseMessage]:
    classes = set(CLASSES)
    found: list[RequestMessage | ResponseMessage] = []
    for spec in OPERATIONS.values():
        if spec.request in classes:
            found.append(
                RequestMessage(
                    request_header=RequestHeader(
                        protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1
                    ),
                    batch_items=(
                        RequestBatchItem(operation=spec.operation, request_payload=sample(spec.request)),
                    ),
                )
            )
        if spec.response is not None and spec.response in classes:
            found.append(
                ResponseMessage(
                    response_header=ResponseHeader(
                        protocol_version=ProtocolVersion(major=1, minor=2), time_stamp=0, batch_count=1
                    ),
                    batch_items=(
                        ResponseBatchItem(
                            operation=spec.operation,
                            result_status=ResultStatus.SUCCESS,
                            response_payload=sample(spec.response),
                        ),
                    ),
                )
            )
    return found


VALID = _valid_messages()


class _Text(str):
    __slots__ = ()


class _Other(IntEnum):
    ONE = 1
    BIG = 0x7FFFFFFF


HOSTILE: list[Any] = [
    True,
    False,
    0,
    1,
    -1,
    256,
    0x80000001,
    1 << 31,
    1 << 40,
    1 << 64,
    -(1 << 63) - 1,
    1.0,
    "text",
    "",
    "\udc80",
    _Text("sub"),
    b"bytes",
    bytearray(b"\x00\x01"),
    None,
    (),
    (1, 2),
    [1],
    _Other.ONE,
    _Other.BIG,
    ObjectType.SYMMETRIC_KEY,
    CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
    Item(0x540001, ItemType.TEXT_STRING, "raw"),
    Item(Tag.ATTRIBUTE_VALUE, ItemType.INTEGER, True),
    Item(0x420000, ItemType.INTEGER, 1),
    ProtocolVersion(major=1, minor=4),
    ProtocolVersion(major=True, minor=-1),
    object(),
]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every field of every model object inside ``value`` (fields by name, tuple members
    by index)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, tuple):
        for index, member in enumerate(value):
            found += _nodes(member, (*path, index))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            found.append((*path, f.name))
            found += _nodes(getattr(value, f.name), (*path, f.name))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        members = list(value)
        members[step] = _replaced(members[step], rest, new)
        return tuple(members)
    # object.__new__ and setattr through the slots: no __init__, exactly like a decoder builds it.
    copy = object.__new__(type(value))
    for f in dataclasses.fields(value):
        current = getattr(value, f.name)
        object.__setattr__(copy, f.name, _replaced(current, rest, new) if f.name == step else current)
    return copy


@st.composite
def hostile_messages(draw: st.DrawFn) -> RequestMessage | ResponseMessage:
    message = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_nodes(message)))
        message = _replaced(message, path, draw(st.sampled_from(HOSTILE)))
    return message


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_messages())
def test_hostile_values_give_the_same_bytes_or_the_same_exception(message: Any) -> None:
    assert outcome(lambda: message_written(message)) == outcome(lambda: message_through_items(message))


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
def test_each_hostile_value_in_each_field_of_a_create_request(value: Any) -> None:
    message = next(m for m in VALID if isinstance(m, RequestMessage) and m.batch_items[0].operation == 1)
    for path in _nodes(message):
        changed = _replaced(message, path, value)
        assert outcome(lambda changed=changed: message_written(changed)) == outcome(
            lambda changed=changed: message_through_items(changed)
        ), path


def test_a_refused_value_leaves_no_item_behind_for_an_equal_valid_one() -> None:
    """The encoders reuse Items of repeated values; True (== 1) and 1.0 (== 1) are refused by ttlv
    in an Integer field, and must not be kept as the Item of 1 (nor borrow it)."""
    bad: Any
    for bad in (True, 1.0):
        with pytest.raises(ttlv.EncodeError):
            through_items(ProtocolVersion(major=bad, minor=4), TAG, (1, 4))
        assert (
            ttlv.decode(through_items(ProtocolVersion(major=1, minor=4), TAG, (1, 4))).children[0].value == 1
        )
        with pytest.raises(ttlv.EncodeError):
            through_items(ProtocolVersion(major=bad, minor=4), TAG, (1, 4))
