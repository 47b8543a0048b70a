"""SecretBuffer, zeroize and harden_process do what memory.py promises."""

from __future__ import annotations

import copy
import ctypes
import pickle
import subprocess
import sys
import textwrap

import pytest

from unseal.memory import SecretBuffer, zeroize

SECRET = bytes(range(1, 33))


def _address_of(buffer: bytearray) -> int:
    pointer = ctypes.c_char.from_buffer(buffer)
    try:
        return ctypes.addressof(pointer)
    finally:
        del pointer


def test_holds_a_copy_of_the_source() -> None:
    source = bytearray(SECRET)
    secret = SecretBuffer(source)
    source[:] = bytes(32)
    assert bytes(secret.view()) == SECRET
    assert len(secret) == 32


def test_wipe_overwrites_the_very_memory_that_held_the_secret() -> None:
    secret = SecretBuffer(SECRET)
    storage = secret._buffer  # keep the original bytearray alive to read it after the wipe
    address = _address_of(storage)
    assert ctypes.string_at(address, 32) == SECRET
    secret.wipe()
    assert ctypes.string_at(address, 32) == bytes(32)
    assert bytes(storage) == bytes(32)
    assert secret.wiped
    assert len(secret) == 0
    assert not secret.locked


def test_a_view_taken_before_the_wipe_sees_zeros_and_no_view_after() -> None:
    secret = SecretBuffer(SECRET)
    view = secret.view()
    assert view.readonly
    secret.wipe()
    assert bytes(view) == bytes(32)
    with pytest.raises(ValueError, match="wiped"):
        secret.view()


def test_wipe_is_idempotent() -> None:
    secret = SecretBuffer(SECRET)
    secret.wipe()
    secret.wipe()
    assert secret.wiped


def test_random_fills_fresh_bytes_and_wipes_like_any_other() -> None:
    first, second = SecretBuffer.random(32), SecretBuffer.random(32)
    assert len(first) == 32
    assert not first.equals(second)
    assert bytes(first.view()) != bytes(32)
    storage = first._buffer
    address = _address_of(storage)
    first.wipe()
    assert ctypes.string_at(address, 32) == bytes(32)


@pytest.mark.parametrize(
    "render", [repr, str, lambda s: f"{s}", lambda s: f"{s!r}", "{}".format, "%r".__mod__]
)
def test_never_rendered_with_its_bytes(render: object) -> None:
    secret = SecretBuffer(SECRET)
    text = render(secret)  # type: ignore[operator]
    assert "redacted" in text
    for leak in (SECRET.hex(), repr(SECRET), str(list(SECRET)), SECRET.decode("latin-1")):
        assert leak not in text


def test_repr_inside_containers_is_redacted_too() -> None:
    text = repr({"key": SecretBuffer(SECRET)})
    assert SECRET.hex() not in text
    assert "redacted" in text


def test_pickling_and_copying_are_refused() -> None:
    secret = SecretBuffer(SECRET)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickled"):
            pickle.dumps(secret, protocol=protocol)
    with pytest.raises(TypeError):
        copy.copy(secret)
    with pytest.raises(TypeError):
        copy.deepcopy(secret)


def test_equals_compares_content_against_every_bytes_like() -> None:
    secret = SecretBuffer(SECRET)
    assert secret.equals(SECRET)
    assert secret.equals(bytearray(SECRET))
    assert secret.equals(SecretBuffer(SECRET))
    first_byte_differs = b"\x00" + SECRET[1:]
    last_byte_differs = SECRET[:-1] + b"\x00"
    assert not secret.equals(first_byte_differs)
    assert not secret.equals(last_byte_differs)
    assert not secret.equals(SECRET[:-1])
    assert not secret.equals(SECRET + b"\x00")
    assert not secret.equals(b"")


def test_double_equals_is_identity_not_content() -> None:
    # Content comparison goes through equals() (hmac.compare_digest); == must not be a shortcut.
    secret = SecretBuffer(SECRET)
    twin = SecretBuffer(SECRET)
    assert secret.equals(twin)
    assert secret != twin
    assert secret == secret


def test_equals_after_wipe_is_an_error_not_a_false_match() -> None:
    secret = SecretBuffer(SECRET)
    secret.wipe()
    with pytest.raises(ValueError, match="wiped"):
        secret.equals(b"")


def test_context_manager_wipes_on_exit_and_on_error() -> None:
    with SecretBuffer(SECRET) as secret:
        storage = secret._buffer
        address = _address_of(storage)
    assert secret.wiped
    assert ctypes.string_at(address, 32) == bytes(32)

    with pytest.raises(RuntimeError), SecretBuffer(SECRET) as failing:
        raise RuntimeError("boom")
    assert failing.wiped


def test_locked_is_a_plain_answer() -> None:
    # mlock may be refused in a container (ENOMEM under RLIMIT_MEMLOCK); the flag says so either way.
    secret = SecretBuffer(SECRET)
    assert secret.locked in (True, False)
    secret.wipe()
    assert secret.locked is False


def test_zero_size_buffer() -> None:
    empty = SecretBuffer(0)
    assert len(empty) == 0
    empty.wipe()
    assert empty.wiped


def test_zeroize_overwrites_a_bytearray_in_place() -> None:
    buffer = bytearray(SECRET)
    address = _address_of(buffer)
    zeroize(buffer)
    assert buffer == bytearray(32)
    assert ctypes.string_at(address, 32) == bytes(32)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and RLIMIT_CORE are Linux behaviour")
def test_harden_process_turns_off_core_dumps_and_dumpability() -> None:
    script = textwrap.dedent(
        """
        import ctypes, ctypes.util, resource
        from unseal.memory import harden_process
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        before = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        harden_process()
        print(before, libc.prctl(3, 0, 0, 0, 0), *resource.getrlimit(resource.RLIMIT_CORE))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    before, after, soft, hard = (int(field) for field in result.stdout.split())
    assert before == 1
    assert after == 0
    assert (soft, hard) == (0, 0)
