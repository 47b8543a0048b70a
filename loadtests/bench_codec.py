"""Codec benchmark: OpenKCM's TTLV codec and KMIP message model against PyKMIP's, in one run.

Run from the repository root::

    .venv/bin/python -m loadtests.bench_codec                  # about a minute
    .venv/bin/python -m loadtests.bench_codec --quick          # a few seconds, rougher numbers
    .venv/bin/python -m loadtests.bench_codec --min-ratio 10   # exit 1 if any row is below 10x
    .venv/bin/python -m loadtests.bench_codec --profile        # and a cProfile of our side

Messages (from ``tests.support.pykmip_corpus``, at KMIP 1.2, the PyKMIP client's default):
- a Create request for an AES-256 key with a usage mask and a Name, the shape
  ``ProxyKmipClient.create`` sends;
- a Get response carrying a 256-bit AES key in Raw format, the shape PyKMIP's server answers.

For each message and direction the same work is timed both ways:
- decode: bytes -> a complete message object. PyKMIP: ``RequestMessage().read(stream)`` /
  ``ResponseMessage().read(stream)`` (how its client and server parse). Ours:
  ``request_from_bytes`` / ``response_from_bytes`` (``ttlv.decode``, then ``decode_request`` /
  ``decode_response`` of the model).
- encode: a complete message object -> bytes. PyKMIP: ``message.write(stream)``. Ours:
  ``request_to_bytes`` / ``response_to_bytes`` (the model writes TTLV directly, through
  ``ttlv``'s item writers, without building ``ttlv.Item`` objects).
The ratio is ours / PyKMIP in messages per second: the issue's target is on that column. For
information, and to show where our time goes, the table also gives:
- ``ttlv``: the TTLV layer alone (bytes <-> ``ttlv.Item``), with its own ratio to PyKMIP;
- ``model``: the model alone (``ttlv.Item`` <-> message object: ``decode_request`` ... /
  ``encode_request`` ...);
- ``items``: for encode, the two-step path through Items (``encode_request`` then
  ``ttlv.encode``), which gives the same bytes as ours; for decode, ours is that path.

Method: every function is warmed up and calibrated so that one repeat lasts about
``seconds / repeats``; within each repeat the functions of a row run in turn, so load from
other processes on a shared machine falls on all of them alike; the best repeat is kept. Many
short repeats (30 of ~0.07 s by default) rather than a few long ones: a burst of load elsewhere
then spoils a few repeats of each function, not its whole measurement. The
garbage collector stays on, as in a server. Before any timing, every output is checked
against PyKMIP's bytes, so a fast but wrong codec cannot score.

TTLV decoding runs the C decode loop (ttlv/_speedups.c) when it is built, else the Python one;
the header line says which (``ttlv.codec.ACCELERATED``); ``OPENKCM_TTLV_PURE=1`` measures the
Python loop.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kmip.core.utils import BytearrayStream

from kmip_server import model
from kmip_server.model.codec import Version
from tests.support import pykmip_corpus as corpus
from ttlv import codec as ttlv_codec
from ttlv.codec import decode as ttlv_decode
from ttlv.codec import encode as ttlv_encode
from ttlv.codec import structure_header
from ttlv.item import Item

VERSION = (1, 2)
TARGET_RATIO = 10.0  # the target: ours >= 10x PyKMIP in both directions
DIRECTIONS = ("decode", "encode")

Fn = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    kind: corpus.Kind
    data: bytes
    pykmip_message: Any


@dataclass(frozen=True, slots=True)
class Row:
    case: str
    direction: str
    pykmip: float  # messages per second, PyKMIP's message classes
    ours: float  # messages per second, the model's bytes entry points
    ttlv: float  # messages per second, ttlv alone
    model: float  # messages per second, the model alone (Item <-> message)
    items: float  # messages per second, encode through Items (decode: ours)

    @property
    def ratio(self) -> float:
        return self.ours / self.pykmip

    @property
    def ttlv_ratio(self) -> float:
        return self.ttlv / self.pykmip


def cases() -> list[Case]:
    builders: tuple[tuple[str, corpus.Kind, corpus.Builder], ...] = (
        ("Create request", "request", corpus.create_request),
        ("Get response", "response", corpus.get_response),
    )
    out = []
    for name, kind, builder in builders:
        message, _ = builder(VERSION)
        out.append(Case(name, kind, corpus.write_message(message, VERSION), message))
    return out


# ---------------------------------------------------------------------------------------
# What is timed: one zero-argument callable per (implementation, case, direction).


def pykmip_fn(case: Case, direction: str) -> Fn:
    cls = type(case.pykmip_message)
    message = case.pykmip_message
    data = case.data
    version = corpus.pykmip_version(VERSION)

    def decode() -> object:
        decoded = cls()
        decoded.read(BytearrayStream(data), kmip_version=version)
        return decoded

    def encode() -> bytes:
        stream = BytearrayStream()
        message.write(stream, kmip_version=version)
        return bytes(stream.buffer)

    return decode if direction == "decode" else encode


def _model_codec(case: Case) -> tuple[Callable[[Item], Any], Callable[[Any], Item]]:
    if case.kind == "request":
        return model.decode_request, model.encode_request
    return model.decode_response, model.encode_response


def _bytes_codec(case: Case) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    if case.kind == "request":
        return model.request_from_bytes, model.request_to_bytes
    return model.response_from_bytes, model.response_to_bytes


def ours_fn(case: Case, direction: str) -> Fn:
    from_bytes, to_bytes = _bytes_codec(case)
    data = case.data
    message = from_bytes(data)
    if direction == "decode":
        return lambda: from_bytes(data)
    return lambda: to_bytes(message)


def items_fn(case: Case, direction: str) -> Fn:
    if direction == "decode":
        return ours_fn(case, direction)
    decode_message, encode_message = _model_codec(case)
    message = decode_message(ttlv_decode(case.data))
    return lambda: ttlv_encode(encode_message(message))


def ttlv_fn(case: Case, direction: str) -> Fn:
    data = case.data
    item = ttlv_decode(data)
    if direction == "decode":
        return lambda: ttlv_decode(data)
    return lambda: ttlv_encode(item)


def model_fn(case: Case, direction: str) -> Fn:
    decode_message, encode_message = _model_codec(case)
    item = ttlv_decode(case.data)
    message = decode_message(item)
    if direction == "decode":
        return lambda: decode_message(item)
    return lambda: encode_message(message)


def check_outputs(case: Case) -> None:
    """Refuse to time anything that does not reproduce PyKMIP's bytes."""
    decode_message, encode_message = _model_codec(case)
    if pykmip_fn(case, "encode")() != case.data:
        raise SystemExit(f"{case.name}: PyKMIP does not re-encode its own bytes")
    if ttlv_fn(case, "encode")() != case.data:
        raise SystemExit(f"{case.name}: ttlv does not round-trip PyKMIP's bytes")
    if ours_fn(case, "encode")() != case.data:
        raise SystemExit(f"{case.name}: the model does not re-encode PyKMIP's bytes")
    if items_fn(case, "encode")() != case.data:
        raise SystemExit(f"{case.name}: encoding through Items does not give PyKMIP's bytes")
    if ttlv_encode(encode_message(decode_message(ttlv_decode(case.data)))) != case.data:
        raise SystemExit(f"{case.name}: decode then encode through the model changes the bytes")
    if _writes_directly(case) != case.data:
        raise SystemExit(f"{case.name}: the model's writer does not handle this message itself")


def _writes_directly(case: Case) -> bytes:
    """The message through the model's writer alone, without its fallback to Items (which would
    give the right bytes slowly: this makes sure the timed path is the fast one)."""
    from kmip_server.model import codec  # noqa: PLC0415 -- private: the writer without fallback

    message = _bytes_codec(case)[0](case.data)
    header = message.request_header if case.kind == "request" else message.response_header
    version: Version = header.protocol_version.version
    tag = ttlv_decode(case.data).tag
    out: list[bytes | bytearray] = [b""]
    length = codec.codec_for(type(message)).write(message, codec._writing_version(version), out)
    out[0] = structure_header(tag, length)
    return b"".join(out)


# ---------------------------------------------------------------------------------------
# Timing


def _calibrate(fn: Fn, per_repeat: float) -> int:
    """Warm ``fn`` up and return how many calls last about ``per_repeat`` seconds."""
    clock = time.perf_counter
    n = 1
    while True:
        start = clock()
        for _ in range(n):
            fn()
        elapsed = clock() - start
        if elapsed >= 0.05:
            return max(1, int(n * per_repeat / elapsed))
        n *= 2


def rates(fns: Sequence[Fn], seconds: float, repeats: int) -> list[float]:
    """Best-of-``repeats`` calls per second of each of ``fns``, timed in turn in each repeat."""
    clock = time.perf_counter
    per_repeat = max(seconds / repeats, 0.02)
    counts = [_calibrate(fn, per_repeat) for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, (fn, n) in enumerate(zip(fns, counts, strict=True)):
            start = clock()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (clock() - start) / n)
    return [1.0 / b for b in best]


def measure(seconds: float, repeats: int) -> list[Row]:
    rows = []
    for case in cases():
        check_outputs(case)
        for direction in DIRECTIONS:
            makers: tuple[Callable[[Case, str], Fn], ...] = (pykmip_fn, ours_fn, ttlv_fn, model_fn)
            if direction == "encode":
                makers += (items_fn,)
            fns = [make(case, direction) for make in makers]
            pykmip, ours, ttlv, model_only, *items = rates(fns, seconds, repeats)
            rows.append(
                Row(case.name, direction, pykmip, ours, ttlv, model_only, items[0] if items else ours)
            )
    return rows


def table(rows: Sequence[Row]) -> str:
    head = (
        f"{'operation':<15} {'direction':<9} {'PyKMIP msg/s':>12} {'ours msg/s':>10} {'ratio':>6}"
        f" | {'PyKMIP us':>9} {'ours us':>7} | {'ttlv us':>7} {'ratio':>6} {'model us':>8} {'items us':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.case:<15} {r.direction:<9} {r.pykmip:>12,.0f} {r.ours:>10,.0f} {r.ratio:>5.1f}x"
            f" | {1e6 / r.pykmip:>9.1f} {1e6 / r.ours:>7.1f} | {1e6 / r.ttlv:>7.1f} {r.ttlv_ratio:>5.1f}x"
            f" {1e6 / r.model:>8.1f} {1e6 / r.items:>8.1f}"
        )
    return "\n".join(lines)


def profile(top: int) -> str:
    """cProfile of our decode and encode of each case, sorted by own time (adds overhead)."""
    out = io.StringIO()
    calls = 20_000
    for case in cases():
        for direction in DIRECTIONS:
            fn = ours_fn(case, direction)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                fn()
            profiler.disable()
            out.write(f"\n=== ours: {case.name} {direction} ({calls:,} calls) ===\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_codec",
        description="OpenKCM's TTLV codec and KMIP message model against PyKMIP's, in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="short run (rougher numbers)")
    parser.add_argument("--seconds", type=float, help="seconds per function and row (default 2, quick 0.3)")
    parser.add_argument("--repeats", type=int, help="repeats, best kept (default 30, quick 5)")
    parser.add_argument(
        "--min-ratio",
        type=float,
        help=f"exit 1 unless ours/PyKMIP >= this in every row (the issue's target: {TARGET_RATIO:g})",
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of our side")
    parser.add_argument("--top", type=int, default=25, help="functions per profile (default 25)")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 2.0)
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 30)

    loop = "C (ttlv._speedups)" if ttlv_codec.ACCELERATED else "Python"
    print(
        f"python {sys.version.split()[0]}; KMIP {VERSION[0]}.{VERSION[1]} messages; "
        f"each cell: best of {repeats} over ~{seconds:g} s; "
        f"TTLV decode loop: {loop} (ACCELERATED={ttlv_codec.ACCELERATED})"
    )
    rows = measure(seconds, repeats)
    print(table(rows))
    print(
        "(us: microseconds per message. ttlv: bytes <-> ttlv.Item alone, and its ratio to PyKMIP;"
        " model: ttlv.Item <-> message alone; items: encode through Items, the path ours replaces)"
    )
    if args.profile:
        print(profile(args.top))

    if args.min_ratio is not None:
        failing = [r for r in rows if r.ratio < args.min_ratio]
        for r in failing:
            print(f"FAIL: {r.case} {r.direction}: {r.ratio:.1f}x < {args.min_ratio:g}x")
        if failing:
            return 1
        print(f"OK: every row >= {args.min_ratio:g}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
