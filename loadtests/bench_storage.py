"""Storage benchmark at scale: the PostgreSQL store (row-level security) beside the SQLite store.

    python -m loadtests.bench_storage [--objects 1000000] [--tenants 1000] [--creates 5000]
                                      [--gets 20000] [--locates 2000] [--concurrency 32]
                                      [--pool 10] [--stores postgres,sqlite] [--admin-dsn DSN] [--keep]

For each store, in one run:

1. Load ``--objects`` symmetric keys spread over ``--tenants`` tenants, in bulk: COPY for
   PostgreSQL (through the superuser connection, as a restore would: COPY FROM is refused to a
   role under row-level security), one ``executemany`` transaction per chunk for SQLite. Rows
   are generated from one encoded template with the per-key fields (name, dates, digest)
   written in place, and a sample is decoded back and compared with the records they stand
   for, so what is loaded is exactly what the store would have written. The time is reported.
2. Through the store's own API, as a Core uses it (PostgreSQL: the application role, every
   call in a tenant-scoped transaction): Create (``insert``) throughput and P50/P99 with
   ``--concurrency`` coroutines; Get throughput and P50/P99 likewise; Locate by name
   (``find`` by one Name) P50/P99 one call at a time, against the target P99 < 5 ms.

PostgreSQL runs in a database made for the run (``okbench_<pid>``, its own roles) on the
server at ``--admin-dsn``, dropped at the end unless ``--keep``; SQLite in a temporary file
with its production settings. Ratios are PostgreSQL over SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg

import ttlv
from kmip_server.model import Attribute, Digest, Link, Name, TemplateAttribute
from kmip_server.model.codec import decode_struct, encode_struct
from kmip_server.storage.objects import LocateQuery, ObjectRecord, ObjectStore
from kmip_server.storage.postgres import PostgresObjectStore, PostgresSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from rls import Roles, migrate, quote_identifier
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

T0 = 1_700_000_000
CHUNK = 50_000  # rows per COPY / executemany
VERIFY_SAMPLES = 200  # generated rows decoded back and compared with their records
LOCATE_TARGET_P99_MS = 5.0
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- records ---------------------------------------------------------------------------------------


def tenant_of(number: int, tenants: int) -> str:
    return f"tenant-{number % tenants:04d}"


def uid_of(number: int) -> str:
    return f"{number:08d}-4b1d-4c5e-9a7f-{number:012x}"


def name_of(number: int) -> str:
    return f"key-{number:08d}"  # fixed width: the template's name bytes are overwritten in place


def digest_of(number: int) -> bytes:
    return hashlib.sha256(number.to_bytes(8, "big")).digest()


def material_of(number: int) -> bytes:
    return number.to_bytes(8, "big") * 15  # the size of an L4 blob of a 256-bit key


def state_of(number: int) -> State:
    return State.ACTIVE if number % 5 else State.PRE_ACTIVE


def attributes_of(number: int) -> tuple[Attribute, ...]:
    return (
        Attribute(
            name="Name",
            index=0,
            value=Name(name_value=name_of(number), name_type=NameType.UNINTERPRETED_TEXT_STRING),
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
            value=Digest(hashing_algorithm=HashingAlgorithm.SHA_256, digest_value=digest_of(number)),
        ),
        Attribute(name="Link", value=Link(link_type=LinkType.PARENT_LINK, linked_object_identifier="l3-1")),
        Attribute(name="x-owner", value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "team-a")),
    )


def make_record(number: int, tenants: int) -> ObjectRecord:
    return ObjectRecord(
        unique_identifier=uid_of(number),
        tenant_id=tenant_of(number, tenants),
        service=f"service-{number % 7}",
        object_type=ObjectType.SYMMETRIC_KEY,
        state=state_of(number),
        attributes=attributes_of(number),
        material=material_of(number),
    )


def encode_attributes(attributes: tuple[Attribute, ...]) -> bytes:
    """What both stores store: the attributes as one Template-Attribute, KMIP 1.4 TTLV."""
    return ttlv.encode(
        encode_struct(TemplateAttribute(attributes=attributes), Tag.TEMPLATE_ATTRIBUTE, (1, 4))
    )


def decode_attributes(blob: bytes) -> tuple[Attribute, ...]:
    return decode_struct(TemplateAttribute, ttlv.decode(blob), 0).attributes


class RowFactory:
    """Encoded attribute sets without running the encoder per row: the template of key 0 with
    the name, the three dates and the digest overwritten (fixed-size fields)."""

    def __init__(self) -> None:
        self.template = encode_attributes(attributes_of(0))
        self.name_at = self._once(name_of(0).encode())
        date = (T0).to_bytes(8, "big")
        self.dates_at = [i for i in range(len(self.template)) if self.template.startswith(date, i)]
        if len(self.dates_at) != 3:
            raise RuntimeError("the template's dates are not where they were expected")
        self.digest_at = self._once(digest_of(0))

    def _once(self, needle: bytes) -> int:
        at = self.template.find(needle)
        if at < 0 or self.template.find(needle, at + 1) >= 0:
            raise RuntimeError("a template field is not unique")
        return at

    def attributes(self, number: int) -> bytes:
        blob = bytearray(self.template)
        blob[self.name_at : self.name_at + 12] = name_of(number).encode()
        date = (T0 + number).to_bytes(8, "big")
        for at in self.dates_at:
            blob[at : at + 8] = date
        blob[self.digest_at : self.digest_at + 32] = digest_of(number)
        return bytes(blob)

    def verify(self, count: int) -> None:
        """Decode a sample back: the fast rows are exactly what the encoder would write."""
        for number in random.Random(1).sample(range(count), min(count, VERIFY_SAMPLES)):
            if decode_attributes(self.attributes(number)) != attributes_of(number):
                raise RuntimeError(f"generated row {number} differs from its record")

    def rows(self, start: int, stop: int, tenants: int) -> Iterator[tuple[Any, ...]]:
        """(seq, uid, tenant, service, type, state, attributes, material, revision), seq = number + 1."""
        for number in range(start, stop):
            yield (
                number + 1,
                uid_of(number),
                tenant_of(number, tenants),
                f"service-{number % 7}",
                int(ObjectType.SYMMETRIC_KEY),
                int(state_of(number)),
                self.attributes(number),
                material_of(number),
                0,
            )


OBJECT_COLUMNS = (
    "seq",
    "unique_identifier",
    "tenant_id",
    "service",
    "object_type",
    "state",
    "attributes",
    "material",
    "revision",
)


# -- statistics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    samples: int
    per_s: float
    p50_ms: float
    p99_ms: float

    def __str__(self) -> str:
        rate = f"{self.per_s:10.0f}/s"
        return f"{rate}   p50 {self.p50_ms:7.3f} ms   p99 {self.p99_ms:7.3f} ms   (n={self.samples})"


def latency(seconds: list[float], elapsed: float) -> Latency:
    ms = sorted(value * 1000 for value in seconds)
    return Latency(
        len(ms), len(ms) / elapsed, statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    )


async def concurrently(calls: list[Callable[[], Awaitable[object]]], concurrency: int) -> Latency:
    """Run ``calls`` from ``concurrency`` coroutines; each call's latency and the throughput."""
    seconds: list[float] = []
    pending = iter(calls)

    async def lane() -> None:
        for call in pending:
            start = time.perf_counter()
            await call()
            seconds.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(lane())
    return latency(seconds, time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    load_seconds: float
    create: Latency
    get: Latency
    locate: Latency


async def measure(name: str, store: ObjectStore, load_seconds: float, args: argparse.Namespace) -> Result:
    rng = random.Random(11)
    count, tenants = args.objects, args.tenants
    for number in rng.sample(range(count), min(count, 20)):  # the loaded rows read back as records
        expected = make_record(number, tenants)
        if await store.get(expected.tenant_id, expected.unique_identifier) != expected:
            raise RuntimeError(f"{name}: loaded row {number} does not read back as its record")

    new = [make_record(count + n, tenants) for n in range(args.creates)]
    create = await concurrently([partial(store.insert, record) for record in new], args.concurrency)

    picks = [rng.randrange(count) for _ in range(args.gets)]
    get = await concurrently(
        [partial(store.get, tenant_of(n, tenants), uid_of(n)) for n in picks], args.concurrency
    )

    located: list[float] = []
    started = time.perf_counter()
    for number in (rng.randrange(count) for _ in range(args.locates)):
        query = LocateQuery(names=(name_of(number),))
        start = time.perf_counter()
        found = await store.find(tenant_of(number, tenants), query)
        located.append(time.perf_counter() - start)
        if [record.unique_identifier for record in found] != [uid_of(number)]:
            raise RuntimeError(f"{name}: Locate by name found the wrong objects")
    locate = latency(located, time.perf_counter() - started)
    return Result(name, load_seconds, create, get, locate)


# -- PostgreSQL ------------------------------------------------------------------------------------


def _database_dsn(admin_dsn: str, database: str, user: str | None = None) -> str:
    scheme, rest = admin_dsn.split("://", 1)
    credentials, _, location = rest.rpartition("@")
    host = location.split("/", 1)[0]
    who = user if user is not None else credentials
    return f"{scheme}://{who + '@' if who else ''}{host}/{database}"


@asynccontextmanager
async def postgres_database(admin_dsn: str, keep: bool) -> AsyncIterator[tuple[str, Roles]]:
    """A database and roles made for this run (migrated); dropped afterwards unless ``keep``."""
    tag = f"okbench_{os.getpid()}"
    roles = Roles(owner=f"{tag}_owner", app=f"{tag}_app")
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {quote_identifier(tag)}")
        connection = await asyncpg.connect(_database_dsn(admin_dsn, tag))
        try:
            await migrate(connection, roles)
        finally:
            await connection.close()
        yield tag, roles
    finally:
        if not keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_identifier(tag)} WITH (FORCE)")
            for role in (roles.app, roles.owner):
                await admin.execute(f"DROP ROLE IF EXISTS {quote_identifier(role)}")
        else:
            print(f"kept database {tag} (roles {roles.owner}, {roles.app})")
        await admin.close()


async def load_postgres(dsn: str, factory: RowFactory, count: int, tenants: int) -> float:
    """COPY everything in, as the superuser (COPY FROM is not allowed under row-level security)."""
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            stop = min(count, start + CHUNK)
            await connection.copy_records_to_table(
                "objects",
                schema_name="openkcm",
                columns=OBJECT_COLUMNS,
                records=factory.rows(start, stop, tenants),
            )
            await connection.copy_records_to_table(
                "object_names",
                schema_name="openkcm",
                columns=("tenant_id", "name", "seq"),
                records=((tenant_of(n, tenants), name_of(n), n + 1) for n in range(start, stop)),
            )
            print(
                f"  postgres: {stop:>9} rows loaded ({time.perf_counter() - started:6.1f} s)",
                end="\r",
                flush=True,
            )
        await connection.execute(
            "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('openkcm.objects', 'seq'), $1)", count
        )
        loaded = time.perf_counter() - started
        analyze = time.perf_counter()
        await connection.execute("VACUUM ANALYZE openkcm.objects")
        await connection.execute("VACUUM ANALYZE openkcm.object_names")
        await connection.execute("CHECKPOINT")  # the load's dirty pages are not the measurement's
        print(f"\n  postgres: VACUUM ANALYZE and CHECKPOINT {time.perf_counter() - analyze:.1f} s")
        return loaded
    finally:
        await connection.close()


async def run_postgres(args: argparse.Namespace, factory: RowFactory) -> Result:
    async with postgres_database(args.admin_dsn, args.keep) as (database, roles):
        loaded = await load_postgres(
            _database_dsn(args.admin_dsn, database), factory, args.objects, args.tenants
        )
        settings = PostgresSettings(
            dsn=_database_dsn(args.admin_dsn, database, roles.app),
            min_connections=args.pool,
            max_connections=args.pool,
        )
        store = await PostgresObjectStore.open(settings)
        try:
            return await measure("postgres", store, loaded, args)
        finally:
            await store.close()


# -- SQLite ----------------------------------------------------------------------------------------


def load_sqlite(path: Path, factory: RowFactory, count: int, tenants: int) -> float:
    """One executemany transaction per chunk on the store's own file and tables."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            stop = min(count, start + CHUNK)
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                f"INSERT INTO objects ({', '.join(OBJECT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                factory.rows(start, stop, tenants),
            )
            connection.executemany(
                "INSERT INTO object_names (tenant_id, name, seq) VALUES (?, ?, ?)",
                ((tenant_of(n, tenants), name_of(n), n + 1) for n in range(start, stop)),
            )
            connection.execute("COMMIT")
            print(
                f"  sqlite:   {stop:>9} rows loaded ({time.perf_counter() - started:6.1f} s)",
                end="\r",
                flush=True,
            )
        print()
        loaded = time.perf_counter() - started
        connection.execute("ANALYZE")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as CHECKPOINT for PostgreSQL
        return loaded
    finally:
        connection.close()


async def run_sqlite(args: argparse.Namespace, factory: RowFactory) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as directory:
        path = Path(directory) / "objects.db"
        store = await SqliteObjectStore.open(path)  # creates the tables
        await store.close()
        loaded = await asyncio.to_thread(load_sqlite, path, factory, args.objects, args.tenants)
        store = await SqliteObjectStore.open(path)
        try:
            return await measure("sqlite", store, loaded, args)
        finally:
            await store.close()


# -- report ----------------------------------------------------------------------------------------


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\n{args.objects:,} objects over {args.tenants:,} tenants; {args.concurrency} concurrent callers"
        f" for Create and Get ({args.pool} PostgreSQL connections); Locate by name one call at a time;"
        f" load average {' '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    for result in results:
        rate = args.objects / result.load_seconds
        print(f"\n{result.name}")
        print(f"  load            {result.load_seconds:8.1f} s   ({rate:,.0f} rows/s)")
        print(f"  create          {result.create}")
        print(f"  get             {result.get}")
        print(f"  locate by name  {result.locate}")
        verdict = "meets" if result.locate.p99_ms < LOCATE_TARGET_P99_MS else "MISSES"
        target = f"the target (< {LOCATE_TARGET_P99_MS} ms)"
        print(f"  Locate by name P99 {result.locate.p99_ms:.3f} ms {verdict} {target}")
    by_name = {result.name: result for result in results}
    if {"postgres", "sqlite"} <= set(by_name):
        pg, lite = by_name["postgres"], by_name["sqlite"]
        print("\npostgres / sqlite")
        for label, ours, theirs in (("create", pg.create, lite.create), ("get", pg.get, lite.get)):
            throughput, p99 = ours.per_s / theirs.per_s, ours.p99_ms / theirs.p99_ms
            print(f"  {label:6} throughput {throughput:6.2f}x   p99 {p99:6.2f}x")
        print(f"  locate p99        {pg.locate.p99_ms / lite.locate.p99_ms:6.2f}x")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--gets", type=int, default=20_000)
    parser.add_argument("--locates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="callers at once for Create and Get")
    parser.add_argument("--pool", type=int, default=10, help="PostgreSQL connections (a Core's default)")
    parser.add_argument("--stores", default="postgres,sqlite", help="comma-separated: postgres, sqlite")
    parser.add_argument("--admin-dsn", default=DEFAULT_ADMIN_DSN, help="a PostgreSQL superuser's URL")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = parser.parse_args(argv)
    if args.objects < 1 or args.tenants < 1 or args.objects >= 10**8 or min(args.concurrency, args.pool) < 1:
        parser.error("need 1 <= --objects < 10^8, --tenants >= 1, --concurrency >= 1, --pool >= 1")
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if not stores or set(stores) - set(RUNNERS):
        parser.error(f"--stores: choose among {', '.join(RUNNERS)}")
    args.stores = stores
    return args


RUNNERS: dict[str, Callable[[argparse.Namespace, RowFactory], Coroutine[Any, Any, Result]]] = {
    "postgres": run_postgres,
    "sqlite": run_sqlite,
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    factory = RowFactory()
    factory.verify(args.objects)
    results = [asyncio.run(RUNNERS[name](args, factory)) for name in args.stores]
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
