"""One behaviour suite, run against every driver on a real backend (moto server, SoftHSM2, software).

The customer's console acts on the backend directly (their KMS or HSM), the driver only observes:
this is the kill-switch path in miniature.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    Keystore,
    KeystoreDecryptFailed,
    KeystoreError,
    KeystoreUnavailable,
)
from keystores.executor import BoundedExecutor
from tests.support.keystores import KeystoreEnv

pytestmark = pytest.mark.integration

T = TypeVar("T")

PLAINTEXT = b"L2-KEY-MARKER-" + bytes(range(18))  # 32 bytes, recognisable in any message
CONTEXT = {"tenant": "tenant-a", "l2": "l2-0001", "cluster": "eu-1", "correlation": "c0ffee"}
CONCURRENT_CALLS = 50


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def raises(error_class: type[KeystoreError], call: Callable[[], Awaitable[object]]) -> KeystoreError:
    with pytest.raises(error_class) as caught:
        await call()
    return caught.value


def test_round_trip(keystore_env: KeystoreEnv) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()

    async def scenario() -> None:
        first = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        second = await keystore.encrypt(key_id, bytearray(PLAINTEXT), CONTEXT)
        assert first != second  # fresh nonce (or KMS IV) each time
        assert PLAINTEXT not in first
        for ciphertext in (first, second):
            plaintext = await keystore.decrypt(key_id, ciphertext, dict(reversed(list(CONTEXT.items()))))
            assert isinstance(plaintext, bytearray)
            assert plaintext == PLAINTEXT
        viewed = await keystore.encrypt(key_id, memoryview(PLAINTEXT), {})
        assert await keystore.decrypt(key_id, viewed, {}) == PLAINTEXT

    run(scenario())


@pytest.mark.parametrize(
    "other_context",
    [
        {**CONTEXT, "tenant": "tenant-b"},
        {**CONTEXT, "extra": "x"},
        {key: value for key, value in CONTEXT.items() if key != "cluster"},
        {},
        {"tenant": "tenant-al2", "l2": "-0001"},  # same characters, moved across the boundary
    ],
    ids=["changed-value", "extra-pair", "missing-pair", "empty", "shifted"],
)
def test_decrypt_with_other_context_fails(keystore_env: KeystoreEnv, other_context: dict[str, str]) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()

    async def scenario() -> None:
        ciphertext = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        await raises(KeystoreDecryptFailed, lambda: keystore.decrypt(key_id, ciphertext, other_context))

    run(scenario())


@pytest.mark.parametrize("tamper", ["flip-last", "flip-middle", "truncate", "append", "empty"])
def test_tampered_ciphertext_fails(keystore_env: KeystoreEnv, tamper: str) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()

    async def scenario() -> None:
        ciphertext = bytearray(await keystore.encrypt(key_id, PLAINTEXT, CONTEXT))
        if tamper == "flip-last":
            ciphertext[-1] ^= 0x01
        elif tamper == "flip-middle":
            ciphertext[len(ciphertext) // 2] ^= 0x80
        elif tamper == "truncate":
            del ciphertext[-1]
        elif tamper == "append":
            ciphertext.append(0)
        else:
            ciphertext.clear()
        await raises(KeystoreDecryptFailed, lambda: keystore.decrypt(key_id, bytes(ciphertext), CONTEXT))

    run(scenario())


def test_ciphertext_of_another_key_fails(keystore_env: KeystoreEnv) -> None:
    keystore, console = keystore_env.keystore, keystore_env.console
    key_a, key_b = console.create_key(), console.create_key()

    async def scenario() -> None:
        ciphertext = await keystore.encrypt(key_a, PLAINTEXT, CONTEXT)
        await raises(KeystoreDecryptFailed, lambda: keystore.decrypt(key_b, ciphertext, CONTEXT))

    run(scenario())


def test_unknown_key(keystore_env: KeystoreEnv) -> None:
    keystore, console = keystore_env.keystore, keystore_env.console
    existing, missing = console.create_key(), console.missing_key_id()

    async def scenario() -> None:
        ciphertext = await keystore.encrypt(existing, PLAINTEXT, CONTEXT)
        assert await keystore.key_status(missing) is KeyStatus.NOT_FOUND
        await raises(KeyNotFound, lambda: keystore.validate(missing))
        await raises(KeyNotFound, lambda: keystore.encrypt(missing, PLAINTEXT, CONTEXT))
        await raises(KeyNotFound, lambda: keystore.decrypt(missing, ciphertext, CONTEXT))

    run(scenario())


def test_validate_and_status_of_a_usable_key(keystore_env: KeystoreEnv) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()

    async def scenario() -> None:
        await keystore.validate(key_id)
        assert await keystore.key_status(key_id) is KeyStatus.ENABLED

    run(scenario())


def test_disabled_key_refuses_then_reenabled_works(keystore_env: KeystoreEnv) -> None:
    keystore, console = keystore_env.keystore, keystore_env.console
    key_id = console.create_key()
    ciphertext = run(keystore.encrypt(key_id, PLAINTEXT, CONTEXT))

    console.disable_key(key_id)

    async def while_disabled() -> None:
        assert await keystore.key_status(key_id) is KeyStatus.DISABLED
        await raises(KeyDisabled, lambda: keystore.validate(key_id))
        await raises(KeyDisabled, lambda: keystore.encrypt(key_id, PLAINTEXT, CONTEXT))
        await raises(KeyDisabled, lambda: keystore.decrypt(key_id, ciphertext, CONTEXT))

    run(while_disabled())
    console.enable_key(key_id)

    async def after_enable() -> None:
        assert await keystore.key_status(key_id) is KeyStatus.ENABLED
        await keystore.validate(key_id)
        assert await keystore.decrypt(key_id, ciphertext, CONTEXT) == PLAINTEXT
        again = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        assert await keystore.decrypt(key_id, again, CONTEXT) == PLAINTEXT

    run(after_enable())


def test_deleted_or_pending_deletion_key_refuses(keystore_env: KeystoreEnv) -> None:
    keystore, console = keystore_env.keystore, keystore_env.console
    key_id = console.create_key()
    ciphertext = run(keystore.encrypt(key_id, PLAINTEXT, CONTEXT))

    console.schedule_deletion(key_id)
    expected_status = console.deletion_leaves
    expected_error = KeyDisabled if expected_status is KeyStatus.PENDING_DELETION else KeyNotFound

    async def scenario() -> None:
        assert await keystore.key_status(key_id) is expected_status
        await raises(expected_error, lambda: keystore.validate(key_id))
        await raises(expected_error, lambda: keystore.encrypt(key_id, PLAINTEXT, CONTEXT))
        await raises(expected_error, lambda: keystore.decrypt(key_id, ciphertext, CONTEXT))

    run(scenario())


def _executor_of(keystore: Keystore) -> BoundedExecutor | None:
    executor = getattr(keystore, "executor", None)
    return executor if isinstance(executor, BoundedExecutor) else None


def _threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def test_concurrent_calls_all_succeed(keystore_env: KeystoreEnv) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()

    async def one(index: int) -> bool:
        plaintext = index.to_bytes(2, "big") * 16
        context = {**CONTEXT, "call": str(index)}
        ciphertext = await keystore.encrypt(key_id, plaintext, context)
        return await keystore.decrypt(key_id, ciphertext, context) == plaintext

    async def scenario() -> list[bool]:
        return list(await asyncio.gather(*(one(index) for index in range(CONCURRENT_CALLS))))

    assert run(scenario()) == [True] * CONCURRENT_CALLS
    executor = _executor_of(keystore)
    if executor is not None:  # the SDK drivers: never more threads than the bound
        assert 1 <= len(_threads_named(executor.thread_name_prefix)) <= executor.settings.max_workers


def test_close_releases(keystore_env: KeystoreEnv) -> None:
    keystore, key_id = keystore_env.keystore, keystore_env.console.create_key()
    executor = _executor_of(keystore)

    async def scenario() -> None:
        ciphertext = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        await keystore.close()
        await keystore.close()  # idempotent
        await raises(KeystoreUnavailable, lambda: keystore.encrypt(key_id, PLAINTEXT, CONTEXT))
        await raises(KeystoreUnavailable, lambda: keystore.decrypt(key_id, ciphertext, CONTEXT))
        await raises(KeystoreUnavailable, lambda: keystore.key_status(key_id))

    run(scenario())
    if executor is not None:
        assert executor.closed
        assert _threads_named(executor.thread_name_prefix) == []
    if not keystore_env.name.startswith("software"):  # the dev keystore is its own console
        # Closing the driver leaves the backend alone: the customer's console still works
        # (for PKCS#11: the shared login survives the driver's session closing).
        keystore_env.console.disable_key(key_id)
        keystore_env.console.enable_key(key_id)


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


# Fragments of the SDKs' own messages for these failures (moto, botocore, python-pkcs11).
SDK_MESSAGE_FRAGMENTS = (
    "does not exist",
    "is not found",
    "Invalid keyId",
    "No key matching",
    "Unmapped error",
    "An error occurred",
    "arn:aws:kms",
    "InvalidCiphertextException()",
)


def test_errors_never_carry_secrets_or_sdk_messages(keystore_env: KeystoreEnv) -> None:
    keystore, console = keystore_env.keystore, keystore_env.console
    key_id, disabled_id, missing_id = console.create_key(), console.create_key(), console.missing_key_id()

    async def scenario() -> tuple[bytes, list[KeystoreError]]:
        ciphertext = await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        disabled_ciphertext = await keystore.encrypt(disabled_id, PLAINTEXT, CONTEXT)
        console.disable_key(disabled_id)
        tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: keystore.decrypt(key_id, ciphertext, {**CONTEXT, "tenant": "tenant-b"}),
            lambda: keystore.decrypt(key_id, tampered, CONTEXT),
            lambda: keystore.encrypt(missing_id, PLAINTEXT, CONTEXT),
            lambda: keystore.decrypt(missing_id, ciphertext, CONTEXT),
            lambda: keystore.validate(missing_id),
            lambda: keystore.encrypt(disabled_id, PLAINTEXT, CONTEXT),
            lambda: keystore.decrypt(disabled_id, disabled_ciphertext, CONTEXT),
        ]
        errors = [await raises(KeystoreError, call) for call in calls]
        return ciphertext, errors

    ciphertext, errors = run(scenario())
    assert len(errors) == 7
    forbidden = [PLAINTEXT.hex(), ciphertext.hex(), ciphertext[-16:].hex(), *SDK_MESSAGE_FRAGMENTS]
    for error in errors:
        for link in _chain(error):
            assert isinstance(link, KeystoreError), f"{type(link).__name__} attached to a normalized error"
            text = f"{link!s} {link!r}"
            assert "L2-KEY-MARKER" not in text
            for fragment in forbidden:
                assert fragment not in text
