"""Every error the unseal layer raises, each with a stable ``code`` for the CLI and admin API.

Invariants:
- Messages never carry key bytes, share words, a keystore SDK's ``str()`` or anything derived
  from a secret. They say what went wrong and what to do, in the operator's words.
- Every share or seal-key failure leaves the controller sealed (never half-unsealed) and wipes
  the shares collected so far.
- ``code`` is the one machine-readable meaning; callers translate by class or by ``code``,
  never by parsing the message.
"""

from __future__ import annotations

from typing import ClassVar


class UnsealError(Exception):
    """Base of every unseal-layer error."""

    code: ClassVar[str] = "unseal_error"


# -- state ------------------------------------------------------------------------------


class InvalidTransition(UnsealError):
    """The operation is not allowed in the current seal state (e.g. a share while unsealed)."""

    code = "invalid_transition"

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"cannot {event.replace('_', ' ')} while {state}")
        self.state = state
        self.event = event


class Sealed(UnsealError):
    """The MasterKey was asked for while the controller is not unsealed."""

    code = "sealed"

    def __init__(self) -> None:
        super().__init__("the key server is sealed")


class SealConfigMismatch(UnsealError):
    """The stored seal configuration belongs to another cluster or region."""

    code = "seal_config_mismatch"


class ListenerFailed(UnsealError):
    """An on-unseal listener failed; the controller sealed itself again."""

    code = "listener_failed"


# -- parameters -------------------------------------------------------------------------


class InvalidShareParameters(UnsealError):
    """Threshold and share count outside 1 <= M <= N <= 16."""

    code = "invalid_share_parameters"


# -- shares -----------------------------------------------------------------------------


class ShareRejected(UnsealError):
    """Base of the errors about one submitted share. The collected shares are wiped."""

    code = "share_rejected"


class CorruptedShare(ShareRejected):
    """The mnemonic is not a well-formed SLIP-39 share: unknown word, wrong length or bad checksum."""

    code = "corrupted_share"


class ShareSetMismatch(ShareRejected):
    """A well-formed share, but of another share set (another identifier or other parameters)."""

    code = "share_set_mismatch"


class RepeatedShare(ShareRejected):
    """The same share (same member index) was submitted twice."""

    code = "repeated_share"


class TooFewShares(UnsealError):
    """Fewer shares than the threshold were offered for reconstruction."""

    code = "too_few_shares"

    def __init__(self, missing: int) -> None:
        plural = "" if missing == 1 else "s"
        super().__init__(f"not enough shares: need {missing} more share{plural}")
        self.missing = missing


class CheckValueMismatch(UnsealError):
    """A MasterKey was reconstructed or decrypted but does not match the stored check value."""

    code = "check_value_mismatch"


class WrongShareSet(CheckValueMismatch):
    """The shares combine, but not into this cluster's MasterKey (a substituted or mixed set)."""

    code = "wrong_share_set"


# -- auto-unseal ------------------------------------------------------------------------


class AutoUnsealNotConfigured(UnsealError):
    """Auto-unseal was asked for but the cluster uses Shamir shares, or no seal keystore is wired."""

    code = "auto_unseal_not_configured"


class SealKeystoreError(UnsealError):
    """Base of the seal keystore failures. Auto-unseal fails closed: the controller stays sealed."""

    code = "seal_keystore_error"


class SealKeystoreUnavailable(SealKeystoreError):
    """The seal keystore stayed unreachable or throttled through every retry."""

    code = "seal_keystore_unavailable"


class SealKeyUnusable(SealKeystoreError):
    """The seal keystore refused the key: access denied, key disabled or key not found."""

    code = "seal_key_unusable"


class SealBlobRejected(SealKeystoreError):
    """The seal keystore would not open the seal blob (another cluster's blob or context)."""

    code = "seal_blob_rejected"
