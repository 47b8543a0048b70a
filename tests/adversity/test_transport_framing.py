"""Hostile and broken byte streams: each costs only its own connection, never the server."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from kmip_server.transport import CloseReason, CountingMetrics, HandshakeFailure, TransportServer
from tests.support import tls as tls_support
from tests.support.tls import TestPKI
from tests.unit.transport import fakes
from tests.unit.transport.fakes import (
    EchoHandler,
    RaisingHandler,
    Runner,
    close_writer,
    closed_by_server,
    connect,
    eventually,
    exchange,
    fast_settings,
    request_message,
    response_text,
    running_server,
)
from ttlv.kmip14 import Tag

# Fixtures, under their own names: the test PKI (session) and the loop runner (asyncio, uvloop).
test_pki = tls_support.test_pki
run = fakes.run


async def still_serving(server: TransportServer, pki: TestPKI) -> None:
    reader, writer = await connect(server.port, pki.client_context("tenant"))
    assert response_text(await exchange(reader, writer, request_message("still here"))) == "still here"
    await close_writer(writer)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x00" * 64,
        os.urandom(4096),
        # A Text String where a top-level Structure must be.
        Tag.REQUEST_MESSAGE.to_bytes(3, "big") + b"\x07\x00\x00\x00\x04test\x00\x00\x00\x00",
        # A Structure whose length is not a multiple of 8.
        Tag.REQUEST_MESSAGE.to_bytes(3, "big") + b"\x01\x00\x00\x00\x05" + b"\x00" * 8,
    ],
)
def test_garbage_closes_the_connection_and_the_server_keeps_serving(
    test_pki: TestPKI, run: Runner[None], garbage: bytes
) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            bystander = await connect(server.port, test_pki.client_context("tenant"))
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(garbage)
            assert await closed_by_server(reader)
            writer.close()
            assert response_text(await exchange(*bystander, request_message("b"))) == "b"
            await still_serving(server, test_pki)
            await close_writer(bystander[1])
            await eventually(lambda: metrics.closed.total() == 3)

    run(scenario())
    assert handler.calls == 2  # the bystander and the fresh client; never the garbage
    assert metrics.closed[CloseReason.MALFORMED_FRAMING] == 1


def test_length_of_two_to_the_31_is_refused_at_the_header(test_pki: TestPKI, run: Runner[None]) -> None:
    """The header alone is judged: the server closes after 8 bytes, without waiting for (or
    reserving room for) the 2 GiB the header announces."""
    metrics = CountingMetrics()
    header = Tag.REQUEST_MESSAGE.to_bytes(3, "big") + b"\x01" + (1 << 31).to_bytes(4, "big")

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(header)  # and nothing more
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)
            await still_serving(server, test_pki)

    run(scenario())
    assert metrics.closed[CloseReason.MALFORMED_FRAMING] == 1


def test_message_one_block_over_the_size_limit_is_refused(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()
    settings = fast_settings()
    length = settings.limits.max_message_size - 8 + 8  # one 8-byte block too many
    header = Tag.REQUEST_MESSAGE.to_bytes(3, "big") + b"\x01" + length.to_bytes(4, "big")

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, settings=settings, metrics=metrics) as server:
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(header)
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.closed.total() == 1)

    run(scenario())
    assert metrics.closed == {CloseReason.MALFORMED_FRAMING: 1}


def test_truncated_message_then_eof_is_closed_cleanly(test_pki: TestPKI, run: Runner[None]) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()
    message = request_message("cut short")

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            _reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(message[: len(message) // 2])
            await writer.drain()
            await close_writer(writer)  # TLS close_notify, then FIN
            await eventually(lambda: metrics.closed.total() == 1)
            await eventually(lambda: server.connection_count == 0)
            await still_serving(server, test_pki)

    run(scenario())
    assert metrics.closed[CloseReason.TRUNCATED] == 1
    assert handler.calls == 1  # only the later client


def test_plain_tcp_garbage_fails_the_handshake_only(test_pki: TestPKI, run: Runner[None]) -> None:
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, metrics=metrics) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01\x00\x05hello, not TLS at all" * 10)
            assert await closed_by_server(reader)
            writer.close()
            await eventually(lambda: metrics.handshake_failures.total() == 1)
            await still_serving(server, test_pki)

    run(scenario())
    assert metrics.handshake_failures == {HandshakeFailure.PROTOCOL: 1}


def test_handler_exception_closes_only_that_connection(
    test_pki: TestPKI, run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    metrics = CountingMetrics()
    marker = "explode-7f3a-SECRET-PAYLOAD"

    async def scenario() -> None:
        async with running_server(RaisingHandler(), test_pki, metrics=metrics) as server:
            other = await connect(server.port, test_pki.client_context("tenant"))
            assert response_text(await exchange(*other, request_message("before"))) == "before"
            reader, writer = await connect(server.port, test_pki.client_context("tenant"))
            writer.write(request_message(marker))
            assert await closed_by_server(reader)
            writer.close()
            assert response_text(await exchange(*other, request_message("after"))) == "after"
            await close_writer(other[1])
            await eventually(lambda: metrics.closed.total() == 2)

    run(scenario())
    assert metrics.closed[CloseReason.HANDLER_ERROR] == 1
    failures = [r for r in caplog.records if "handler raised" in r.getMessage()]
    assert len(failures) == 1
    text = failures[0].getMessage()
    assert "RuntimeError" in text
    assert "correlation_id=" in text
    assert len(text.split("correlation_id=")[1].split("]")[0]) == 32
    # No payload bytes anywhere in the log: neither the text nor its hex.
    full_log = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert marker not in full_log
    assert marker.encode().hex() not in full_log
    assert request_message(marker).hex() not in full_log
