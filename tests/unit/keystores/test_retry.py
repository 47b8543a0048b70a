"""Retry with backoff: only retryable errors, bounded attempts and total time, jittered backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreDenied,
    KeystoreError,
    KeystoreRequestInvalid,
    KeystoreThrottled,
    KeystoreUnavailable,
)
from keystores.retry import RetryingKeystore, RetryPolicy, call_with_retry, system_jitter


class ScriptedKeystore(Keystore):
    """A test driver that fails with the scripted errors, in order, then answers."""

    kind = "scripted"

    def __init__(
        self, failures: list[KeystoreError], *, clock: FakeClock | None = None, cost: float = 0.0
    ) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.closed = False
        self._clock = clock
        self._cost = cost

    async def _answer(self) -> None:
        self.calls += 1
        if self._clock is not None:
            self._clock.now += self._cost
        if self.failures:
            raise self.failures.pop(0)

    async def validate(self, key_id: str) -> None:
        await self._answer()

    async def encrypt(
        self, key_id: str, plaintext: bytes | bytearray | memoryview, context: Mapping[str, str]
    ) -> bytes:
        await self._answer()
        return b"ciphertext:" + bytes(plaintext)

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytearray:
        await self._answer()
        return bytearray(ciphertext.removeprefix(b"ciphertext:"))

    async def key_status(self, key_id: str) -> KeyStatus:
        await self._answer()
        return KeyStatus.ENABLED

    async def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def retrying(inner: Keystore, policy: RetryPolicy, clock: FakeClock, jitter: float = 1.0) -> RetryingKeystore:
    return RetryingKeystore(inner, policy, sleep=clock.sleep, clock=clock, jitter=lambda: jitter)


POLICY = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=0.3, total_timeout=60.0)


@pytest.mark.parametrize("retryable", [KeystoreThrottled, KeystoreUnavailable])
def test_retryable_errors_are_retried_until_success(retryable: type[KeystoreError]) -> None:
    clock = FakeClock()
    inner = ScriptedKeystore([retryable("slow down")] * 3)
    keystore = retrying(inner, POLICY, clock)

    plaintext = asyncio.run(keystore.decrypt("k", b"ciphertext:secret", {}))

    assert plaintext == b"secret"
    assert inner.calls == 4
    # Full jitter drawn at its maximum: the capped exponential bounds themselves.
    assert clock.slept == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "final", [KeystoreDenied, KeyDisabled, KeyNotFound, KeystoreDecryptFailed, KeystoreRequestInvalid]
)
def test_fail_closed_errors_are_not_retried(final: type[KeystoreError]) -> None:
    clock = FakeClock()
    inner = ScriptedKeystore([final("no"), KeystoreThrottled("never reached")])
    keystore = retrying(inner, POLICY, clock)

    with pytest.raises(final):
        asyncio.run(keystore.validate("k"))
    assert inner.calls == 1
    assert clock.slept == []


def test_a_fail_closed_error_after_retries_stops_at_once() -> None:
    clock = FakeClock()
    inner = ScriptedKeystore(
        [KeystoreThrottled("slow"), KeyDisabled("customer disabled the key"), KeystoreThrottled("x")]
    )
    with pytest.raises(KeyDisabled):
        asyncio.run(retrying(inner, POLICY, clock).encrypt("k", b"p", {}))
    assert inner.calls == 2


def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    inner = ScriptedKeystore([KeystoreUnavailable(f"down {n}") for n in range(10)])
    with pytest.raises(KeystoreUnavailable, match="down 4"):
        asyncio.run(retrying(inner, POLICY, clock).key_status("k"))
    assert inner.calls == POLICY.max_attempts
    assert len(clock.slept) == POLICY.max_attempts - 1


def test_total_time_is_bounded() -> None:
    # Each attempt takes 2 s of (fake) time; backoffs are 1 s; the budget is 5 s: after the second
    # attempt (t = 2 + 1 + 2 = 5) no further backoff fits, whatever max_attempts allows.
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=1.0, total_timeout=5.0)
    inner = ScriptedKeystore([KeystoreThrottled("slow")] * 100, clock=clock, cost=2.0)
    with pytest.raises(KeystoreThrottled):
        asyncio.run(retrying(inner, policy, clock).validate("k"))
    assert inner.calls == 2
    assert clock.slept == [1.0]


def test_an_attempt_running_past_the_deadline_is_cancelled_as_unavailable() -> None:
    never = asyncio.Event

    async def hang() -> None:
        await never().wait()

    async def scenario() -> None:
        with pytest.raises(KeystoreUnavailable, match="budget"):
            await call_with_retry(hang, RetryPolicy(total_timeout=0.05))

    asyncio.run(scenario())


def test_backoff_is_jittered_below_the_bound() -> None:
    clock = FakeClock()
    inner = ScriptedKeystore([KeystoreThrottled("slow")] * 2)
    asyncio.run(retrying(inner, POLICY, clock, jitter=0.5).validate("k"))
    assert clock.slept == pytest.approx([0.05, 0.1])
    draws = [system_jitter() for _ in range(200)]
    assert all(0.0 <= draw < 1.0 for draw in draws)
    assert len(set(draws)) > 100


def test_cancellation_during_backoff_propagates() -> None:
    inner = ScriptedKeystore([KeystoreThrottled("slow")] * 10)
    keystore = RetryingKeystore(inner, RetryPolicy(base_delay=30.0, max_delay=30.0, total_timeout=120.0))

    async def scenario() -> None:
        task = asyncio.create_task(keystore.validate("k"))
        while inner.calls == 0:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert inner.calls == 1


def test_every_operation_and_close_are_delegated() -> None:
    inner = ScriptedKeystore([])
    keystore = RetryingKeystore(inner)

    async def scenario() -> None:
        await keystore.validate("k")
        ciphertext = await keystore.encrypt("k", b"p", {})
        assert await keystore.decrypt("k", ciphertext, {}) == b"p"
        assert await keystore.key_status("k") is KeyStatus.ENABLED
        await keystore.close()

    asyncio.run(scenario())
    assert inner.calls == 4
    assert inner.closed
    assert keystore.inner is inner


@pytest.mark.parametrize(
    "settings",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"total_timeout": 0.0}],
)
def test_policy_is_checked(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**settings)  # type: ignore[arg-type]
