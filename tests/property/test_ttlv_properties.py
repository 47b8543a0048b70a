"""Property tests of the TTLV codec and framer (hypothesis).

- every Item tree round-trips, and its encoding is the only one decode accepts for it;
- any bytes, random or mutated from a valid encoding, decode or raise a TTLVError;
- limits refuse huge declared lengths and deep nesting with memory bounded by the input;
- the Framer yields the same messages however the stream is cut.

Every test runs with each decode loop, Python and C (tests/support/ttlv_decoders.py);
test_ttlv_differential.py compares the two directly.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from ttlv import DEFAULT_LIMITS, Framer, Item, ItemType, Limits, decode, decode_prefix, dump, encode
from ttlv.errors import LimitExceeded, MessageTooLarge, NestingTooDeep, TooManyItems, TTLVError

T = ItemType
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

tags = st.one_of(
    st.sampled_from([0x420001, 0x42000D, 0x420094, 0x42FFFF, 0x540000, 0x54FFFF]),
    st.integers(0x420001, 0x42FFFF),
    st.integers(0x540000, 0x54FFFF),
)
big_integers = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(-(2**2100), 2**2100),
    st.sampled_from([0, -1, 2**63, -(2**63), 2**63 - 1, -(2**63) - 1, 2**64, -(2**64), 2**127, -(2**127)]),
)
leaves = st.one_of(
    st.builds(Item, tags, st.just(T.INTEGER), st.integers(-(2**31), 2**31 - 1)),
    st.builds(Item, tags, st.just(T.LONG_INTEGER), st.integers(-(2**63), 2**63 - 1)),
    st.builds(Item, tags, st.just(T.BIG_INTEGER), big_integers),
    st.builds(Item, tags, st.just(T.ENUMERATION), st.integers(0, 2**32 - 1)),
    st.builds(Item, tags, st.just(T.BOOLEAN), st.booleans()),
    st.builds(Item, tags, st.just(T.TEXT_STRING), st.text(max_size=40)),
    st.builds(Item, tags, st.just(T.BYTE_STRING), st.binary(max_size=40)),
    st.builds(Item, tags, st.just(T.DATE_TIME), st.integers(-(2**63), 2**63 - 1)),
    st.builds(Item, tags, st.just(T.INTERVAL), st.integers(0, 2**32 - 1)),
)


def structures(members: st.SearchStrategy[Item]) -> st.SearchStrategy[Item]:
    return st.builds(Item, tags, st.just(T.STRUCTURE), st.lists(members, max_size=6).map(tuple))


items = st.recursive(leaves, structures, max_leaves=40)
messages = structures(items)


def check_oracle(data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Decode returns or raises a TTLVError; what it accepts re-encodes identically."""
    try:
        item = decode(data, limits)
    except TTLVError:
        return
    assert encode(item) == data
    dump(item)


# --------------------------------------------------------------------------------------------
# Round trips


@SETTINGS
@given(items)
def test_round_trip(item: Item) -> None:
    wire = encode(item)
    assert len(wire) % 8 == 0
    decoded = decode(wire, Limits(max_depth=64))
    assert decoded == item
    assert encode(decoded) == wire


@settings(SETTINGS, max_examples=60)
@given(st.lists(items, min_size=1, max_size=3))
def test_decode_prefix_walks_concatenated_items(sequence: list[Item]) -> None:
    wire = b"".join(encode(item) for item in sequence)
    position, decoded = 0, []
    while position < len(wire):
        item, position = decode_prefix(wire, Limits(max_depth=64), start=position)
        decoded.append(item)
    assert decoded == sequence


# --------------------------------------------------------------------------------------------
# Hostile input


@SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    check_oracle(data)
    check_oracle(data, Limits(max_message_size=64, max_depth=2, max_items=5))


def header_like_chunk() -> st.SearchStrategy[bytes]:
    """Bytes that look like TTLV headers and values, to get past the first checks."""
    header = st.builds(
        lambda tag, code, length: struct.pack(">I", tag)[1:] + bytes([code]) + struct.pack(">I", length),
        tags,
        st.one_of(st.integers(1, 10), st.integers(0, 255)),
        st.one_of(st.sampled_from([0, 4, 8, 16, 24, 2**31, 2**32 - 1]), st.integers(0, 64)),
    )
    return st.one_of(header, st.binary(min_size=1, max_size=16), st.just(bytes(8)))


@SETTINGS
@given(st.lists(header_like_chunk(), max_size=12).map(b"".join))
def test_header_shaped_garbage(data: bytes) -> None:
    check_oracle(data)


Mutation = Callable[[bytearray], None]


def mutations(size: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    position = st.integers(0, max(size - 1, 0))
    return st.lists(
        st.tuples(
            st.sampled_from(["flip", "set", "insert", "delete", "truncate", "length"]),
            position,
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    )


def apply(data: bytearray, steps: list[tuple[str, int, int]]) -> bytes:
    for kind, wanted, byte in steps:
        position = min(wanted, len(data))
        if kind == "flip" and position < len(data):
            data[position] ^= 1 << (byte & 7)
        elif kind == "set" and position < len(data):
            data[position] = byte
        elif kind == "insert":
            data[position:position] = bytes([byte]) * (1 + byte % 8)
        elif kind == "delete":
            del data[position : position + 1 + byte % 8]
        elif kind == "truncate":
            del data[position:]
        elif kind == "length":  # rewrite a 4-byte big-endian word at an 8-byte boundary + 4
            at = (position & ~7) + 4
            if at + 4 <= len(data):
                data[at : at + 4] = struct.pack(">I", [0, 2**31, 2**32 - 1, byte, byte * 8][byte % 5])
    return bytes(data)


@SETTINGS
@given(st.data())
def test_mutated_encodings(data: st.DataObject) -> None:
    wire = encode(data.draw(messages))
    mutated = apply(bytearray(wire), data.draw(mutations(len(wire))))
    check_oracle(mutated)
    check_oracle(mutated, Limits(max_message_size=256, max_depth=3, max_items=16))


# --------------------------------------------------------------------------------------------
# Limits refuse early, with memory bounded by the input, not by what it declares


def peak_allocation(function: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with contextlib.suppress(TTLVError):
            function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_declared_length_of_2_pow_31_allocates_nothing_proportional() -> None:
    wire = struct.pack(">I", 0x420078)[1:] + b"\x01" + struct.pack(">I", 2**31) + bytes(8)

    with pytest.raises(MessageTooLarge):
        decode(wire)
    assert peak_allocation(lambda: decode(wire)) < 16 * 1024
    # Even a limit that allows it does not make the decoder trust the declared length.
    generous = Limits(max_message_size=2**40)
    assert peak_allocation(lambda: decode(wire, generous)) < 16 * 1024
    assert peak_allocation(lambda: decode(bytearray(wire), generous)) < 16 * 1024
    framer = Framer()
    assert peak_allocation(lambda: framer.feed(wire)) < 16 * 1024
    assert framer.buffered == 0


def nested_headers(depth: int) -> bytes:
    """``depth`` Structure headers, each claiming the rest: the cheapest deep nesting."""
    return b"".join(
        struct.pack(">I", 0x420078)[1:] + b"\x01" + struct.pack(">I", 8 * (depth - 1 - level))
        for level in range(depth)
    )


def test_deep_nesting_is_refused_at_the_limit_cheaply() -> None:
    wire = nested_headers(100_000)
    limits = Limits(max_message_size=len(wire))
    with_limit = peak_allocation(lambda: decode(wire, limits))
    assert with_limit < 64 * 1024  # 32 levels, not 100 000
    with pytest.raises(NestingTooDeep) as caught:
        decode(wire, limits)
    assert caught.value.offset == 32 * 8


def test_deep_nesting_within_a_generous_limit_costs_memory_in_proportion_to_the_input() -> None:
    depth = 20_000
    wire = nested_headers(depth)
    limits = Limits(max_message_size=len(wire), max_depth=depth, max_items=depth)
    peak = peak_allocation(lambda: decode(wire, limits))
    assert peak < 64 * len(wire)  # a few hundred bytes per 8-byte level, no recursion


def test_item_count_is_refused_at_the_limit() -> None:
    member = struct.pack(">I", 0x42000D)[1:] + b"\x02" + struct.pack(">I", 4) + bytes(8)
    count = 65_535
    wire = struct.pack(">I", 0x420078)[1:] + b"\x01" + struct.pack(">I", 16 * count) + member * count
    limits = Limits(max_items=1000)
    with pytest.raises(TooManyItems) as caught:
        decode(wire, limits)
    assert caught.value.offset == 8 + 999 * 16
    assert peak_allocation(lambda: decode(wire, limits)) < 1000 * 512


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 255))
def test_any_declared_length_on_a_short_input_is_refused(length: int, code: int) -> None:
    wire = struct.pack(">I", 0x420078)[1:] + bytes([code]) + struct.pack(">I", length) + bytes(8)
    try:
        decode(wire)
    except LimitExceeded:
        assert length > 2**20 - 16
    except TTLVError:
        pass


# --------------------------------------------------------------------------------------------
# Framer


@settings(SETTINGS, max_examples=60)
@given(st.lists(messages, min_size=1, max_size=3), st.lists(st.integers(0, 4000), max_size=10))
def test_framer_cuts_anywhere(sequence: list[Item], cuts: list[int]) -> None:
    encoded = [encode(message) for message in sequence]
    stream = b"".join(encoded)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    framer = Framer(Limits(max_depth=64))
    received: list[bytes] = []
    for start, stop in itertools.pairwise(points):
        framer.feed(stream[start:stop])
        received.extend(framer)
    framer.end_of_stream()
    assert received == encoded
    assert [decode(message, Limits(max_depth=64)) for message in received] == sequence


@SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=8))
def test_framer_on_garbage_only_raises_decode_errors(stream: bytes, sizes: list[int]) -> None:
    framer = Framer(Limits(max_message_size=128))
    position = 0
    try:
        for size in [*sizes, len(stream)]:
            framer.feed(stream[position : position + size])
            position += size
            for message in framer:
                assert len(message) % 8 == 0
                assert len(message) <= 128
        framer.end_of_stream()
    except TTLVError:
        assert framer.broken is not None
