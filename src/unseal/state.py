"""The seal state machine as one table: (state, event) -> next state. Pure, no I/O.

    uninitialized --init--> sealed --submit_share--> unsealing(k of M) --threshold_reached--> unsealed
    sealed --auto_unseal--> unsealed          unsealed --seal--> sealed

Invariants:
- A pair absent from ``TRANSITIONS`` is refused with ``InvalidTransition``; there are no other
  branches deciding what may happen when.
- Every failure event (a rejected share, a failed check, a failed auto-unseal, a reset) lands in
  ``sealed``: shares collected so far are wiped and nothing is half-unsealed.
- Only ``threshold_reached`` and ``auto_unseal`` enter ``unsealed``; only ``unsealed`` allows
  ``rekey_shares``.
- ``seal`` is allowed from every initialized state (sealing is always safe) and ``reset`` only
  where there is something to reset or nothing to lose (sealed, unsealing).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from unseal.errors import InvalidTransition


class SealState(enum.StrEnum):
    UNINITIALIZED = "uninitialized"
    SEALED = "sealed"
    UNSEALING = "unsealing"
    UNSEALED = "unsealed"


class SealEvent(enum.StrEnum):
    LOAD = "load"  # a stored seal configuration was found at start-up
    INIT = "init"  # a MasterKey was made and its configuration stored
    SUBMIT_SHARE = "submit_share"  # a share was accepted, threshold not yet reached
    SHARE_REJECTED = "share_rejected"  # a share was malformed, of another set, or repeated
    THRESHOLD_REACHED = "threshold_reached"  # the shares rebuilt the MasterKey and its check passed
    CHECK_FAILED = "check_failed"  # the shares combined into something that is not the MasterKey
    RESET = "reset"  # the operator discarded the shares collected so far
    AUTO_UNSEAL = "auto_unseal"  # the seal keystore opened the seal blob and the check passed
    AUTO_UNSEAL_FAILED = (
        "auto_unseal_failed"  # the seal keystore refused, was unreachable, or the check failed
    )
    SEAL = "seal"  # the MasterKey is wiped
    REKEY_SHARES = "rekey_shares"  # a new share set replaced the old one


_S = SealState
_E = SealEvent

TRANSITIONS: Mapping[tuple[SealState, SealEvent], SealState] = MappingProxyType(
    {
        (_S.UNINITIALIZED, _E.LOAD): _S.SEALED,
        (_S.UNINITIALIZED, _E.INIT): _S.SEALED,
        (_S.SEALED, _E.SUBMIT_SHARE): _S.UNSEALING,
        (_S.SEALED, _E.SHARE_REJECTED): _S.SEALED,
        (_S.SEALED, _E.THRESHOLD_REACHED): _S.UNSEALED,  # M == 1
        (_S.SEALED, _E.CHECK_FAILED): _S.SEALED,  # M == 1
        (_S.SEALED, _E.RESET): _S.SEALED,
        (_S.SEALED, _E.AUTO_UNSEAL): _S.UNSEALED,
        (_S.SEALED, _E.AUTO_UNSEAL_FAILED): _S.SEALED,
        (_S.SEALED, _E.SEAL): _S.SEALED,
        (_S.UNSEALING, _E.SUBMIT_SHARE): _S.UNSEALING,
        (_S.UNSEALING, _E.SHARE_REJECTED): _S.SEALED,
        (_S.UNSEALING, _E.THRESHOLD_REACHED): _S.UNSEALED,
        (_S.UNSEALING, _E.CHECK_FAILED): _S.SEALED,
        (_S.UNSEALING, _E.RESET): _S.SEALED,
        (_S.UNSEALING, _E.SEAL): _S.SEALED,
        (_S.UNSEALED, _E.SEAL): _S.SEALED,
        (_S.UNSEALED, _E.REKEY_SHARES): _S.UNSEALED,
    }
)


def next_state(state: SealState, event: SealEvent) -> SealState:
    """Where ``event`` takes ``state``; ``InvalidTransition`` if the table does not allow it."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state.value, event.value) from None


def allows(state: SealState, event: SealEvent) -> bool:
    return (state, event) in TRANSITIONS
