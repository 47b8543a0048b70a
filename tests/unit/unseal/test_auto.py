"""Auto-unseal with an in-process test keystore: success, fail-closed refusals, retries, recovery shares."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keystores.base import KeyStatus, KeystoreDenied, KeystoreThrottled, KeystoreUnavailable
from keystores.retry import RetryPolicy
from unseal.auto import open_seal_blob, seal_context, seal_master_key
from unseal.controller import SealController
from unseal.errors import (
    AutoUnsealNotConfigured,
    CheckValueMismatch,
    SealBlobRejected,
    Sealed,
    SealKeystoreUnavailable,
    SealKeyUnusable,
    ShareSetMismatch,
)
from unseal.master_key import check_value, new_master_key
from unseal.records import MemorySealRecords, SealMode
from unseal.state import SealState

from .support import CLUSTER, FAST_RETRY, REGION, FaultyKeystore, MemoryKeystore, controller, run

S = SealState


async def auto_cluster(
    recovery: tuple[int, int] = (2, 3),
) -> tuple[SealController, list[str], FaultyKeystore, MemorySealRecords]:
    inner = MemoryKeystore()
    inner.create_key("seal")
    keystore = FaultyKeystore(inner)
    records = MemorySealRecords()
    ctl = controller(records, keystore=keystore)
    shares = await ctl.init_auto(keystore, "seal", *recovery)
    return ctl, shares, keystore, records


def test_init_auto_stores_the_seal_blob_and_auto_unseal_restores_the_key() -> None:
    async def scenario() -> None:
        ctl, shares, keystore, records = await auto_cluster()
        assert len(shares) == 3
        assert ctl.state is S.SEALED
        config = await records.load_seal_config()
        assert config is not None
        assert config.mode is SealMode.AUTO
        assert config.seal_blob
        assert (config.seal_keystore, config.seal_key_id) == ("memory-test", "seal")
        await ctl.auto_unseal()
        assert ctl.unsealed
        assert check_value(ctl.master_key, CLUSTER) == config.check_value
        # A new process with only the records and the keystore unseals to the same key.
        fresh = controller(records, keystore=keystore)
        await fresh.auto_unseal()
        assert fresh.master_key.equals(ctl.master_key)

    run(scenario())


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (KeyStatus.DISABLED, "disabled"),
        (KeyStatus.PENDING_DELETION, "disabled"),
        (KeyStatus.NOT_FOUND, "does not exist"),
    ],
)
def test_a_refused_seal_key_fails_closed_and_recovery_shares_still_work(
    status: KeyStatus, message: str
) -> None:
    async def scenario() -> None:
        ctl, shares, keystore, _ = await auto_cluster()
        assert isinstance(keystore.inner, MemoryKeystore)
        keystore.inner.set_status("seal", status)
        calls_before = keystore.calls
        with pytest.raises(SealKeyUnusable, match=message):
            await ctl.auto_unseal()
        assert keystore.calls == calls_before + 1  # a refusal is not retried
        assert ctl.state is S.SEALED
        with pytest.raises(Sealed):
            _ = ctl.master_key
        progress = await ctl.unseal_with_shares(shares[1:])
        assert progress.unsealed

    run(scenario())


def test_denied_fails_closed_at_once() -> None:
    async def scenario() -> None:
        ctl, _, keystore, _ = await auto_cluster()
        keystore.faults = [KeystoreDenied("no grant")]
        with pytest.raises(SealKeyUnusable, match="denied") as caught:
            await ctl.auto_unseal()
        assert "no grant" not in str(caught.value)
        assert ctl.state is S.SEALED

    run(scenario())


def test_transient_failures_are_retried() -> None:
    async def scenario() -> None:
        ctl, _, keystore, _ = await auto_cluster()
        calls_before = keystore.calls
        keystore.faults = [KeystoreUnavailable("blip"), KeystoreThrottled("slow down")]
        await ctl.auto_unseal()
        assert ctl.unsealed
        assert keystore.calls == calls_before + 3

    run(scenario())


def test_an_unreachable_keystore_ends_sealed_after_bounded_retries() -> None:
    async def scenario() -> None:
        ctl, shares, keystore, _ = await auto_cluster()
        calls_before = keystore.calls
        keystore.faults = [KeystoreUnavailable("down")] * (FAST_RETRY.max_attempts + 2)
        with pytest.raises(SealKeystoreUnavailable, match="still sealed"):
            await ctl.auto_unseal()
        assert keystore.calls == calls_before + FAST_RETRY.max_attempts
        assert ctl.state is S.SEALED
        assert (await ctl.unseal_with_shares(shares[:2])).unsealed

    run(scenario())


def test_a_hanging_keystore_times_out_sealed() -> None:
    async def scenario() -> None:
        inner = MemoryKeystore()
        inner.create_key("seal")
        keystore = FaultyKeystore(inner)
        records = MemorySealRecords()
        await controller(records, keystore=keystore).init_auto(keystore, "seal", 1, 1)
        keystore.hang = True
        impatient = SealController(
            records,
            cluster_id=CLUSTER,
            region=REGION,
            seal_keystore=keystore,
            retry_policy=RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, total_timeout=0.05),
        )
        with pytest.raises(SealKeystoreUnavailable):
            await impatient.auto_unseal()
        assert impatient.state is S.SEALED

    run(scenario())


def test_a_seal_blob_moved_to_another_cluster_is_refused_by_the_keystore() -> None:
    async def scenario() -> None:
        _, _, keystore, records_a = await auto_cluster()
        config_a = await records_a.load_seal_config()
        assert config_a is not None
        # Cluster B's records carry cluster A's seal blob (same keystore, same key).
        records_b = MemorySealRecords(replace(config_a, cluster_id="cluster-b"))
        other = controller(records_b, cluster_id="cluster-b", keystore=keystore)
        with pytest.raises(SealBlobRejected, match="cluster and region"):
            await other.auto_unseal()
        assert other.state is S.SEALED
        # And in another region.
        records_c = MemorySealRecords(replace(config_a, region="us-east-1"))
        elsewhere = controller(records_c, region="us-east-1", keystore=keystore)
        with pytest.raises(SealBlobRejected):
            await elsewhere.auto_unseal()

    run(scenario())


def test_the_keystore_binds_the_context() -> None:
    async def scenario() -> None:
        keystore = MemoryKeystore()
        keystore.create_key("seal")
        with new_master_key() as key:
            blob = await seal_master_key(keystore, "seal", key, seal_context(CLUSTER, REGION), FAST_RETRY)
            with await open_seal_blob(
                keystore, "seal", blob, seal_context(CLUSTER, REGION), FAST_RETRY
            ) as back:
                assert back.equals(key)
            with pytest.raises(SealBlobRejected):
                await open_seal_blob(keystore, "seal", blob, seal_context("cluster-b", REGION), FAST_RETRY)
            with pytest.raises(SealBlobRejected):
                await open_seal_blob(keystore, "seal", blob[:-1] + b"\x00", seal_context(CLUSTER, REGION))

    run(scenario())


def test_a_blob_that_opens_to_another_key_fails_the_check_value() -> None:
    async def scenario() -> None:
        _, _, keystore, records = await auto_cluster()
        config = await records.load_seal_config()
        assert config is not None
        with new_master_key() as stranger:
            blob = await keystore.encrypt("seal", stranger.view(), seal_context(CLUSTER, REGION))
        tampered = controller(MemorySealRecords(replace(config, seal_blob=blob)), keystore=keystore)
        with pytest.raises(CheckValueMismatch):
            await tampered.auto_unseal()
        assert tampered.state is S.SEALED

    run(scenario())


def test_auto_unseal_needs_an_auto_cluster_and_its_keystore() -> None:
    async def scenario() -> None:
        shamir = controller(keystore=MemoryKeystore())
        await shamir.init_shamir(1, 1)
        with pytest.raises(AutoUnsealNotConfigured, match="Shamir"):
            await shamir.auto_unseal()
        assert shamir.state is S.SEALED

        _, _, _, records = await auto_cluster()
        without = controller(records)
        with pytest.raises(AutoUnsealNotConfigured, match="memory-test"):
            await without.auto_unseal()
        assert without.state is S.SEALED

    run(scenario())


def test_init_auto_with_an_unusable_key_stores_nothing() -> None:
    async def scenario() -> None:
        keystore = MemoryKeystore()
        keystore.create_key("seal")
        keystore.set_status("seal", KeyStatus.DISABLED)
        records = MemorySealRecords()
        ctl = controller(records)
        with pytest.raises(SealKeyUnusable):
            await ctl.init_auto(keystore, "seal", 1, 1)
        assert ctl.state is S.UNINITIALIZED
        assert records.saves == 0

    run(scenario())


def test_rekey_in_auto_mode_reissues_recovery_shares_and_keeps_the_seal_blob() -> None:
    async def scenario() -> None:
        ctl, old, keystore, records = await auto_cluster()
        before = await records.load_seal_config()
        await ctl.auto_unseal()
        new = await ctl.rekey_shares(1, 2)
        after = await records.load_seal_config()
        assert before is not None
        assert after is not None
        assert after.seal_blob == before.seal_blob
        await ctl.seal()
        assert isinstance(keystore.inner, MemoryKeystore)
        keystore.inner.set_status("seal", KeyStatus.DISABLED)
        with pytest.raises(SealKeyUnusable):
            await ctl.auto_unseal()
        assert (await ctl.submit_share(new[1])).unsealed
        await ctl.seal()
        with pytest.raises(ShareSetMismatch):
            await ctl.unseal_with_shares(old[:2])

    run(scenario())
