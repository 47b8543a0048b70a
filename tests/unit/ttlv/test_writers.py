"""The pieces ttlv lends a layer that writes messages itself: ``encode_into``, ``item_writer``,
``structure_header`` and ``structure_header_packer`` give what ``encode`` gives, checks included."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ttlv.codec import encode, encode_into, item_writer, structure_header, structure_header_packer
from ttlv.errors import EncodeError
from ttlv.item import Item, ItemType

LEAF_TYPES = [t for t in ItemType if t is not ItemType.STRUCTURE]
VALUES: list[Any] = [
    0,
    1,
    -1,
    True,
    False,
    (1 << 31) - 1,
    1 << 31,
    -(1 << 31) - 1,
    (1 << 63) - 1,
    1 << 63,
    -(1 << 63) - 1,
    1 << 64,
    (1 << 130) + 5,
    -(1 << 130),
    1.5,
    "",
    "text",
    "é" * 9,
    "\udc80",
    b"",
    b"\x01" * 9,
    bytearray(b"\x02" * 3),
    None,
    (),
    ItemType.BOOLEAN,
]


def outcome(call: Any) -> tuple[Any, ...]:
    try:
        return ("bytes", call())
    except EncodeError as exc:
        return ("EncodeError", str(exc))


def through_writer(tag: int, itype: ItemType, value: Any) -> bytes:
    out: list[bytes | bytearray] = []
    count = item_writer(tag, itype)(value, out)
    joined = b"".join(out)
    assert count == len(joined)
    return joined


@pytest.mark.parametrize("itype", LEAF_TYPES, ids=lambda t: t.name)
def test_item_writer_gives_what_encode_gives(itype: ItemType) -> None:
    for tag in (0x420001, 0x54FFFF):
        for value in VALUES:
            expected = outcome(lambda value=value, tag=tag: encode(Item(tag, itype, value)))
            assert outcome(lambda value=value, tag=tag: through_writer(tag, itype, value)) == expected, value


@given(
    st.sampled_from(LEAF_TYPES),
    st.one_of(st.integers(), st.booleans(), st.text(max_size=20), st.binary(max_size=20), st.floats()),
)
def test_item_writer_gives_what_encode_gives_for_any_value(itype: ItemType, value: Any) -> None:
    expected = outcome(lambda: encode(Item(0x420042, itype, value)))
    assert outcome(lambda: through_writer(0x420042, itype, value)) == expected


def test_item_writer_leaves_byte_strings_uncopied() -> None:
    key = bytearray(b"\x07" * 32)
    out: list[bytes | bytearray] = []
    item_writer(0x420043, ItemType.BYTE_STRING)(key, out)
    assert any(piece is key for piece in out)


@pytest.mark.parametrize("tag", [0x420000, 0x41FFFF, 0x550000, -1, 1 << 24, True, "0x420001", 1.0])
def test_writers_refuse_a_bad_tag_at_once(tag: Any) -> None:
    with pytest.raises(EncodeError):
        item_writer(tag, ItemType.INTEGER)
    with pytest.raises(EncodeError):
        structure_header(tag, 0)
    with pytest.raises(EncodeError):
        structure_header_packer(tag)


def test_item_writer_is_not_for_structures() -> None:
    with pytest.raises(EncodeError):
        item_writer(0x420001, ItemType.STRUCTURE)


def test_structure_header_is_the_header_encode_writes() -> None:
    children = (Item(0x420002, ItemType.INTEGER, 5), Item(0x420003, ItemType.TEXT_STRING, "abc"))
    whole = encode(Item(0x420001, ItemType.STRUCTURE, children))
    out: list[bytes | bytearray] = []
    length = sum(encode_into(child, out) for child in children)
    assert structure_header(0x420001, length) + b"".join(out) == whole
    assert structure_header_packer(0x420001)(length) + b"".join(out) == whole


@pytest.mark.parametrize("length", [-8, 3, 1 << 32, True, 8.0])
def test_structure_header_refuses_a_length_no_structure_has(length: Any) -> None:
    with pytest.raises(EncodeError):
        structure_header(0x420001, length)


def test_structure_header_packer_refuses_what_does_not_fit() -> None:
    with pytest.raises(struct.error):
        structure_header_packer(0x420001)(1 << 32)


def test_encode_into_appends_and_counts() -> None:
    item = Item(0x420001, ItemType.STRUCTURE, (Item(0x420002, ItemType.BYTE_STRING, b"\x01" * 5),))
    out: list[bytes | bytearray] = [b"before"]
    assert encode_into(item, out) == len(encode(item))
    assert out[0] == b"before"
    assert b"".join(out[1:]) == encode(item)


def test_encode_into_raises_what_encode_raises() -> None:
    bad = Item(0x420001, ItemType.STRUCTURE, (Item(0x420002, ItemType.INTEGER, 1 << 40),))
    with pytest.raises(EncodeError) as from_encode:
        encode(bad)
    with pytest.raises(EncodeError) as from_encode_into:
        encode_into(bad, [])
    assert str(from_encode_into.value) == str(from_encode.value)
