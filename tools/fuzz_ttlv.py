"""Mutation fuzzer for the TTLV codec (pure stdlib, deterministic for a given --seed).

    .venv/bin/python -m tools.fuzz_ttlv --seed 1 --iterations 1000000
    .venv/bin/python -m tools.fuzz_ttlv --write-seeds   # rebuild vectors/ttlv/seeds/
    .venv/bin/python -m tools.fuzz_ttlv --atheris --iterations 200000   # coverage-guided

The corpus is vectors/ttlv/seeds/*.ttlv (realistic KMIP 1.4 messages built by
``seed_messages`` below) plus every file already in vectors/ttlv/regressions/. Each iteration
takes one input, applies one to four mutations (item-aware ones that keep enclosing lengths
consistent, then byte-level ones), and checks the oracle:

- ``decode`` returns an Item or raises a ``TTLVError``; nothing else (``check_input``);
- an accepted input re-encodes to the very same bytes, which decode to an equal Item;
- ``dump`` renders any accepted Item; the ``Framer`` fed the input in pieces either yields
  whole messages or raises ``DecodeError``, never anything else;
- the same holds under small limits (depth 3, 24 items, 512 bytes);
- when ``decode`` runs the C decode loop (ttlv/_speedups.c, ``ttlv.codec.ACCELERATED``), the
  Python loop, its reference, gives the same Item or the same error (class, message, offset).
  ``OPENKCM_TTLV_PURE=1`` fuzzes the Python loop alone; the first output line says which.

A failing input is written to vectors/ttlv/regressions/ (named by its SHA-256) and
tests/unit/ttlv/test_corpus.py replays every file there.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttlv import Framer, Item, ItemType, Limits, codec, decode, dump, encode
from ttlv.errors import DecodeError, TTLVError
from ttlv.kmip14 import (
    CredentialType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    NameType,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    State,
    Tag,
)

REPO = Path(__file__).resolve().parent.parent
SEED_DIR = REPO / "vectors" / "ttlv" / "seeds"
REGRESSION_DIR = REPO / "vectors" / "ttlv" / "regressions"
SMALL_LIMITS = Limits(max_message_size=512, max_depth=3, max_items=24)

S, INT, LONG, BIG, ENUM, BOOL, TEXT, BYTES, DT, IVL = (
    ItemType.STRUCTURE,
    ItemType.INTEGER,
    ItemType.LONG_INTEGER,
    ItemType.BIG_INTEGER,
    ItemType.ENUMERATION,
    ItemType.BOOLEAN,
    ItemType.TEXT_STRING,
    ItemType.BYTE_STRING,
    ItemType.DATE_TIME,
    ItemType.INTERVAL,
)


# --------------------------------------------------------------------------------------------
# Seed messages: shaped like real KMIP 1.4 traffic (sections 6 and 7, and the OASIS profiles'
# mandatory test cases), built here so the corpus needs no other component.


def _s(tag: int, *children: Item) -> Item:
    return Item(tag, S, children)


def _attribute(name: str, value: Item) -> Item:
    return _s(Tag.ATTRIBUTE, Item(Tag.ATTRIBUTE_NAME, TEXT, name), value)


def _request(*batch_items: Item, authenticate: bool = False, options: tuple[Item, ...] = ()) -> Item:
    header = [
        _s(
            Tag.PROTOCOL_VERSION,
            Item(Tag.PROTOCOL_VERSION_MAJOR, INT, 1),
            Item(Tag.PROTOCOL_VERSION_MINOR, INT, 4),
        )
    ]
    if authenticate:
        credential_value = _s(
            Tag.CREDENTIAL_VALUE,
            Item(Tag.USERNAME, TEXT, "tenant-a/ops"),
            Item(Tag.PASSWORD, TEXT, "not-a-real-password"),
        )
        header.append(
            _s(
                Tag.AUTHENTICATION,
                _s(
                    Tag.CREDENTIAL,
                    Item(Tag.CREDENTIAL_TYPE, ENUM, CredentialType.USERNAME_AND_PASSWORD),
                    credential_value,
                ),
            )
        )
    header.extend(options)
    header.append(Item(Tag.BATCH_COUNT, INT, len(batch_items)))
    return _s(Tag.REQUEST_MESSAGE, _s(Tag.REQUEST_HEADER, *header), *batch_items)


def _response(*batch_items: Item) -> Item:
    header = _s(
        Tag.RESPONSE_HEADER,
        _s(
            Tag.PROTOCOL_VERSION,
            Item(Tag.PROTOCOL_VERSION_MAJOR, INT, 1),
            Item(Tag.PROTOCOL_VERSION_MINOR, INT, 4),
        ),
        Item(Tag.TIME_STAMP, DT, 1_700_000_000),
        Item(Tag.BATCH_COUNT, INT, len(batch_items)),
    )
    return _s(Tag.RESPONSE_MESSAGE, header, *batch_items)


def _request_item(operation: Operation, *payload: Item) -> Item:
    return _s(Tag.BATCH_ITEM, Item(Tag.OPERATION, ENUM, operation), _s(Tag.REQUEST_PAYLOAD, *payload))


def _response_item(operation: Operation, *payload: Item) -> Item:
    return _s(
        Tag.BATCH_ITEM,
        Item(Tag.OPERATION, ENUM, operation),
        Item(Tag.RESULT_STATUS, ENUM, ResultStatus.SUCCESS),
        _s(Tag.RESPONSE_PAYLOAD, *payload),
    )


def create_request() -> Item:
    """Create an AES-256 key with a name and a usage mask (a typical Create request)."""
    template = _s(
        Tag.TEMPLATE_ATTRIBUTE,
        _attribute("Cryptographic Algorithm", Item(Tag.ATTRIBUTE_VALUE, ENUM, CryptographicAlgorithm.AES)),
        _attribute("Cryptographic Length", Item(Tag.ATTRIBUTE_VALUE, INT, 256)),
        _attribute(
            "Cryptographic Usage Mask",
            Item(Tag.ATTRIBUTE_VALUE, INT, CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT),
        ),
        _attribute(
            "Name",
            _s(
                Tag.ATTRIBUTE_VALUE,
                Item(Tag.NAME_VALUE, TEXT, "tenant-a/orders/dek-2024"),
                Item(Tag.NAME_TYPE, ENUM, NameType.UNINTERPRETED_TEXT_STRING),
            ),
        ),
    )
    return _request(
        _request_item(Operation.CREATE, Item(Tag.OBJECT_TYPE, ENUM, ObjectType.SYMMETRIC_KEY), template),
        authenticate=True,
    )


def get_response() -> Item:
    """A Get response carrying a 256-bit AES key in Raw format."""
    key_block = _s(
        Tag.KEY_BLOCK,
        Item(Tag.KEY_FORMAT_TYPE, ENUM, KeyFormatType.RAW),
        _s(Tag.KEY_VALUE, Item(Tag.KEY_MATERIAL, BYTES, bytes(range(32)))),
        Item(Tag.CRYPTOGRAPHIC_ALGORITHM, ENUM, CryptographicAlgorithm.AES),
        Item(Tag.CRYPTOGRAPHIC_LENGTH, INT, 256),
    )
    return _response(
        _response_item(
            Operation.GET,
            Item(Tag.OBJECT_TYPE, ENUM, ObjectType.SYMMETRIC_KEY),
            Item(Tag.UNIQUE_IDENTIFIER, TEXT, "1f165d65-cbbd-4bd6-9867-80e0b390acf9"),
            _s(Tag.SYMMETRIC_KEY, key_block),
        )
    )


def locate_request() -> Item:
    return _request(
        _request_item(
            Operation.LOCATE,
            Item(Tag.MAXIMUM_ITEMS, INT, 50),
            _attribute("Object Type", Item(Tag.ATTRIBUTE_VALUE, ENUM, ObjectType.SYMMETRIC_KEY)),
            _attribute("State", Item(Tag.ATTRIBUTE_VALUE, ENUM, State.ACTIVE)),
            _attribute("Activation Date", Item(Tag.ATTRIBUTE_VALUE, DT, 1_600_000_000)),
        ),
        options=(
            Item(Tag.MAXIMUM_RESPONSE_SIZE, INT, 65536),
            Item(Tag.ASYNCHRONOUS_INDICATOR, BOOL, False),
            Item(Tag.BATCH_ORDER_OPTION, BOOL, True),
        ),
    )


def locate_response() -> Item:
    ids = [Item(Tag.UNIQUE_IDENTIFIER, TEXT, f"key-{n:04d}") for n in range(12)]
    return _response(_response_item(Operation.LOCATE, *ids))


def query_exchange() -> Item:
    """A two-item batch: a Query request followed by a Get with an extension-tagged hint."""
    query = _request_item(
        Operation.QUERY,
        Item(Tag.QUERY_FUNCTION, ENUM, QueryFunction.QUERY_OPERATIONS),
        Item(Tag.QUERY_FUNCTION, ENUM, QueryFunction.QUERY_OBJECTS),
    )
    get = _request_item(
        Operation.GET,
        Item(Tag.UNIQUE_IDENTIFIER, TEXT, "key-0001"),
        Item(0x540001, BOOL, True),
        Item(0x540002, LONG, -(2**63)),
        Item(0x540003, IVL, 86_400),
    )
    return _request(get, query)


def query_response() -> Item:
    operations = [
        Item(Tag.OPERATION, ENUM, op)
        for op in (Operation.CREATE, Operation.GET, Operation.LOCATE, Operation.QUERY)
    ]
    objects = [Item(Tag.OBJECT_TYPE, ENUM, ot) for ot in (ObjectType.SYMMETRIC_KEY, ObjectType.PRIVATE_KEY)]
    info = _s(
        Tag.SERVER_INFORMATION, Item(Tag.VENDOR_IDENTIFICATION, TEXT, "OpenKCM \u00e9dition souveraine")
    )
    return _response(
        _response_item(
            Operation.QUERY, *operations, *objects, Item(Tag.VENDOR_IDENTIFICATION, TEXT, "OpenKCM"), info
        )
    )


def register_rsa_request() -> Item:
    """Register a Transparent RSA private key: Big Integers, deep nesting, many attributes."""
    rng = random.Random(0x0CC)
    numbers = [
        (name, rng.getrandbits(bits) | (1 << (bits - 1)) | 1)
        for name, bits in (
            (Tag.MODULUS, 2048),
            (Tag.PRIVATE_EXPONENT, 2047),
            (Tag.P, 1024),
            (Tag.Q, 1024),
            (Tag.PRIME_EXPONENT_P, 1023),
            (Tag.PRIME_EXPONENT_Q, 1021),
            (Tag.CRT_COEFFICIENT, 1020),
        )
    ]
    material = _s(
        Tag.KEY_MATERIAL,
        *(Item(tag, BIG, value) for tag, value in numbers),
        Item(Tag.PUBLIC_EXPONENT, BIG, 65537),
    )
    key_block = _s(
        Tag.KEY_BLOCK,
        Item(Tag.KEY_FORMAT_TYPE, ENUM, KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY),
        _s(Tag.KEY_VALUE, material),
        Item(Tag.CRYPTOGRAPHIC_ALGORITHM, ENUM, CryptographicAlgorithm.RSA),
        Item(Tag.CRYPTOGRAPHIC_LENGTH, INT, 2048),
    )
    template = _s(
        Tag.TEMPLATE_ATTRIBUTE,
        _attribute("Cryptographic Usage Mask", Item(Tag.ATTRIBUTE_VALUE, INT, CryptographicUsageMask.SIGN)),
        _attribute("Object Group", Item(Tag.ATTRIBUTE_VALUE, TEXT, "")),
        _s(
            Tag.ATTRIBUTE,
            Item(Tag.ATTRIBUTE_NAME, TEXT, "x-tenant-binding"),
            Item(Tag.ATTRIBUTE_INDEX, INT, 0),
            Item(Tag.ATTRIBUTE_VALUE, BYTES, b""),
        ),
    )
    return _request(
        _request_item(
            Operation.REGISTER,
            Item(Tag.OBJECT_TYPE, ENUM, ObjectType.PRIVATE_KEY),
            template,
            _s(Tag.PRIVATE_KEY, key_block),
        )
    )


def error_response() -> Item:
    failed = _s(
        Tag.BATCH_ITEM,
        Item(Tag.OPERATION, ENUM, Operation.GET),
        Item(Tag.RESULT_STATUS, ENUM, ResultStatus.OPERATION_FAILED),
        Item(Tag.RESULT_REASON, ENUM, ResultReason.ITEM_NOT_FOUND),
        Item(Tag.RESULT_MESSAGE, TEXT, "no such object"),
    )
    return _response(failed)


def seed_messages() -> dict[str, Item]:
    """Seed name (file stem under vectors/ttlv/seeds/) -> message."""
    return {
        "create_request": create_request(),
        "get_response": get_response(),
        "locate_request": locate_request(),
        "locate_response": locate_response(),
        "query_batch_request": query_exchange(),
        "query_response": query_response(),
        "register_rsa_request": register_rsa_request(),
        "error_response": error_response(),
    }


def write_seeds(directory: Path = SEED_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, item in seed_messages().items():
        path = directory / f"{name}.ttlv"
        path.write_bytes(encode(item))
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# The oracle


class OracleFailure(Exception):
    """The codec broke a promise on this input (the input is saved as a regression)."""


def check_input(data: bytes, pieces: list[int] | None = None) -> bool:
    """Run the oracle on ``data``; True if it decoded. Raises OracleFailure or anything escaping."""
    accepted = False
    for limits in (Limits(), SMALL_LIMITS):
        try:
            item = decode(data, limits)
        except TTLVError as exc:
            _check_reference(data, limits, exc)
            continue
        _check_reference(data, limits, item)
        accepted = True
        again = encode(item)
        if again != data:
            raise OracleFailure("accepted input does not re-encode to the same bytes")
        if decode(again, limits) != item:
            raise OracleFailure("re-encoded input decodes to a different Item")
        dump(item)
        dump(item, redact=False)
    _check_framer(data, pieces or [len(data)])
    return accepted


def _check_reference(data: bytes, limits: Limits, accelerated: Item | TTLVError) -> None:
    """If ``decode`` ran the C loop, the Python loop must have the same outcome."""
    loop = codec._decode_span
    if loop is codec._decode_span_py:
        return
    codec._decode_span = codec._decode_span_py
    try:
        reference: Item | TTLVError = decode(data, limits)
    except TTLVError as exc:
        reference = exc
    finally:
        codec._decode_span = loop
    if isinstance(reference, Item) and isinstance(accelerated, Item):
        # Equal Items, and equal encodings: a value of another Python type (1 for True) is
        # equal but encodes differently or not at all.
        if reference != accelerated or encode(reference) != encode(accelerated):
            raise OracleFailure("the C and Python decode loops give different Items")
    elif isinstance(reference, Item) or isinstance(accelerated, Item):
        raise OracleFailure("one of the C and Python decode loops accepts what the other refuses")
    elif (type(reference), str(reference), reference.offset) != (
        type(accelerated),
        str(accelerated),
        accelerated.offset,
    ):
        raise OracleFailure("the C and Python decode loops raise different errors")


def _check_framer(data: bytes, pieces: list[int]) -> None:
    framer = Framer(SMALL_LIMITS)
    position = 0
    try:
        for size in [*pieces, len(data)]:
            framer.feed(data[position : position + size])
            position += size
            for message in framer:
                if len(message) < 8:
                    raise OracleFailure("framer yielded a message shorter than a header")
        framer.end_of_stream()
    except DecodeError:
        return


# --------------------------------------------------------------------------------------------
# Mutations

INTERESTING_LENGTHS = (0, 1, 3, 4, 7, 8, 9, 15, 16, 0x7FFFFFF8, 0x80000000, 0xFFFFFFF8, 0xFFFFFFFF)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x42, 0x54)
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Header:
    offset: int
    span: int  # header + padded value
    ancestors: tuple[int, ...]  # offsets of the enclosing Structure headers


def walk_headers(data: bytes) -> list[Header]:
    """Header positions of a valid encoding, with their enclosing Structures."""
    headers: list[Header] = []
    stack: list[tuple[int, int]] = []  # (structure header offset, structure end)
    pos = 0
    while pos < len(data):
        while stack and pos >= stack[-1][1]:
            stack.pop()
        (length,) = _LENGTH.unpack_from(data, pos + 4)
        itype = data[pos + 3]
        span = 8 + (length if itype in (S, BIG) else (length + 7) & ~7)
        headers.append(Header(pos, span, tuple(offset for offset, _ in stack)))
        if itype == S:
            stack.append((pos, pos + span))
            pos += 8
        else:
            pos += span
    return headers


def _adjust_lengths(data: bytearray, offsets: tuple[int, ...], delta: int) -> None:
    for offset in offsets:
        (length,) = _LENGTH.unpack_from(data, offset + 4)
        _LENGTH.pack_into(data, offset + 4, (length + delta) & 0xFFFFFFFF)


def mutate_duplicate_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    h = rng.choice(headers)
    if not h.ancestors:
        return
    copy = data[h.offset : h.offset + h.span] * rng.choice((1, 1, 2, 8))
    data[h.offset + h.span : h.offset + h.span] = copy
    _adjust_lengths(data, h.ancestors, len(copy))


def mutate_drop_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    h = rng.choice(headers)
    if not h.ancestors:
        return
    del data[h.offset : h.offset + h.span]
    _adjust_lengths(data, h.ancestors, -h.span)


def mutate_move_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    """Wrap an item in extra Structures (deep nesting) while keeping lengths consistent."""
    h = rng.choice(headers)
    depth = rng.choice((1, 2, 4, 40))
    body = bytes(data[h.offset : h.offset + h.span])
    for _ in range(depth):
        body = _LENGTH.pack(Tag.KEY_VALUE << 8 | S) + _LENGTH.pack(len(body)) + body
    data[h.offset : h.offset + h.span] = body
    _adjust_lengths(data, h.ancestors, len(body) - h.span)


def mutate_retype_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    h = rng.choice(headers)
    data[h.offset + 3] = rng.choice((rng.randrange(1, 11), rng.randrange(256)))


def mutate_relength_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    h = rng.choice(headers)
    (length,) = _LENGTH.unpack_from(data, h.offset + 4)
    choice = rng.choice(
        (*INTERESTING_LENGTHS, length + 1, length - 1, length + 8, length - 8, rng.getrandbits(32))
    )
    _LENGTH.pack_into(data, h.offset + 4, choice & 0xFFFFFFFF)


def mutate_retag_item(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    h = rng.choice(headers)
    tag = rng.choice((0x000000, 0x420000, 0x42FFFF, 0x540000, 0x550000, 0x430001, rng.getrandbits(24)))
    data[h.offset : h.offset + 3] = tag.to_bytes(3, "big")


def mutate_value_bytes(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    """Overwrite an item's value or padding (Boolean 2, non-zero padding, bad UTF-8...)."""
    h = rng.choice(headers)
    if h.span <= 8:
        return
    pos = h.offset + 8 + rng.randrange(h.span - 8)
    data[pos] = rng.choice((*INTERESTING_BYTES, 0xC0, 0xED, 0xF5, rng.randrange(256)))


INTERESTING_WORDS = (
    0,
    1,
    2,
    0xFF,
    0x1_0000_0000,
    0x0000_0001_0000_0001,
    0x7FFF_FFFF_0000_0000,
    0x8000_0000_0000_0000,
    0xFFFF_FFFF_0000_0000,
    0xFFFF_FFFF_FFFF_FFFF,
    0x0000_0000_8000_0000,
)


def mutate_value_word(rng: random.Random, data: bytearray, headers: list[Header]) -> None:
    """Give an 8-byte value (or 4-byte value and its padding) an edge-case bit pattern."""
    fixed = [h for h in headers if h.span == 16 and data[h.offset + 3] != S]
    if fixed:
        h = rng.choice(fixed)
        word = rng.choice((*INTERESTING_WORDS, rng.getrandbits(64)))
        data[h.offset + 8 : h.offset + 16] = word.to_bytes(8, "big")


STRUCTURAL: tuple[Callable[[random.Random, bytearray, list[Header]], None], ...] = (
    mutate_duplicate_item,
    mutate_drop_item,
    mutate_move_item,
    mutate_retype_item,
    mutate_relength_item,
    mutate_retag_item,
    mutate_value_bytes,
    mutate_value_word,
)


def flip_bit(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def set_byte(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.choice((*INTERESTING_BYTES, rng.randrange(256)))


def insert_bytes(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    pos = rng.randrange(len(data) + 1)
    data[pos:pos] = rng.randbytes(rng.choice((1, 4, 8, 16)))


def delete_bytes(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    if data:
        start = rng.randrange(len(data))
        del data[start : start + rng.choice((1, 4, 8, 16, 64))]


def truncate(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    del data[rng.randrange(len(data) + 1) :]


def splice(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    """Keep a prefix of this input and append a suffix of another (at 8-byte boundaries)."""
    donor = rng.choice(donors)
    cut = rng.randrange(len(data) // 8 + 1) * 8
    donor_cut = rng.randrange(len(donor) // 8 + 1) * 8
    data[cut:] = donor[donor_cut:]


def append_message(rng: random.Random, data: bytearray, donors: list[bytes]) -> None:
    data += rng.choice(donors)


BYTE_LEVEL: tuple[Callable[[random.Random, bytearray, list[bytes]], None], ...] = (
    flip_bit,
    set_byte,
    insert_bytes,
    delete_bytes,
    truncate,
    splice,
    append_message,
)


def mutate(rng: random.Random, seed: bytes, headers: list[Header], donors: list[bytes]) -> bytes:
    data = bytearray(seed)
    if headers and rng.random() < 0.7:
        # One item-aware mutation: it moves offsets, so the walk is stale afterwards.
        rng.choice(STRUCTURAL)(rng, data, headers)
        if rng.random() < 0.5:
            return bytes(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        rng.choice(BYTE_LEVEL)(rng, data, donors)
    return bytes(data)


# --------------------------------------------------------------------------------------------
# Driver


def load_corpus() -> list[bytes]:
    corpus = [path.read_bytes() for path in sorted(SEED_DIR.glob("*.ttlv"))]
    if not corpus:
        corpus = [encode(item) for item in seed_messages().values()]
    corpus += [path.read_bytes() for path in sorted(REGRESSION_DIR.glob("*.bin"))]
    return corpus


def save_regression(data: bytes, reason: str) -> Path:
    REGRESSION_DIR.mkdir(parents=True, exist_ok=True)
    path = REGRESSION_DIR / f"fuzz-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    print(f"CRASH saved to {path.relative_to(REPO)}: {reason}", file=sys.stderr)
    return path


def run(seed: int, iterations: int, report_every: int) -> int:
    rng = random.Random(seed)
    corpus = load_corpus()
    walks: list[list[Header]] = []
    for data in corpus:
        try:
            decode(data)
            walks.append(walk_headers(data))
        except TTLVError:
            walks.append([])  # a regression input: byte-level mutations only
    loop = "C (ttlv._speedups), checked against Python" if codec.ACCELERATED else "Python"
    print(f"decode loop: {loop}", flush=True)
    counts = {"accepted": 0, "rejected": 0, "crashes": 0}
    crashes: set[bytes] = set()
    started = time.perf_counter()
    for n in range(1, iterations + 1):
        index = rng.randrange(len(corpus))
        data = mutate(rng, corpus[index], walks[index], corpus)
        pieces = [rng.randrange(1, 24) for _ in range(rng.randrange(4))]
        try:
            accepted = check_input(data, pieces)
        except Exception as exc:  # the oracle's whole point: anything escaping is a finding
            counts["crashes"] += 1
            if data not in crashes:
                crashes.add(data)
                save_regression(data, "".join(traceback.format_exception_only(exc)).strip())
            continue
        counts["accepted" if accepted else "rejected"] += 1
        if report_every and n % report_every == 0:
            elapsed = time.perf_counter() - started
            print(f"{n} execs, {n / elapsed:,.0f} execs/s, {counts}", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"done: seed={seed} iterations={iterations} corpus={len(corpus)} "
        f"time={elapsed:.1f}s execs/s={iterations / elapsed:,.0f} "
        f"accepted={counts['accepted']} rejected={counts['rejected']} "
        f"crashes={counts['crashes']} unique_crashes={len(crashes)}"
    )
    return 1 if crashes else 0


def run_atheris(seed: int, iterations: int) -> int:
    """Coverage-guided fuzzing with atheris (libFuzzer), same oracle, same regression folder."""
    import atheris  # noqa: PLC0415  (optional: only this mode needs it)

    work = Path(tempfile.mkdtemp(prefix="fuzz-ttlv-corpus-"))
    try:
        for index, data in enumerate(load_corpus()):
            (work / f"seed-{index}").write_bytes(data)

        def test_one_input(data: bytes) -> None:
            try:
                check_input(data, [1 + data[0] % 16] if data else None)
            except Exception as exc:
                save_regression(data, "".join(traceback.format_exception_only(exc)).strip())
                raise

        atheris.instrument_all()
        atheris.Setup(
            [sys.argv[0], str(work), f"-runs={iterations}", f"-seed={seed or 1}", "-max_len=4096"],
            test_one_input,
        )
        atheris.Fuzz()  # exits the process when done
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are deterministic)")
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument(
        "--report-every", type=int, default=100_000, help="progress line every N execs (0: none)"
    )
    parser.add_argument("--write-seeds", action="store_true", help="rewrite vectors/ttlv/seeds/ and exit")
    parser.add_argument(
        "--atheris", action="store_true", help="coverage-guided mode (needs atheris installed)"
    )
    args = parser.parse_args(argv)
    if args.atheris:
        return run_atheris(args.seed, args.iterations)
    if args.write_seeds:
        for path in write_seeds():
            print(path.relative_to(REPO))
        return 0
    return run(args.seed, args.iterations, args.report_every)


if __name__ == "__main__":
    sys.exit(main())
