"""Test helpers for the unseal layer: a tiny in-process keystore, fault injection, controller builders."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any, ClassVar, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
)
from keystores.retry import RetryPolicy
from unseal.controller import SealController
from unseal.records import MemorySealRecords

T = TypeVar("T")

CLUSTER = "cluster-a"
REGION = "eu-de-1"
# No sleeping between retries in unit tests; the attempt count is what is under test.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, total_timeout=5.0)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _aad(context: Mapping[str, str]) -> bytes:
    parts = []
    for key in sorted(context):
        for text in (key, context[key]):
            raw = text.encode()
            parts.append(struct.pack(">I", len(raw)) + raw)
    return b"".join(parts)


class MemoryKeystore(Keystore):
    """Test-only: AES-256-GCM keys in a dict, context bound as associated data, key states settable."""

    kind: ClassVar[str] = "memory-test"

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._status: dict[str, KeyStatus] = {}
        self.denied = False

    def create_key(self, key_id: str) -> str:
        self._keys[key_id] = AESGCM.generate_key(bit_length=256)
        self._status[key_id] = KeyStatus.ENABLED
        return key_id

    def set_status(self, key_id: str, status: KeyStatus) -> None:
        self._status[key_id] = status

    def _usable(self, key_id: str) -> AESGCM:
        if self.denied:
            raise KeystoreDenied("denied")
        status = self._status.get(key_id, KeyStatus.NOT_FOUND)
        if status is KeyStatus.NOT_FOUND:
            raise KeyNotFound("not found")
        if status is not KeyStatus.ENABLED:
            raise KeyDisabled("disabled")
        return AESGCM(self._keys[key_id])

    async def validate(self, key_id: str) -> None:
        self._usable(key_id)

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._usable(key_id).encrypt(nonce, bytes(plaintext), _aad(context))

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        cipher = self._usable(key_id)
        try:
            return bytearray(cipher.decrypt(ciphertext[:12], ciphertext[12:], _aad(context)))
        except InvalidTag:
            raise KeystoreDecryptFailed("decrypt failed") from None

    async def key_status(self, key_id: str) -> KeyStatus:
        return self._status.get(key_id, KeyStatus.NOT_FOUND)


class FaultyKeystore(Keystore):
    """Wraps a real keystore and raises the queued errors (one per call) before passing calls through."""

    def __init__(self, inner: Keystore) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.faults: list[KeystoreError] = []
        self.calls = 0
        self.hang = False

    async def _gate(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.faults:
            raise self.faults.pop(0)

    async def validate(self, key_id: str) -> None:
        await self._gate()
        await self.inner.validate(key_id)

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        await self._gate()
        return await self.inner.encrypt(key_id, plaintext, context)

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        await self._gate()
        return await self.inner.decrypt(key_id, ciphertext, context)

    async def key_status(self, key_id: str) -> KeyStatus:
        await self._gate()
        return await self.inner.key_status(key_id)


def controller(
    records: MemorySealRecords | None = None,
    *,
    cluster_id: str = CLUSTER,
    region: str = REGION,
    keystore: Keystore | None = None,
) -> SealController:
    return SealController(
        records if records is not None else MemorySealRecords(),
        cluster_id=cluster_id,
        region=region,
        seal_keystore=keystore,
        retry_policy=FAST_RETRY,
    )


async def settle(awaitable: Awaitable[T]) -> T | BaseException:
    """The result of ``awaitable``, or the exception it raised."""
    try:
        return await awaitable
    except Exception as exc:
        return exc
