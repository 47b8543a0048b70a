"""Key hierarchy benchmark: the L4 hot path, cold tenant hydration, IVK rotation at scale.

    python -m loadtests.bench_hierarchy [--tenants 10000] [--unwraps 300000] [--cold 200] [--l1-cold 50]

Prints, in one run:
- L4 unwraps/s (and wraps/s) through a warm L3 on one core, beside the baselines measured in
  the same run: raw AES-256-GCM decrypt/s of the same bytes, and ``unseal.blob.unwrap``/s;
- the cost of opening a cold tenant after a restart: from its active binding (no L1 call),
  and through L1 = AWS KMS served by a moto server started here, in its own process;
- IVK rotation for ``--tenants`` tenants: the rotation itself, then the scrubber re-wrapping
  every binding (in batches) until everything references the new version.
Everything runs against the real SQLite store (WAL, synchronous=FULL) in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from keystores.base import Keystore
from keystores.software import SoftwareKeystore
from kmip_server.hierarchy import HierarchySettings, KeyHierarchy, ManualClock
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.hierarchy.support import L1Line
from tests.support.keystores import running_moto_kms
from unseal.blob import Layer, cipher_for, parse_header, unwrap
from unseal.memory import SecretBuffer

SERVICE = "payments"
LINK_CONCURRENCY = 200
DAY = 24 * 3600.0
STORES: dict[int, SqliteStore] = {}  # each open Core's store, closed with it


def rate(operation: Callable[[], object], count: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``count`` calls, in calls per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            operation()
        best = min(best, time.perf_counter() - start)
    return count / best


def latency_line(name: str, seconds: list[float]) -> str:
    ms = sorted(value * 1000 for value in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"  {name:<44} n={len(ms):<6} mean {statistics.fmean(ms):7.3f} ms   "
        f"p50 {statistics.median(ms):7.3f} ms   p99 {p99:7.3f} ms"
    )


async def open_core(
    db: Path,
    keystores: Mapping[str, Keystore],
    master: SecretBuffer,
    clock: ManualClock,
    settings: HierarchySettings | None = None,
) -> KeyHierarchy:
    store = await SqliteStore.open(db)
    hierarchy = KeyHierarchy(
        store=store,
        keystores=keystores,
        cluster_id="bench",
        settings=settings or HierarchySettings(),
        clock=clock,
    )
    await hierarchy.attach(master)
    STORES[id(hierarchy)] = store
    return hierarchy


async def close_core(hierarchy: KeyHierarchy) -> None:
    hierarchy.detach()
    await STORES.pop(id(hierarchy)).close()


async def link_many(hierarchy: KeyHierarchy, tenants: list[str], kind: str, keys: Mapping[str, str]) -> None:
    for start in range(0, len(tenants), LINK_CONCURRENCY):
        chunk = tenants[start : start + LINK_CONCURRENCY]
        await asyncio.gather(*(hierarchy.link_tenant(tenant, kind, keys[tenant]) for tenant in chunk))


async def hot_path(workdir: Path, unwraps: int) -> None:
    software = SoftwareKeystore()
    master, clock = SecretBuffer.random(32), ManualClock()
    # One L3 wrap reservation covers every wrap measured below (1 + 3 runs of ``unwraps``), so
    # the sync hot path is timed alone; in a server a block of reserved wraps costs one store
    # round trip per l3_wrap_reservation wraps, outside wrap_l4.
    settings = HierarchySettings(l3_wrap_reservation=3 * unwraps + 1)
    hierarchy = await open_core(workdir / "hot.db", {"software": software}, master, clock, settings)
    try:
        await hierarchy.link_tenant("tenant-0001", "software", software.create_key())
        await hierarchy.ensure_ready("tenant-0001", SERVICE)
        object_id = "7d9b6a52-3c1e-4f0e-9a57-0d5c2e8f1b44"  # a KMIP unique identifier (UUID)
        material = os.urandom(32)
        blob = hierarchy.wrap_l4("tenant-0001", SERVICE, object_id, material)
        assert hierarchy.unwrap_l4("tenant-0001", SERVICE, object_id, blob) == material

        # Baselines on the very same bytes: AES-GCM alone, and the shared blob format's unwrap.
        header, offset = parse_header(blob)
        l3 = hierarchy._tenants["tenant-0001"].services[SERVICE].ciphers[header.wrapping_key_version]
        nonce, sealed, aad = blob[offset : offset + 12], blob[offset + 12 :], blob[:offset]
        raw_key = cipher_for(os.urandom(32))
        raw_blob_nonce = os.urandom(12)

        raw_decrypt = rate(lambda: l3.decrypt(nonce, sealed, aad), unwraps)
        raw_encrypt = rate(lambda: raw_key.encrypt(raw_blob_nonce, material, aad), unwraps)
        blob_unwrap = rate(
            lambda: unwrap(
                blob, l3, layer=Layer.L4, tenant_id="tenant-0001", key_id=object_id, key_version=1
            ),
            unwraps,
        )
        l4_unwrap = rate(lambda: hierarchy.unwrap_l4("tenant-0001", SERVICE, object_id, blob), unwraps)
        l4_wrap = rate(lambda: hierarchy.wrap_l4("tenant-0001", SERVICE, object_id, material), unwraps)
    finally:
        await close_core(hierarchy)
        await software.close()

    print("L4 hot path (one core, warm L3, 32-byte key material, UUID object id)")
    print(f"  baseline: raw AES-256-GCM decrypt          {raw_decrypt:12,.0f} /s")
    print(
        f"  baseline: unseal.blob.unwrap               {blob_unwrap:12,.0f} /s"
        f"   ({blob_unwrap / raw_decrypt:.2f} x raw)"
    )
    print(
        f"  KeyHierarchy.unwrap_l4                     {l4_unwrap:12,.0f} /s"
        f"   ({l4_unwrap / raw_decrypt:.2f} x raw, "
        f"{l4_unwrap / blob_unwrap:.2f} x blob.unwrap, {1e6 / l4_unwrap:.2f} us each)"
    )
    print(
        f"  baseline: raw AES-256-GCM encrypt          {raw_encrypt:12,.0f} /s   (fixed nonce, timing only)"
    )
    print(
        f"  KeyHierarchy.wrap_l4                       {l4_wrap:12,.0f} /s"
        f"   ({l4_wrap / raw_encrypt:.2f} x raw)"
    )


async def cold_from_active_binding(workdir: Path, tenants: int) -> None:
    software = SoftwareKeystore()
    line = L1Line(software)
    keystores = {"software": line}
    master, clock = SecretBuffer.random(32), ManualClock()
    names = [f"tenant-{n:05d}" for n in range(tenants)]
    keys = {name: software.create_key() for name in names}
    db = workdir / "cold.db"
    hierarchy = await open_core(db, keystores, master, clock)
    await link_many(hierarchy, names, "software", keys)
    for name in names:
        await hierarchy.ensure_ready(name, SERVICE)  # creates each tenant's L3 v1
    await close_core(hierarchy)

    hierarchy = await open_core(db, keystores, master, clock)  # a restart: nothing warm
    decrypts = line.calls["decrypt"]
    l2_only, with_l3 = [], []
    try:
        for name in names[: tenants // 2]:
            start = time.perf_counter()
            await hierarchy.ensure_tenant_ready(name)
            l2_only.append(time.perf_counter() - start)
        for name in names[tenants // 2 :]:
            start = time.perf_counter()
            await hierarchy.ensure_ready(name, SERVICE)
            with_l3.append(time.perf_counter() - start)
        start = time.perf_counter()
        await close_core(hierarchy)
        hierarchy = await open_core(db, keystores, master, clock)
        await asyncio.gather(*(hierarchy.ensure_ready(name, SERVICE) for name in names))
        concurrent = time.perf_counter() - start
        l1_calls = line.calls["decrypt"] - decrypts
    finally:
        await close_core(hierarchy)
        await software.close()
    print("Cold tenant hydration from the active binding (after a restart, within the sovereign TTL)")
    print(latency_line("L2 only (ensure_tenant_ready)", l2_only))
    print(latency_line("L2 + L3 of one service (ensure_ready)", with_l3))
    print(
        f"  {tenants} tenants at once (gather), incl. reopen   {concurrent * 1000:9.1f} ms total;"
        f" L1 calls: {l1_calls}"
    )


async def cold_through_l1(workdir: Path, tenants: int) -> None:
    with running_moto_kms() as moto:
        console = moto.console()
        kms = moto.keystore()
        line = L1Line(kms)
        keystores = {kms.kind: line}
        master, clock = SecretBuffer.random(32), ManualClock()
        names = [f"tenant-{n:05d}" for n in range(tenants)]
        keys = {name: await asyncio.to_thread(console.create_key) for name in names}
        db = workdir / "kms.db"
        try:
            hierarchy = await open_core(db, keystores, master, clock)
            links = []
            for name in names:
                start = time.perf_counter()
                await hierarchy.link_tenant(name, kms.kind, keys[name])
                links.append(time.perf_counter() - start)
            for name in names:
                await hierarchy.ensure_ready(name, SERVICE)
            await close_core(hierarchy)

            clock.advance(DAY + 1)  # past the sovereign TTL: only L1 may open a tenant now
            hierarchy = await open_core(db, keystores, master, clock)
            decrypts = line.calls["decrypt"]
            hydrations = []
            for name in names:
                start = time.perf_counter()
                await hierarchy.ensure_ready(name, SERVICE)
                hydrations.append(time.perf_counter() - start)
            l1_calls = line.calls["decrypt"] - decrypts
            rechecks = []
            for name in names:
                start = time.perf_counter()
                await hierarchy.recheck_tenant(name)
                rechecks.append(time.perf_counter() - start)
            await close_core(hierarchy)
        finally:
            await kms.close()
            console.close()
    print("Through L1 = AWS KMS on a local moto server (HTTP on loopback, another process)")
    print(latency_line("link_tenant (KMS encrypt + decrypt check)", links))
    print(latency_line("cold hydration past TTL (KMS decrypt + L3)", hydrations))
    print(latency_line("recheck_tenant (KMS decrypt)", rechecks))
    print(f"  L1 decrypt calls during {tenants} cold hydrations: {l1_calls}")


async def ivk_rotation(workdir: Path, tenants: int) -> None:
    software = SoftwareKeystore()
    keystores = {"software": software}
    master, clock = SecretBuffer.random(32), ManualClock()
    names = [f"tenant-{n:05d}" for n in range(tenants)]
    key = software.create_key()
    db = workdir / "rotation.db"
    hierarchy = await open_core(db, keystores, master, clock)
    setup = time.perf_counter()
    await link_many(hierarchy, names, "software", dict.fromkeys(names, key))
    setup = time.perf_counter() - setup
    await close_core(hierarchy)

    hierarchy = await open_core(db, keystores, master, clock)
    try:
        start = time.perf_counter()
        version = await hierarchy.rotate_ivk()
        rotated = time.perf_counter() - start
        start = time.perf_counter()
        report = await hierarchy.scrub()
        scrubbed = time.perf_counter() - start
        clock.advance(hierarchy.settings.ivk_grace_period)
        start = time.perf_counter()
        retire = await hierarchy.maintain()
        retired = time.perf_counter() - start
    finally:
        await close_core(hierarchy)
        await software.close()
    assert report.rewrapped == tenants
    assert report.failed == 0
    assert retire.retired == (version - 1,)
    print(
        f"IVK rotation with {tenants} linked tenants ({2 * tenants} bindings;"
        f" setup: {tenants} links in {setup:.1f} s)"
    )
    print(f"  rotate_ivk (new version, stored)           {rotated * 1000:9.1f} ms")
    print(
        f"  scrub: re-wrap every binding to v{version}        {scrubbed * 1000:9.1f} ms   "
        f"({tenants / scrubbed:,.0f} tenants/s, batches of {HierarchySettings().scrub_batch_size})"
    )
    print(f"  rotate + scrub                             {(rotated + scrubbed) * 1000:9.1f} ms")
    print(f"  after grace: maintain() retires v{version - 1}        {retired * 1000:9.1f} ms")


async def main(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hierarchy-") as directory:
        workdir = Path(directory)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
            f" SQLite in {workdir} (WAL, synchronous=FULL)\n"
        )
        await hot_path(workdir, arguments.unwraps)
        print()
        await cold_from_active_binding(workdir, arguments.cold)
        print()
        await cold_through_l1(workdir, arguments.l1_cold)
        print()
        await ivk_rotation(workdir, arguments.tenants)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=10_000, help="tenants for the IVK rotation")
    parser.add_argument("--unwraps", type=int, default=300_000, help="calls per hot-path measurement")
    parser.add_argument("--cold", type=int, default=200, help="tenants for the active-binding hydration")
    parser.add_argument("--l1-cold", type=int, default=50, help="tenants for the hydration through moto KMS")
    return parser.parse_args()


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the dev keystore's warning, once per instance
    asyncio.run(main(parse_arguments()))
