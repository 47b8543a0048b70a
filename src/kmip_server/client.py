"""A small KMIP client over mutual TLS, for our own tests and tools (the conformance replayer, load
generators, smoke checks). Not a general-purpose SDK: one request at a time per connection.

``KmipClient`` (asyncio) sends one request message, as bytes, an Item or a model
``RequestMessage``, and reads back exactly one whole response message with the ``ttlv`` Framer.
``SyncKmipClient`` wraps it for synchronous callers (it runs its own event loop).

Invariants:
- Every await on the network has a deadline (``ClientSettings``): connecting and the TLS
  handshake, and each round trip (write the request, read the whole response).
- A connection carries one request at a time (a lock serializes callers), so responses pair with
  requests without correlation. A round trip that fails half way (timeout, cancellation, a
  broken or closed stream) poisons the connection: it is closed and every later call raises
  ``ClientClosed``; the peer's half-sent bytes are never mistaken for the next response.
- A response larger than ``settings.limits.max_message_size`` is refused from its header.
- Errors are ``ClientError`` subclasses; messages name what failed, never message contents.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from kmip_server.model.messages import (
    RequestMessage,
    ResponseMessage,
    decode_response,
    encode_request,
)
from kmip_server.transport.tls import build_client_context
from ttlv import DEFAULT_LIMITS, DecodeError, Framer, Item, Limits, decode, encode

__all__ = [
    "ClientClosed",
    "ClientError",
    "ClientProtocolError",
    "ClientSettings",
    "ClientTimeout",
    "KmipClient",
    "SyncKmipClient",
    "client_context",
]


class ClientError(Exception):
    """A KMIP round trip could not be completed."""


class ClientTimeout(ClientError):
    """Connecting, the handshake or a round trip took longer than its setting."""


class ClientClosed(ClientError):
    """The connection is closed (by the peer, by ``close``, or after a failed round trip)."""


class ClientProtocolError(ClientError):
    """The server sent bytes that are not one well-formed TTLV message."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Every timeout and limit of the client, in seconds and bytes."""

    connect_timeout: float = 10.0  # TCP connect and TLS handshake together
    request_timeout: float = 30.0  # one round trip: write the request, read the whole response
    close_timeout: float = 5.0  # waiting for the TLS close to complete
    read_size: int = 65536  # largest single read while waiting for a response header
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)  # response size, depth, items

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "request_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.read_size < 8:
            raise ValueError("read_size must be at least 8 bytes")


DEFAULT_CLIENT_SETTINGS = ClientSettings()


def client_context(
    ca_file: Path | str,
    certificate_file: Path | str | None = None,
    key_file: Path | str | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A TLS 1.2+ client context that verifies the server against ``ca_file`` and presents a certificate."""
    return build_client_context(
        Path(ca_file),
        None if certificate_file is None else Path(certificate_file),
        None if key_file is None else Path(key_file),
        check_hostname=check_hostname,
    )


class KmipClient:
    """One mutual-TLS connection to a KMIP server. Use ``await KmipClient.connect(...)``."""

    __slots__ = ("_closed", "_lock", "_reader", "_settings", "_writer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: ClientSettings
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        settings: ClientSettings = DEFAULT_CLIENT_SETTINGS,
    ) -> KmipClient:
        """Connect and complete the TLS handshake within ``settings.connect_timeout``."""
        try:
            async with asyncio.timeout(settings.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=context,
                    server_hostname=server_hostname if server_hostname is not None else host,
                    ssl_handshake_timeout=settings.connect_timeout,
                    limit=max(settings.read_size, 1 << 16),
                )
        except TimeoutError:
            raise ClientTimeout(f"connecting to {host}:{port} timed out") from None
        except ssl.SSLError as exc:
            raise ClientError(f"TLS handshake with {host}:{port} failed: {exc.reason or 'error'}") from None
        except OSError as exc:
            raise ClientError(
                f"cannot connect to {host}:{port}: {exc.strerror or type(exc).__name__}"
            ) from None
        return cls(reader, writer, settings)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def settings(self) -> ClientSettings:
        return self._settings

    async def send_bytes(self, request: bytes | bytearray | memoryview) -> bytes:
        """Send one encoded request message and return the bytes of the one response message."""
        async with self._lock:
            if self._closed:
                raise ClientClosed("connection is closed")
            completed = False
            try:
                async with asyncio.timeout(self._settings.request_timeout):
                    self._writer.write(request)
                    await self._writer.drain()
                    response = await self._read_message()
                completed = True
            except TimeoutError:
                raise ClientTimeout("no whole response within the request timeout") from None
            except DecodeError as exc:
                raise ClientProtocolError(f"response stream is not TTLV: {exc}") from None
            except (OSError, ssl.SSLError) as exc:  # ConnectionError is an OSError
                raise ClientClosed(f"connection lost: {type(exc).__name__}") from None
            finally:
                if not completed:
                    self._abort()
            return response

    async def send_item(self, request: Item) -> Item:
        """Send a request message given as a TTLV Item and return the response Item."""
        data = await self.send_bytes(encode(request))
        try:
            return decode(data, self._settings.limits)
        except DecodeError as exc:
            raise ClientProtocolError(f"response is not valid TTLV: {exc}") from None

    async def send(self, request: RequestMessage) -> ResponseMessage:
        """Send a model request message and return the decoded model response message."""
        return decode_response(await self.send_item(encode_request(request)))

    async def _read_message(self) -> bytes:
        framer = Framer(self._settings.limits)
        while True:
            message = framer.next_message()
            if message is not None:
                if framer.buffered:
                    # One request, one response: anything after it is not ours to interpret.
                    raise ClientProtocolError("server sent bytes beyond one response message")
                return message
            chunk = await self._reader.read(framer.bytes_needed or self._settings.read_size)
            if not chunk:
                framer.end_of_stream()  # raises inside a message
                raise ClientClosed("server closed the connection before responding")
            framer.feed(chunk)

    def _abort(self) -> None:
        self._closed = True
        transport = self._writer.transport
        transport.abort()

    async def close(self) -> None:
        """Close the connection (TLS close_notify, then TCP), within ``settings.close_timeout``."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(self._settings.close_timeout):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self._writer.transport.abort()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class SyncKmipClient:
    """``KmipClient`` for synchronous code: its own event loop, one connection.

    Not thread-safe; use from the thread that created it. ``close`` (or the ``with`` block) ends
    the connection and the loop.
    """

    __slots__ = ("_client", "_runner")

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        settings: ClientSettings = DEFAULT_CLIENT_SETTINGS,
    ) -> None:
        self._runner = asyncio.Runner()
        try:
            self._client = self._runner.run(
                KmipClient.connect(host, port, context, server_hostname=server_hostname, settings=settings)
            )
        except BaseException:
            self._runner.close()
            raise

    @property
    def closed(self) -> bool:
        return self._client.closed

    def send_bytes(self, request: bytes | bytearray | memoryview) -> bytes:
        return self._runner.run(self._client.send_bytes(request))

    def send_item(self, request: Item) -> Item:
        return self._runner.run(self._client.send_item(request))

    def send(self, request: RequestMessage) -> ResponseMessage:
        return self._runner.run(self._client.send(request))

    def close(self) -> None:
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
