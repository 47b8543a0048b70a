"""Connection balancing between workers sharing one socket: the rule, on a plain list of counts."""

from __future__ import annotations

import asyncio

import pytest

from kmip_server.transport.balance import DEAD, ConnectionBalancer


@pytest.mark.parametrize(
    ("counts", "index", "expected"),
    [
        ([0, 0], 0, True),  # equal: both accept
        ([1, 0], 0, False),  # one more than the least busy: leave it to that one
        ([1, 0], 1, True),
        ([3, 3, 2], 0, False),
        ([2, 3, 2], 2, True),
        ([5, DEAD], 0, True),  # a dead sibling is not waited for
        ([DEAD, DEAD, 7], 2, True),
        ([4], 0, True),  # alone
    ],
)
def test_a_worker_accepts_while_no_busier_than_the_least_busy_live_sibling(
    counts: list[int], index: int, expected: bool
) -> None:
    assert ConnectionBalancer(counts, index).may_accept() is expected


def test_publish_writes_only_its_own_slot() -> None:
    counts = [DEAD, DEAD]
    ConnectionBalancer(counts, 1).publish(3)
    assert counts == [DEAD, 3]


def test_index_outside_the_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        ConnectionBalancer([0, 0], 2)


def test_wait_turn_returns_once_a_sibling_is_as_busy() -> None:
    counts = [2, 1]
    balancer = ConnectionBalancer(counts, 0, poll_interval=0.001)

    async def scenario() -> int:
        waiting = asyncio.ensure_future(balancer.wait_turn(lambda: 2))
        await asyncio.sleep(0.02)
        assert not waiting.done()  # 2 > 1: paused, and its count published meanwhile
        counts[1] = 2
        await asyncio.wait_for(waiting, timeout=1.0)
        return counts[0]

    assert asyncio.run(scenario()) == 2
