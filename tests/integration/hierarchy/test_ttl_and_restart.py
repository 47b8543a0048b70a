"""The sovereign TTL, restarts (seal -> unseal), hydration without and with L1, single-flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keystores.aws_kms import AwsKmsKeystore
from kmip_server.hierarchy import (
    L1Unreachable,
    ManualClock,
    MasterKeyRejected,
    NotReady,
    Sealed,
    TenantLocked,
)
from kmip_server.storage import L1State
from tests.integration.hierarchy.support import L1Line, core
from tests.support.keystores import KeystoreEnv, MotoKms
from unseal.memory import SecretBuffer

MATERIAL = bytes(range(32))


def test_within_ttl_unreachable_l1_still_serves_past_it_fails_closed(l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        line = L1Line(l1.keystore)
        lines = {line.kind: line}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            ttl = hierarchy.settings.sovereign_ttl
            await hierarchy.link_tenant("acme", line.kind, key)
            blob = await hierarchy.wrap_l4_async("acme", "payments", "object-1", MATERIAL)

            line.cut = True
            clock.advance(ttl / 2)
            summary = await hierarchy.recheck_all()
            assert (summary.ok, summary.unreachable, summary.refused) == (0, 1, 0)
            status = await hierarchy.tenant_status("acme")
            assert (status.usable, status.warm, status.l1_state) == (True, True, L1State.UNREACHABLE)
            assert hierarchy.unwrap_l4("acme", "payments", "object-1", blob) == MATERIAL

        # A restart within the TTL hydrates from the active binding, with L1 still cut.
        async with core(db, lines, master, clock) as hierarchy:
            assert await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob) == MATERIAL

            clock.advance(ttl / 2)  # exactly at the TTL: no longer honoured
            with pytest.raises(NotReady):
                hierarchy.unwrap_l4("acme", "payments", "object-1", blob)
            with pytest.raises(L1Unreachable):
                await hierarchy.ensure_ready("acme", "payments")
            assert not (await hierarchy.tenant_status("acme")).usable

        async with core(db, lines, master, clock) as hierarchy:
            with pytest.raises(L1Unreachable):
                await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob)
            # L1 comes back: the next attempt after the back-off goes through L1 and serves again.
            line.cut = False
            with pytest.raises(L1Unreachable):
                await hierarchy.ensure_ready("acme", "payments")  # still within the back-off
            clock.advance(hierarchy.settings.l1_retry_after_failure)
            decrypts = line.calls["decrypt"]
            assert await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob) == MATERIAL
            assert line.calls["decrypt"] == decrypts + 1
            assert (await hierarchy.tenant_status("acme")).l1_state is L1State.OK

    asyncio.run(scenario())


def test_real_network_partition_to_aws_kms_is_transient(moto_kms: MotoKms, tmp_path: Path) -> None:
    """Not the proxy this time: the driver itself, pointed at a port where nothing listens."""

    async def scenario() -> None:
        db = tmp_path / "core.db"
        master, clock = SecretBuffer.random(32), ManualClock()
        console = moto_kms.console()
        key = console.create_key()
        reachable = moto_kms.keystore()
        partitioned = AwsKmsKeystore(
            region=moto_kms.region,
            endpoint_url="http://127.0.0.1:9",  # discard port: connection refused
            access_key_id=moto_kms.access_key_id,
            secret_access_key=moto_kms.secret_access_key,
            connect_timeout=1.0,
            read_timeout=1.0,
        )
        lines = {reachable.kind: reachable}
        try:
            async with core(db, lines, master, clock) as hierarchy:
                await hierarchy.link_tenant("acme", reachable.kind, key)
                blob = await hierarchy.wrap_l4_async("acme", "payments", "object-1", MATERIAL)
                lines[reachable.kind] = partitioned
                status = await hierarchy.recheck_tenant("acme")
                assert (status.usable, status.l1_state) == (True, L1State.UNREACHABLE)
                assert hierarchy.unwrap_l4("acme", "payments", "object-1", blob) == MATERIAL
                clock.advance(hierarchy.settings.sovereign_ttl)
                with pytest.raises(L1Unreachable):
                    await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob)
        finally:
            await reachable.close()
            await partitioned.close()
            console.close()

    asyncio.run(scenario())


def test_seal_and_unseal_brings_back_every_tenant_whose_l1_answers(l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        line = L1Line(l1.keystore)
        lines = {line.kind: line}
        master, clock = SecretBuffer.random(32), ManualClock()
        tenants = [f"tenant-{n}" for n in range(4)]
        keys = {tenant: l1.console.create_key() for tenant in tenants}
        blobs: dict[str, bytes] = {}
        async with core(db, lines, master, clock) as hierarchy:
            for tenant in tenants:
                await hierarchy.link_tenant(tenant, line.kind, keys[tenant])
                blobs[tenant] = await hierarchy.wrap_l4_async(tenant, "svc", "object", MATERIAL)
            hierarchy.on_seal()
            assert not hierarchy.attached
            with pytest.raises(NotReady):
                hierarchy.unwrap_l4(tenants[0], "svc", "object", blobs[tenants[0]])
            with pytest.raises(Sealed):
                await hierarchy.ensure_ready(tenants[0], "svc")
            # Unseal again, same process: everything opens lazily from the active bindings.
            decrypts = line.calls["decrypt"]
            await hierarchy.attach(master)
            for tenant in tenants:
                assert await hierarchy.unwrap_l4_async(tenant, "svc", "object", blobs[tenant]) == MATERIAL
            assert line.calls["decrypt"] == decrypts  # within the TTL: no L1 call

        # A new process, past the TTL, one customer has disabled their key meanwhile.
        clock.advance(2 * 24 * 3600)
        await asyncio.to_thread(l1.console.disable_key, keys[tenants[0]])
        async with core(db, lines, master, clock) as hierarchy:
            decrypts = line.calls["decrypt"]
            with pytest.raises(TenantLocked):
                await hierarchy.ensure_ready(tenants[0], "svc")
            for tenant in tenants[1:]:
                assert await hierarchy.unwrap_l4_async(tenant, "svc", "object", blobs[tenant]) == MATERIAL
            assert line.calls["decrypt"] == decrypts + len(tenants)  # each tenant opened through L1 once

    asyncio.run(scenario())


def test_another_master_key_opens_nothing(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        lines = {software_l1.keystore.kind: software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("acme", "software", key)
            blob = await hierarchy.wrap_l4_async("acme", "svc", "object", MATERIAL)
        stranger = SecretBuffer.random(32)
        async with core(db, lines, stranger, clock, attach=False) as hierarchy:
            with pytest.raises(MasterKeyRejected):
                await hierarchy.attach(stranger)
            assert not hierarchy.attached
            with pytest.raises(Sealed):
                await hierarchy.unwrap_l4_async("acme", "svc", "object", blob)
        async with core(db, lines, master, clock) as hierarchy:  # the right one still works
            assert await hierarchy.unwrap_l4_async("acme", "svc", "object", blob) == MATERIAL

    asyncio.run(scenario())


@pytest.mark.parametrize("past_ttl", [False, True], ids=["active-binding", "through-l1"])
def test_hydration_is_single_flight(software_l1: KeystoreEnv, tmp_path: Path, past_ttl: bool) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        line = L1Line(software_l1.keystore, delay=0.01)  # slow enough for every request to pile up
        lines = {line.kind: line}
        master, clock = SecretBuffer.random(32), ManualClock()
        key = software_l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("acme", line.kind, key)
            blob = await hierarchy.wrap_l4_async("acme", "svc", "object", MATERIAL)
        if past_ttl:
            clock.advance(24 * 3600 + 1)
        async with core(db, lines, master, clock) as hierarchy:
            decrypts = line.calls["decrypt"]
            results = await asyncio.gather(
                *(hierarchy.unwrap_l4_async("acme", "svc", "object", blob) for _ in range(100))
            )
            assert all(result == MATERIAL for result in results)
            assert line.calls["decrypt"] == decrypts + (1 if past_ttl else 0)

    asyncio.run(scenario())
