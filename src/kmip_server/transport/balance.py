"""Connection balancing between worker processes that share one listening socket.

KMIP clients hold their connections for long, so how connections land on workers decides how the
load lands on them. SO_REUSEPORT spreads connections by a hash of their addresses: with 8
connections on 2 workers, only about a quarter of the time do they split 4/4, and a 6/2 split
makes one worker serve three times the other's load while the other idles part of the time.

Here every worker accepts from the same socket, but only while it holds no more connections than
the least busy of its live siblings; the others leave new connections in the shared backlog for
it. The counts live in a shared array of ints, one per worker slot, which each worker writes for
itself and the supervisor marks ``DEAD`` while a slot has no running worker; beside each count,
the time (``time.monotonic``, one clock for every process of the machine) it was last written.
A worker writes its count whenever it changes and at every reaper tick, so a count older than
``stale_after`` belongs to a worker whose event loop is stuck (or stopped): it is ignored too,
and a wedged worker cannot keep the others from accepting.

Invariants:
- The least busy live worker always accepts, so no connection waits in the backlog for a paused
  worker (longer than ``stale_after``, if the least busy one stopped serving); a paused worker
  looks again every ``poll_interval`` seconds.
- Counts are advisory: two workers that race for one connection leave the split one off at worst,
  and the next acceptances even it out. Nothing here is needed for correctness, only for balance.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, MutableSequence

__all__ = ["DEAD", "ConnectionBalancer"]

DEAD = -1
"""The count of a slot whose worker is not running (dead, or restarting): ignored."""


class ConnectionBalancer:
    """One worker's view of the shared counts: it publishes its own and reads the others'."""

    __slots__ = ("_beats", "_clock", "_counts", "_index", "_poll_interval", "_stale_after")

    def __init__(
        self,
        counts: MutableSequence[int],
        beats: MutableSequence[float],
        index: int,
        *,
        stale_after: float,
        poll_interval: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(beats) != len(counts) or not 0 <= index < len(counts):
            raise ValueError("worker index outside the shared counts")
        if stale_after <= 0 or poll_interval <= 0:
            raise ValueError("stale_after and poll_interval must be positive")
        self._counts = counts
        self._beats = beats
        self._index = index
        self._stale_after = stale_after
        self._poll_interval = poll_interval
        self._clock = clock

    def publish(self, connections: int) -> None:
        """This worker's count, as of now (also its heartbeat: the reaper calls it every tick)."""
        self._beats[self._index] = self._clock()
        self._counts[self._index] = connections

    def may_accept(self) -> bool:
        """True while this worker holds no more connections than the least busy live sibling."""
        own = self._counts[self._index]
        fresh_since = self._clock() - self._stale_after
        others = [
            count
            for index, count in enumerate(self._counts)
            if index != self._index and count >= 0 and self._beats[index] >= fresh_since
        ]
        return not others or own <= min(others)

    async def wait_turn(self, connections: int) -> None:
        """Publish ``connections``, this worker's count, and return once it may accept. While it
        waits, its own count changes only as connections end, which publishes it (as the reaper
        does every tick, which keeps it fresh)."""
        self.publish(connections)
        while not self.may_accept():
            await asyncio.sleep(self._poll_interval)
