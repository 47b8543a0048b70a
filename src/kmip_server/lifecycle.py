"""The KMIP object lifecycle (KMIP 1.4 section 3.22, and the Activate, Revoke and Destroy
operations of sections 4.19-4.21) as one table.

Invariants:
- ``TRANSITIONS`` is the whole state machine: (state, event) -> ``Transition``. A pair that is
  not in it is refused with the error ``REFUSALS`` names for the event (section 11 tables: an
  Activate of an object not Pre-Active and a Destroy of an Active object are Permission Denied,
  11.20 and 11.22; a Revoke the state machine does not allow is Illegal Operation, as 11.21
  names for objects that cannot be revoked). Date-driven events that do not apply are no-ops.
- Every transition names the date attributes it sets to the time of the event (section 3.22
  and 4.19-4.21); Last Change Date is set by every transition.
- Pure and synchronous: states, events and dates in, a decision out. The objects service
  applies it to records.

Section 3.22 numbered transitions, and where each lives here:
 1 creation -> Pre-Active, or Active at once when the Activation Date has passed: ``initial_state``
 2 Pre-Active -> Destroyed (Destroy)             6 Active -> Deactivated (Deactivation Date reached,
 3 Pre-Active -> Compromised (Revoke, compromise)   Revoke with another reason)
 4 Pre-Active -> Active (Activation Date reached, 7 Deactivated -> Destroyed (Destroy)
   Activate)                                     8 Deactivated -> Compromised (Revoke, compromise)
 5 Active -> Compromised (Revoke, compromise)     9 Compromised -> Destroyed Compromised (Destroy)
                                                 10 Destroyed -> Destroyed Compromised (Revoke, compromise)
Modify Attribute of the dates (transitions 4 and 6 by date) reaches the same table through the
date events, evaluated by ``date_driven_state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from kmip_server.errors import IllegalOperation, KmipError, PermissionDenied
from ttlv.kmip14 import RevocationReasonCode, State

__all__ = [
    "COMPROMISE_REASONS",
    "REFUSALS",
    "TRANSITIONS",
    "Event",
    "Transition",
    "date_driven_state",
    "initial_state",
    "revocation_event",
    "transition",
]


class Event(IntEnum):
    """What can move an object from one state to another."""

    ACTIVATE = 1  # Activate operation (4.19)
    REVOKE = 2  # Revoke with a reason other than key or CA compromise (4.20)
    REVOKE_COMPROMISED = 3  # Revoke with Key Compromise or CA Compromise (4.20)
    DESTROY = 4  # Destroy operation (4.21)
    ACTIVATION_DATE_REACHED = 5  # the Activation Date is now or in the past (3.22, 3.24)
    DEACTIVATION_DATE_REACHED = 6  # the Deactivation Date is now or in the past (3.22, 3.27)


@dataclass(frozen=True, slots=True)
class Transition:
    """The state after the event and the date attributes the event sets (to the event's time)."""

    state: State
    sets_dates: tuple[str, ...]


_S = State
_E = Event
_LAST_CHANGE = "Last Change Date"

TRANSITIONS: dict[tuple[State, Event], Transition] = {
    # Transition 4: Activate sets the Activation Date to the time it is received (4.19).
    (_S.PRE_ACTIVE, _E.ACTIVATE): Transition(_S.ACTIVE, ("Activation Date", _LAST_CHANGE)),
    # ... or the Activation Date is reached: it is already set, so only the state changes.
    (_S.PRE_ACTIVE, _E.ACTIVATION_DATE_REACHED): Transition(_S.ACTIVE, (_LAST_CHANGE,)),
    # Transition 3, 5, 8: Revoke with a compromise reason sets the Compromise Date (4.20); the
    # Compromise Occurrence Date comes from the request (or the Initial Date), see the service.
    (_S.PRE_ACTIVE, _E.REVOKE_COMPROMISED): Transition(_S.COMPROMISED, ("Compromise Date", _LAST_CHANGE)),
    (_S.ACTIVE, _E.REVOKE_COMPROMISED): Transition(_S.COMPROMISED, ("Compromise Date", _LAST_CHANGE)),
    (_S.DEACTIVATED, _E.REVOKE_COMPROMISED): Transition(_S.COMPROMISED, ("Compromise Date", _LAST_CHANGE)),
    # Transition 10.
    (_S.DESTROYED, _E.REVOKE_COMPROMISED): Transition(
        _S.DESTROYED_COMPROMISED, ("Compromise Date", _LAST_CHANGE)
    ),
    # Transition 6: Revoke with another reason sets the Deactivation Date (4.20) ...
    (_S.ACTIVE, _E.REVOKE): Transition(_S.DEACTIVATED, ("Deactivation Date", _LAST_CHANGE)),
    # ... or the Deactivation Date is reached.
    (_S.ACTIVE, _E.DEACTIVATION_DATE_REACHED): Transition(_S.DEACTIVATED, (_LAST_CHANGE,)),
    # Transitions 2, 7, 9: Destroy sets the Destroy Date (3.28); an Active object cannot be
    # destroyed (4.21, 11.22).
    (_S.PRE_ACTIVE, _E.DESTROY): Transition(_S.DESTROYED, ("Destroy Date", _LAST_CHANGE)),
    (_S.DEACTIVATED, _E.DESTROY): Transition(_S.DESTROYED, ("Destroy Date", _LAST_CHANGE)),
    (_S.COMPROMISED, _E.DESTROY): Transition(_S.DESTROYED_COMPROMISED, ("Destroy Date", _LAST_CHANGE)),
}
"""(state, event) -> the transition; every pair absent is refused (see ``REFUSALS``)."""

REFUSALS: dict[Event, type[KmipError] | None] = {
    Event.ACTIVATE: PermissionDenied,  # 11.20 "Object is not in Pre-Active state"
    Event.REVOKE: IllegalOperation,  # 11.21: an object that is not able to be revoked (that way)
    Event.REVOKE_COMPROMISED: IllegalOperation,
    Event.DESTROY: PermissionDenied,  # 11.22 "not in Pre-Active, Deactivated or Compromised state"
    Event.ACTIVATION_DATE_REACHED: None,  # a date that has no effect in this state: nothing happens
    Event.DEACTIVATION_DATE_REACHED: None,
}
"""Event -> the error a refused transition raises (None: the event is silently a no-op)."""

_REFUSAL_MESSAGES: dict[Event, str] = {
    Event.ACTIVATE: "the object is not in the Pre-Active state",
    Event.REVOKE: "only an Active object can be revoked for this reason",
    Event.REVOKE_COMPROMISED: "the object cannot be revoked as compromised in its current state",
    Event.DESTROY: "the object is not in the Pre-Active, Deactivated or Compromised state",
}

COMPROMISE_REASONS = frozenset({RevocationReasonCode.KEY_COMPROMISE, RevocationReasonCode.CA_COMPROMISE})


def transition(state: State, event: Event) -> Transition | None:
    """The transition of ``event`` in ``state``; None for a date event that does not apply.

    Raises the event's refusal error (``REFUSALS``) when the state machine forbids it."""
    found = TRANSITIONS.get((state, event))
    if found is not None:
        return found
    refusal = REFUSALS[event]
    if refusal is None:
        return None
    raise refusal(_REFUSAL_MESSAGES[event])


def revocation_event(reason: RevocationReasonCode | int) -> Event:
    """Revoke's event for a Revocation Reason Code (4.20: key or CA compromise, or anything else)."""
    return Event.REVOKE_COMPROMISED if reason in COMPROMISE_REASONS else Event.REVOKE


def date_driven_state(
    state: State, activation_date: int | None, deactivation_date: int | None, now: int
) -> tuple[State, list[tuple[Transition, int]]]:
    """The state once the dates that have passed by ``now`` took effect (3.22 transitions 4 and 6).

    Returns the new state and the transitions applied, each with the date that caused it (in the
    order they happened), so that the caller can keep Last Change Date truthful."""
    applied: list[tuple[Transition, int]] = []
    for event, date in (
        (Event.ACTIVATION_DATE_REACHED, activation_date),
        (Event.DEACTIVATION_DATE_REACHED, deactivation_date),
    ):
        if date is None or date > now:
            continue
        step = transition(state, event)
        if step is not None:
            state = step.state
            applied.append((step, date))
    return state, applied


def initial_state(activation_date: int | None, deactivation_date: int | None, now: int) -> State:
    """The state of a new object (3.22 transition 1): Pre-Active, or further along when the
    request's Activation (and then Deactivation) Date has already occurred."""
    state, _applied = date_driven_state(State.PRE_ACTIVE, activation_date, deactivation_date, now)
    return state
