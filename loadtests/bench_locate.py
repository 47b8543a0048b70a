"""Locate benchmark: the Locate operation over the SQLite store, beside the store's own query.

    python -m loadtests.bench_locate [--objects 50000] [--tenants 10] [--samples 500]

Fills a temporary SQLite object store (production settings) with ``--objects`` symmetric keys
spread over ``--tenants`` tenants, each with a unique Name, an Object Group (one of 100), a
custom attribute and the usual dates, then times, one call at a time (P50/P99):
- the baseline: ``ObjectStore.find`` by name (the indexed query alone);
- Locate by Name, and by Name and Object Type (the same index, plus the operation's work);
- Locate by Object Group with Maximum Items 10 (no index: the tenant's live keys are read
  and filtered in Python; this is the cost of a non-indexed filter at this size);
- Locate by Object Type, Offset Items and Maximum Items (paging through everything).
Prints each line and the ratio of Locate by name to the baseline. Locate never unwraps key
material, so no key hierarchy is involved: the operation's handler runs with a tenant scope
over the store, as the engine would call it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kmip_server.identity import Identity, IdentitySource, Role
from kmip_server.model import Attribute, CapabilityInformation, Digest, LocateRequestPayload, Name
from kmip_server.objects import ObjectSettings, TenantObjects, UndoJournal
from kmip_server.operations import OperationContext, ServerInfo
from kmip_server.operations import locate as locate_operation
from kmip_server.storage.objects import LocateQuery, ObjectRecord
from kmip_server.storage.sqlite_database import SqliteSettings
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    NameType,
    ObjectType,
    State,
    Tag,
)

T0 = 1_700_000_000
GROUPS = 100


def tenant_of(number: int, tenants: int) -> str:
    return f"tenant-{number % tenants:03d}"


def make_record(number: int, tenants: int) -> ObjectRecord:
    return ObjectRecord(
        unique_identifier=f"{number:08d}-4b1d-4c5e-9a7f-{number:012x}",
        tenant_id=tenant_of(number, tenants),
        service="svc",
        object_type=ObjectType.SYMMETRIC_KEY,
        state=State.ACTIVE if number % 5 else State.PRE_ACTIVE,
        attributes=(
            Attribute(
                name="Name",
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
            Attribute(name="Object Group", value=f"group-{number % GROUPS}"),
            Attribute(
                name="Digest",
                value=Digest(hashing_algorithm=HashingAlgorithm.SHA_256, digest_value=os.urandom(32)),
            ),
            Attribute(name="x-owner", value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "team-a")),
        ),
        material=os.urandom(120),
    )


def context(store: SqliteObjectStore, tenant: str) -> OperationContext:
    objects = TenantObjects(
        store,
        None,  # type: ignore[arg-type]  # Locate never touches the key hierarchy
        ObjectSettings(),
        tenant_id=tenant,
        service="svc",
        journal=UndoJournal(),
    )
    identity = Identity(
        Role.TENANT_CLIENT,
        f"spiffe://bench/tenant/{tenant}/service/svc",
        source=IdentitySource.SPIFFE_ID,
        tenant=tenant,
        service="svc",
    )
    server = ServerInfo(
        vendor_identification="bench",
        server_information=None,
        operations=(),
        object_types=(),
        versions=((1, 4),),
        profiles=(),
        capabilities=CapabilityInformation(),
        rng_parameters=(),
    )
    return OperationContext(
        identity=identity, version=(1, 4), now=T0 + 10**7, server=server, correlation="bench", scope=objects
    )


def line(label: str, seconds: list[float]) -> float:
    ms = sorted(value * 1000 for value in seconds)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{label:<48} p50 {p50:9.3f} ms   p99 {p99:9.3f} ms   (n={len(ms)})")
    return p50


async def timed(calls: list[Callable[[], Awaitable[object]]]) -> list[float]:
    seconds = []
    for call in calls:
        start = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - start)
    return seconds


def name_attribute(number: int) -> Attribute:
    return Attribute(
        name="Name", value=Name(name_value=f"key-{number}", name_type=NameType.UNINTERPRETED_TEXT_STRING)
    )


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as directory:
        store = await SqliteObjectStore.open(Path(directory) / "objects.db", SqliteSettings(timeout=60.0))
        try:
            records = [make_record(n, args.tenants) for n in range(args.objects)]
            start = time.perf_counter()
            pending = iter(records)

            async def inserter() -> None:
                for record in pending:
                    await store.insert(record)

            async with asyncio.TaskGroup() as group:
                for _ in range(64):
                    group.create_task(inserter())
            elapsed = time.perf_counter() - start
            print(f"stored {args.objects} objects over {args.tenants} tenants in {elapsed:.1f} s")

            picks = [rng.randrange(args.objects) for _ in range(args.samples)]

            def by_name(n: int) -> Callable[[], Awaitable[object]]:
                tenant = tenant_of(n, args.tenants)
                return lambda: store.find(tenant, LocateQuery(names=(f"key-{n}",)))

            def locate(n: int, *attributes: Attribute, **fields: object) -> Callable[[], Awaitable[object]]:
                ctx = context(store, tenant_of(n, args.tenants))
                payload = LocateRequestPayload(attributes=attributes, **fields)  # type: ignore[arg-type]
                return lambda: locate_operation.handle(ctx, payload)

            object_type = Attribute(name="Object Type", value=ObjectType.SYMMETRIC_KEY)
            baseline = line("store.find by name (baseline)", await timed([by_name(n) for n in picks]))
            named = line("Locate by Name", await timed([locate(n, name_attribute(n)) for n in picks]))
            line(
                "Locate by Name and Object Type",
                await timed([locate(n, name_attribute(n), object_type) for n in picks]),
            )
            few = picks[: max(1, args.samples // 25)]
            line(
                "Locate by Object Group, Maximum Items 10",
                await timed(
                    [
                        locate(
                            n, Attribute(name="Object Group", value=f"group-{n % GROUPS}"), maximum_items=10
                        )
                        for n in few
                    ]
                ),
            )
            line(
                "Locate by Object Type, Offset 100, Maximum 10",
                await timed([locate(n, object_type, offset_items=100, maximum_items=10) for n in few]),
            )
            print(f"Locate by Name / store.find by name: {named / baseline:.2f}x")
        finally:
            await store.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--samples", type=int, default=500)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
