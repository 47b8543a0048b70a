"""Slow clients: a message dribbled byte by byte, or a handshake that never finishes, is dropped
at its deadline while everyone else is served."""

from __future__ import annotations

import asyncio

from kmip_server.transport import CloseReason, CountingMetrics, HandshakeFailure
from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport import fakes
from tests.unit.transport.fakes import (
    EchoHandler,
    Runner,
    close_writer,
    connect,
    eventually,
    exchange,
    fast_settings,
    request_message,
    response_text,
    running_server,
)

# Fixtures, under their own names: the test PKI (session) and the loop runner (asyncio, uvloop).
test_pki = tls_support.test_pki
run = fakes.run


def test_one_byte_at_a_time_is_dropped_at_the_read_timeout(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()
    message = request_message("slow loris")  # 48 bytes: 24 s at this pace
    sent = 0
    served_meanwhile = 0

    async def dribble(port: int) -> None:
        nonlocal sent
        _, writer = await connect(port, test_pki.client_context("tenant"))
        try:
            for byte in message:
                writer.write(bytes([byte]))  # one TLS record per byte
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.5)
        except (ConnectionError, OSError):
            pass  # dropped by the server
        finally:
            writer.transport.abort()

    async def scenario() -> None:
        nonlocal served_meanwhile
        settings = fast_settings(message_read_timeout=1.5, idle_timeout=60)
        async with running_server(handler, test_pki, settings=settings, metrics=metrics) as server:
            loris = asyncio.create_task(dribble(server.port))
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            async with asyncio.timeout(30):  # the whole message would take 24 s to dribble in
                while metrics.closed[CloseReason.READ_TIMEOUT] == 0 and not loris.done():
                    assert response_text(await exchange(reader, writer, request_message("ok"))) == "ok"
                    served_meanwhile += 1
                    await asyncio.sleep(0.05)
            await close_writer(writer)
            loris.cancel()
            await asyncio.wait([loris])

    run(scenario())
    assert metrics.closed[CloseReason.READ_TIMEOUT] == 1
    assert sent < len(message)  # dropped before the message could complete
    assert served_meanwhile > 0
    assert handler.calls == served_meanwhile  # the slow message never reached the handler


def test_slow_handshake_is_dropped_at_the_handshake_timeout(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()

    async def scenario() -> None:
        settings = fast_settings(tls_handshake_timeout=0.5)
        async with running_server(EchoHandler(), test_pki, settings=settings, metrics=metrics) as server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
            await eventually(lambda: metrics.handshake_failures.total() == 1)
            writer.close()
            reader2, writer2 = await connect(server.port, test_pki.client_context("tenant"))
            await exchange(reader2, writer2, request_message())
            await close_writer(writer2)

    run(scenario())
    assert metrics.handshake_failures == {HandshakeFailure.TIMEOUT: 1}
