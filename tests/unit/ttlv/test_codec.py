"""Unit tests of ttlv.codec: every decode error with its offset, every limit, encode checks."""

from __future__ import annotations

import struct
from enum import IntEnum, StrEnum

import pytest

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from ttlv import DEFAULT_LIMITS, Item, ItemType, Limits, decode, decode_prefix, encode
from ttlv.codec import tag_is_valid
from ttlv.errors import (
    DecodeError,
    EncodeError,
    LimitExceeded,
    MessageTooLarge,
    NestingTooDeep,
    TooManyItems,
    TTLVError,
)
from ttlv.kmip14 import CryptographicUsageMask, ObjectType, Tag

T = ItemType
TAG = 0x420020


def header(tag: int, code: int, length: int) -> bytes:
    return struct.pack(">I", tag)[1:] + bytes([code]) + struct.pack(">I", length)


def structure(*members: bytes, tag: int = TAG, length: int | None = None) -> bytes:
    body = b"".join(members)
    return header(tag, 0x01, len(body) if length is None else length) + body


def integer(value: int, tag: int = 0x420004) -> bytes:
    return header(tag, 0x02, 4) + struct.pack(">i", value) + bytes(4)


def decode_error(data: bytes, limits: Limits = DEFAULT_LIMITS) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(data, limits)
    return caught.value


# --------------------------------------------------------------------------------------------
# Round trips of each type (the spec examples are in tests/vectors)


@pytest.mark.parametrize(
    ("itype", "value", "length", "value_bytes"),
    [
        (T.INTEGER, -1, 4, b"\xff\xff\xff\xff" + bytes(4)),
        (T.INTEGER, -(2**31), 4, b"\x80\x00\x00\x00" + bytes(4)),
        (T.INTEGER, 2**31 - 1, 4, b"\x7f\xff\xff\xff" + bytes(4)),
        (T.LONG_INTEGER, -(2**63), 8, b"\x80" + bytes(7)),
        (T.LONG_INTEGER, 2**63 - 1, 8, b"\x7f" + b"\xff" * 7),
        (T.BIG_INTEGER, 0, 8, bytes(8)),
        (T.BIG_INTEGER, -1, 8, b"\xff" * 8),
        (T.BIG_INTEGER, 2**63, 16, bytes(8) + b"\x80" + bytes(7)),
        (T.BIG_INTEGER, -(2**63), 8, b"\x80" + bytes(7)),
        (T.BIG_INTEGER, -(2**63) - 1, 16, b"\xff" * 8 + b"\x7f" + b"\xff" * 7),
        (T.ENUMERATION, 2**32 - 1, 4, b"\xff" * 4 + bytes(4)),
        (T.ENUMERATION, 0, 4, bytes(8)),
        (T.BOOLEAN, False, 8, bytes(8)),
        (T.TEXT_STRING, "", 0, b""),
        (T.TEXT_STRING, "12345678", 8, b"12345678"),
        (T.TEXT_STRING, "\u00e9", 2, b"\xc3\xa9" + bytes(6)),
        (T.BYTE_STRING, b"", 0, b""),
        (T.BYTE_STRING, b"\x00" * 9, 9, b"\x00" * 9 + bytes(7)),
        (T.DATE_TIME, -1, 8, b"\xff" * 8),
        (T.INTERVAL, 2**32 - 1, 4, b"\xff" * 4 + bytes(4)),
        (T.STRUCTURE, (), 0, b""),
    ],
)
def test_each_type_round_trips(itype: ItemType, value: object, length: int, value_bytes: bytes) -> None:
    item = Item(TAG, itype, value)  # type: ignore[arg-type]
    wire = header(TAG, itype, length) + value_bytes
    assert encode(item) == wire
    decoded = decode(wire)
    assert decoded == item
    assert type(decoded.value) is type(value)
    assert decoded.type is itype


def test_decoded_items_are_ordinary_items() -> None:
    wire = structure(integer(7), header(0x420005, 0x07, 2) + b"hi" + bytes(6))
    decoded = decode(wire)
    built = Item(TAG, T.STRUCTURE, (Item(0x420004, T.INTEGER, 7), Item(0x420005, T.TEXT_STRING, "hi")))
    assert decoded == built
    assert hash(decoded) == hash(built)
    assert {decoded: 1}[built] == 1
    with pytest.raises(AttributeError):
        decoded.tag = 1  # type: ignore[misc]


def test_nested_structures_round_trip() -> None:
    inner = Item(0x420005, T.STRUCTURE, (Item(0x420006, T.BOOLEAN, True), Item(0x420007, T.STRUCTURE, ())))
    outer = Item(TAG, T.STRUCTURE, (inner, Item(0x540001, T.BYTE_STRING, b"\x01")))
    assert decode(encode(outer)) == outer


def test_accepts_bytearray_and_memoryview() -> None:
    wire = structure(integer(1))
    assert decode(bytearray(wire)) == decode(wire) == decode(memoryview(wire))


def test_memoryview_of_wider_items_is_read_as_bytes() -> None:
    wire = structure(integer(1), integer(2))
    assert decode(memoryview(wire).cast("I")) == decode(wire)
    item, end = decode_prefix(memoryview(wire + wire).cast("Q"), start=len(wire))
    assert (item, end) == (decode(wire), 2 * len(wire))


def test_non_contiguous_memoryview_is_a_decode_error() -> None:
    wire = structure(integer(1))
    view = memoryview(wire + wire)[::2]
    with pytest.raises(DecodeError):
        decode(view)


# --------------------------------------------------------------------------------------------
# Tags (section 9.1.1.1)


@pytest.mark.parametrize("tag", [0x420001, 0x420124, 0x42FFFF, 0x540000, 0x54FFFF])
def test_legal_tags(tag: int) -> None:
    assert tag_is_valid(tag)
    assert decode(integer(5, tag=tag)).tag == tag


@pytest.mark.parametrize("tag", [0x000000, 0x420000, 0x410001, 0x430001, 0x53FFFF, 0x550000, 0xFFFFFF])
def test_illegal_tag_rejected_at_its_offset(tag: int) -> None:
    assert not tag_is_valid(tag)
    assert decode_error(integer(5, tag=tag)).offset == 0
    nested = structure(integer(1), integer(5, tag=tag))
    error = decode_error(nested)
    assert error.offset == 8 + 16
    assert "invalid tag" in str(error)


# --------------------------------------------------------------------------------------------
# Every decode error, with its offset


@pytest.mark.parametrize("code", [0x00, 0x0B, 0x10, 0x42, 0xFF])
def test_unknown_item_type(code: int) -> None:
    error = decode_error(structure(integer(1), header(0x420004, code, 8) + bytes(8)))
    assert error.offset == 8 + 16 + 3
    assert "unknown item type" in str(error)


@pytest.mark.parametrize("code", [0x02, 0x05, 0x0A])
@pytest.mark.parametrize("length", [0, 3, 5, 8])
def test_four_byte_types_need_length_4(code: int, length: int) -> None:
    error = decode_error(structure(header(0x420004, code, length) + bytes(8)))
    assert error.offset == 8 + 4
    assert "length must be 4" in str(error)


@pytest.mark.parametrize("code", [0x03, 0x06, 0x09])
@pytest.mark.parametrize("length", [0, 4, 7, 16])
def test_eight_byte_types_need_length_8(code: int, length: int) -> None:
    error = decode_error(structure(header(0x420004, code, length) + bytes(16)))
    assert error.offset == 8 + 4
    assert "length must be 8" in str(error)


@pytest.mark.parametrize("code", [0x02, 0x05, 0x0A])
def test_four_byte_types_need_zero_padding(code: int) -> None:
    wire = structure(integer(1), header(0x420004, code, 4) + bytes(4) + b"\x00\x00\x01\x00")
    error = decode_error(wire)
    assert error.offset == 8 + 16 + 8 + 4
    assert "padding" in str(error)


def test_four_byte_type_without_its_padding_is_truncated() -> None:
    wire = header(0x420004, 0x02, 4) + bytes(4)  # padding missing at the end of the data
    error = decode_error(wire)
    assert error.offset == 4


@pytest.mark.parametrize(("code", "length"), [(0x07, 3), (0x08, 3), (0x07, 1), (0x08, 7)])
def test_string_padding_must_be_zero(code: int, length: int) -> None:
    wire = structure(header(0x420004, code, length) + b"a" * length + b"\x00" * (7 - length) + b"\x01")
    error = decode_error(wire)
    assert error.offset == 8 + 8 + length
    assert "padding" in str(error)


@pytest.mark.parametrize("code", [0x07, 0x08])
def test_string_padding_must_be_present(code: int) -> None:
    wire = structure(header(0x420004, code, 3) + b"abc", length=16)  # 11 bytes in a 16 claim
    error = decode_error(wire)
    assert error.offset == 4  # the top-level Structure claims more than is there


def test_string_overrunning_its_structure() -> None:
    # The inner Structure says 16 bytes; its Text String member needs 24 with padding.
    member = header(0x420004, 0x07, 9) + b"123456789" + bytes(7)
    wire = structure(header(TAG, 0x01, 16) + member)
    error = decode_error(wire)
    assert error.offset == 8 + 8 + 4
    assert "beyond its parent" in str(error)


@pytest.mark.parametrize("raw", [2, 0x100, 0x0100000000000000, 2**64 - 1])
def test_boolean_must_be_0_or_1(raw: int) -> None:
    wire = structure(header(0x420004, 0x06, 8) + struct.pack(">Q", raw))
    error = decode_error(wire)
    assert error.offset == 16
    assert "Boolean" in str(error)


@pytest.mark.parametrize(
    ("value", "bad_at"),
    [(b"\xff", 0), (b"ab\xc3", 2), (b"abc\xed\xa0\x80", 3), (b"\xc0\xaf", 0), (b"ok\xf5\x80\x80\x80", 2)],
)
def test_text_must_be_utf8(value: bytes, bad_at: int) -> None:
    length = len(value)
    wire = structure(header(0x420004, 0x07, length) + value + bytes(-length & 7))
    error = decode_error(wire)
    assert error.offset == 16 + bad_at
    assert "UTF-8" in str(error)


@pytest.mark.parametrize("length", [0, 1, 4, 12, 17])
def test_big_integer_length_multiple_of_8(length: int) -> None:
    wire = structure(header(0x420004, 0x04, length) + bytes((length + 7) & ~7))
    error = decode_error(wire)
    assert error.offset == 8 + 4
    assert "Big Integer" in str(error)


@pytest.mark.parametrize(
    "value_bytes",
    [bytes(16), b"\xff" * 16, bytes(8) + b"\x01" + bytes(7), b"\xff" * 8 + b"\x80" + bytes(7)],
)
def test_big_integer_must_be_minimal(value_bytes: bytes) -> None:
    wire = structure(header(0x420004, 0x04, len(value_bytes)) + value_bytes)
    error = decode_error(wire)
    assert error.offset == 16
    assert "minimal" in str(error)


def test_big_integer_overrunning_its_structure() -> None:
    wire = structure(header(TAG, 0x01, 8) + header(0x420004, 0x04, 8) + bytes(8))
    error = decode_error(wire)
    assert error.offset == 8 + 8 + 4


def test_structure_length_multiple_of_8() -> None:
    wire = structure(header(0x420004, 0x01, 4) + bytes(8))
    error = decode_error(wire)
    assert error.offset == 8 + 4
    assert "multiple of 8" in str(error)


def test_structure_overrunning_its_parent() -> None:
    wire = structure(header(0x420004, 0x01, 24) + integer(1))
    error = decode_error(wire)
    assert error.offset == 8 + 4
    assert "beyond its parent" in str(error)


def test_fixed_member_overrunning_its_structure() -> None:
    wire = structure(header(TAG, 0x01, 8) + integer(1))
    error = decode_error(wire)
    assert error.offset == 8 + 8 + 4


@pytest.mark.parametrize("size", range(8))
def test_truncated_header(size: int) -> None:
    error = decode_error(structure(integer(1))[:size])
    assert error.offset == 0
    assert "truncated" in str(error)


@pytest.mark.parametrize("cut", [9, 16, 23, 31])
def test_truncated_value(cut: int) -> None:
    error = decode_error(structure(integer(1), integer(2))[:cut])
    assert error.offset == 4
    assert "beyond the end" in str(error)


def test_trailing_bytes() -> None:
    wire = structure(integer(1))
    error = decode_error(wire + bytes(8))
    assert error.offset == len(wire)
    assert "follow" in str(error)


def test_decode_errors_are_ttlv_errors_and_never_echo_values() -> None:
    secret = b"\xffSECRETKEYMATERIAL"
    wire = structure(header(0x420004, 0x07, len(secret)) + secret + bytes(-len(secret) & 7))
    error = decode_error(wire)
    assert isinstance(error, TTLVError)
    assert "SECRET" not in str(error)
    assert "SECRET" not in repr(error.args)


# --------------------------------------------------------------------------------------------
# decode_prefix


def test_decode_prefix_leaves_trailing_bytes() -> None:
    first, second = structure(integer(1)), structure(integer(2), tag=0x420021)
    item, end = decode_prefix(first + second)
    assert end == len(first)
    assert item == decode(first)
    item2, end2 = decode_prefix(first + second, start=end)
    assert (item2, end2) == (decode(second), len(first) + len(second))


def test_decode_prefix_offsets_count_from_the_start_of_the_data() -> None:
    good = structure(integer(1))
    bad = structure(integer(1), header(0x420004, 0x06, 8) + struct.pack(">Q", 7))
    for data in (good + bad, bytearray(good + bad), memoryview(good + bad)):
        with pytest.raises(DecodeError) as caught:
            decode_prefix(data, start=len(good))
        assert caught.value.offset == len(good) + 8 + 16 + 8
        assert str(caught.value).count("at offset") == 1
        assert str(caught.value).endswith(f"(at offset {len(good) + 32})")


def test_decode_prefix_start_outside_the_data() -> None:
    with pytest.raises(DecodeError):
        decode_prefix(b"", start=1)
    with pytest.raises(DecodeError):
        decode_prefix(structure(), start=-1)


# --------------------------------------------------------------------------------------------
# Limits


def nested(depth: int) -> bytes:
    wire = b""
    for _ in range(depth):
        wire = structure(wire)
    return wire


def test_depth_exactly_at_the_limit_passes_and_one_more_fails() -> None:
    limits = Limits(max_depth=5)
    item = decode(nested(5), limits)
    assert item.children[0].children[0].children[0].children[0].children == ()
    with pytest.raises(NestingTooDeep) as caught:
        decode(nested(6), limits)
    assert caught.value.offset == 5 * 8  # the sixth Structure's header
    assert caught.value.limit == "max_depth"


def test_scalar_at_top_level_has_depth_zero() -> None:
    assert decode(integer(3), Limits(max_depth=0)).value == 3
    with pytest.raises(NestingTooDeep):
        decode(structure(), Limits(max_depth=0))


def test_items_exactly_at_the_limit_pass_and_one_more_fails() -> None:
    limits = Limits(max_items=4)
    assert len(decode(structure(integer(1), integer(2), integer(3)), limits).children) == 3
    wire = structure(integer(1), integer(2), integer(3), integer(4))
    with pytest.raises(TooManyItems) as caught:
        decode(wire, limits)
    assert caught.value.offset == 8 + 3 * 16  # the fifth item
    assert caught.value.limit == "max_items"


def test_message_exactly_at_the_limit_passes_and_one_block_more_fails() -> None:
    wire = structure(integer(1), integer(2))
    assert decode(wire, Limits(max_message_size=len(wire))).children[1].value == 2
    with pytest.raises(MessageTooLarge) as caught:
        decode(wire, Limits(max_message_size=len(wire) - 1))
    assert caught.value.offset == 0
    assert caught.value.limit == "max_message_size"


def test_declared_length_is_judged_before_the_data() -> None:
    # 16 bytes that declare 2**31: refused by the limit, not by truncation.
    wire = header(TAG, 0x01, 2**31) + bytes(8)
    with pytest.raises(MessageTooLarge) as caught:
        decode_prefix(wire)
    assert caught.value.offset == 4
    assert isinstance(caught.value, LimitExceeded)


def test_declared_length_within_a_huge_limit_is_still_checked_against_the_data() -> None:
    wire = header(TAG, 0x08, 2**32 - 1) + bytes(8)
    with pytest.raises(DecodeError) as caught:
        decode(wire, Limits(max_message_size=2**40))
    assert not isinstance(caught.value, LimitExceeded)
    assert caught.value.offset == 4


def test_deep_nesting_never_recurses() -> None:
    depth = 20_000
    wire = nested(depth)
    with pytest.raises(NestingTooDeep):
        decode(wire)
    item = decode(wire, Limits(max_depth=depth, max_message_size=len(wire), max_items=depth))
    assert encode(item) == wire  # encode is iterative too


# --------------------------------------------------------------------------------------------
# Encoding checks


@pytest.mark.parametrize(
    ("itype", "value"),
    [
        (T.INTEGER, 2**31),
        (T.INTEGER, -(2**31) - 1),
        (T.LONG_INTEGER, 2**63),
        (T.LONG_INTEGER, -(2**63) - 1),
        (T.DATE_TIME, 2**63),
        (T.ENUMERATION, -1),
        (T.ENUMERATION, 2**32),
        (T.INTERVAL, -1),
        (T.INTERVAL, 2**32),
    ],
)
def test_encode_range_checks(itype: ItemType, value: int) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(Item(TAG, T.STRUCTURE, (Item(0x420004, itype, value),)))
    assert caught.value.offset == -1
    assert "out of range" in str(caught.value)


@pytest.mark.parametrize(
    ("itype", "value"),
    [
        (T.INTEGER, True),
        (T.LONG_INTEGER, False),
        (T.BIG_INTEGER, True),
        (T.ENUMERATION, True),
        (T.DATE_TIME, True),
        (T.INTERVAL, False),
        (T.INTEGER, 1.0),
        (T.INTEGER, "1"),
        (T.INTEGER, None),
        (T.BIG_INTEGER, 1.5),
        (T.BOOLEAN, 1),
        (T.BOOLEAN, 0),
        (T.TEXT_STRING, b"bytes"),
        (T.TEXT_STRING, 5),
        (T.BYTE_STRING, "text"),
        (T.BYTE_STRING, memoryview(b"x")),
        (T.STRUCTURE, [Item(0x420004, T.INTEGER, 1)]),
        (T.STRUCTURE, (1, 2)),
        (T.STRUCTURE, None),
    ],
)
def test_encode_type_checks(itype: ItemType, value: object) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(Item(TAG, itype, value))  # type: ignore[arg-type]
    assert caught.value.offset == -1


def test_encode_rejects_a_lone_surrogate() -> None:
    with pytest.raises(EncodeError, match="UTF-8"):
        encode(Item(TAG, T.TEXT_STRING, "a\udc80"))


@pytest.mark.parametrize("tag", [0x420000, 0x430001, -1, 2**40, True, "420020", 0x420020 + 0.5, None])
def test_encode_rejects_illegal_tags(tag: object) -> None:
    with pytest.raises(EncodeError):
        encode(Item(tag, T.INTEGER, 1))  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        encode(Item(TAG, T.STRUCTURE, (Item(tag, T.STRUCTURE, ()),)))  # type: ignore[arg-type]


def test_encode_rejects_unknown_item_types() -> None:
    with pytest.raises(EncodeError, match="unknown item type"):
        encode(Item(TAG, 2, 1))  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        encode(Item(TAG, T.STRUCTURE, (Item(TAG, None, 1),)))  # type: ignore[arg-type]


def test_encode_rejects_non_item_members() -> None:
    with pytest.raises(EncodeError, match="not Item"):
        encode(Item(TAG, T.STRUCTURE, (Item(0x420004, T.INTEGER, 1), (0x420004, T.INTEGER, 1))))  # type: ignore[arg-type]


def test_encode_error_names_the_item_and_not_the_value() -> None:
    with pytest.raises(EncodeError) as caught:
        encode(Item(TAG, T.BYTE_STRING, "SECRET-PASSPHRASE"))
    assert "0x420020" in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_encode_accepts_int_subclasses_and_bytearray() -> None:
    class Small(IntEnum):
        A = 7

    item = Item(
        Tag.KEY_BLOCK,
        T.STRUCTURE,
        (
            Item(Tag.OBJECT_TYPE, T.ENUMERATION, ObjectType.SYMMETRIC_KEY),
            Item(
                Tag.CRYPTOGRAPHIC_USAGE_MASK,
                T.INTEGER,
                CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
            ),
            Item(0x540001, T.LONG_INTEGER, Small.A),
            Item(Tag.KEY_MATERIAL, T.BYTE_STRING, bytearray(b"\x01\x02")),  # type: ignore[arg-type]
        ),
    )
    decoded = decode(encode(item))
    assert [child.value for child in decoded.children] == [2, 12, 7, b"\x01\x02"]
    assert type(decoded.children[3].value) is bytes
    assert decoded.tag == Tag.KEY_BLOCK


def test_encode_accepts_str_subclasses() -> None:
    class Name(StrEnum):
        DEFAULT = "default"

    assert decode(encode(Item(TAG, T.TEXT_STRING, Name.DEFAULT))).value == "default"


def test_encode_never_recurses() -> None:
    item = Item(TAG, T.INTEGER, 1)
    for _ in range(50_000):
        item = Item(TAG, T.STRUCTURE, (item,))
    wire = encode(item)
    assert len(wire) == 50_000 * 8 + 16
    assert wire[-16:] == integer(1, tag=TAG)
