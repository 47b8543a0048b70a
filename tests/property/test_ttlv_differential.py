"""Differential tests: the C decode loop (ttlv/_speedups.c) against the Python reference.

On every input, both implementations must give the same outcome through ``decode`` and
``decode_prefix``: the same Item tree (tags, ItemType members, value types and values) or the
same error (class, message, offset). Inputs: arbitrary bytes, header-shaped garbage, and
mutations (tools.fuzz_ttlv's) of the fuzz seeds, the regression vectors and the messages of the
75 OASIS KMIP 1.4 test cases; under default, small, huge and negative limits; with 10,000 levels
of nesting, declared lengths of 2^31 and 2^32-1, every truncation, and bytes, bytearray and
memoryview callers at non-zero start offsets.
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.ttlv_decoders import decoding_with
from tools.fuzz_ttlv import REGRESSION_DIR, SEED_DIR, mutate, walk_headers
from ttlv import DEFAULT_LIMITS, Item, ItemType, Limits, codec, decode, decode_prefix, encode
from ttlv.errors import TTLVError
from ttlv.xml import Placeholders, from_xml_document

pytestmark = pytest.mark.skipif(
    codec._decode_span_c is None, reason="ttlv._speedups is not built (or OPENKCM_TTLV_PURE=1)"
)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OASIS_CASES = Path(__file__).resolve().parents[2] / "vectors" / "kmip-1.4" / "test-cases"
TAG = 0x420078

Outcome = tuple[object, ...]


def flatten(item: object) -> list[tuple[object, ...]]:
    """The tree in preorder as a flat list (comparing it never recurses, whatever the depth)."""
    out: list[tuple[object, ...]] = []
    pending = [item]
    while pending:
        node = pending.pop()
        assert type(node) is Item
        value = node.value
        head = (type(node.tag), node.tag, type(node.type), node.type)
        if node.type is ItemType.STRUCTURE:
            assert type(value) is tuple
            out.append((*head, len(value)))
            pending.extend(reversed(value))
        else:
            out.append((*head, type(value), value))
    return out


def outcome(name: str, call: Callable[[], object]) -> Outcome:
    with decoding_with(name):
        try:
            result = call()
        except Exception as exc:  # the outcome is whatever escapes
            return ("error", type(exc), str(exc), exc.args, getattr(exc, "offset", None))
    if isinstance(result, tuple):  # decode_prefix: (item, end)
        return ("ok", flatten(result[0]), result[1])
    return ("ok", flatten(result))


def assert_same(call: Callable[[], object]) -> Outcome:
    reference = outcome("python", call)
    accelerated = outcome("c", call)
    assert accelerated == reference
    return reference


def assert_same_everywhere(data: bytes, limits: Limits = DEFAULT_LIMITS, start: int = 0) -> None:
    """decode and decode_prefix on bytes, bytearray and memoryview callers, ``data`` at ``start``."""
    padded = bytes(range(256))[:start] + data
    assert_same(lambda: decode(data, limits))
    assert_same(lambda: decode_prefix(data, limits))
    for caller in (bytes, bytearray, memoryview):
        buffer = caller(padded)
        assert_same(lambda buffer=buffer: decode_prefix(buffer, limits, start))  # type: ignore[misc]
    assert_same(lambda: decode(bytearray(data), limits))
    assert_same(lambda: decode(memoryview(data), limits))


# --------------------------------------------------------------------------------------------
# The corpus: valid messages to mutate


@functools.cache
def oasis_messages() -> tuple[bytes, ...]:
    messages: list[bytes] = []
    for path in sorted(OASIS_CASES.glob("*/*.xml")):
        messages += [
            encode(item) for item in from_xml_document(path.read_bytes(), placeholders=Placeholders())
        ]
    return tuple(messages)


@functools.cache
def corpus() -> tuple[tuple[bytes, ...], tuple[list[object], ...]]:
    inputs = [path.read_bytes() for path in sorted(SEED_DIR.glob("*.ttlv"))]
    inputs += [path.read_bytes() for path in sorted(REGRESSION_DIR.glob("*.bin"))]
    inputs += oasis_messages()
    walks: list[list[object]] = []
    for data in inputs:
        try:
            decode(data)
            walks.append(list(walk_headers(data)))
        except TTLVError:
            walks.append([])  # an invalid regression input: byte-level mutations only
    return tuple(inputs), tuple(walks)


def test_the_corpus_holds_every_oasis_message() -> None:
    assert len(oasis_messages()) >= 150  # 75 test cases, each at least a request and a response
    assert all(isinstance(decode(message), Item) for message in oasis_messages())


limits_values = st.one_of(
    st.just(DEFAULT_LIMITS),
    st.builds(
        Limits,
        max_message_size=st.one_of(st.just(1 << 20), st.integers(0, 2048), st.just(2**40)),
        max_depth=st.one_of(st.just(32), st.integers(0, 6), st.sampled_from([2**63, 2**70, -1, -(2**70)])),
        max_items=st.one_of(
            st.just(16_384), st.integers(0, 64), st.sampled_from([2**63 - 1, 2**64, -1, -(2**70)])
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(st.binary(max_size=600), limits_values, st.integers(0, 9))
def test_arbitrary_bytes(data: bytes, limits: Limits, start: int) -> None:
    assert_same_everywhere(data, limits, start)


def header_like_chunk() -> st.SearchStrategy[bytes]:
    tags = st.one_of(
        st.integers(0x420001, 0x42FFFF), st.integers(0x540000, 0x54FFFF), st.integers(0, 0xFFFFFF)
    )
    codes = st.one_of(st.integers(1, 10), st.integers(0, 255))
    lengths = st.one_of(
        st.sampled_from([0, 4, 8, 16, 24, 2**31, 2**31 - 8, 2**32 - 8, 2**32 - 1]), st.integers(0, 64)
    )
    header = st.builds(
        lambda tag, code, length: struct.pack(">I", tag)[1:] + bytes([code]) + struct.pack(">I", length),
        tags,
        codes,
        lengths,
    )
    return st.one_of(header, st.binary(min_size=1, max_size=16), st.just(bytes(8)))


@SETTINGS
@given(st.lists(header_like_chunk(), max_size=14).map(b"".join), limits_values)
def test_header_shaped_garbage(data: bytes, limits: Limits) -> None:
    assert_same_everywhere(data, limits)


@SETTINGS
@given(st.data(), limits_values)
def test_mutated_messages(data: st.DataObject, limits: Limits) -> None:
    inputs, walks = corpus()
    index = data.draw(st.integers(0, len(inputs) - 1), label="input")
    seed = data.draw(st.integers(0, 2**32 - 1), label="mutation seed")
    mutated = mutate(random.Random(seed), inputs[index], walks[index], list(inputs))  # type: ignore[arg-type]
    assert_same_everywhere(mutated, limits, data.draw(st.integers(0, 9), label="start"))


@pytest.mark.parametrize("path", sorted(SEED_DIR.glob("*.ttlv")), ids=lambda path: path.stem)
def test_every_byte_of_each_seed_set_to_edge_values(path: Path) -> None:
    wire = path.read_bytes()
    for position, byte in enumerate(wire):
        for value in {0x00, 0xFF, byte ^ 0x01, byte ^ 0x80}:
            mutated = bytearray(wire)
            mutated[position] = value
            assert_same(lambda mutated=mutated: decode(bytes(mutated)))  # type: ignore[misc]


@pytest.mark.parametrize(
    "wire",
    [*sorted(SEED_DIR.glob("*.ttlv")), "oasis"],
    ids=lambda wire: wire.stem if isinstance(wire, Path) else wire,
)
def test_every_truncation(wire: Path | str) -> None:
    messages = [wire.read_bytes()] if isinstance(wire, Path) else list(oasis_messages()[:20])
    for message in messages:
        for cut in range(len(message)):
            assert_same(lambda cut=cut, message=message: decode(message[:cut]))  # type: ignore[misc]
            assert_same(lambda cut=cut, message=message: decode_prefix(message[:cut]))  # type: ignore[misc]


@pytest.mark.parametrize("path", sorted(REGRESSION_DIR.glob("*.bin")), ids=lambda path: path.name)
def test_regression_vectors(path: Path) -> None:
    data = path.read_bytes()
    for limits in (DEFAULT_LIMITS, Limits(max_message_size=512, max_depth=3, max_items=24)):
        assert_same_everywhere(data, limits, 3)


# --------------------------------------------------------------------------------------------
# Limits, depth and declared lengths, explicitly


def header(tag: int, code: int, length: int) -> bytes:
    return struct.pack(">I", tag)[1:] + bytes([code]) + struct.pack(">I", length)


def nested(depth: int, innermost: bytes) -> bytes:
    wire = innermost
    for _ in range(depth):
        wire = header(TAG, 0x01, len(wire)) + wire
    return wire


GOOD_INTEGER = header(0x420004, 0x02, 4) + struct.pack(">i", -5) + bytes(4)
BAD_BOOLEAN = header(0x420004, 0x06, 8) + struct.pack(">Q", 2)


@pytest.mark.parametrize("innermost", [b"", GOOD_INTEGER, BAD_BOOLEAN, GOOD_INTEGER + BAD_BOOLEAN])
def test_ten_thousand_levels(innermost: bytes) -> None:
    wire = nested(10_000, innermost)
    generous = Limits(max_message_size=len(wire), max_depth=10_000, max_items=10_002)
    for limits in (
        DEFAULT_LIMITS,
        generous,
        Limits(max_message_size=len(wire), max_depth=9_999, max_items=10_002),
        Limits(max_message_size=len(wire), max_depth=10_000, max_items=5_000),
        Limits(max_message_size=len(wire), max_depth=10_000, max_items=10_000),
    ):
        assert_same(lambda limits=limits: decode(wire, limits))  # type: ignore[misc]
    result = assert_same(lambda: decode_prefix(bytearray(b"\0" * 8 + wire), generous, 8))
    assert result[0] == ("ok" if innermost in (b"", GOOD_INTEGER) else "error")


@pytest.mark.parametrize("length", [2**31, 2**31 - 8, 2**32 - 8, 2**32 - 1, 2**32 - 9])
@pytest.mark.parametrize("code", range(12))
def test_huge_declared_lengths(length: int, code: int) -> None:
    item = header(0x420004, code, length) + bytes(16)
    generous = Limits(max_message_size=2**40)
    for wire in (item, header(TAG, 0x01, len(item)) + item, nested(3, item)):
        for limits in (DEFAULT_LIMITS, generous):
            assert_same_everywhere(wire, limits, 5)


@pytest.mark.parametrize(
    "limits",
    [
        Limits(max_items=0),
        Limits(max_items=1),
        Limits(max_items=5),
        Limits(max_depth=0),
        Limits(max_depth=1),
        Limits(max_message_size=0),
        Limits(max_message_size=64),
        Limits(max_items=2**64, max_depth=2**64),
        Limits(max_items=-(2**64), max_depth=-(2**64)),
        Limits(max_items=True, max_depth=True),  # an int subclass: the C loop defers to Python
        Limits(max_items=3.5, max_depth=2.5),  # type: ignore[arg-type]  # not ints at all: deferred
    ],
    ids=repr,
)
def test_each_seed_under_limits(limits: Limits) -> None:
    for path in sorted(SEED_DIR.glob("*.ttlv")):
        assert_same_everywhere(path.read_bytes(), limits, 1)


def test_the_comparison_can_fail() -> None:
    wire = (SEED_DIR / "create_request.ttlv").read_bytes()
    assert outcome("python", lambda: decode(wire)) != outcome("python", lambda: decode(wire[:-8]))
    true_item = Item(0x420004, ItemType.BOOLEAN, True)
    assert flatten(true_item) != flatten(Item(0x420004, ItemType.BOOLEAN, 1))
