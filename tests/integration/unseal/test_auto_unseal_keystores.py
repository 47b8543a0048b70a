"""Auto-unseal against every real seal keystore: software, AWS KMS (moto server), PKCS#11 (SoftHSM2).

The customer's console (their KMS or HSM tools) acts on the seal key directly; the controller
only observes, as it would in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from keystores.retry import RetryingKeystore, RetryPolicy
from tests.support.keystores import KeystoreEnv
from unseal.controller import SealController
from unseal.errors import SealBlobRejected, SealKeyUnusable
from unseal.master_key import check_value
from unseal.records import MemorySealRecords, SealMode
from unseal.state import SealState

pytestmark = pytest.mark.integration

T = TypeVar("T")

CLUSTER = "cluster-integration"
REGION = "eu-central-1"
# Refusals are not retried; the short budget only bounds a driver that misreports one as transient.
POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, total_timeout=20.0)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def controller(records: MemorySealRecords, env: KeystoreEnv, *, cluster_id: str = CLUSTER) -> SealController:
    return SealController(
        records, cluster_id=cluster_id, region=REGION, seal_keystore=env.keystore, retry_policy=POLICY
    )


async def initialized(env: KeystoreEnv) -> tuple[MemorySealRecords, str, list[str]]:
    records = MemorySealRecords()
    key_id = env.console.create_key()
    shares = await controller(records, env).init_auto(env.keystore, key_id, 2, 3)
    return records, key_id, shares


def test_auto_unseal_round_trip(keystore_env: KeystoreEnv) -> None:
    async def scenario() -> None:
        records, key_id, shares = await initialized(keystore_env)
        config = await records.load_seal_config()
        assert config is not None
        assert config.mode is SealMode.AUTO
        assert (config.seal_keystore, config.seal_key_id) == (keystore_env.keystore.kind, key_id)
        ctl = controller(records, keystore_env)
        await ctl.auto_unseal()
        assert ctl.unsealed
        assert check_value(ctl.master_key, CLUSTER) == config.check_value
        await ctl.seal()
        await ctl.auto_unseal()
        assert check_value(ctl.master_key, CLUSTER) == config.check_value
        # The recovery shares open the very same MasterKey.
        recovered = controller(records, keystore_env)
        await recovered.unseal_with_shares(shares[1:])
        assert recovered.master_key.equals(ctl.master_key)

    run(scenario())


@pytest.mark.parametrize("action", ["disable", "schedule_deletion"])
def test_a_disabled_seal_key_fails_closed_and_recovery_shares_still_work(
    keystore_env: KeystoreEnv, action: str
) -> None:
    async def scenario() -> None:
        records, key_id, shares = await initialized(keystore_env)
        if action == "disable":
            keystore_env.console.disable_key(key_id)
        else:
            keystore_env.console.schedule_deletion(key_id)
        ctl = controller(records, keystore_env)
        with pytest.raises(SealKeyUnusable):
            await ctl.auto_unseal()
        assert ctl.state is SealState.SEALED
        assert (await ctl.status()).submitted == 0
        progress = await ctl.unseal_with_shares([shares[2], shares[0]])
        assert progress.unsealed
        config = await records.load_seal_config()
        assert config is not None
        assert check_value(ctl.master_key, CLUSTER) == config.check_value

    run(scenario())


def test_the_seal_blob_of_another_cluster_is_refused(keystore_env: KeystoreEnv) -> None:
    async def scenario() -> None:
        records, _, _ = await initialized(keystore_env)
        config = await records.load_seal_config()
        assert config is not None
        # Another cluster's records carrying this cluster's seal blob: the keystore sees the wrong context.
        stolen = MemorySealRecords(replace(config, cluster_id="cluster-other"))
        other = controller(stolen, keystore_env, cluster_id="cluster-other")
        with pytest.raises(SealBlobRejected):
            await other.auto_unseal()
        assert other.state is SealState.SEALED

    run(scenario())


def test_a_seal_key_that_does_not_exist_fails_closed(keystore_env: KeystoreEnv) -> None:
    async def scenario() -> None:
        records, _, shares = await initialized(keystore_env)
        config = await records.load_seal_config()
        assert config is not None
        moved = MemorySealRecords(replace(config, seal_key_id=keystore_env.console.missing_key_id()))
        ctl = controller(moved, keystore_env)
        with pytest.raises(SealKeyUnusable):
            await ctl.auto_unseal()
        assert ctl.state is SealState.SEALED
        assert (await ctl.unseal_with_shares(shares[:2])).unsealed

    run(scenario())


def test_a_retrying_wrapper_records_the_driver_kind(keystore_env: KeystoreEnv) -> None:
    async def scenario() -> None:
        wrapped = RetryingKeystore(keystore_env.keystore, POLICY)
        records = MemorySealRecords()
        key_id = keystore_env.console.create_key()
        ctl = SealController(records, cluster_id=CLUSTER, region=REGION, retry_policy=POLICY)
        await ctl.init_auto(wrapped, key_id, 1, 1)
        config = await records.load_seal_config()
        assert config is not None
        assert config.seal_keystore == keystore_env.keystore.kind
        plain = controller(records, keystore_env)
        await plain.auto_unseal()
        assert plain.unsealed

    run(scenario())
