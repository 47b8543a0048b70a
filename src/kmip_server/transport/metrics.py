"""Transport metrics hooks: a small callback interface; the Prometheus wiring lives elsewhere.

Callbacks run on the event loop's hot path: implementations must be quick and must not raise.
Open connections = ``connection_opened`` minus ``connection_closed``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from enum import IntEnum
from typing import Protocol, TypeAlias

__all__ = [
    "CloseReason",
    "CountingMetrics",
    "HandshakeFailure",
    "MetricsFactory",
    "NullMetrics",
    "TransportMetrics",
]


class CloseReason(IntEnum):
    """Why an established (post-handshake) connection ended."""

    PEER_CLOSED = 1  # the client closed between messages
    TRUNCATED = 2  # the client closed inside a message
    MALFORMED_FRAMING = 3  # the byte stream is not TTLV, or a message exceeds the size limit
    READ_TIMEOUT = 4  # a message was not complete within message_read_timeout
    IDLE_TIMEOUT = 5  # no request within idle_timeout
    WRITE_TIMEOUT = 6  # the client did not read a response within write_timeout
    HANDLER_CLOSED = 7  # the handler returned None
    HANDLER_ERROR = 8  # the handler raised
    HANDLER_TIMEOUT = 9  # the handler did not answer within request_timeout
    SHUTDOWN = 10  # the server is stopping
    CONNECTION_LOST = 11  # reset, or a transport error


class HandshakeFailure(IntEnum):
    """Why a TLS handshake did not complete (the connection never reached the handler)."""

    CERTIFICATE = 1  # no client certificate, or one that does not verify (CA, expiry, usage)
    PROTOCOL = 2  # TLS version, cipher suite or another TLS-level refusal
    TIMEOUT = 3  # not complete within tls_handshake_timeout
    CONNECTION_LOST = 4  # the client went away
    SHUTDOWN = 5  # the server stopped during the handshake


class TransportMetrics(Protocol):
    def connection_opened(self) -> None:
        """A TLS handshake completed; the connection is now served."""

    def connection_closed(self, reason: CloseReason) -> None:
        """A served connection ended."""

    def connection_refused(self) -> None:
        """A connection was accepted and closed at once: max_connections reached, or stopping."""

    def handshake_failed(self, reason: HandshakeFailure) -> None:
        """A TLS handshake failed."""


MetricsFactory: TypeAlias = Callable[[], TransportMetrics]


class NullMetrics:
    """Counts nothing."""

    __slots__ = ()

    def connection_opened(self) -> None:
        pass

    def connection_closed(self, reason: CloseReason) -> None:
        pass

    def connection_refused(self) -> None:
        pass

    def handshake_failed(self, reason: HandshakeFailure) -> None:
        pass


class CountingMetrics:
    """Plain counters (for tests, and as the reference for a Prometheus adapter)."""

    __slots__ = ("closed", "handshake_failures", "opened", "refused")

    def __init__(self) -> None:
        self.opened = 0
        self.refused = 0
        self.closed: Counter[CloseReason] = Counter()
        self.handshake_failures: Counter[HandshakeFailure] = Counter()

    @property
    def open_connections(self) -> int:
        return self.opened - self.closed.total()

    def connection_opened(self) -> None:
        self.opened += 1

    def connection_closed(self, reason: CloseReason) -> None:
        self.closed[reason] += 1

    def connection_refused(self) -> None:
        self.refused += 1

    def handshake_failed(self, reason: HandshakeFailure) -> None:
        self.handshake_failures[reason] += 1
