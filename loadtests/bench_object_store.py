"""Managed-object store benchmark: the SQLite store beside the in-memory baseline, in one run.

    python -m loadtests.bench_object_store [--objects 100000] [--tenants 100] [--samples 2000]
                                           [--concurrency 64] [--readers 2]

For each store: insert throughput (``--concurrency`` coroutines inserting, as a Core's
connections would; SQLite commits the writes that queue up together), single-writer insert
latency, then get-by-id and find-by-name latency (P50/P99, one call at a time) and concurrent
get throughput once ``--objects`` records spread over ``--tenants`` tenants are stored. Records
carry a realistic attribute set (names, algorithm, length, usage mask, dates, digest, link,
a custom attribute) and an L4-blob-sized material. SQLite runs on a temporary file with its
production settings (WAL, synchronous=FULL). The memory store's Locate is a linear scan, so
its find samples are capped (``MEMORY_FIND_SAMPLES``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kmip_server.model import Attribute, Digest, Link, Name
from kmip_server.storage.memory import MemoryObjectStore
from kmip_server.storage.objects import LocateQuery, ObjectRecord, ObjectStore
from kmip_server.storage.sqlite_database import SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    LinkType,
    NameType,
    ObjectType,
    State,
    Tag,
)

MEMORY_FIND_SAMPLES = 50
SEQUENTIAL_INSERTS = 200
RAW_WARMUP = 50
T0 = 1_700_000_000


def make_record(number: int, tenants: int) -> ObjectRecord:
    uid = f"{number:08d}-4b1d-4c5e-9a7f-{number:012x}"
    return ObjectRecord(
        unique_identifier=uid,
        tenant_id=f"tenant-{number % tenants:03d}",
        service=f"service-{number % 7}",
        object_type=ObjectType.SYMMETRIC_KEY,
        state=State.ACTIVE if number % 5 else State.PRE_ACTIVE,
        attributes=(
            Attribute(
                name="Name",
                index=0,
                value=Name(name_value=f"key-{number}", name_type=NameType.UNINTERPRETED_TEXT_STRING),
            ),
            Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),
            Attribute(name="Cryptographic Length", value=256),
            Attribute(
                name="Cryptographic Usage Mask",
                value=CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
            ),
            Attribute(name="Initial Date", value=T0 + number),
            Attribute(name="Activation Date", value=T0 + number),
            Attribute(name="Last Change Date", value=T0 + number),
            Attribute(
                name="Digest",
                value=Digest(hashing_algorithm=HashingAlgorithm.SHA_256, digest_value=os.urandom(32)),
            ),
            Attribute(
                name="Link", value=Link(link_type=LinkType.PARENT_LINK, linked_object_identifier="l3-1")
            ),
            Attribute(name="x-owner", value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "team-a")),
        ),
        material=os.urandom(120),  # the size of an L4 blob of a 256-bit key
    )


@dataclass(frozen=True, slots=True)
class Latency:
    samples: int
    p50_ms: float
    p99_ms: float

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:8.3f} ms   p99 {self.p99_ms:8.3f} ms   (n={self.samples})"


def latency(seconds: list[float]) -> Latency:
    ms = sorted(value * 1000 for value in seconds)
    return Latency(len(ms), statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))])


async def timed_calls(calls: list[Callable[[], Awaitable[object]]]) -> Latency:
    seconds = []
    for call in calls:
        start = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - start)
    return latency(seconds)


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    insert_per_s: float
    insert_one: Latency
    get: Latency
    find: Latency
    concurrent_get_per_s: float


async def measure(name: str, store: ObjectStore, args: argparse.Namespace, find_samples: int) -> Result:
    rng = random.Random(7)
    count, tenants = args.objects, args.tenants

    # Single writer, one insert at a time: the latency of one durable insert.
    sequential = [make_record(count + n, tenants) for n in range(SEQUENTIAL_INSERTS)]
    insert_one = await timed_calls([partial(store.insert, r) for r in sequential])

    # Throughput: ``concurrency`` coroutines draining one list of records.
    records = [make_record(n, tenants) for n in range(count)]
    pending = iter(records)

    async def inserter() -> None:
        for one in pending:
            await store.insert(one)

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(args.concurrency):
            group.create_task(inserter())
    insert_per_s = count / (time.perf_counter() - start)

    picks = [records[rng.randrange(count)] for _ in range(args.samples)]
    get = await timed_calls([partial(store.get, r.tenant_id, r.unique_identifier) for r in picks])
    for one in picks[:10]:
        assert await store.get(one.tenant_id, one.unique_identifier) == one

    find = await timed_calls(
        [partial(store.find, r.tenant_id, LocateQuery(names=r.names)) for r in picks[:find_samples]]
    )
    assert [
        r.unique_identifier for r in await store.find(picks[0].tenant_id, LocateQuery(names=picks[0].names))
    ] == [picks[0].unique_identifier]

    async def getter(mine: list[ObjectRecord]) -> None:
        for one in mine:
            await store.get(one.tenant_id, one.unique_identifier)

    lanes = [picks[lane :: args.concurrency] for lane in range(args.concurrency)]
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for lane in lanes:
            group.create_task(getter(lane))
    concurrent_get_per_s = len(picks) / (time.perf_counter() - start)
    return Result(name, insert_per_s, insert_one, get, find, concurrent_get_per_s)


def raw_commit_latency(directory: Path, count: int = SEQUENTIAL_INSERTS) -> Latency:
    """The disk's floor: one-row commits on a bare sqlite3 connection with the store's pragmas."""
    connection = sqlite3.connect(directory / "raw.db", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("CREATE TABLE t (v BLOB)")
        seconds = []
        for number in range(count + RAW_WARMUP):
            start = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(600),))
            connection.execute("COMMIT")
            if number >= RAW_WARMUP:  # the first commits also create and grow the files
                seconds.append(time.perf_counter() - start)
    finally:
        connection.close()
    return latency(seconds)


def report(result: Result, baseline: Result | None, concurrency: int) -> None:
    def ratio(value: float, base: float, higher_is_better: bool) -> str:
        if baseline is None or base == 0 or value == 0:
            return ""
        factor = value / base if higher_is_better else base / value
        return f"   ({factor:.3g}x memory)"

    b = baseline
    print(f"{result.name}")
    print(
        f"  insert, {concurrency} concurrent       {result.insert_per_s:12,.0f} /s"
        + ratio(result.insert_per_s, b.insert_per_s if b else 0, True)
    )
    print(f"  insert, one at a time        {result.insert_one}")
    print(
        f"  get by id                    {result.get}"
        + ratio(result.get.p50_ms, b.get.p50_ms if b else 0, False)
    )
    print(
        f"  find by name                 {result.find}"
        + ratio(result.find.p50_ms, b.find.p50_ms if b else 0, False)
    )
    print(
        f"  get, {concurrency} concurrent          {result.concurrent_get_per_s:12,.0f} /s"
        + ratio(result.concurrent_get_per_s, b.concurrent_get_per_s if b else 0, True)
    )


async def main(args: argparse.Namespace) -> None:
    print(
        f"{args.objects:,} objects over {args.tenants} tenants; {args.samples} latency samples;"
        f" Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    memory = MemoryObjectStore()
    baseline = await measure("memory (baseline)", memory, args, MEMORY_FIND_SAMPLES)
    await memory.close()
    report(baseline, None, args.concurrency)

    with tempfile.TemporaryDirectory(prefix="bench-objects-") as directory:
        raw = raw_commit_latency(Path(directory))
        path = Path(directory) / "core.db"
        store = await SqliteObjectStore.open(path, SqliteSettings(readers=args.readers, timeout=60.0))
        try:
            result = await measure(
                f"sqlite (WAL, synchronous=FULL, {args.readers} readers)", store, args, args.samples
            )
        finally:
            await store.close()
        size = sum(os.path.getsize(p) for p in Path(directory).iterdir() if p.name.startswith("core.db"))
    report(result, baseline, args.concurrency)
    print(f"  raw sqlite3 one-row commit   {raw}   (the disk's fsync: the floor of one insert)")
    per_object = size / (args.objects + SEQUENTIAL_INSERTS)
    print(f"  file size                    {size / 1e6:12.1f} MB  ({per_object:.0f} B/object)")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--readers", type=int, default=2)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
