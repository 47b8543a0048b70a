"""The lifecycle table (KMIP 1.4 section 3.22): complete over every (state, event), the
transitions the spec lists and no other, the dates each sets, and date-driven evaluation."""

from __future__ import annotations

import itertools

import pytest

from kmip_server.errors import IllegalOperation, PermissionDenied
from kmip_server.lifecycle import (
    REFUSALS,
    TRANSITIONS,
    Event,
    date_driven_state,
    initial_state,
    revocation_event,
    transition,
)
from ttlv.kmip14 import RevocationReasonCode, State

S, E = State, Event

# Section 3.22's numbered transitions, written out independently of the module's table.
SPEC_TRANSITIONS = {
    (S.PRE_ACTIVE, E.DESTROY): S.DESTROYED,  # 2
    (S.PRE_ACTIVE, E.REVOKE_COMPROMISED): S.COMPROMISED,  # 3
    (S.PRE_ACTIVE, E.ACTIVATE): S.ACTIVE,  # 4
    (S.PRE_ACTIVE, E.ACTIVATION_DATE_REACHED): S.ACTIVE,  # 4
    (S.ACTIVE, E.REVOKE_COMPROMISED): S.COMPROMISED,  # 5
    (S.ACTIVE, E.REVOKE): S.DEACTIVATED,  # 6
    (S.ACTIVE, E.DEACTIVATION_DATE_REACHED): S.DEACTIVATED,  # 6
    (S.DEACTIVATED, E.DESTROY): S.DESTROYED,  # 7
    (S.DEACTIVATED, E.REVOKE_COMPROMISED): S.COMPROMISED,  # 8
    (S.COMPROMISED, E.DESTROY): S.DESTROYED_COMPROMISED,  # 9
    (S.DESTROYED, E.REVOKE_COMPROMISED): S.DESTROYED_COMPROMISED,  # 10
}

EXPECTED_DATES = {
    E.ACTIVATE: {"Activation Date", "Last Change Date"},
    E.REVOKE: {"Deactivation Date", "Last Change Date"},
    E.REVOKE_COMPROMISED: {"Compromise Date", "Last Change Date"},
    E.DESTROY: {"Destroy Date", "Last Change Date"},
    E.ACTIVATION_DATE_REACHED: {"Last Change Date"},
    E.DEACTIVATION_DATE_REACHED: {"Last Change Date"},
}


def test_table_is_exactly_the_spec_transitions() -> None:
    assert {key: value.state for key, value in TRANSITIONS.items()} == SPEC_TRANSITIONS


def test_every_event_has_a_refusal_rule() -> None:
    assert set(REFUSALS) == set(Event)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_state_event_pair_is_decided(state: State, event: Event) -> None:
    if (state, event) in SPEC_TRANSITIONS:
        step = transition(state, event)
        assert step is not None
        assert step.state is SPEC_TRANSITIONS[(state, event)]
        assert set(step.sets_dates) == EXPECTED_DATES[event]
        return
    refusal = REFUSALS[event]
    if refusal is None:
        assert transition(state, event) is None
    else:
        with pytest.raises(refusal):
            transition(state, event)


def test_refusals_carry_the_spec_reasons() -> None:
    # 11.20: Activate of an object not Pre-Active; 11.22: Destroy of an Active or destroyed object.
    with pytest.raises(PermissionDenied):
        transition(S.ACTIVE, E.ACTIVATE)
    with pytest.raises(PermissionDenied):
        transition(S.ACTIVE, E.DESTROY)
    with pytest.raises(PermissionDenied):
        transition(S.DESTROYED, E.DESTROY)
    with pytest.raises(IllegalOperation):
        transition(S.PRE_ACTIVE, E.REVOKE)


@pytest.mark.parametrize("reason", list(RevocationReasonCode))
def test_revocation_reasons(reason: RevocationReasonCode) -> None:
    compromised = reason in (RevocationReasonCode.KEY_COMPROMISE, RevocationReasonCode.CA_COMPROMISE)
    assert revocation_event(reason) is (E.REVOKE_COMPROMISED if compromised else E.REVOKE)


def test_dates_drive_the_state() -> None:
    now = 1000
    assert date_driven_state(S.PRE_ACTIVE, None, None, now) == (S.PRE_ACTIVE, [])
    assert date_driven_state(S.PRE_ACTIVE, now + 1, None, now)[0] is S.PRE_ACTIVE
    state, applied = date_driven_state(S.PRE_ACTIVE, now, None, now)
    assert state is S.ACTIVE
    assert [date for _step, date in applied] == [now]
    state, applied = date_driven_state(S.PRE_ACTIVE, 10, 20, now)
    assert state is S.DEACTIVATED
    assert [date for _step, date in applied] == [10, 20]
    # A Deactivation Date alone does not move a Pre-Active object (3.22 lists no such transition).
    assert date_driven_state(S.PRE_ACTIVE, None, 10, now)[0] is S.PRE_ACTIVE
    # Nor do dates move anything once revoked or destroyed.
    for state in (S.DEACTIVATED, S.COMPROMISED, S.DESTROYED, S.DESTROYED_COMPROMISED):
        assert date_driven_state(state, 10, 20, now) == (state, [])


def test_initial_state() -> None:
    assert initial_state(None, None, 100) is S.PRE_ACTIVE
    assert initial_state(100, None, 100) is S.ACTIVE
    assert initial_state(101, None, 100) is S.PRE_ACTIVE
    assert initial_state(50, 60, 100) is S.DEACTIVATED
