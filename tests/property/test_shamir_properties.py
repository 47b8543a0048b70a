"""Properties of Shamir unsealing over every M-of-N (1 <= M <= N <= 16), through the SealController.

Each example initializes a cluster (one SLIP-39 split, iteration exponent 0: a few milliseconds)
and attempts one unseal, so the example counts stay modest.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shamir_mnemonic.wordlist import WORDLIST

from unseal.controller import SealController
from unseal.errors import CorruptedShare, RepeatedShare, ShareSetMismatch, TooFewShares, UnsealError
from unseal.master_key import matches_check_value
from unseal.memory import SecretBuffer
from unseal.records import MemorySealRecords
from unseal.shamir import split_master_key
from unseal.state import SealState

CLUSTER = "cluster-p"
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def parameters(draw: st.DrawFn, min_threshold: int = 1) -> tuple[int, int]:
    threshold = draw(st.integers(min_value=min_threshold, max_value=16))
    count = draw(st.integers(min_value=threshold, max_value=16))
    return threshold, count


async def _cluster(threshold: int, count: int) -> tuple[SealController, list[str], MemorySealRecords]:
    records = MemorySealRecords()
    controller = SealController(records, cluster_id=CLUSTER, region="r1")
    shares = await controller.init_shamir(threshold, count)
    return controller, shares, records


async def _assert_sealed_and_empty(controller: SealController) -> None:
    assert controller.state is SealState.SEALED
    assert (await controller.status()).submitted == 0


def _attempt(threshold: int, count: int, build: st.DataObject, error: type[UnsealError], how: str) -> None:
    async def scenario() -> None:
        controller, shares, records = await _cluster(threshold, count)
        config = await records.load_seal_config()
        assert config is not None
        offered = _offer(build, threshold, shares, config.share_set_id, how)
        with pytest.raises(error):
            await controller.unseal_with_shares(offered)
        await _assert_sealed_and_empty(controller)

    asyncio.run(scenario())


def _offer(
    build: st.DataObject, threshold: int, shares: list[str], identifier: int | None, how: str
) -> list[str]:
    """M-1 genuine shares and one bad share anywhere among them: the bad one is met before the threshold."""
    order = build.draw(st.permutations(shares))
    genuine, spare = order[: threshold - 1], order[threshold - 1]
    if how == "foreign":
        assert identifier is not None
        other = (identifier + 1) % (1 << 15)
        bad = build.draw(
            st.sampled_from(
                split_master_key(SecretBuffer.random(32), threshold, len(shares), identifier=other).mnemonics
            )
        )
    elif how == "corrupted":
        words = spare.split()
        index = build.draw(st.integers(min_value=0, max_value=len(words) - 1), label="word")
        words[index] = build.draw(
            st.sampled_from([w for w in WORDLIST if w != words[index]]) | st.just("zzzz")
        )
        bad = " ".join(words)
    elif how == "repeated":
        bad = build.draw(st.sampled_from(genuine))
    else:
        raise AssertionError(how)
    position = build.draw(st.integers(min_value=0, max_value=len(genuine)), label="insert at")
    if how == "repeated":  # the repeat must come after the share it repeats
        position = max(position, genuine.index(bad) + 1)
    return [*genuine[:position], bad, *genuine[position:]]


@EXAMPLES
@given(params=parameters(), build=st.data())
def test_any_threshold_of_the_shares_unseals(params: tuple[int, int], build: st.DataObject) -> None:
    threshold, count = params

    async def scenario() -> None:
        controller, shares, records = await _cluster(threshold, count)
        chosen = build.draw(st.permutations(shares))[:threshold]
        progress = await controller.unseal_with_shares(chosen)
        assert progress.unsealed
        config = await records.load_seal_config()
        assert config is not None
        assert matches_check_value(controller.master_key, CLUSTER, config.check_value)

    asyncio.run(scenario())


@EXAMPLES
@given(params=parameters(min_threshold=2), build=st.data())
def test_one_share_short_is_too_few_and_stays_sealed(params: tuple[int, int], build: st.DataObject) -> None:
    threshold, count = params

    async def scenario() -> None:
        controller, shares, _ = await _cluster(threshold, count)
        chosen = build.draw(st.permutations(shares))[: threshold - 1]
        with pytest.raises(TooFewShares, match="need 1 more share") as caught:
            await controller.unseal_with_shares(chosen)
        assert caught.value.missing == 1
        await _assert_sealed_and_empty(controller)

    asyncio.run(scenario())


@EXAMPLES
@given(params=parameters(), build=st.data())
def test_a_share_of_another_set_is_refused(params: tuple[int, int], build: st.DataObject) -> None:
    _attempt(*params, build, ShareSetMismatch, "foreign")


@EXAMPLES
@given(params=parameters(), build=st.data())
def test_a_corrupted_word_is_refused(params: tuple[int, int], build: st.DataObject) -> None:
    _attempt(*params, build, CorruptedShare, "corrupted")


@EXAMPLES
@given(params=parameters(min_threshold=2), build=st.data())
def test_a_repeated_share_is_refused(params: tuple[int, int], build: st.DataObject) -> None:
    _attempt(*params, build, RepeatedShare, "repeated")
