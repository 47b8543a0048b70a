"""Connection limits: beyond max_connections a connection is closed at once, and counted."""

from __future__ import annotations

import ssl

from kmip_server.transport import CountingMetrics
from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport import fakes
from tests.unit.transport.fakes import (
    EchoHandler,
    Runner,
    close_writer,
    closed_by_server,
    connect,
    eventually,
    exchange,
    fast_settings,
    request_message,
    running_server,
)

# Fixtures, under their own names: the test PKI (session) and the loop runner (asyncio, uvloop).
test_pki = tls_support.test_pki
run = fakes.run


def test_connections_beyond_the_limit_are_refused(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        settings = fast_settings(max_connections=3)
        async with running_server(handler, test_pki, settings=settings, metrics=metrics) as server:
            held = [await connect(server.port, test_pki.client_context("tenant")) for _ in range(3)]
            for reader, writer in held:
                await exchange(reader, writer, request_message())

            for attempt in range(1, 3):
                try:
                    reader, writer = await connect(server.port, test_pki.client_context("tenant"))
                except (ssl.SSLError, ConnectionError):
                    pass  # closed before or during the client's handshake
                else:
                    writer.write(request_message())
                    assert await closed_by_server(reader)
                    writer.close()
                assert metrics.refused == attempt
            assert handler.calls == 3

            # The held connections are untouched, and a freed slot is usable again.
            for reader, writer in held:
                await exchange(reader, writer, request_message())
            await close_writer(held.pop()[1])
            await eventually(lambda: server.connection_count == 2)
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            await exchange(reader, writer, request_message())
            held.append((reader, writer))
            for _, writer in held:
                await close_writer(writer)

    run(scenario())
    assert metrics.refused == 2
    assert metrics.opened == 4
