"""The SealController over the real SQLite store: the configuration survives restarts, shares never stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmip_server.storage.sqlite import SqliteStore
from unseal.controller import SealController
from unseal.errors import ShareSetMismatch
from unseal.state import SealState

pytestmark = pytest.mark.integration

CLUSTER = "cluster-sqlite"
REGION = "eu-de-1"


async def _restart(path: Path) -> tuple[SqliteStore, SealController]:
    store = await SqliteStore.open(path)
    controller = SealController(store, cluster_id=CLUSTER, region=REGION)
    await controller.load()
    return store, controller


def test_shamir_cluster_across_restarts(tmp_path: Path) -> None:
    database = tmp_path / "openkcm.db"

    async def scenario() -> None:
        store, first = await _restart(database)
        assert first.state is SealState.UNINITIALIZED
        shares = await first.init_shamir(2, 3)
        await first.unseal_with_shares(shares[:2])
        key = bytes(first.master_key.view())  # test only: compare across restarts
        await first.close()
        await store.close()

        store, second = await _restart(database)
        assert second.state is SealState.SEALED
        await second.unseal_with_shares(shares[1:])
        assert second.master_key.equals(key)
        new = await second.rekey_shares(3, 4)
        await second.close()
        await store.close()

        store, third = await _restart(database)
        with pytest.raises(ShareSetMismatch):
            await third.unseal_with_shares(shares[:2])
        await third.unseal_with_shares(new[:3])
        assert third.master_key.equals(key)
        await third.close()
        await store.close()

        raw = database.read_bytes()
        for share in (*shares, *new):
            assert " ".join(share.split()[4:9]).encode() not in raw

    asyncio.run(scenario())
