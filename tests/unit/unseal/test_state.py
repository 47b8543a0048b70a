"""The seal state table: every (state, event) pair is either the expected transition or refused."""

from __future__ import annotations

import itertools

import pytest

from unseal.errors import InvalidTransition
from unseal.state import TRANSITIONS, SealEvent, SealState, allows, next_state

S = SealState
E = SealEvent

# Written out independently of the module's table: a change to either must be deliberate.
EXPECTED: dict[tuple[SealState, SealEvent], SealState] = {
    (S.UNINITIALIZED, E.LOAD): S.SEALED,
    (S.UNINITIALIZED, E.INIT): S.SEALED,
    (S.SEALED, E.SUBMIT_SHARE): S.UNSEALING,
    (S.SEALED, E.SHARE_REJECTED): S.SEALED,
    (S.SEALED, E.THRESHOLD_REACHED): S.UNSEALED,
    (S.SEALED, E.CHECK_FAILED): S.SEALED,
    (S.SEALED, E.RESET): S.SEALED,
    (S.SEALED, E.AUTO_UNSEAL): S.UNSEALED,
    (S.SEALED, E.AUTO_UNSEAL_FAILED): S.SEALED,
    (S.SEALED, E.SEAL): S.SEALED,
    (S.UNSEALING, E.SUBMIT_SHARE): S.UNSEALING,
    (S.UNSEALING, E.SHARE_REJECTED): S.SEALED,
    (S.UNSEALING, E.THRESHOLD_REACHED): S.UNSEALED,
    (S.UNSEALING, E.CHECK_FAILED): S.SEALED,
    (S.UNSEALING, E.RESET): S.SEALED,
    (S.UNSEALING, E.SEAL): S.SEALED,
    (S.UNSEALED, E.SEAL): S.SEALED,
    (S.UNSEALED, E.REKEY_SHARES): S.UNSEALED,
}

ALL_PAIRS = list(itertools.product(SealState, SealEvent))


def test_table_is_exactly_the_expected_one() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s}-{e}" for s, e in ALL_PAIRS])
def test_every_pair_is_allowed_or_refused(state: SealState, event: SealEvent) -> None:
    if (state, event) in EXPECTED:
        assert allows(state, event)
        assert next_state(state, event) is EXPECTED[(state, event)]
    else:
        assert not allows(state, event)
        with pytest.raises(InvalidTransition) as caught:
            next_state(state, event)
        assert caught.value.state == state.value
        assert caught.value.event == event.value
        assert state.value in str(caught.value)


def test_refusals_read_as_sentences() -> None:
    with pytest.raises(InvalidTransition, match="cannot submit share while unsealed"):
        next_state(S.UNSEALED, E.SUBMIT_SHARE)
    with pytest.raises(InvalidTransition, match="cannot seal while uninitialized"):
        next_state(S.UNINITIALIZED, E.SEAL)
    with pytest.raises(InvalidTransition, match="cannot init while sealed"):
        next_state(S.SEALED, E.INIT)


def test_only_two_ways_into_unsealed_and_failures_land_sealed() -> None:
    into_unsealed = {
        event
        for (state, event), target in TRANSITIONS.items()
        if target is S.UNSEALED and state is not S.UNSEALED
    }
    assert into_unsealed == {E.THRESHOLD_REACHED, E.AUTO_UNSEAL}
    for failure in (E.SHARE_REJECTED, E.CHECK_FAILED, E.AUTO_UNSEAL_FAILED, E.RESET, E.SEAL):
        assert {target for (_, event), target in TRANSITIONS.items() if event is failure} == {S.SEALED}


def test_every_state_is_reachable_from_uninitialized() -> None:
    reached = {S.UNINITIALIZED}
    frontier = [S.UNINITIALIZED]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(SealState)
