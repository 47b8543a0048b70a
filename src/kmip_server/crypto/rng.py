"""RNG Retrieve and RNG Seed (KMIP 1.4 sections 4.35, 4.36).

- Random bytes come from the operating system's CSPRNG (``os.urandom``, the generator that
  also makes every key of this server). The Random Number Generator the server reports is
  therefore Unspecified (``ObjectSettings.random_number_generator``).
- RNG Retrieve returns ``Data Length`` bytes, at most ``RngSettings.max_retrieve_length``
  (more, or less than one byte, is Invalid Field: a client cannot make the server allocate
  without bound).
- RNG Seed (4.36): "The server MAY elect to ignore the information provided by the client ...
  and MAY indicate this ... by returning zero". ``SeedPolicy`` says what this Core does:
  ``IGNORE`` (the default: report 0 bytes used; the OS generator needs no client entropy),
  ``MIX`` (write the bytes into the kernel's pool through /dev/urandom, which mixes them in
  without crediting entropy, so a hostile seed cannot weaken it; report how many were
  written, at most ``max_seed_length``), or ``REFUSE`` (Permission Denied, for deployments that
  do not let clients touch the generator). The OASIS optional cases CS-RNG-O-1..4 are the four
  answers a server may give; a Core passes the one its policy names (O-1 with ``MIX`` and a
  32-byte seed, O-2 with ``MIX`` and ``max_seed_length`` 16, O-3 with ``IGNORE``, O-4 with
  ``REFUSE``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from kmip_server.errors import CryptographicFailure, InvalidField, PermissionDenied

__all__ = [
    "DEFAULT_MAX_RETRIEVE_LENGTH",
    "RngSettings",
    "SeedPolicy",
    "mix_into_os_pool",
    "random_bytes",
    "seed",
]

DEFAULT_MAX_RETRIEVE_LENGTH = 1 << 16
_OS_POOL = "/dev/urandom"


class SeedPolicy(IntEnum):
    IGNORE = 0  # accept the request, use nothing, answer Data Length 0
    MIX = 1  # mix the seed into the OS pool, answer the bytes mixed
    REFUSE = 2  # Permission Denied


@dataclass(frozen=True, slots=True)
class RngSettings:
    max_retrieve_length: int = DEFAULT_MAX_RETRIEVE_LENGTH
    """Bytes one RNG Retrieve may ask for."""
    seed_policy: SeedPolicy = SeedPolicy.IGNORE
    max_seed_length: int = 256
    """Bytes of one RNG Seed that ``MIX`` uses (the rest is not used, and the answer says so)."""

    def __post_init__(self) -> None:
        if self.max_retrieve_length < 1 or self.max_seed_length < 0:
            raise ValueError("RNG limits must be positive")


def random_bytes(length: int, settings: RngSettings, source: Callable[[int], bytes] = os.urandom) -> bytes:
    """``length`` random bytes for RNG Retrieve."""
    if not 1 <= length <= settings.max_retrieve_length:
        raise InvalidField(f"Data Length must be between 1 and {settings.max_retrieve_length} bytes")
    try:
        return source(length)
    except OSError:
        raise CryptographicFailure("the random number generator failed") from None


def mix_into_os_pool(data: bytes) -> int:
    """Write ``data`` to the kernel's random pool (mixed in, no entropy credited); bytes written."""
    with open(_OS_POOL, "wb", buffering=0) as pool:
        written = pool.write(data)
    return written or 0


def seed(data: bytes, settings: RngSettings, mix: Callable[[bytes], int] = mix_into_os_pool) -> int:
    """RNG Seed: the number of bytes of ``data`` used (the response's Data Length)."""
    policy = settings.seed_policy
    if policy is SeedPolicy.REFUSE:
        raise PermissionDenied("this server does not accept seeding material")
    if policy is SeedPolicy.IGNORE or not data:
        return 0
    try:
        return mix(data[: settings.max_seed_length])
    except OSError:
        raise CryptographicFailure("the seed could not be used") from None
