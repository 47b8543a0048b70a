"""A thousand idle TLS connections held open: the server still serves, and its memory stays
bounded. The server runs in its own process so that its resident memory can be measured."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport.fakes import (
    ServerProcess,
    close_writer,
    connect,
    exchange,
    request_message,
    response_text,
    rss_kib,
)

IDLE_CONNECTIONS = 1000
MEMORY_BOUND_KIB = 100 * 1024

test_pki = tls_support.test_pki  # the session fixture, under its own name


@pytest.mark.slow
def test_thousand_idle_tls_connections(test_pki: TestPKI) -> None:
    with ServerProcess(test_pki, handler="echo", max_connections=IDLE_CONNECTIONS + 10) as server:

        async def scenario() -> tuple[int, int]:
            context = test_pki.client_context("tenant")
            # Warm up: imports, the TLS context and the handler are loaded before the baseline.
            reader, writer = await connect(server.port, context)
            await exchange(reader, writer, request_message("warm"))
            await close_writer(writer)
            before = rss_kib(server.pids[0])

            streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            try:
                for start in range(0, IDLE_CONNECTIONS, 50):
                    batch = await asyncio.gather(
                        *(connect(server.port, context) for _ in range(start, start + 50))
                    )
                    # Each connection carries one request, then stays open and idle.
                    await asyncio.gather(*(exchange(r, w, request_message("x")) for r, w in batch))
                    streams.extend(batch)
                assert len(streams) == IDLE_CONNECTIONS

                fresh_reader, fresh_writer = await connect(server.port, context)
                answer = await exchange(fresh_reader, fresh_writer, request_message("fresh"))
                assert response_text(answer) == "fresh"
                await close_writer(fresh_writer)
                after = rss_kib(server.pids[0])
            finally:
                for _, w in streams:
                    w.transport.abort()
            return before, after

        # uvloop on the client side too: the stdlib loop keeps 256 KiB per TLS connection.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            before, after = runner.run(scenario())
        grown = after - before
        print(
            f"\nserver RSS with {IDLE_CONNECTIONS} idle TLS connections: {before} KiB -> {after} KiB "
            f"(+{grown / 1024:.1f} MiB, {grown / IDLE_CONNECTIONS:.1f} KiB per connection)"
        )
        assert after - before < MEMORY_BOUND_KIB
        assert server.stop() == 0
