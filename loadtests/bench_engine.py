"""Engine benchmark: the request engine in process (no network), Get of a 256-bit key and Create.

Run from the repository root::

    .venv/bin/python -m loadtests.bench_engine                     # both stores
    .venv/bin/python -m loadtests.bench_engine --store sqlite --count 20000 --in-flight 1,8
    .venv/bin/python -m loadtests.bench_engine --store sqlite --profile get
    .venv/bin/python -m loadtests.bench_engine --blocking 100000   # how long point reads hold the loop

Each request is the server benchmark's own bytes (``loadtests.loadgen``: KMIP 1.2 Get of one
AES-256 key, Create of a new one) through ``RequestEngine.handle``, bytes in and bytes out,
with a warm key hierarchy, on uvloop as the Core runs. Stores: ``memory`` (the in-memory store
of the unit tests) and ``sqlite`` (the Core's own shape: one data file shared by the hierarchy
and object stores, WAL, ``synchronous=FULL``, reader threads and the group-committing writer).

Per request it prints, for the run of each cell that used the least CPU (``--repeat``: on a
shared machine the least disturbed one), the wall time, the CPU of the event-loop thread and
the CPU of the whole process (loop + SQLite threads). A worker process gets one core's worth
of CPU at most (the GIL), so its CPU per request bounds its throughput; wall time at
``--in-flight 1`` is a latency (Create's includes the fsync of its commit). ``--in-flight N`` keeps N requests
running at once, as N client connections would.

Baseline, measured in the same run: the message layer alone for the same Get (TTLV and model
decode of the request, model and TTLV encode of a response carrying the same key), so the
ratio to it is the engine's (and store's) own cost on top of the codec.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import pstats
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop

from kmip_server.engine import RequestEngine
from kmip_server.hierarchy import KeyHierarchy
from kmip_server.identity import Identity, IdentitySource, Role
from kmip_server.model import (
    GetResponsePayload,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    prepare_codecs,
    request_from_bytes,
    response_from_bytes,
    response_to_bytes,
)
from kmip_server.objects import ObjectService
from kmip_server.storage.memory import MemoryObjectStore
from kmip_server.storage.objects import ObjectStore
from kmip_server.storage.sqlite import SqliteStore
from kmip_server.storage.sqlite_database import DEFAULT_ATTRIBUTE_CACHE, SqliteDatabase, SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from loadtests.bench_object_store import make_record
from loadtests.loadgen import create_aes256_request, fast_result, get_request
from tests.support.keystores import KeystoreEnv, keystore_environment
from ttlv.kmip14 import Operation, ResultStatus
from unseal.memory import SecretBuffer

STORES = ("memory", "sqlite")
OPERATIONS = ("get", "create")
TENANT = "acme"
WARMUP = 200  # requests before each timed run
CREATES_PER_GET = 4  # Create runs count // CREATES_PER_GET requests (each one adds a row)
PEER = Identity(
    Role.TENANT_CLIENT,
    f"spiffe://openkcm.local/tenant/{TENANT}/service/bench",
    source=IdentitySource.SPIFFE_ID,
    tenant=TENANT,
    service="bench",
)


@dataclass(frozen=True, slots=True)
class Sample:
    label: str
    count: int
    wall: float
    loop_cpu: float
    process_cpu: float

    def line(self, baseline: float | None) -> str:
        per = self.process_cpu / self.count * 1e6
        ratio = f"  {per / baseline:5.1f}x" if baseline else ""
        return (
            f"{self.label:<30} {self.wall / self.count * 1e6:9.1f} {self.loop_cpu / self.count * 1e6:9.1f}"
            f" {per:9.1f} {self.count / self.wall:10.0f}{ratio}"
        )


HEADING = f"{'':<30} {'wall us':>9} {'loop us':>9} {'cpu us':>9} {'req/s':>10}  cpu/baseline"


@contextlib.asynccontextmanager
async def _engine(
    env: KeystoreEnv, directory: Path, store_kind: str, settings: SqliteSettings
) -> AsyncIterator[RequestEngine]:
    database = await SqliteDatabase.open(directory / f"{store_kind}.db", settings)
    hierarchy_store = await SqliteStore.attach(database)
    store: ObjectStore = (
        await SqliteObjectStore.attach(database) if store_kind == "sqlite" else MemoryObjectStore()
    )
    hierarchy = KeyHierarchy(store=hierarchy_store, keystores={"software": env.keystore}, cluster_id="bench")
    master_key = SecretBuffer.random(32)
    try:
        await hierarchy.attach(master_key)
        await hierarchy.link_tenant(TENANT, "software", env.console.create_key())
        yield RequestEngine(objects=ObjectService(store, hierarchy), seal=_Unsealed())
    finally:
        hierarchy.detach()
        master_key.wipe()
        await store.close()
        await hierarchy_store.close()
        await database.close()


class _Unsealed:
    unsealed = True


async def _timed(label: str, count: int, in_flight: int, call: Callable[[], Awaitable[None]]) -> Sample:
    for _ in range(WARMUP):
        await call()
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    wall, loop_cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(in_flight):
            group.create_task(worker())
    return Sample(
        label,
        count,
        time.perf_counter() - wall,
        time.thread_time() - loop_cpu,
        time.process_time() - process_cpu,
    )


def _checked(engine: RequestEngine, message: bytes, operation: Operation) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        answer = await engine.handle(message, PEER)
        problem = "no answer" if answer is None else fast_result(answer, operation)
        if problem is not None:
            raise SystemExit(f"{operation.name}: {problem}")

    return call


def _codec_baseline(get: bytes, answer: bytes, count: int) -> float:
    """Process CPU µs of the message layer alone for the same Get."""
    item = response_from_bytes(answer).batch_items[0]
    payload = item.response_payload
    assert isinstance(payload, GetResponsePayload)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(count):
            _codec_once(get, payload)
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def _codec_once(get: bytes, payload: GetResponsePayload) -> None:
    request = request_from_bytes(get)
    response_to_bytes(
        ResponseMessage(
            response_header=ResponseHeader(
                protocol_version=request.request_header.protocol_version, time_stamp=0, batch_count=1
            ),
            batch_items=(
                ResponseBatchItem(
                    operation=Operation.GET, result_status=ResultStatus.SUCCESS, response_payload=payload
                ),
            ),
        )
    )


async def _bench(
    env: KeystoreEnv, directory: Path, store_kind: str, args: argparse.Namespace, baseline: list[float]
) -> None:
    settings = SqliteSettings(inline_reads=args.inline_reads, attribute_cache=args.attribute_cache)
    async with _engine(env, directory, store_kind, settings) as engine:
        create = create_aes256_request()
        created = await engine.handle(create, PEER)
        assert created is not None
        uid = getattr(response_from_bytes(created).batch_items[0].response_payload, "unique_identifier", None)
        assert isinstance(uid, str), "the first Create failed"
        get = get_request(uid)
        answer = await engine.handle(get, PEER)
        assert answer is not None
        if not baseline:
            baseline.append(_codec_baseline(get, answer, args.count))
            print(f"{'baseline: codec only (Get)':<30} {'':>9} {'':>9} {baseline[0]:9.1f}")
        calls = {
            "get": (_checked(engine, get, Operation.GET), args.count),
            "create": (_checked(engine, create, Operation.CREATE), max(1, args.count // CREATES_PER_GET)),
        }
        for operation in args.operations:
            call, count = calls[operation]
            for in_flight in args.in_flight:
                label = f"{store_kind}: {operation} x{in_flight}"
                profiler = cProfile.Profile() if operation in args.profile else None
                if profiler is not None:
                    profiler.enable()
                samples = [await _timed(label, count, in_flight, call) for _ in range(args.repeat)]
                print(min(samples, key=lambda s: s.process_cpu).line(baseline[0]), flush=True)
                if profiler is not None:
                    profiler.disable()
                    text = io.StringIO()
                    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
                    print(text.getvalue())


BLOCKING_TENANTS = 10
BLOCKING_WRITERS = 8  # coroutines inserting while the point reads are timed
BLOCKING_FILL = 64  # inserts in flight while the database is filled


async def _blocking(directory: Path, objects: int, reads: int, settings: SqliteSettings) -> None:
    """How long a point read holds the event loop (inline) or takes (on a reader thread), on a
    database of ``objects`` records, while ``BLOCKING_WRITERS`` coroutines insert (group commits,
    automatic WAL checkpoints): percentiles of ``SqliteObjectStore.get`` of random records."""
    path = directory / f"blocking-{int(settings.inline_reads)}.db"
    database = await SqliteDatabase.open(path, settings)
    store = await SqliteObjectStore.attach(database)
    numbers = iter(range(objects))

    async def fill() -> None:
        for number in numbers:
            await store.insert(make_record(number, BLOCKING_TENANTS))

    async with asyncio.TaskGroup() as group:
        for _ in range(BLOCKING_FILL):
            group.create_task(fill())
    # The fill leaves garbage whose collection (hundreds of ms for a full one) would land on
    # whichever read allocates next: collect it now, so the percentiles are the reads' own.
    gc.collect()
    writing = True
    more = iter(range(objects, objects * 10))

    async def write() -> None:
        for number in more:
            if not writing:
                return
            await store.insert(make_record(number, BLOCKING_TENANTS))

    chooser = random.Random(1)
    walls: list[float] = []
    cpus: list[float] = []
    async with asyncio.TaskGroup() as group:
        for _ in range(BLOCKING_WRITERS):
            group.create_task(write())
        for _ in range(reads):
            wanted = make_record(chooser.randrange(objects), BLOCKING_TENANTS)
            wall, cpu = time.perf_counter(), time.thread_time()
            found = await store.get(wanted.tenant_id, wanted.unique_identifier)
            cpus.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - wall)
            assert found is not None
            await asyncio.sleep(0)  # let the writers queue more
        writing = False
    mode = "inline" if settings.inline_reads else "reader thread"
    print(f"point reads ({mode}), {len(walls)} of {objects} objects, {BLOCKING_WRITERS} writers inserting:")
    for label, values in (("wall", walls), ("loop CPU", cpus)):
        us = sorted(value * 1e6 for value in values)
        print(
            f"  {label:<9} p50 {us[len(us) // 2]:7.0f} us  p99 {us[int(len(us) * 0.99)]:7.0f} us"
            f"  p99.9 {us[int(len(us) * 0.999)]:7.0f} us  max {us[-1]:7.0f} us"
        )
    await store.close()
    await database.close()


def _names(value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(name for name in value.split(",") if name)
    unknown = set(names) - set(allowed)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(sorted(unknown))} (choose from {allowed})")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10000, help="Get requests per run (Create: a quarter)")
    parser.add_argument("--store", type=lambda v: _names(v, STORES), default=STORES, dest="stores")
    parser.add_argument(
        "--operation", type=lambda v: _names(v, OPERATIONS), default=OPERATIONS, dest="operations"
    )
    parser.add_argument(
        "--in-flight", type=lambda v: tuple(int(n) for n in v.split(",")), default=(1, 8), dest="in_flight"
    )
    parser.add_argument(
        "--no-inline-reads", action="store_false", dest="inline_reads", help="point reads on reader threads"
    )
    parser.add_argument(
        "--attribute-cache", type=int, default=DEFAULT_ATTRIBUTE_CACHE, help="0: decode every read"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each cell; the least CPU is shown")
    parser.add_argument("--profile", type=lambda v: _names(v, OPERATIONS), default=(), help="cProfile these")
    parser.add_argument(
        "--blocking",
        type=int,
        metavar="OBJECTS",
        help="instead: time point reads of a database of OBJECTS records while writers insert",
    )
    parser.add_argument("--reads", type=int, default=20000, help="point reads timed by --blocking")
    args = parser.parse_args()
    prepare_codecs()
    if args.blocking:
        with tempfile.TemporaryDirectory() as directory:
            for inline in (True, False):
                settings = SqliteSettings(inline_reads=inline, attribute_cache=args.attribute_cache)
                uvloop.run(_blocking(Path(directory), args.blocking, args.reads, settings))
        return
    print(HEADING)
    baseline: list[float] = []
    with tempfile.TemporaryDirectory() as directory, keystore_environment("software") as env:
        for store_kind in args.stores:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_bench(env, Path(directory), store_kind, args, baseline))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
