"""Connection balancing between worker processes that share one listening socket.

KMIP clients hold their connections for long, so how connections land on workers decides how the
load lands on them. SO_REUSEPORT spreads connections by a hash of their addresses: with 8
connections on 2 workers, only about a quarter of the time do they split 4/4, and a 6/2 split
makes one worker serve three times the other's load while the other idles part of the time.

Here every worker accepts from the same socket, but only while it holds no more connections than
the least busy of its live siblings; the others leave new connections in the shared backlog for
it. The counts live in a shared array of ints, one per worker slot, which each worker writes for
itself and the supervisor marks ``DEAD`` while a slot has no running worker.

Invariants:
- The least busy live worker always accepts, so no connection waits in the backlog for a paused
  worker; a paused worker looks again every ``poll_interval`` seconds.
- Counts are advisory: two workers that race for one connection leave the split one off at worst,
  and the next acceptances even it out. Nothing here is needed for correctness, only for balance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableSequence

__all__ = ["DEAD", "ConnectionBalancer"]

DEAD = -1
"""The count of a slot whose worker is not running (dead, or restarting): ignored."""


class ConnectionBalancer:
    """One worker's view of the shared counts: it publishes its own and reads the others'."""

    __slots__ = ("_counts", "_index", "_poll_interval")

    def __init__(self, counts: MutableSequence[int], index: int, poll_interval: float = 0.01) -> None:
        if not 0 <= index < len(counts):
            raise ValueError("worker index outside the shared counts")
        self._counts = counts
        self._index = index
        self._poll_interval = poll_interval

    def publish(self, connections: int) -> None:
        self._counts[self._index] = connections

    def may_accept(self) -> bool:
        """True while this worker holds no more connections than the least busy live sibling."""
        own = self._counts[self._index]
        others = [count for index, count in enumerate(self._counts) if index != self._index and count >= 0]
        return not others or own <= min(others)

    async def wait_turn(self, connections: Callable[[], int]) -> None:
        """Return once this worker may accept; ``connections()`` is its current count."""
        self.publish(connections())
        while not self.may_accept():
            await asyncio.sleep(self._poll_interval)
            self.publish(connections())
