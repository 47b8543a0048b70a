"""``kmip_server.client`` against a small real TLS server (mutual TLS, the test PKI): a round trip
as bytes, Items and model messages, the sync wrapper, and each failure (timeout, a peer that
closes mid-response, an oversized response, a bad certificate) raising its own error and
poisoning the connection."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

from kmip_server.client import (
    ClientClosed,
    ClientError,
    ClientProtocolError,
    ClientSettings,
    ClientTimeout,
    KmipClient,
    SyncKmipClient,
    client_context,
)
from kmip_server.model.messages import ResponseMessage, decode_request, encode_response
from kmip_server.transport.tls import build_server_context
from tests.support.tls import TestPKI, make_test_pki, test_pki  # noqa: F401
from ttlv import Framer, Item, ItemType, decode, encode
from ttlv.kmip14 import Operation, ResultStatus, Tag

pytestmark = pytest.mark.integration

Behaviour = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


def _query_request() -> Item:
    def structure(tag: int, *children: Item) -> Item:
        return Item(tag, ItemType.STRUCTURE, children)

    return structure(
        Tag.REQUEST_MESSAGE,
        structure(
            Tag.REQUEST_HEADER,
            structure(
                Tag.PROTOCOL_VERSION,
                Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, 1),
                Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, 4),
            ),
            Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1),
        ),
        structure(
            Tag.BATCH_ITEM,
            Item(Tag.OPERATION, ItemType.ENUMERATION, Operation.DISCOVER_VERSIONS),
            structure(Tag.REQUEST_PAYLOAD),
        ),
    )


def _answer(request: bytes) -> bytes:
    """A Discover Versions response to ``request`` (which must be a valid request message)."""
    decoded = decode_request(decode(request))
    item = Item(
        Tag.RESPONSE_MESSAGE,
        ItemType.STRUCTURE,
        (
            Item(
                Tag.RESPONSE_HEADER,
                ItemType.STRUCTURE,
                (
                    Item(
                        Tag.PROTOCOL_VERSION,
                        ItemType.STRUCTURE,
                        (
                            Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, 1),
                            Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, 4),
                        ),
                    ),
                    Item(Tag.TIME_STAMP, ItemType.DATE_TIME, 1_700_000_000),
                    Item(Tag.BATCH_COUNT, ItemType.INTEGER, len(decoded.batch_items)),
                ),
            ),
            Item(
                Tag.BATCH_ITEM,
                ItemType.STRUCTURE,
                (
                    Item(Tag.OPERATION, ItemType.ENUMERATION, Operation.DISCOVER_VERSIONS),
                    Item(Tag.RESULT_STATUS, ItemType.ENUMERATION, ResultStatus.SUCCESS),
                    Item(Tag.RESPONSE_PAYLOAD, ItemType.STRUCTURE, ()),
                ),
            ),
        ),
    )
    return encode(item)


async def _answer_each(request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(request))
    await writer.drain()


async def _never_answer(request: bytes, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def _close_half_way(request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(request)[:20])
    await writer.drain()
    writer.close()


async def _huge_header(request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(bytes.fromhex("42007b01") + (1 << 30).to_bytes(4, "big"))
    await writer.drain()


@asynccontextmanager
async def _server(pki: TestPKI, behaviour: Behaviour) -> AsyncIterator[int]:
    """A mutual-TLS server on a free port that reads whole messages and applies ``behaviour``."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        try:
            while chunk := await reader.read(65536):
                framer.feed(chunk)
                for message in framer:
                    await behaviour(message, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(serve(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0, ssl=build_server_context(pki.tls_settings))
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def _context(pki: TestPKI, name: str = "tenant") -> ssl.SSLContext:
    files = pki.client(name)
    return client_context(pki.ca_file, files.certificate, files.key)


def test_round_trip_as_bytes_items_and_model(test_pki: TestPKI) -> None:  # noqa: F811
    async def scenario() -> None:
        async with (
            _server(test_pki, _answer_each) as port,
            await KmipClient.connect("127.0.0.1", port, _context(test_pki)) as client,
        ):
            request = _query_request()
            raw = await client.send_bytes(encode(request))
            assert decode(raw).tag == Tag.RESPONSE_MESSAGE
            item = await client.send_item(request)
            assert item.find(Tag.RESPONSE_HEADER) is not None
            message = await client.send(decode_request(request))
            assert isinstance(message, ResponseMessage)
            assert encode(encode_response(message)) == raw
            # Concurrent callers share the connection one round trip at a time.
            answers = await asyncio.gather(*(client.send_item(request) for _ in range(5)))
            assert all(answer == item for answer in answers)
        assert client.closed

    asyncio.run(scenario())


def test_a_response_that_never_comes_times_out_and_closes_the_connection(test_pki: TestPKI) -> None:  # noqa: F811
    async def scenario() -> None:
        settings = ClientSettings(request_timeout=0.3)
        async with _server(test_pki, _never_answer) as port:
            client = await KmipClient.connect("127.0.0.1", port, _context(test_pki), settings=settings)
            with pytest.raises(ClientTimeout):
                await client.send_item(_query_request())
            assert client.closed
            with pytest.raises(ClientClosed):
                await client.send_item(_query_request())

    asyncio.run(scenario())


def test_a_peer_closing_mid_response_is_reported(test_pki: TestPKI) -> None:  # noqa: F811
    async def scenario() -> None:
        async with _server(test_pki, _close_half_way) as port:
            client = await KmipClient.connect("127.0.0.1", port, _context(test_pki))
            with pytest.raises(ClientError) as caught:
                await client.send_item(_query_request())
            assert isinstance(caught.value, (ClientProtocolError, ClientClosed))
            assert client.closed

    asyncio.run(scenario())


def test_an_oversized_response_is_refused_from_its_header(test_pki: TestPKI) -> None:  # noqa: F811
    async def scenario() -> None:
        async with _server(test_pki, _huge_header) as port:
            client = await KmipClient.connect("127.0.0.1", port, _context(test_pki))
            with pytest.raises(ClientProtocolError, match="exceeds"):
                await client.send_item(_query_request())
            assert client.closed

    asyncio.run(scenario())


def test_a_server_the_ca_does_not_vouch_for_is_refused(
    test_pki: TestPKI,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    other = make_test_pki(tmp_path_factory.mktemp("other-pki"))

    async def scenario() -> None:
        async with _server(test_pki, _answer_each) as port:
            files = test_pki.client("tenant")
            wrong_trust = client_context(other.ca_file, files.certificate, files.key)
            with pytest.raises(ClientError, match="TLS handshake"):
                await KmipClient.connect("127.0.0.1", port, wrong_trust)

    asyncio.run(scenario())


def test_nothing_listening_is_a_client_error() -> None:
    async def scenario(port: int) -> None:
        context = ssl.create_default_context()
        with pytest.raises(ClientError, match="cannot connect"):
            await KmipClient.connect("127.0.0.1", port, context, settings=ClientSettings(connect_timeout=2))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        asyncio.run(scenario(port))


@contextmanager
def _server_in_thread(pki: TestPKI, behaviour: Behaviour) -> Iterator[int]:
    """The test server on its own loop in a thread (for the synchronous client)."""
    loop = asyncio.new_event_loop()
    ports: list[int] = []
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        async with _server(pki, behaviour) as port:
            ports.append(port)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert started.wait(10), "test server did not start"
        yield ports[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_the_sync_client(test_pki: TestPKI) -> None:  # noqa: F811
    with (
        _server_in_thread(test_pki, _answer_each) as port,
        SyncKmipClient("127.0.0.1", port, _context(test_pki)) as client,
    ):
        request = _query_request()
        assert client.send_item(request).tag == Tag.RESPONSE_MESSAGE
        assert isinstance(client.send(decode_request(request)), ResponseMessage)
        assert decode(client.send_bytes(encode(request))).tag == Tag.RESPONSE_MESSAGE
    assert client.closed


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="request_timeout"):
        ClientSettings(request_timeout=0)
    with pytest.raises(ValueError, match="read_size"):
        ClientSettings(read_size=4)
