"""Secret key bytes in memory: locked where the OS allows, zeroized on release.

What this can and cannot guarantee in CPython (the honest statement):
- The bytes held by a ``SecretBuffer`` live in one ``bytearray`` whose pages are ``mlock``ed
  (so they are not swapped out) when the process may lock memory, and which is overwritten
  with zeros by ``wipe()``, by the context manager's exit and, as a last resort, by ``__del__``.
- It cannot vouch for copies made elsewhere: an immutable ``bytes`` built from the secret
  (by a caller, by a library, by the interpreter's string machinery), the key schedules that
  OpenSSL keeps inside ``cryptography`` cipher contexts, or freed heap that once held them.
  Code that handles secrets therefore passes the buffer itself (``memoryview``/``bytearray``)
  to cryptographic APIs and never converts it to ``bytes``.
- ``harden_process()`` turns core dumps off and marks the process non-dumpable (Linux), so a
  crash or a ptrace by another unprivileged user does not spill the secrets.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hmac
import os
import resource
import secrets
import sys
from types import TracebackType
from typing import Self

_PR_SET_DUMPABLE = 4
_URANDOM = "/dev/urandom"


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # Cached: find_library runs ``ldconfig -p`` in a child process, and every SecretBuffer
    # needs libc twice (mlock, munlock).
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


class SecretBuffer:
    """A fixed-size secret held in locked, zeroizable memory. Never printed, never compared with ==."""

    __slots__ = ("_buffer", "_c_view", "_locked")

    def __init__(self, source: bytes | bytearray | memoryview | int) -> None:
        size = source if isinstance(source, int) else len(source)
        self._buffer = bytearray(size)
        self._c_view = (ctypes.c_char * size).from_buffer(self._buffer) if size else None
        self._locked = self._lock()
        if not isinstance(source, int):
            self._buffer[:] = source

    @classmethod
    def random(cls, size: int) -> SecretBuffer:
        """``size`` bytes from the OS CSPRNG, written straight into locked memory."""
        buffer = cls(size)
        _fill_random(buffer._buffer)
        return buffer

    def _lock(self) -> bool:
        libc = _libc()
        if libc is None or self._c_view is None:
            return False
        return bool(libc.mlock(ctypes.addressof(self._c_view), ctypes.c_size_t(len(self._buffer))) == 0)

    @property
    def locked(self) -> bool:
        """Whether the pages are locked in RAM (False where RLIMIT_MEMLOCK or the OS refuse)."""
        return self._locked

    @property
    def wiped(self) -> bool:
        return self._c_view is None and len(self._buffer) == 0

    def view(self) -> memoryview:
        """A read-only view of the secret, for passing to cryptographic APIs without a copy."""
        if self.wiped:
            raise ValueError("secret buffer already wiped")
        return memoryview(self._buffer).toreadonly()

    def __len__(self) -> int:
        return len(self._buffer)

    def equals(self, other: SecretBuffer | bytes | bytearray) -> bool:
        """Constant-time comparison."""
        theirs = other.view() if isinstance(other, SecretBuffer) else other
        return hmac.compare_digest(self.view(), theirs)

    def wipe(self) -> None:
        """Overwrite with zeros, unlock and release. Idempotent."""
        if self._c_view is None:
            self._buffer = bytearray()
            return
        size = len(self._buffer)
        ctypes.memset(ctypes.addressof(self._c_view), 0, size)
        if self._locked:
            libc = _libc()
            if libc is not None:
                libc.munlock(ctypes.addressof(self._c_view), ctypes.c_size_t(size))
            self._locked = False
        del self._c_view
        self._c_view = None
        self._buffer = bytearray()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wipe()

    def __del__(self) -> None:
        # Last resort only; owners wipe explicitly. Never raise from a finalizer.
        with contextlib.suppress(Exception):
            self.wipe()

    def __repr__(self) -> str:
        return f"SecretBuffer(<{len(self._buffer)} bytes redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("secret buffers cannot be pickled")


def _read_urandom(view: memoryview) -> bool:
    try:
        with open(_URANDOM, "rb", buffering=0) as source:
            filled = 0
            while filled < len(view):
                count = source.readinto(view[filled:])
                if not count:
                    return False
                filled += count
    except OSError:
        return False
    return True


def _fill_random(target: bytearray) -> None:
    # Read the OS CSPRNG straight into the locked buffer: os.urandom and secrets would first
    # build an immutable bytes copy of the secret that nobody can wipe.
    with memoryview(target) as view:
        if _read_urandom(view):
            return
    # No /dev/urandom (Windows, a sandbox): fall back to the stdlib, at the cost of a copy.
    target[:] = secrets.token_bytes(len(target))


def zeroize(buffer: bytearray) -> None:
    """Overwrite a plain bytearray that held a secret (for buffers returned by libraries)."""
    buffer[:] = bytes(len(buffer))


def harden_process() -> None:
    """Disable core dumps and (on Linux) ptrace by non-root peers. Called once by the composition root."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    os.environ.pop("PYTHONMALLOC", None)
