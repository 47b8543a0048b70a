"""Graceful shutdown: stop accepting, finish what was received, bounded by the drain timeout."""

from __future__ import annotations

import asyncio

import pytest

from kmip_server.transport import CloseReason, CountingMetrics
from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport import fakes
from tests.unit.transport.fakes import (
    GatedHandler,
    Runner,
    closed_by_server,
    connect,
    eventually,
    exchange,
    read_message,
    request_message,
    response_text,
    running_server,
)

# Fixtures, under their own names: the test PKI (session) and the loop runner (asyncio, uvloop).
test_pki = tls_support.test_pki
run = fakes.run


def test_shutdown_drains_an_in_flight_slow_request(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = GatedHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            port = server.port
            idle_reader, _idle_writer = await connect(port, test_pki.client_context("tenant"))
            reader, writer = await connect(port, test_pki.client_context("tenant"))
            writer.write(request_message("first") + request_message("second"))  # pipelined
            await asyncio.wait_for(handler.started.wait(), 10)

            stopping = asyncio.create_task(server.shutdown(drain_timeout=30))
            # The idle connection goes at once; nobody new gets in.
            assert await closed_by_server(idle_reader)
            await eventually(lambda: metrics.closed[CloseReason.SHUTDOWN] == 1)
            with pytest.raises(OSError):
                await connect(port, test_pki.client_context("tenant"), timeout=5)
            assert not stopping.done()

            handler.release.set()
            assert response_text(await read_message(reader)) == "first"
            assert response_text(await read_message(reader)) == "second"
            assert await closed_by_server(reader)
            await asyncio.wait_for(stopping, 10)

    run(scenario())
    assert handler.answered == 2
    assert handler.cancelled == 0
    assert metrics.closed == {CloseReason.SHUTDOWN: 2}


def test_drain_timeout_bounds_a_stuck_request(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = GatedHandler()  # never released
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message("stuck"))
            await asyncio.wait_for(handler.started.wait(), 10)
            await asyncio.wait_for(server.shutdown(drain_timeout=0.3), 10)
            assert await closed_by_server(reader)
            assert server.connection_count == 0

    run(scenario())
    assert handler.cancelled == 1
    assert handler.answered == 0
    assert metrics.closed == {CloseReason.SHUTDOWN: 1}


def test_shutdown_with_no_connections_and_twice(test_pki: TestPKI, run: Runner[None]) -> None:
    async def scenario() -> None:
        async with running_server(GatedHandler(), test_pki) as server:
            _reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.close()
            await server.shutdown()
            await server.shutdown()

    run(scenario())


def test_request_answered_before_shutdown_is_not_lost(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = GatedHandler()
    handler.release.set()

    async def scenario() -> None:
        async with running_server(handler, test_pki) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            assert response_text(await exchange(reader, writer, request_message("done"))) == "done"
            await server.shutdown()
            assert await closed_by_server(reader)

    run(scenario())
