"""``KeyHierarchy.run``: the periodic L1 re-check and maintenance, as the composition root runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmip_server.hierarchy import HierarchySettings, ManualClock, TenantLocked
from kmip_server.storage import IvkState, L1State
from tests.integration.hierarchy.support import core
from tests.support.keystores import KeystoreEnv
from unseal.memory import SecretBuffer

ROUNDS = 200  # background rounds we are willing to wait for (each ~10 ms of real time)


def test_background_duties_fail_a_disabled_tenant_closed_and_rotate_an_old_ivk(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        settings = HierarchySettings(l1_recheck_interval=0.01, maintenance_interval=0.01)
        lines = {"software": software_l1.keystore}
        clock = ManualClock()
        key = software_l1.console.create_key()
        async with core(tmp_path / "c.db", lines, SecretBuffer.random(32), clock, settings) as hierarchy:
            await hierarchy.link_tenant("acme", "software", key)
            await hierarchy.ensure_ready("acme", "svc")
            background = asyncio.create_task(hierarchy.run())
            try:
                software_l1.console.disable_key(key)
                clock.advance(settings.ivk_max_age)
                for _ in range(ROUNDS):
                    status = await hierarchy.tenant_status("acme")
                    if status.l1_state is L1State.REFUSED and len(hierarchy.ivk_versions()) > 1:
                        break
                    await asyncio.sleep(0.01)
                assert status.l1_state is L1State.REFUSED
                assert not status.warm
                with pytest.raises(TenantLocked):
                    await hierarchy.ensure_ready("acme", "svc")
                assert hierarchy.ivk_versions()[-1] == (2, IvkState.ACTIVE)
                assert not background.done()
            finally:
                background.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await background

    asyncio.run(scenario())
