"""Checks every driver applies to a request before it reaches a keystore, and the canonical context.

Invariants:
- The same limits hold for every driver, so a request that one keystore accepts is not refused
  by another for size alone. The defaults follow the strictest backend (AWS KMS accepts at most
  4096 bytes of plaintext and 6144 bytes of ciphertext); OpenKCM wraps 32-byte keys.
- ``canonical_context`` is injective: two different contexts never serialize to the same bytes
  (sorted keys, every key and value length-prefixed), so a context cannot be forged by moving
  bytes between a key and a value.
- Failures raise ``KeystoreRequestInvalid`` (a caller bug); the message names the limit, never
  the content.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from keystores.base import KeystoreDecryptFailed, KeystoreRequestInvalid

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    max_plaintext_size: int = 4096  # bytes (KeystoreRequestInvalid)
    max_ciphertext_size: int = 6144  # bytes (KeystoreDecryptFailed: an oversized blob is not ours)
    max_context_pairs: int = 16  # key/value pairs in an encryption context (KeystoreRequestInvalid)
    max_context_size: int = 4096  # UTF-8 bytes of all keys and values together (KeystoreRequestInvalid)


DEFAULT_REQUEST_LIMITS = RequestLimits()


def check_plaintext(plaintext: bytes | bytearray | memoryview, limits: RequestLimits) -> int:
    """Return the plaintext's length after checking it is within 1..max_plaintext_size bytes."""
    size = memoryview(plaintext).nbytes
    if size == 0:
        raise KeystoreRequestInvalid("plaintext is empty")
    if size > limits.max_plaintext_size:
        raise KeystoreRequestInvalid(f"plaintext exceeds {limits.max_plaintext_size} bytes")
    return size


def check_ciphertext(ciphertext: bytes, limits: RequestLimits) -> None:
    """Refuse a ciphertext no driver could have produced, before spending a keystore call on it."""
    if not isinstance(ciphertext, bytes | bytearray) or not 0 < len(ciphertext) <= limits.max_ciphertext_size:
        raise KeystoreDecryptFailed("decrypt failed")


def check_context(context: Mapping[str, str], limits: RequestLimits) -> dict[str, str]:
    """A plain ``dict`` copy of ``context`` after checking types and sizes."""
    if len(context) > limits.max_context_pairs:
        raise KeystoreRequestInvalid(f"encryption context exceeds {limits.max_context_pairs} pairs")
    copy: dict[str, str] = {}
    total = 0
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise KeystoreRequestInvalid("encryption context keys and values must be strings, keys non-empty")
        size = _utf8_size(key, value)
        if size is None:
            raise KeystoreRequestInvalid("encryption context is not valid UTF-8")
        total += size
        copy[key] = value
    if total > limits.max_context_size:
        raise KeystoreRequestInvalid(f"encryption context exceeds {limits.max_context_size} bytes")
    return copy


def canonical_context(context: Mapping[str, str], limits: RequestLimits) -> bytes:
    """The context as bytes for use as AEAD associated data: count, then sorted length-prefixed pairs."""
    checked = check_context(context, limits)
    parts = [_LENGTH.pack(len(checked))]
    for key in sorted(checked):
        for text in (key, checked[key]):
            encoded = text.encode("utf-8")
            parts.append(_LENGTH.pack(len(encoded)))
            parts.append(encoded)
    return b"".join(parts)


def _utf8_size(*texts: str) -> int | None:
    # Returning instead of raising inside the handler keeps the codec's message (which quotes
    # the context) out of the normalized error's __context__.
    try:
        return sum(len(text.encode("utf-8")) for text in texts)
    except UnicodeEncodeError:
        return None
