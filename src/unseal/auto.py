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
- Keystore calls go through ``keystores.retry.call_with_retry`` under ``SEAL_RETRY_POLICY``:
  unavailable and throttled answers (and calls past the time budget) are retried with capped,
  jittered backoff; denied, disabled, not found and decrypt failures fail closed at once.
  Every failure becomes one of ``SealKeystoreUnavailable``, ``SealKeyUnusable``,
  ``SealBlobRejected`` (or the base ``SealKeystoreError``), whose message never quotes the SDK.
- At init the blob is opened once more and compared with the MasterKey, so a keystore that
  cannot give the key back is found at init, not at the next restart.
- Plaintext from the keystore goes straight into a ``SecretBuffer``; the keystore's
  ``bytearray`` is zeroized.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreThrottled,
    KeystoreUnavailable,
)
from keystores.retry import RetryPolicy, call_with_retry
from unseal.errors import (
    SealBlobRejected,
    SealKeystoreError,
    SealKeystoreUnavailable,
    SealKeyUnusable,
)
from unseal.master_key import MASTER_KEY_SIZE
from unseal.memory import SecretBuffer, zeroize

T = TypeVar("T")

# Unsealing happens at start-up and by an operator's hand: worth waiting longer than a request would.
SEAL_RETRY_POLICY = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=2.0, total_timeout=30.0)

# Every keystore failure, translated once. Looked up along the error's MRO.
_TRANSLATIONS: Mapping[type[KeystoreError], tuple[type[SealKeystoreError], str]] = MappingProxyType(
    {
        KeystoreUnavailable: (
            SealKeystoreUnavailable,
            "the seal keystore stayed unavailable through every retry; still sealed",
        ),
        KeystoreThrottled: (
            SealKeystoreUnavailable,
            "the seal keystore kept throttling through every retry; still sealed",
        ),
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
        if cls in _TRANSLATIONS:
            translated, message = _TRANSLATIONS[cls]
            return translated(message)
    return SealKeystoreError(f"the seal keystore failed ({type(error).__name__})")


async def _call(operation: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    try:
        return await call_with_retry(operation, policy)
    except KeystoreError as exc:
        raise _translate(exc) from None


async def open_seal_blob(
    keystore: Keystore,
    key_id: str,
    seal_blob: bytes,
    context: Mapping[str, str],
    policy: RetryPolicy = SEAL_RETRY_POLICY,
) -> SecretBuffer:
    """Ask the seal keystore for the MasterKey in ``seal_blob``. The caller checks and owns it."""
    plaintext = await _call(lambda: keystore.decrypt(key_id, seal_blob, context), policy)
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
    policy: RetryPolicy = SEAL_RETRY_POLICY,
) -> bytes:
    """Encrypt the MasterKey under the seal key, then prove the blob opens back to it."""
    seal_blob = await _call(lambda: keystore.encrypt(key_id, master_key.view(), context), policy)
    with await open_seal_blob(keystore, key_id, seal_blob, context, policy) as reopened:
        if not reopened.equals(master_key):
            raise SealKeystoreError("the seal keystore did not give back the MasterKey it sealed")
    return seal_blob
