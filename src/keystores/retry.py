"""Retry of keystore calls: only the retryable errors, with capped exponential backoff and full jitter.

Invariants:
- Only errors whose class says ``retryable`` (``KeystoreUnavailable``, ``KeystoreThrottled``) are
  retried. Denied, disabled, not found, decrypt failed and invalid requests fail closed on the
  first answer: retrying a customer's "no" would only delay the kill-switch.
- At most ``max_attempts`` attempts, and all attempts and backoffs together finish within
  ``total_timeout``: an attempt still running at the deadline is cancelled and reported as
  ``KeystoreUnavailable``, and no backoff is slept that would end past the deadline.
- Backoff before retry n (n >= 1) is uniform in [0, min(max_delay, base_delay * 2**(n-1))]
  ("full jitter"), so callers that failed together do not retry together.
- ``CancelledError`` is never caught.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from keystores.base import KeyStatus, Keystore, KeystoreError, KeystoreUnavailable

T = TypeVar("T")

_JITTER_RESOLUTION = 1 << 24


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4  # attempts in all, the first included
    base_delay: float = 0.05  # seconds: upper bound of the backoff before the first retry
    max_delay: float = 1.0  # seconds: cap on any single backoff
    total_timeout: float = 10.0  # seconds for every attempt and backoff together (KeystoreUnavailable)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.total_timeout <= 0:
            raise ValueError("delays must be non-negative and total_timeout positive")

    def backoff_bound(self, retry: int) -> float:
        """Upper bound of the backoff slept before retry number ``retry`` (1-based)."""
        bound: float = min(self.max_delay, self.base_delay * float(2 ** (retry - 1)))
        return bound


DEFAULT_RETRY_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)


def system_jitter() -> float:
    """A uniform draw from [0, 1) for backoff jitter."""
    return secrets.randbelow(_JITTER_RESOLUTION) / _JITTER_RESOLUTION


async def call_with_retry(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = system_jitter,
) -> T:
    """Await ``operation()`` until it succeeds, fails closed, or the policy's attempts or time run out."""
    deadline = clock() + policy.total_timeout
    attempt = 0
    while True:
        attempt += 1
        budget = asyncio.timeout(max(deadline - clock(), 0.0))
        failure: KeystoreError | None
        try:
            async with budget:
                return await operation()
        except KeystoreError as error:
            if not error.retryable or attempt >= policy.max_attempts:
                raise
            failure = error
        except TimeoutError:
            if not budget.expired():
                raise
            failure = None
        if failure is None:
            raise KeystoreUnavailable("keystore retry time budget exhausted")
        delay = jitter() * policy.backoff_bound(attempt)
        if clock() + delay >= deadline:
            raise failure
        await sleep(delay)


class RetryingKeystore(Keystore):
    """A ``Keystore`` that retries its inner driver's retryable errors under a ``RetryPolicy``."""

    kind = "retrying"

    __slots__ = ("_clock", "_inner", "_jitter", "_policy", "_sleep")

    def __init__(
        self,
        inner: Keystore,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = system_jitter,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter

    @property
    def inner(self) -> Keystore:
        return self._inner

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    async def _retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retry(
            operation, self._policy, sleep=self._sleep, clock=self._clock, jitter=self._jitter
        )

    async def validate(self, key_id: str) -> None:
        await self._retry(lambda: self._inner.validate(key_id))

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        return await self._retry(lambda: self._inner.encrypt(key_id, plaintext, context))

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        return await self._retry(lambda: self._inner.decrypt(key_id, ciphertext, context))

    async def key_status(self, key_id: str) -> KeyStatus:
        return await self._retry(lambda: self._inner.key_status(key_id))

    async def close(self) -> None:
        await self._inner.close()
