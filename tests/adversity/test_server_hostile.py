"""Hostile clients against the whole Core (``openkcm dev`` as a subprocess), not the transport alone
(``test_transport_*`` cover that layer with a fake handler).

Each case: the server answers the hostile connection with a clear KMIP error or closes it (and
says why in its log), and a well-behaved PyKMIP client is served correctly right after, and during
where the hostile client stays connected. The Core runs with a short message read timeout
(``OPENKCM_SERVER__MESSAGE_READ_TIMEOUT``) so that the slow client is cut within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from kmip.core import enums

from tests.support.server import (
    BatchResult,
    ClientCertificate,
    CoreProcess,
    CoreProcesses,
    RawConnection,
    batch_item,
    issue_extra_clients,
    parse_response,
    pykmip_client,
    request_message,
)
from ttlv import Item, ItemType, encode
from ttlv.kmip14 import Operation, QueryFunction, ResultReason, ResultStatus, Tag

pytestmark = pytest.mark.integration

READ_TIMEOUT = 2  # seconds from a message's first byte to its last
IDLE_CONNECTIONS = 1000
MEMORY_BOUND_KIB = 100 * 1024
LOG_WAIT = 30.0  # seconds to wait for a log line (a deadline, not a measurement)


def _query() -> bytes:
    functions = [Item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, int(QueryFunction.QUERY_OBJECTS))]
    return request_message([batch_item(Operation.QUERY, functions)])


QUERY = _query()


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    base = tmp_path_factory.mktemp("hostile")
    with CoreProcesses() as cores:
        started = cores.start(
            base / "dev",
            label="hostile-core",
            env={"OPENKCM_SERVER__MESSAGE_READ_TIMEOUT": str(READ_TIMEOUT)},
        )
        yield started
        assert started.alive(), started.output()
        assert started.terminate() == 0, started.output()
        assert "Traceback" not in started.stderr.read_text()


@pytest.fixture(scope="module")
def extra(core: CoreProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientCertificate]:
    return issue_extra_clients(core, tmp_path_factory.mktemp("hostile-extra"))


def well_behaved(core: CoreProcess) -> None:
    """A PyKMIP client's round of Create, Get, Get Attributes, Destroy, each answered correctly."""
    with pykmip_client(core, "acme") as client:
        uid = client.create(enums.CryptographicAlgorithm.AES, 256)
        key = client.get(uid)
        assert len(key.value) == 32
        _, attributes = client.get_attributes(uid, ["State"])
        assert attributes[0].attribute_value.value is enums.State.PRE_ACTIVE
        client.destroy(uid)


def log_mentions(core: CoreProcess, text: str, since: int) -> bool:
    """Whether the Core's log, from byte ``since`` on, says ``text`` within ``LOG_WAIT``."""
    deadline = time.monotonic() + LOG_WAIT
    while time.monotonic() < deadline:
        with core.stderr.open("rb") as log:
            log.seek(since)
            if text in log.read().decode(errors="replace"):
                return True
        time.sleep(0.05)
    return False


def log_size(core: CoreProcess) -> int:
    return core.stderr.stat().st_size


def invalid_message(answer: bytes) -> BatchResult:
    (result,) = parse_response(answer)
    assert result.status is ResultStatus.OPERATION_FAILED
    assert result.reason is ResultReason.INVALID_MESSAGE, result.outcome()
    return result


def still_serves(connection: RawConnection) -> None:
    """The same connection answers a valid request after the hostile one."""
    (result,) = parse_response(connection.exchange(QUERY))
    assert result.status is ResultStatus.SUCCESS, result.outcome()


# -- bytes that are not KMIP --------------------------------------------------------------------


GARBAGE = {
    "http": b"GET / HTTP/1.1\r\nHost: kms\r\n\r\n",
    "random": random.Random(5696).randbytes(512),
    "zeros": bytes(64),
    "not-a-structure": bytes.fromhex("42007802") + (4).to_bytes(4, "big") + bytes(8),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_bytes_close_the_connection(core: CoreProcess, name: str) -> None:
    since = log_size(core)
    with RawConnection(core) as hostile:
        hostile.send(GARBAGE[name])
        assert hostile.closed_by_server()
    assert log_mentions(core, "malformed framing", since)
    well_behaved(core)


def test_garbage_inside_a_frame_is_invalid_message(core: CoreProcess) -> None:
    """A well-framed Request Message whose content is garbage is answered, and the connection lives."""
    body = random.Random(42).randbytes(64)
    with RawConnection(core) as hostile:
        result = invalid_message(
            hostile.exchange(bytes.fromhex("42007801") + len(body).to_bytes(4, "big") + body)
        )
        assert (result.message or "").startswith("message is not valid TTLV (at offset ")
        still_serves(hostile)
    well_behaved(core)


@pytest.mark.parametrize("length", [2**31, 2**32 - 1, 2**20 + 1], ids=["2^31", "2^32-1", "1MiB+1"])
def test_huge_length_header_closes_the_connection(core: CoreProcess, length: int) -> None:
    since = log_size(core)
    with RawConnection(core) as hostile:
        hostile.send(bytes.fromhex("42007801") + length.to_bytes(4, "big") + bytes(1024))
        assert hostile.closed_by_server()
    assert log_mentions(core, "MessageTooLarge", since)
    well_behaved(core)


@pytest.mark.parametrize(
    "cut", [3, 8, len(QUERY) // 2, len(QUERY) - 1], ids=["tag", "header", "half", "all-but-one"]
)
def test_truncated_message_then_close(core: CoreProcess, cut: int) -> None:
    with RawConnection(core) as hostile:
        hostile.send(QUERY[:cut])
        hostile.sock.shutdown(socket.SHUT_WR)  # and the client is gone
    with RawConnection(core) as other:
        still_serves(other)
    well_behaved(core)


def test_one_byte_per_second(core: CoreProcess) -> None:
    """A client dribbling a message is cut after the read timeout; others are served meanwhile."""
    since = log_size(core)
    sent = 0
    closed = False
    with RawConnection(core) as slow, pykmip_client(core, "globex") as other:
        uid = other.create(enums.CryptographicAlgorithm.AES, 128)
        material = other.get(uid).value
        slow.sock.settimeout(1.0)  # each wait for an answer is also the pause between bytes
        while sent < len(QUERY) and not closed:
            try:
                slow.send(QUERY[sent : sent + 1])
                sent += 1
                closed = slow.sock.recv(65536) == b""
            except TimeoutError:
                assert other.get(uid).value == material  # served while the slow client hangs on
            except (ConnectionError, ssl.SSLError, OSError):
                closed = True
    assert closed
    assert sent < len(QUERY)  # cut before it could finish (the message is 40+ seconds long)
    assert log_mentions(core, "message not complete in time", since)
    well_behaved(core)


def test_thousand_idle_connections(core: CoreProcess) -> None:
    """A thousand idle TLS connections (each after one request): under 100 MiB more memory, and a
    new client is served while they stay open."""
    context = core.client_context("acme")

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(60):
            return await asyncio.open_connection(core.host, core.port, ssl=context, server_hostname=core.host)

    async def one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(QUERY)
        async with asyncio.timeout(60):
            await writer.drain()
            header = await reader.readexactly(8)
            answer = header + await reader.readexactly(int.from_bytes(header[4:8], "big"))
        (result,) = parse_response(answer)
        assert result.status is ResultStatus.SUCCESS

    async def scenario() -> tuple[int, int]:
        well_behaved(core)  # warm: every code path a request takes is loaded
        before = core.rss_kib()
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _ in range(0, IDLE_CONNECTIONS, 50):
                batch = await asyncio.gather(*(connect() for _ in range(50)))
                await asyncio.gather(*(one_request(r, w) for r, w in batch))
                streams.extend(batch)
            assert len(streams) == IDLE_CONNECTIONS
            await asyncio.to_thread(well_behaved, core)
            after = core.rss_kib()
            # They are still open and still answered.
            await asyncio.gather(*(one_request(r, w) for r, w in streams[::100]))
        finally:
            for _, writer in streams:
                writer.transport.abort()
        return before, after

    before, after = asyncio.run(scenario())
    print(f"server RSS: {before} KiB before, {after} KiB with {IDLE_CONNECTIONS} idle connections")
    assert after - before < MEMORY_BOUND_KIB
    well_behaved(core)


# -- limits ---------------------------------------------------------------------------------------


def test_batch_of_ten_thousand_items(core: CoreProcess) -> None:
    """Refused whole with Invalid Message (it exceeds the decoder's item limit before the engine's
    batch limit); the connection lives on, memory stays bounded over repeated attempts."""
    huge = request_message([batch_item(Operation.DISCOVER_VERSIONS) for _ in range(10_000)])
    over = request_message([batch_item(Operation.DISCOVER_VERSIONS) for _ in range(1001)])
    before = core.rss_kib()
    with RawConnection(core) as hostile:
        for _ in range(10):
            result = invalid_message(hostile.exchange(huge))
            assert result.message == "message exceeds the max_items limit of 16384"
        result = invalid_message(hostile.exchange(over))
        assert result.message == "more than 1000 batch items"
        still_serves(hostile)
        well_behaved(core)  # another connection, while this one is open
    assert core.rss_kib() - before < MEMORY_BOUND_KIB
    well_behaved(core)


def test_message_nested_ten_thousand_deep(core: CoreProcess) -> None:
    inner = Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "deep")
    for _ in range(10_000):
        inner = Item(Tag.ATTRIBUTE, ItemType.STRUCTURE, (inner,))
    nested = encode(Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, (inner,)))
    since = log_size(core)
    with RawConnection(core) as hostile:
        result = invalid_message(hostile.exchange(nested))
        assert result.message == "message exceeds the max_depth limit of 32"
        still_serves(hostile)
    assert log_mentions(core, "nested deeper than", since)
    well_behaved(core)


# -- certificates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "reason"),
    [("foreign", "unable to get local issuer certificate"), ("expired", "certificate has expired")],
)
def test_refused_client_certificates(
    core: CoreProcess, extra: dict[str, ClientCertificate], who: str, reason: str
) -> None:
    """The handshake fails (TLS 1.2) or the connection ends before any answer (TLS 1.3, where
    the client finishes first); the server's log says why; nothing KMIP ever reaches the client."""
    since = log_size(core)
    answered = b""
    with (
        contextlib.suppress(ConnectionError, ssl.SSLError, OSError),
        RawConnection(core, extra[who], timeout=10) as refused,
    ):
        refused.send(QUERY)
        answered = refused.sock.recv(65536)
    assert answered == b""
    assert log_mentions(core, f"TLS handshake failed (CERTIFICATE: {reason})", since)
    # PyKMIP: its read of the answer finds the stream closed (TLS 1.3 lets it send first).
    with pytest.raises((EOFError, ConnectionError, ssl.SSLError)), pykmip_client(core, extra[who]) as client:
        client.create(enums.CryptographicAlgorithm.AES, 128)
    well_behaved(core)
