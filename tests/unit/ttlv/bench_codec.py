"""Benchmark: the TTLV codec against PyKMIP's, on the same bytes, in the same run.

    PYTHONPATH=src .venv/bin/python -m tests.unit.ttlv.bench_codec [--seconds 1.0]

Messages: the Create request and the Get response (256-bit key) of vectors/ttlv/seeds/.
PyKMIP decode is ``RequestMessage().read(...)`` / ``ResponseMessage().read(...)``; PyKMIP
encode is ``.write(...)`` of the objects that read produced (its whole-message codec, the
only one it has). Ours is ``ttlv.decode`` / ``ttlv.encode`` of the generic Item tree.
Prints messages per second and the ratio; not a test (nothing here asserts on time).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from kmip.core.messages import messages
from kmip.core.utils import BytearrayStream

from ttlv import decode, encode

SEEDS = Path(__file__).resolve().parents[3] / "vectors" / "ttlv" / "seeds"


def rate(function: Callable[[], object], seconds: float) -> float:
    """Calls per second, best of three runs of about ``seconds`` / 3 each."""
    calls = 1
    while True:  # calibrate a batch that takes at least 20 ms
        started = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - started
        if elapsed >= 0.02:
            break
        calls *= 2
    batches = max(1, int(seconds / 3 / elapsed))
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(batches * calls):
            function()
        best = max(best, batches * calls / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = parser.parse_args()
    cases = (
        ("Create request", "create_request.ttlv", messages.RequestMessage),
        ("Get response", "get_response.ttlv", messages.ResponseMessage),
    )
    print(f"{'message':<24}{'op':<8}{'ttlv msg/s':>12}{'PyKMIP msg/s':>14}{'ratio':>8}")
    for label, filename, pykmip_class in cases:
        data = (SEEDS / filename).read_bytes()
        item = decode(data)

        def pykmip_decode(data: bytes = data, cls: type = pykmip_class) -> object:
            message = cls()
            message.read(BytearrayStream(data))
            return message

        parsed = pykmip_decode()

        def pykmip_encode(parsed: object = parsed) -> bytes:
            stream = BytearrayStream()
            parsed.write(stream)  # type: ignore[attr-defined]
            return bytes(stream.buffer)

        for op, ours, theirs in (
            ("decode", lambda data=data: decode(data), pykmip_decode),
            ("encode", lambda item=item: encode(item), pykmip_encode),
        ):
            ours_rate = rate(ours, args.seconds)
            theirs_rate = rate(theirs, args.seconds)
            print(
                f"{label + f' ({len(data)} B)':<24}{op:<8}{ours_rate:>12,.0f}{theirs_rate:>14,.0f}"
                f"{ours_rate / theirs_rate:>7.1f}x"
            )


if __name__ == "__main__":
    main()
