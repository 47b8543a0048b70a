"""The Keystore interface: what OpenKCM asks of a customer's L1 KMS or HSM, and of a seal keystore.

Invariants:
- Every driver answers the same four questions (validate, encrypt, decrypt, key_status) and
  raises only the normalized errors below, so callers decide retry vs fail-closed by class,
  never by parsing an SDK's message.
- ``retryable`` errors (unavailable, throttled) may be retried with backoff; every other
  error fails closed at once.
- Errors never carry key bytes, plaintext, ciphertext or an SDK's raw ``str()``.
- Decrypted plaintext is returned as a ``bytearray`` the caller owns and zeroizes.
- The encryption context is bound into the ciphertext (AAD, KMS EncryptionContext): a
  decrypt with any other context fails with ``KeystoreDecryptFailed``.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from typing import ClassVar


class KeyStatus(enum.Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_DELETION = "pending_deletion"
    NOT_FOUND = "not_found"


class KeystoreError(Exception):
    """Base of the normalized keystore errors."""

    retryable: ClassVar[bool] = False


class KeystoreUnavailable(KeystoreError):
    """The keystore cannot be reached or timed out."""

    retryable = True


class KeystoreThrottled(KeystoreError):
    """The keystore asked us to slow down."""

    retryable = True


class KeystoreDenied(KeystoreError):
    """The keystore refused us (credentials, policy, grant revoked)."""


class KeyDisabled(KeystoreError):
    """The key exists but is disabled or scheduled for deletion."""


class KeyNotFound(KeystoreError):
    """The key does not exist (or no longer does)."""


class KeystoreDecryptFailed(KeystoreError):
    """The ciphertext or its context is not accepted. Deliberately says nothing more."""


class KeystoreRequestInvalid(KeystoreError):
    """The request itself is malformed (empty or oversized plaintext, bad context): a caller bug."""


class Keystore(abc.ABC):
    """One L1 / seal keystore driver. Async: blocking SDKs run in a bounded executor."""

    kind: ClassVar[str]

    @abc.abstractmethod
    async def validate(self, key_id: str) -> None:
        """Check that ``key_id`` exists and is usable for encrypt and decrypt; raise otherwise."""

    @abc.abstractmethod
    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        """Encrypt under ``key_id``, binding ``context`` into the ciphertext."""

    @abc.abstractmethod
    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        """Decrypt what ``encrypt`` produced with the same ``key_id`` and ``context``."""

    @abc.abstractmethod
    async def key_status(self, key_id: str) -> KeyStatus:
        """The key's state as the keystore reports it."""

    async def close(self) -> None:  # noqa: B027 - drivers without resources need not override
        """Release clients, sessions and executor threads."""
