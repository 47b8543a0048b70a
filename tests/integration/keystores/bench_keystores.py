"""Throughput of the keystore drivers on their test backends, with the software driver as baseline.

    .venv/bin/python -m tests.integration.keystores.bench_keystores [round_trips]

Prints round trips (encrypt + decrypt of 32 bytes) per second, sequential and 16 in flight, and
each figure's ratio to the software driver measured in the same run. The moto and SoftHSM
figures say what the drivers' overhead (executor hop, SDK, serialization) costs against those
emulators on this machine; a real KMS adds its network round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from keystores.base import Keystore
from keystores.retry import RetryingKeystore
from tests.support.keystores import (
    SOFTHSM_LIBRARY,
    keystore_environment,
    running_moto_kms,
    running_softhsm,
)

IN_FLIGHT = 16
PLAINTEXT = bytes(32)
CONTEXT = {"tenant": "bench", "l2": "l2-1", "cluster": "c1"}


async def round_trips(keystore: Keystore, key_id: str, count: int, in_flight: int) -> float:
    async def one() -> None:
        ciphertext = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        plaintext = await keystore.decrypt(key_id, ciphertext, CONTEXT)
        assert plaintext == PLAINTEXT

    await one()  # warm up: connections, sessions, threads
    started = time.perf_counter()
    for _ in range(count // in_flight):
        await asyncio.gather(*(one() for _ in range(in_flight)))
    return (count // in_flight) * in_flight / (time.perf_counter() - started)


def measure(keystore: Keystore, key_id: str, count: int) -> tuple[float, float]:
    return (
        asyncio.run(round_trips(keystore, key_id, count, 1)),
        asyncio.run(round_trips(keystore, key_id, count, IN_FLIGHT)),
    )


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 320
    results: dict[str, tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(running_moto_kms())
        softhsm = None
        if Path(SOFTHSM_LIBRARY).exists():
            softhsm = stack.enter_context(
                running_softhsm(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            )
        for kind in ("software", "aws-kms", "pkcs11"):
            if kind == "pkcs11" and softhsm is None:
                continue
            with keystore_environment(kind, moto=moto, hsm=softhsm) as env:
                key_id = env.console.create_key()
                results[kind] = measure(env.keystore, key_id, count)
                if kind == "software":
                    results["software+retry"] = measure(RetryingKeystore(env.keystore), key_id, count)
    base_sequential, base_parallel = results["software"]
    print(f"{'driver':<16}{'seq rt/s':>12}{'x software':>12}{f'{IN_FLIGHT} in flight':>16}{'x software':>12}")
    for kind, (sequential, parallel) in results.items():
        print(
            f"{kind:<16}{sequential:>12.0f}{sequential / base_sequential:>12.3f}"
            f"{parallel:>16.0f}{parallel / base_parallel:>12.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
