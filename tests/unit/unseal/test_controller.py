"""The SealController: every operation in every state, Shamir unsealing, rekey, listeners, audit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from shamir_mnemonic.wordlist import WORDLIST

from unseal.controller import SealAuditEvent, SealController
from unseal.errors import (
    CorruptedShare,
    InvalidShareParameters,
    InvalidTransition,
    ListenerFailed,
    RepeatedShare,
    SealConfigMismatch,
    Sealed,
    ShareSetMismatch,
    TooFewShares,
    UnsealError,
    WrongShareSet,
)
from unseal.master_key import check_value, new_master_key
from unseal.records import MemorySealRecords, SealConfig, SealMode
from unseal.shamir import split_master_key
from unseal.state import SealState

from .support import CLUSTER, REGION, MemoryKeystore, controller, run, settle

S = SealState
Operation = Callable[[SealController, list[str], MemoryKeystore], Awaitable[object]]


def corrupt(mnemonic: str, position: int = 12) -> str:
    words = mnemonic.split()
    words[position] = next(w for w in WORDLIST if w != words[position])
    return " ".join(words)


def key_bytes(ctl: SealController) -> bytes:
    return bytes(ctl.master_key.view())  # tests only: compare keys across seal cycles


async def in_state(state: SealState) -> tuple[SealController, list[str], MemoryKeystore, MemorySealRecords]:
    """An auto-unseal cluster (2 of 3 recovery shares) brought to ``state``."""
    keystore = MemoryKeystore()
    keystore.create_key("seal")
    records = MemorySealRecords()
    ctl = controller(records, keystore=keystore)
    if state is S.UNINITIALIZED:
        return ctl, [], keystore, records
    shares = await ctl.init_auto(keystore, "seal", 2, 3)
    if state is S.UNSEALING:
        await ctl.submit_share(shares[0])
    elif state is S.UNSEALED:
        await ctl.auto_unseal()
    assert ctl.state is state
    return ctl, shares, keystore, records


NOT_A_SHARE = " ".join([WORDLIST[0]] * 33)

OPERATIONS: dict[str, Operation] = {
    "load": lambda c, s, k: c.load(),
    "init_shamir": lambda c, s, k: c.init_shamir(2, 3),
    "init_auto": lambda c, s, k: c.init_auto(k, "seal", 2, 3),
    "submit_share": lambda c, s, k: c.submit_share(s[1] if s else NOT_A_SHARE),
    "submit_corrupted_share": lambda c, s, k: c.submit_share(corrupt(s[1]) if s else NOT_A_SHARE),
    "auto_unseal": lambda c, s, k: c.auto_unseal(),
    "reset": lambda c, s, k: c.reset(),
    "seal": lambda c, s, k: c.seal(),
    "rekey_shares": lambda c, s, k: c.rekey_shares(3, 5),
}

# (state before, operation) -> (state after, error raised or None). Every pair is listed.
R = InvalidTransition
EXPECTED: dict[tuple[SealState, str], tuple[SealState, type[UnsealError] | None]] = {
    (S.UNINITIALIZED, "load"): (S.UNINITIALIZED, None),
    (S.UNINITIALIZED, "init_shamir"): (S.SEALED, None),
    (S.UNINITIALIZED, "init_auto"): (S.SEALED, None),
    (S.UNINITIALIZED, "submit_share"): (S.UNINITIALIZED, R),
    (S.UNINITIALIZED, "submit_corrupted_share"): (S.UNINITIALIZED, R),
    (S.UNINITIALIZED, "auto_unseal"): (S.UNINITIALIZED, R),
    (S.UNINITIALIZED, "reset"): (S.UNINITIALIZED, R),
    (S.UNINITIALIZED, "seal"): (S.UNINITIALIZED, R),
    (S.UNINITIALIZED, "rekey_shares"): (S.UNINITIALIZED, R),
    (S.SEALED, "load"): (S.SEALED, None),
    (S.SEALED, "init_shamir"): (S.SEALED, R),
    (S.SEALED, "init_auto"): (S.SEALED, R),
    (S.SEALED, "submit_share"): (S.UNSEALING, None),
    (S.SEALED, "submit_corrupted_share"): (S.SEALED, CorruptedShare),
    (S.SEALED, "auto_unseal"): (S.UNSEALED, None),
    (S.SEALED, "reset"): (S.SEALED, None),
    (S.SEALED, "seal"): (S.SEALED, None),
    (S.SEALED, "rekey_shares"): (S.SEALED, R),
    (S.UNSEALING, "load"): (S.UNSEALING, None),
    (S.UNSEALING, "init_shamir"): (S.UNSEALING, R),
    (S.UNSEALING, "init_auto"): (S.UNSEALING, R),
    (S.UNSEALING, "submit_share"): (S.UNSEALED, None),
    (S.UNSEALING, "submit_corrupted_share"): (S.SEALED, CorruptedShare),
    (S.UNSEALING, "auto_unseal"): (S.UNSEALING, R),
    (S.UNSEALING, "reset"): (S.SEALED, None),
    (S.UNSEALING, "seal"): (S.SEALED, None),
    (S.UNSEALING, "rekey_shares"): (S.UNSEALING, R),
    (S.UNSEALED, "load"): (S.UNSEALED, None),
    (S.UNSEALED, "init_shamir"): (S.UNSEALED, R),
    (S.UNSEALED, "init_auto"): (S.UNSEALED, R),
    (S.UNSEALED, "submit_share"): (S.UNSEALED, R),
    (S.UNSEALED, "submit_corrupted_share"): (S.UNSEALED, R),
    (S.UNSEALED, "auto_unseal"): (S.UNSEALED, R),
    (S.UNSEALED, "reset"): (S.UNSEALED, R),
    (S.UNSEALED, "seal"): (S.SEALED, None),
    (S.UNSEALED, "rekey_shares"): (S.UNSEALED, None),
}


def test_expected_matrix_covers_every_state_and_operation() -> None:
    assert set(EXPECTED) == {(state, op) for state in SealState for op in OPERATIONS}


@pytest.mark.parametrize(("state", "operation"), list(EXPECTED), ids=[f"{s}-{o}" for s, o in EXPECTED])
def test_every_operation_in_every_state(state: SealState, operation: str) -> None:
    async def scenario() -> None:
        ctl, shares, keystore, records = await in_state(state)
        saves_before = records.saves
        held_before = ctl._master_key
        outcome = await settle(OPERATIONS[operation](ctl, shares, keystore))
        after, error = EXPECTED[(state, operation)]
        if error is None:
            assert not isinstance(outcome, BaseException), outcome
        else:
            assert type(outcome) is error, outcome
        assert ctl.state is after
        if error is InvalidTransition:  # a refusal changes nothing at all
            assert records.saves == saves_before
            assert ctl._master_key is held_before
        if after is S.UNSEALED:
            assert ctl.master_key.equals(ctl.master_key)
        else:
            with pytest.raises(Sealed):
                _ = ctl.master_key
        if after is not S.UNSEALING:
            assert (await ctl.status()).submitted == 0

    run(scenario())


def test_init_shamir_returns_shares_once_and_stores_only_what_is_not_secret() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        shares = await ctl.init_shamir(3, 5)
        assert ctl.state is S.SEALED
        assert len(shares) == 5
        assert len(set(shares)) == 5
        config = await records.load_seal_config()
        assert config is not None
        assert (config.mode, config.threshold, config.share_count) == (SealMode.SHAMIR, 3, 5)
        assert (config.cluster_id, config.region) == (CLUSTER, REGION)
        assert len(config.check_value) == 32
        assert config.seal_blob is None
        assert config.share_set_id is not None
        stored = repr(config)
        assert not any(" ".join(share.split()[4:8]) in stored for share in shares)
        with pytest.raises(Sealed):
            _ = ctl.master_key
        status = await ctl.status()
        assert (status.state, status.mode, status.threshold, status.share_count) == (
            S.SEALED,
            SealMode.SHAMIR,
            3,
            5,
        )

    run(scenario())


def test_seal_then_unseal_gives_back_the_same_master_key() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        shares = await ctl.init_shamir(2, 4)
        first = await ctl.submit_share(shares[3])
        assert (first.submitted, first.threshold, first.remaining, first.unsealed) == (1, 2, 1, False)
        assert ctl.state is S.UNSEALING
        assert (await ctl.status()).submitted == 1
        done = await ctl.submit_share(shares[0])
        assert done.unsealed
        assert done.remaining == 0
        config = await records.load_seal_config()
        assert config is not None
        assert check_value(ctl.master_key, CLUSTER) == config.check_value
        before = key_bytes(ctl)
        held = ctl.master_key
        await ctl.seal()
        assert held.wiped
        await ctl.unseal_with_shares([shares[1], shares[2]])
        assert key_bytes(ctl) == before
        # A fresh process (new controller, same records) rebuilds the same key too.
        again = controller(records)
        await again.unseal_with_shares(shares[2:])
        assert key_bytes(again) == before

    run(scenario())


def test_every_rejection_leaves_it_sealed_with_no_share_held() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(3, 5)
        other = await controller(cluster_id=CLUSTER).init_shamir(3, 5)
        cases: list[tuple[list[str], type[UnsealError]]] = [
            ([shares[0], corrupt(shares[1])], CorruptedShare),
            ([shares[0], other[1]], ShareSetMismatch),
            ([shares[0], shares[0]], RepeatedShare),
            ([shares[0], shares[1]], TooFewShares),
        ]
        for offered, error in cases:
            with pytest.raises(error):
                await ctl.unseal_with_shares(offered)
            assert ctl.state is S.SEALED
            assert (await ctl.status()).submitted == 0
            assert ctl._collector is None
        # Having been wiped, the first share counts as new again (no RepeatedShare).
        assert (await ctl.submit_share(shares[0])).submitted == 1

    run(scenario())


def test_too_few_says_how_many_more() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(4, 6)
        with pytest.raises(TooFewShares, match="need 2 more shares") as caught:
            await ctl.unseal_with_shares(shares[:2])
        assert caught.value.missing == 2
        with pytest.raises(TooFewShares, match="need 4 more shares"):
            await ctl.unseal_with_shares([])

    run(scenario())


def test_a_lost_share_set_cannot_be_replaced_by_a_fresh_one() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        await ctl.init_shamir(2, 3)
        # Someone makes a new MasterKey with the same parameters for the same cluster...
        impostor = await controller(MemorySealRecords()).init_shamir(2, 3)
        with pytest.raises(ShareSetMismatch):
            await ctl.unseal_with_shares(impostor[:2])
        # ...even one forged to carry the right SLIP-39 identifier is caught by the check value.
        config = await records.load_seal_config()
        assert config is not None
        assert config.share_set_id is not None
        forged = split_master_key(new_master_key(), 2, 3, identifier=config.share_set_id).mnemonics
        with pytest.raises(WrongShareSet):
            await ctl.unseal_with_shares(list(forged[:2]))
        assert ctl.state is S.SEALED

    run(scenario())


def test_one_of_n_any_single_share_unseals_and_a_forged_one_fails_the_check_value() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        shares = await ctl.init_shamir(1, 3)
        keys = []
        for share in shares:
            assert (await ctl.submit_share(share)).unsealed
            keys.append(key_bytes(ctl))
            await ctl.seal()
        assert len(set(keys)) == 1
        config = await records.load_seal_config()
        assert config is not None
        assert config.share_set_id is not None
        forged = split_master_key(new_master_key(), 1, 3, identifier=config.share_set_id).mnemonics
        with pytest.raises(WrongShareSet, match="not this cluster"):
            await ctl.submit_share(forged[0])
        assert ctl.state is S.SEALED

    run(scenario())


def test_rekey_shares_issues_a_new_set_and_refuses_the_old_one() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        old = await ctl.init_shamir(2, 3)
        await ctl.unseal_with_shares(old[:2])
        before = key_bytes(ctl)
        old_config = await records.load_seal_config()
        new = await ctl.rekey_shares(3, 5)
        assert ctl.state is S.UNSEALED
        new_config = await records.load_seal_config()
        assert old_config is not None
        assert new_config is not None
        assert (new_config.threshold, new_config.share_count) == (3, 5)
        assert new_config.share_set_id != old_config.share_set_id
        assert new_config.check_value == old_config.check_value
        assert len(new) == 5
        await ctl.seal()
        with pytest.raises(ShareSetMismatch):
            await ctl.unseal_with_shares(old[:2])
        with pytest.raises(ShareSetMismatch):
            await ctl.unseal_with_shares(old)
        await ctl.unseal_with_shares(new[2:])
        assert key_bytes(ctl) == before

    run(scenario())


def test_a_sealed_core_picks_up_shares_reissued_by_another_core() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        first = controller(records)
        old = await first.init_shamir(2, 3)
        second = controller(records)
        await second.load()  # loaded the old configuration, stays sealed
        await first.unseal_with_shares(old[:2])
        new = await first.rekey_shares(2, 2)
        with pytest.raises(ShareSetMismatch):
            await second.unseal_with_shares(old[:2])
        await second.unseal_with_shares(new)
        assert second.unsealed

    run(scenario())


@pytest.mark.parametrize(("threshold", "count"), [(0, 3), (4, 3), (1, 17), (17, 17)])
def test_invalid_parameters_change_nothing(threshold: int, count: int) -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        ctl = controller(records)
        with pytest.raises(InvalidShareParameters):
            await ctl.init_shamir(threshold, count)
        assert ctl.state is S.UNINITIALIZED
        assert records.saves == 0
        shares = await ctl.init_shamir(2, 3)
        await ctl.unseal_with_shares(shares[:2])
        with pytest.raises(InvalidShareParameters):
            await ctl.rekey_shares(threshold, count)
        assert records.saves == 1
        assert ctl.unsealed

    run(scenario())


def test_init_refused_when_another_core_already_initialized_the_store() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        late = controller(records)
        assert await late.load() is S.UNINITIALIZED
        shares = await controller(records).init_shamir(2, 3)
        with pytest.raises(InvalidTransition, match="cannot init while sealed"):
            await late.init_shamir(2, 3)
        assert late.state is S.SEALED  # it adopted the stored configuration
        assert records.saves == 1
        await late.unseal_with_shares(shares[:2])
        with pytest.raises(InvalidTransition, match="cannot init while unsealed"):
            await late.init_shamir(2, 3)

    run(scenario())


def test_a_configuration_of_another_cluster_or_region_is_refused() -> None:
    async def scenario() -> None:
        records = MemorySealRecords()
        await controller(records).init_shamir(1, 1)
        with pytest.raises(SealConfigMismatch, match="cluster-a"):
            await controller(records, cluster_id="cluster-b").load()
        with pytest.raises(SealConfigMismatch):
            await controller(records, region="us-east-1").load()
        config = await records.load_seal_config()
        assert config is not None
        with pytest.raises(SealConfigMismatch, match="share parameters"):
            await controller(MemorySealRecords(replace(config, threshold=0))).load()

    run(scenario())


def test_listeners_see_the_key_on_unseal_and_none_on_seal() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(1, 1)
        log: list[str] = []

        async def hydrate() -> None:
            log.append(f"unseal:{len(ctl.master_key)}")

        def zeroize_caches() -> None:
            try:
                _ = ctl.master_key
                log.append("seal:key-visible")
            except Sealed:
                log.append("seal:sealed")

        ctl.on_unseal(hydrate)
        remove = ctl.on_seal(zeroize_caches)
        await ctl.submit_share(shares[0])
        await ctl.seal()
        await ctl.seal()  # already sealed: no second notification
        remove()
        await ctl.submit_share(shares[0])
        await ctl.seal()
        assert log == ["unseal:32", "seal:sealed", "unseal:32"]

    run(scenario())


def test_a_failing_unseal_listener_seals_again() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(1, 1)
        sealed: list[bool] = []
        held: list[object] = []

        def broken() -> None:
            held.append(ctl.master_key)
            raise RuntimeError("storage down")

        ctl.on_unseal(broken)
        ctl.on_seal(lambda: sealed.append(True))
        with pytest.raises(ListenerFailed, match="sealed again") as caught:
            await ctl.submit_share(shares[0])
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert ctl.state is S.SEALED
        assert sealed == [True]
        assert getattr(held[0], "wiped", False)

    run(scenario())


def test_every_seal_listener_runs_even_if_one_fails() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(1, 1)
        ran: list[str] = []

        def first() -> None:
            ran.append("first")
            raise RuntimeError("cache busy")

        async def second() -> None:
            ran.append("second")

        ctl.on_seal(first)
        ctl.on_seal(second)
        await ctl.submit_share(shares[0])
        held = ctl.master_key
        with pytest.raises(ListenerFailed, match="1 on-seal"):
            await ctl.seal()
        assert ran == ["first", "second"]
        assert ctl.state is S.SEALED
        assert held.wiped

    run(scenario())


def test_audit_records_each_step_and_its_result() -> None:
    async def scenario() -> None:
        ctl = controller()
        events: list[SealAuditEvent] = []
        ctl.on_audit(events.append)
        shares = await ctl.init_shamir(2, 3)
        await ctl.submit_share(shares[0])
        await settle(ctl.submit_share(shares[0]))
        await ctl.submit_share(shares[0])
        await ctl.submit_share(shares[1])
        await settle(ctl.submit_share(shares[2]))
        await ctl.seal()
        summary = [(e.action, e.result, e.state.value, e.submitted, e.threshold) for e in events]
        assert summary == [
            ("init_shamir", "ok", "sealed", 0, 2),
            ("submit_share", "ok", "unsealing", 1, 2),
            ("submit_share", "repeated_share", "sealed", 0, 2),
            ("submit_share", "ok", "unsealing", 1, 2),
            ("submit_share", "ok", "unsealed", 0, 2),
            ("submit_share", "invalid_transition", "unsealed", 0, 2),
            ("seal", "ok", "sealed", 0, 2),
        ]
        assert all(shares[0].split()[5] not in repr(e) for e in events)

    run(scenario())


def test_concurrent_submissions_are_serialized() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(3, 5)
        outcomes = await asyncio.gather(*(settle(ctl.submit_share(s)) for s in shares))
        unsealed = [o for o in outcomes if not isinstance(o, BaseException) and o.unsealed]
        refused = [o for o in outcomes if isinstance(o, InvalidTransition)]
        assert len(unsealed) == 1
        assert len(refused) == 2
        assert ctl.unsealed
        # A seal racing with share submissions never leaves a key behind.
        held = ctl.master_key
        await asyncio.gather(
            ctl.seal(), settle(ctl.submit_share(shares[0])), settle(ctl.submit_share(shares[1]))
        )
        assert held.wiped
        await ctl.seal()
        assert ctl.state is S.SEALED

    run(scenario())


def test_close_wipes_in_every_state() -> None:
    async def scenario() -> None:
        for state in SealState:
            ctl, _, _, _ = await in_state(state)
            held = ctl._master_key
            await ctl.close()
            await ctl.close()
            assert ctl.state is {S.UNINITIALIZED: S.UNINITIALIZED}.get(state, S.SEALED)
            assert ctl._collector is None
            assert held is None or held.wiped

    run(scenario())


def test_storage_failure_during_init_leaves_it_uninitialized() -> None:
    class BrokenRecords(MemorySealRecords):
        async def save_seal_config(self, config: SealConfig) -> None:
            raise OSError("disk full")

    async def scenario() -> None:
        ctl = controller(BrokenRecords())
        with pytest.raises(OSError, match="disk full"):
            await ctl.init_shamir(2, 3)
        assert ctl.state is S.UNINITIALIZED

    run(scenario())


def test_cancelled_hydration_leaves_it_sealed() -> None:
    async def scenario() -> None:
        ctl = controller()
        shares = await ctl.init_shamir(1, 1)
        started = asyncio.Event()
        held: list[object] = []

        async def slow_hydrate() -> None:
            held.append(ctl.master_key)
            started.set()
            await asyncio.Event().wait()

        ctl.on_unseal(slow_hydrate)
        task = asyncio.create_task(ctl.submit_share(shares[0]))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ctl.state is S.SEALED
        assert getattr(held[0], "wiped", False)

    run(scenario())
