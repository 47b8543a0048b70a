"""Connection balancing between workers sharing one socket: the rule, on plain lists of counts
and heartbeats, with a clock the test sets; and when a started server first counts in."""

from __future__ import annotations

import asyncio

import pytest

from kmip_server.transport.balance import DEAD, ConnectionBalancer
from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport.fakes import EchoHandler, running_server

test_pki = tls_support.test_pki  # the session fixture, under its own name

NOW = 100.0
STALE_AFTER = 2.0


def balancer(counts: list[int], index: int, beats: list[float] | None = None) -> ConnectionBalancer:
    fresh = [NOW] * len(counts) if beats is None else beats
    return ConnectionBalancer(counts, fresh, index, stale_after=STALE_AFTER, clock=lambda: NOW)


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
    assert balancer(counts, index).may_accept() is expected


def test_a_sibling_whose_count_went_stale_is_not_waited_for() -> None:
    # Worker 1 has fewer connections but has not written its count for longer than stale_after:
    # its event loop is stuck or stopped, and it would never take the connection.
    assert balancer([3, 0], 0, beats=[NOW, NOW - STALE_AFTER - 0.1]).may_accept() is True
    assert balancer([3, 0], 0, beats=[NOW, NOW - STALE_AFTER + 0.1]).may_accept() is False


def test_publish_writes_only_its_own_slot_and_its_heartbeat() -> None:
    counts, beats = [DEAD, DEAD], [0.0, 0.0]
    ConnectionBalancer(counts, beats, 1, stale_after=STALE_AFTER, clock=lambda: NOW).publish(3)
    assert (counts, beats) == ([DEAD, 3], [0.0, NOW])


def test_index_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="outside"):
        ConnectionBalancer([0, 0], [0.0, 0.0], 2, stale_after=1.0)
    with pytest.raises(ValueError, match="outside"):
        ConnectionBalancer([0, 0], [0.0], 0, stale_after=1.0)
    with pytest.raises(ValueError, match="positive"):
        ConnectionBalancer([0, 0], [0.0, 0.0], 0, stale_after=0.0)


def test_wait_turn_returns_once_a_sibling_is_as_busy() -> None:
    counts = [2, 1]
    waiting_balancer = ConnectionBalancer(
        counts, [NOW, NOW], 0, stale_after=STALE_AFTER, poll_interval=0.001, clock=lambda: NOW
    )

    async def scenario() -> int:
        waiting = asyncio.ensure_future(waiting_balancer.wait_turn(2))
        await asyncio.sleep(0.02)
        assert not waiting.done()  # 2 > 1: paused, its count published
        counts[1] = 2
        await asyncio.wait_for(waiting, timeout=1.0)
        return counts[0]

    assert asyncio.run(scenario()) == 2


def test_a_started_worker_counts_in_before_it_reports_ready(test_pki: TestPKI) -> None:
    # Its slot is DEAD until it publishes; were that left to the accept loop's first turn, a
    # sibling that started earlier would take every connection arriving in between.
    counts, beats = [DEAD, 0], [0.0, NOW]
    own = ConnectionBalancer(counts, beats, 0, stale_after=STALE_AFTER, clock=lambda: NOW)

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, balancer=own):
            assert (counts[0], beats[0]) == (0, NOW)  # started; the loop ran none of its tasks yet

    asyncio.run(scenario())
