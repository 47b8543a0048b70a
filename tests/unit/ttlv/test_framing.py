"""Unit tests of ttlv.framing.Framer: partial input, limits, broken streams."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from ttlv import Framer, Limits, decode
from ttlv.errors import DecodeError, MessageTooLarge

from .test_codec import header, integer, structure

MESSAGE = structure(integer(1), integer(2))
OTHER = structure(integer(3), tag=0x420021)


def test_partial_header_needs_more_bytes() -> None:
    framer = Framer()
    assert framer.bytes_needed == 8
    for n, byte in enumerate(MESSAGE[:7], start=1):
        framer.feed(bytes([byte]))
        assert framer.next_message() is None
        assert framer.bytes_needed == 8 - n
    framer.feed(MESSAGE[7:8])
    assert framer.bytes_needed == len(MESSAGE) - 8
    assert framer.next_message() is None


def test_byte_by_byte_yields_the_message_once() -> None:
    framer = Framer()
    messages: list[bytes] = []
    for byte in MESSAGE + OTHER:
        framer.feed(bytes([byte]))
        messages.extend(framer)
    assert messages == [MESSAGE, OTHER]
    assert framer.buffered == 0
    framer.end_of_stream()


def test_several_messages_in_one_feed() -> None:
    framer = Framer()
    framer.feed(MESSAGE + OTHER + MESSAGE[:5])
    assert list(framer) == [MESSAGE, OTHER]
    assert framer.buffered == 5
    assert framer.bytes_needed == 3


def test_zero_length_structure_is_a_message() -> None:
    framer = Framer()
    empty = structure()
    framer.feed(empty)
    assert framer.bytes_needed == 0
    assert framer.next_message() == empty
    assert decode(empty).children == ()
    assert framer.next_message() is None


def test_message_exactly_at_the_limit() -> None:
    framer = Framer(Limits(max_message_size=len(MESSAGE)))
    framer.feed(MESSAGE)
    assert framer.next_message() == MESSAGE


def test_message_one_block_over_the_limit_is_refused_from_its_header() -> None:
    framer = Framer(Limits(max_message_size=len(MESSAGE) - 1))
    with pytest.raises(MessageTooLarge) as caught:
        framer.feed(MESSAGE[:8])  # the header alone is enough to refuse it
    assert caught.value.offset == 4
    assert framer.buffered == 0


def test_huge_declared_length_is_refused_without_buffering() -> None:
    framer = Framer()
    with pytest.raises(MessageTooLarge):
        framer.feed(header(0x420078, 0x01, 2**31))
    assert framer.buffered == 0


def test_offsets_count_from_the_start_of_the_stream() -> None:
    framer = Framer(Limits(max_message_size=64))
    framer.feed(MESSAGE + header(0x420078, 0x01, 1024))
    assert framer.next_message() == MESSAGE  # a good message before the bad one still comes out
    with pytest.raises(MessageTooLarge) as caught:
        framer.next_message()
    assert caught.value.offset == len(MESSAGE) + 4


def test_top_level_item_must_be_a_structure() -> None:
    framer = Framer()
    with pytest.raises(DecodeError, match="not a Structure") as caught:
        framer.feed(integer(1))
    assert caught.value.offset == 3


def test_not_ttlv_at_all() -> None:
    framer = Framer()
    with pytest.raises(DecodeError, match="invalid tag") as caught:
        framer.feed(b"GET / HTTP/1.1\r\n")
    assert caught.value.offset == 0


def test_structure_length_must_be_a_multiple_of_8() -> None:
    framer = Framer()
    with pytest.raises(DecodeError, match="multiple of 8") as caught:
        framer.feed(header(0x420078, 0x01, 12))
    assert caught.value.offset == 4


def test_once_broken_stays_broken() -> None:
    framer = Framer()
    with pytest.raises(DecodeError) as first:
        framer.feed(b"\x00" * 8)
    assert framer.broken is first.value
    actions: list[Callable[[], object]] = [
        lambda: framer.feed(MESSAGE),
        framer.next_message,
        framer.end_of_stream,
        lambda: list(framer),
    ]
    for action in actions:
        with pytest.raises(DecodeError) as again:
            action()
        assert again.value is first.value
    with pytest.raises(DecodeError):
        _ = framer.bytes_needed


def test_end_of_stream_inside_a_message() -> None:
    framer = Framer()
    framer.feed(MESSAGE + MESSAGE[:3])
    assert framer.next_message() == MESSAGE
    with pytest.raises(DecodeError, match="ended inside") as caught:
        framer.end_of_stream()
    assert caught.value.offset == len(MESSAGE) + 3


def test_clean_end_of_stream() -> None:
    framer = Framer()
    framer.feed(MESSAGE)
    assert framer.next_message() == MESSAGE
    framer.end_of_stream()
    assert framer.broken is None


def test_accepts_bytearray_and_memoryview() -> None:
    framer = Framer()
    framer.feed(bytearray(MESSAGE[:10]))
    framer.feed(memoryview(MESSAGE)[10:])
    message = framer.next_message()
    assert message == MESSAGE
    assert type(message) is bytes


def test_empty_feed_changes_nothing() -> None:
    framer = Framer()
    framer.feed(b"")
    assert framer.next_message() is None
    framer.end_of_stream()
