"""Serving behaviour over real TLS sockets: order, pipelining bounds, concurrency, timeouts,
backpressure, and how each way of ending a connection is reported."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import pytest

from kmip_server.identity import Identity
from kmip_server.transport import CloseReason, CountingMetrics
from tests.support.tls import TestPKI
from tests.unit.transport.fakes import (
    ClosingHandler,
    EchoHandler,
    GatedHandler,
    Runner,
    close_writer,
    closed_by_server,
    connect,
    eventually,
    exchange,
    fast_settings,
    read_message,
    request_message,
    response_message,
    response_text,
    running_server,
)


def test_many_requests_on_one_connection(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            for n in range(200):
                assert response_text(await exchange(reader, writer, request_message(f"r{n}"))) == f"r{n}"
            await close_writer(writer)
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert handler.calls == 200
    assert metrics.closed == {CloseReason.PEER_CLOSED: 1}


@dataclass
class ShuffledDelayHandler:
    """Later requests finish sooner: responses must still go back in request order."""

    active: int = 0
    max_active: int = 0
    seen: list[str] = field(default_factory=list)

    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        text = response_text(message)
        self.seen.append(text)
        await asyncio.sleep((20 - int(text)) / 2000)
        self.active -= 1
        return response_message(text)


def test_pipelined_requests_are_answered_in_order_one_at_a_time(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = ShuffledDelayHandler()

    async def scenario() -> None:
        async with running_server(handler, test_pki) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(b"".join(request_message(str(n)) for n in range(20)))
            answers = [response_text(await read_message(reader)) for _ in range(20)]
            assert answers == [str(n) for n in range(20)]
            await close_writer(writer)

    run(scenario())
    assert handler.seen == [str(n) for n in range(20)]
    assert handler.max_active == 1  # one connection: sequential semantics


def test_read_ahead_is_bounded_by_max_in_flight(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = GatedHandler()

    async def scenario() -> None:
        settings = fast_settings(max_in_flight=3)
        async with running_server(handler, test_pki, settings=settings) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(b"".join(request_message(str(n)) for n in range(50)))
            await asyncio.wait_for(handler.started.wait(), 10)
            (connection,) = server.connections()
            await eventually(lambda: connection.reading_paused)
            assert connection.queued_requests == 3  # one in the handler, three read ahead
            handler.release.set()
            answers = [response_text(await read_message(reader)) for _ in range(50)]
            assert answers == [str(n) for n in range(50)]
            assert not connection.reading_paused
            await close_writer(writer)

    run(scenario())


def test_read_ahead_is_bounded_by_queued_bytes(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = GatedHandler()
    big = request_message("x" * 4000)

    async def scenario() -> None:
        settings = fast_settings(max_in_flight=1000, max_queued_bytes=3 * len(big))
        async with running_server(handler, test_pki, settings=settings) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(big * 40)
            await asyncio.wait_for(handler.started.wait(), 10)
            (connection,) = server.connections()
            await eventually(lambda: connection.reading_paused)
            assert connection.queued_requests == 3
            handler.release.set()
            for _ in range(40):
                await read_message(reader)
            await close_writer(writer)

    run(scenario())


def test_connections_are_served_concurrently(test_pki: TestPKI, run: Runner[None]) -> None:
    """Eight requests that each wait for all eight to arrive: only a server without a global lock
    (one in-flight request per connection, all connections at once) can answer them."""
    parties = 8

    class BarrierHandler:
        def __init__(self) -> None:
            self.barrier = asyncio.Barrier(parties)

        async def handle(self, message: bytes, peer: Identity) -> bytes | None:
            async with asyncio.timeout(10):
                await self.barrier.wait()
            return response_message(response_text(message))

    async def scenario() -> None:
        handler = BarrierHandler()
        async with running_server(handler, test_pki) as server:
            streams = [await connect(server.port, test_pki.client_context("tenant")) for _ in range(parties)]
            answers = await asyncio.gather(
                *(
                    exchange(reader, writer, request_message(str(n)))
                    for n, (reader, writer) in enumerate(streams)
                )
            )
            assert [response_text(a) for a in answers] == [str(n) for n in range(parties)]
            for _, writer in streams:
                await close_writer(writer)

    run(scenario())


def test_handler_returning_none_closes_the_connection(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(ClosingHandler(), test_pki, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message())
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert metrics.closed == {CloseReason.HANDLER_CLOSED: 1}


def test_handler_timeout_closes_the_connection(
    test_pki: TestPKI, run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    handler = GatedHandler()  # never released
    metrics = CountingMetrics()

    async def scenario() -> None:
        settings = fast_settings(request_timeout=0.3)
        async with running_server(handler, test_pki, settings=settings, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message())
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert metrics.closed == {CloseReason.HANDLER_TIMEOUT: 1}
    assert handler.cancelled == 1
    assert "correlation_id=" in caplog.text


def test_idle_connection_is_closed(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()

    async def scenario() -> None:
        settings = fast_settings(idle_timeout=0.3)
        async with running_server(EchoHandler(), test_pki, settings=settings, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            await exchange(reader, writer, request_message())  # activity, then nothing
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert metrics.closed == {CloseReason.IDLE_TIMEOUT: 1}


def test_busy_connection_is_not_idle(test_pki: TestPKI, run: Runner[None]) -> None:
    """A request that takes longer than the idle timeout is not cut off as idle."""
    handler = GatedHandler()

    async def scenario() -> None:
        settings = fast_settings(idle_timeout=0.2, request_timeout=30)
        async with running_server(handler, test_pki, settings=settings) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message("slow"))
            await asyncio.wait_for(handler.started.wait(), 10)
            await asyncio.sleep(0.6)  # three idle timeouts pass while the handler works
            handler.release.set()
            assert response_text(await read_message(reader)) == "slow"
            await close_writer(writer)

    run(scenario())


def test_client_that_does_not_read_is_dropped_at_the_write_timeout(
    test_pki: TestPKI, run: Runner[None]
) -> None:
    metrics = CountingMetrics()
    payload = os.urandom(1 << 20)

    class BigResponses:
        async def handle(self, message: bytes, peer: Identity) -> bytes | None:
            return response_message(payload.hex())

    async def scenario() -> None:
        settings = fast_settings(write_timeout=0.3, write_buffer_high_water=64 * 1024)
        async with running_server(BigResponses(), test_pki, settings=settings, metrics=metrics) as server:
            _, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message() * 32)  # 64 MiB of answers that will never be read
            await eventually(lambda: metrics.closed.total() == 1, timeout=30)
            writer.transport.abort()

    run(scenario())
    assert metrics.closed == {CloseReason.WRITE_TIMEOUT: 1}


def test_peer_close_between_messages(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            await exchange(reader, writer, request_message())
            writer.transport.abort()  # no close_notify: a reset, as a crashed client would
            await eventually(lambda: metrics.closed.total() == 1)
            await eventually(lambda: server.connection_count == 0)

    run(scenario())
    assert set(metrics.closed) <= {CloseReason.PEER_CLOSED, CloseReason.CONNECTION_LOST}


def test_handler_that_swallows_the_timeout_is_still_timed_out(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()
    swallowed = 0

    class Stubborn:
        async def handle(self, message: bytes, peer: Identity) -> bytes | None:
            nonlocal swallowed
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                swallowed += 1  # a badly behaved engine: answers anyway
            return response_message("late")

    async def scenario() -> None:
        settings = fast_settings(request_timeout=0.3)
        async with running_server(Stubborn(), test_pki, settings=settings, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message())
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert swallowed == 1
    assert metrics.closed == {CloseReason.HANDLER_TIMEOUT: 1}
