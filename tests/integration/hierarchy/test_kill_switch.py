"""The kill-switch: unlink, L1 disable and delete, against the software keystore and AWS KMS (moto)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmip_server.hierarchy import (
    L1Refused,
    ManualClock,
    NotReady,
    TenantLocked,
    TenantNotLinked,
)
from kmip_server.storage import L1State
from kmip_server.storage.sqlite import SqliteStore
from tests.integration.hierarchy.support import L1Line, core
from tests.support.keystores import KeystoreEnv
from unseal.memory import SecretBuffer

MATERIAL = bytes(range(32))
OTHER_MATERIAL = bytes(range(32, 64))


def test_unlink_locks_memory_storage_and_restart_and_relink_needs_l1(l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        line = L1Line(l1.keystore)
        lines = {line.kind: line}
        master = SecretBuffer.random(32)
        clock = ManualClock()
        key, bystander_key = l1.console.create_key(), l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("acme", line.kind, key)
            await hierarchy.link_tenant("bystander", line.kind, bystander_key)
            blob = await hierarchy.wrap_l4_async("acme", "payments", "object-1", MATERIAL)
            other = await hierarchy.wrap_l4_async("bystander", "payments", "object-2", OTHER_MATERIAL)
            assert hierarchy.unwrap_l4("acme", "payments", "object-1", blob) == MATERIAL

            status = await hierarchy.unlink_tenant("acme")
            assert (status.linked, status.usable, status.warm) == (False, False, False)
            # From memory: the sync path has nothing left, and warming is refused.
            with pytest.raises(NotReady):
                hierarchy.unwrap_l4("acme", "payments", "object-1", blob)
            with pytest.raises(TenantNotLinked):
                await hierarchy.ensure_ready("acme", "payments")
            with pytest.raises(TenantNotLinked):
                await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob)
            # Idempotent, and the bystander is untouched.
            assert not (await hierarchy.unlink_tenant("acme")).linked
            assert hierarchy.unwrap_l4("bystander", "payments", "object-2", other) == OTHER_MATERIAL

        # From storage: the active binding is gone, the sovereign binding and the L3 remain.
        store = await SqliteStore.open(db)
        root = await store.get_tenant_root("acme")
        assert root is not None
        assert root.active_binding is None
        assert root.sovereign_binding
        assert not root.linked
        assert await store.list_service_keys("acme", "payments")
        await store.close()

        # After a restart and unseal with the same MasterKey: still locked, long after any cache.
        async with core(db, lines, master, clock) as hierarchy:
            for _ in range(2):
                with pytest.raises(TenantNotLinked):
                    await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob)
                clock.advance(hierarchy.settings.l1_retry_after_failure + 1)
            assert (
                await hierarchy.unwrap_l4_async("bystander", "payments", "object-2", other) == OTHER_MATERIAL
            )

        # Relink goes through L1: with the L1 key disabled it fails and the tenant stays locked.
        await asyncio.to_thread(l1.console.disable_key, key)
        async with core(db, lines, master, clock) as hierarchy:
            with pytest.raises(L1Refused):
                await hierarchy.relink_tenant("acme")
            status = await hierarchy.tenant_status("acme")
            assert (status.linked, status.usable) == (False, False)
            with pytest.raises(TenantNotLinked):
                await hierarchy.ensure_ready("acme", "payments")

            await asyncio.to_thread(l1.console.enable_key, key)
            decrypts = line.calls["decrypt"]
            status = await hierarchy.relink_tenant("acme")
            assert line.calls["decrypt"] == decrypts + 1  # L1 opened the sovereign binding
            assert (status.linked, status.usable, status.warm) == (True, True, True)
            # The same L2 came back: the old L3 and L4 work again.
            assert await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob) == MATERIAL

        # And survive a restart (the new active binding was stored).
        async with core(db, lines, master, clock) as hierarchy:
            assert await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob) == MATERIAL

    asyncio.run(scenario())


@pytest.mark.parametrize("customer_action", ["disable", "schedule_deletion"])
def test_l1_disabled_or_deleted_fails_closed_at_next_recheck(
    l1: KeystoreEnv, tmp_path: Path, customer_action: str
) -> None:
    async def scenario() -> None:
        db = tmp_path / "core.db"
        line = L1Line(l1.keystore)
        lines = {line.kind: line}
        master = SecretBuffer.random(32)
        clock = ManualClock()
        key, bystander_key = l1.console.create_key(), l1.console.create_key()
        async with core(db, lines, master, clock) as hierarchy:
            await hierarchy.link_tenant("acme", line.kind, key)
            await hierarchy.link_tenant("bystander", line.kind, bystander_key)
            blob = await hierarchy.wrap_l4_async("acme", "payments", "object-1", MATERIAL)

            action = getattr(l1.console, "disable_key" if customer_action == "disable" else customer_action)
            await asyncio.to_thread(action, key)
            clock.advance(hierarchy.settings.l1_recheck_interval)
            summary = await hierarchy.recheck_all()
            assert (summary.ok, summary.refused, summary.unreachable, summary.errors) == (1, 1, 0, 0)

            status = await hierarchy.tenant_status("acme")
            assert (status.linked, status.usable, status.warm, status.l1_state) == (
                True,
                False,
                False,
                L1State.REFUSED,
            )
            with pytest.raises(NotReady):
                hierarchy.unwrap_l4("acme", "payments", "object-1", blob)
            with pytest.raises(TenantLocked):
                await hierarchy.ensure_ready("acme", "payments")

        # The refusal was stored (active binding deleted): a restart within the TTL stays locked.
        async with core(db, lines, master, clock) as hierarchy:
            with pytest.raises(TenantLocked):
                await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob)
            if customer_action == "disable":
                # The customer turns the key back on: the next re-check restores the tenant.
                await asyncio.to_thread(l1.console.enable_key, key)
                status = await hierarchy.recheck_tenant("acme")
                assert (status.usable, status.l1_state) == (True, L1State.OK)
                assert await hierarchy.unwrap_l4_async("acme", "payments", "object-1", blob) == MATERIAL

    asyncio.run(scenario())
