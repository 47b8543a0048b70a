"""Warm keys in memory: a tenant's L2 and its services' L3 versions, as the hot path reads them.

Invariants:
- A ``TenantKeys`` is either open (L2 in locked memory, ciphers usable) or closed for good:
  ``close()`` wipes L2, drops every cipher and cannot be undone; a re-opened tenant is a new
  object. Anything that awaited while holding one checks ``closed`` before installing into it.
- L3 material exists only long enough to build its cipher; what stays is the cipher (whose key
  schedule lives inside OpenSSL and is released when the last reference goes: see
  ``unseal.memory`` for what CPython can and cannot promise).
- L4 wraps are counted before they are made: a Core wraps under an L3 version only within
  the wraps it reserved in the store (``ServiceKeys.unreserved``), and a reservation grants
  only what keeps the version's stored count within its limit (``wraps_granted``). Reserved
  blocks are disjoint ranges of that count, so all Cores together never pass the limit.
- Nothing here does I/O or awaits: these are plain records the façade fills and reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.hierarchy.errors import NotReady
from unseal.blob import cipher_for
from unseal.memory import SecretBuffer

T = TypeVar("T")

L2_KEY_VERSION = 1  # an L2 never changes under its id; re-keying a tenant makes a new L2 id
L4_KEY_VERSION = 1  # a managed object's material never changes under its unique identifier


def wraps_granted(total: int, block: int, limit: int) -> int:
    """How many of ``block`` wraps just reserved (bringing the version's count to ``total``) may
    be made without the version passing ``limit`` wraps: all of them, the part below the
    limit, or none once earlier reservations (this Core's or another's) reached it."""
    return max(0, min(block, limit - (total - block)))


class ServiceKeys:
    """The L3 versions of one (tenant, service), warm."""

    __slots__ = (
        "ciphers",
        "current_cipher",
        "current_version",
        "loaded_at",
        "reserved_total",
        "rotate_at",
        "stale",
        "unreserved",
    )

    def __init__(
        self,
        tenant_id: str,
        service: str,
        ciphers: dict[int, AESGCM],
        rotate_at: float,
        loaded_at: float,
        *,
        reserved_total: int = 0,
    ) -> None:
        self.ciphers = ciphers
        self.current_version = max(ciphers)
        self.current_cipher = ciphers[self.current_version]
        self.rotate_at = rotate_at  # the current version's age limit: new wraps wait for a rotation
        self.loaded_at = loaded_at
        self.stale = False  # an L4 named a newer version than we hold: reload on next ensure_ready
        self.unreserved = 0  # wraps of the current version this Core reserved and has not made yet
        self.reserved_total = reserved_total  # the version's stored wrap count, as last seen here

    def current(self, now: float, limit: int) -> bool:
        """Whether the current version may still wrap: not marked stale, younger than its
        rotation time and its wrap budget (``limit``) not spent here."""
        return not self.stale and now < self.rotate_at and not self.spent(limit)

    def spent(self, limit: int) -> bool:
        """Whether this Core can make no more wraps under the current version: its own reserved
        ones are used and the version's count reached ``limit`` (a rotation is due)."""
        return self.unreserved == 0 and self.reserved_total >= limit


class TenantKeys:
    """One tenant's L2, warm, and the services warmed under it."""

    __slots__ = (
        "closed",
        "honoured_until",
        "l2",
        "l2_cipher",
        "l2_id",
        "reserving",
        "services",
        "tenant_id",
    )

    def __init__(self, tenant_id: str, l2_id: str, l2: SecretBuffer, honoured_until: float) -> None:
        self.tenant_id = tenant_id
        self.l2_id = l2_id
        self.l2 = l2
        self.l2_cipher: AESGCM | None = cipher_for(l2.view())
        self.honoured_until = honoured_until  # last good L1 check + sovereign TTL
        self.services: dict[str, ServiceKeys] = {}
        self.reserving: dict[str, asyncio.Lock] = {}  # per service: one wrap reservation at a time
        self.closed = False

    def cipher(self) -> AESGCM:
        if self.l2_cipher is None:
            raise NotReady  # wiped while the caller awaited: its next ensure_ready says why
        return self.l2_cipher

    def close(self) -> None:
        self.closed = True
        self.services.clear()
        self.reserving.clear()
        self.l2_cipher = None
        self.l2.wipe()

    def __repr__(self) -> str:
        return f"TenantKeys({self.tenant_id!r}, closed={self.closed})"


class SingleFlight:
    """At most one running task per key; every concurrent caller awaits that same task.

    A caller that is cancelled stops waiting without cancelling the shared work (others still
    need it). The task's exception, if any, reaches every waiter.
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[Any]] = {}

    async def run(self, key: Hashable, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        result: T = await asyncio.shield(task)
        return result

    def _finished(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning when every waiter left

    def forget(self) -> None:
        """Stop sharing the running tasks (after a seal): new callers start fresh work."""
        self._running.clear()
