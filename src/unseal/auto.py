"""Auto-unseal: a seal keystore encrypts the MasterKey, bound to {cluster_id, region}.

The seal blob stored in ``SealConfig.seal_blob`` is the seal keystore's own ciphertext, as the
keystore returned it, not an OpenKCM wrapped blob (``blob.Layer.SEAL``). Why: the wrapped-blob
format is AES-256-GCM under a key OpenKCM holds, and the seal key is by design held by the
keystore (KMS, HSM), never by us. Wrapping would need a second, local data key whose only job
would be to repeat what the keystore already does: authenticated encryption bound to a context.
The binding the blob header would give (cluster, purpose) is the encryption context here:
``{"cluster_id", "region"}``, which no tenant context (L1 calls carry a tenant and an L2 id) can
equal, so a seal blob cannot be opened as, or confused with, anything else.

Invariants:
- Retryable keystore errors (unavailable, throttled, a call timing out) are retried a bounded
  number of times with capped, jittered exponential backoff; every other error fails at once.
  Every failure becomes one of ``SealKeystoreUnavailable``, ``SealKeyUnusable``,
  ``SealBlobRejected`` (or the base ``SealKeystoreError``), whose message never quotes the SDK.
- At init the blob is opened once more and compared with the MasterKey, so a keystore that
  cannot give the key back is found at init, not at the next restart.
- Plaintext from the keystore goes straight into a ``SecretBuffer``; the keystore's
  ``bytearray`` is zeroized.

This module does its own small retry loop because ``keystores`` has no shared retry helper yet;
when one lands, ``_call`` is the one place to switch over.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
)
from unseal.errors import (
    SealBlobRejected,
    SealKeystoreError,
    SealKeystoreUnavailable,
    SealKeyUnusable,
)
from unseal.master_key import MASTER_KEY_SIZE
from unseal.memory import SecretBuffer, zeroize

T = TypeVar("T")

_JITTER_STEPS = 1000


@dataclass(frozen=True, slots=True)
class AutoUnsealSettings:
    attempts: int = 5  # keystore calls per operation before SealKeystoreUnavailable
    call_timeout: float = 10.0  # seconds per keystore call; a timeout counts as unavailable
    backoff_initial: float = 0.2  # seconds before the first retry (full jitter below this)
    backoff_max: float = 5.0  # seconds: the cap on the backoff

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.call_timeout <= 0 or not 0 <= self.backoff_initial <= self.backoff_max:
            raise ValueError("need attempts >= 1, call_timeout > 0 and 0 <= backoff_initial <= backoff_max")


DEFAULT_AUTO_UNSEAL_SETTINGS = AutoUnsealSettings()

# A refusal by the seal keystore, translated once. Looked up along the error's MRO.
_REFUSALS: Mapping[type[KeystoreError], tuple[type[SealKeystoreError], str]] = MappingProxyType(
    {
        KeystoreDenied: (SealKeyUnusable, "the seal keystore denied access to the seal key"),
        KeyDisabled: (SealKeyUnusable, "the seal key is disabled or scheduled for deletion"),
        KeyNotFound: (SealKeyUnusable, "the seal key does not exist in the seal keystore"),
        KeystoreDecryptFailed: (
            SealBlobRejected,
            "the seal keystore would not open the seal blob for this cluster and region",
        ),
    }
)


def seal_context(cluster_id: str, region: str) -> dict[str, str]:
    """The encryption context every seal blob is bound to."""
    return {"cluster_id": cluster_id, "region": region}


def _translate(error: KeystoreError) -> SealKeystoreError:
    for cls in type(error).__mro__:
        if cls in _REFUSALS:
            translated, message = _REFUSALS[cls]
            return translated(message)
    return SealKeystoreError(f"the seal keystore failed ({type(error).__name__})")


async def _call(operation: Callable[[], Awaitable[T]], settings: AutoUnsealSettings) -> T:
    """Run one keystore call with bounded retries of the retryable failures."""
    backoff = settings.backoff_initial
    for attempt in range(1, settings.attempts + 1):
        try:
            async with asyncio.timeout(settings.call_timeout):
                return await operation()
        except TimeoutError:
            pass
        except KeystoreError as exc:
            if not exc.retryable:
                raise _translate(exc) from None
        if attempt < settings.attempts:
            await asyncio.sleep(backoff * secrets.randbelow(_JITTER_STEPS + 1) / _JITTER_STEPS)
            backoff = min(backoff * 2, settings.backoff_max)
    raise SealKeystoreUnavailable(
        f"the seal keystore stayed unavailable through {settings.attempts} attempts; still sealed"
    )


async def open_seal_blob(
    keystore: Keystore,
    key_id: str,
    seal_blob: bytes,
    context: Mapping[str, str],
    settings: AutoUnsealSettings = DEFAULT_AUTO_UNSEAL_SETTINGS,
) -> SecretBuffer:
    """Ask the seal keystore for the MasterKey in ``seal_blob``. The caller checks and owns it."""
    plaintext = await _call(lambda: keystore.decrypt(key_id, seal_blob, context), settings)
    try:
        if len(plaintext) != MASTER_KEY_SIZE:
            raise SealBlobRejected("the seal blob does not hold a 256-bit MasterKey")
        return SecretBuffer(plaintext)
    finally:
        zeroize(plaintext)


async def seal_master_key(
    keystore: Keystore,
    key_id: str,
    master_key: SecretBuffer,
    context: Mapping[str, str],
    settings: AutoUnsealSettings = DEFAULT_AUTO_UNSEAL_SETTINGS,
) -> bytes:
    """Encrypt the MasterKey under the seal key, then prove the blob opens back to it."""
    seal_blob = await _call(lambda: keystore.encrypt(key_id, master_key.view(), context), settings)
    with await open_seal_blob(keystore, key_id, seal_blob, context, settings) as reopened:
        if not reopened.equals(master_key):
            raise SealKeystoreError("the seal keystore did not give back the MasterKey it sealed")
    return seal_blob
