"""The network shell of the KMIP server: mutual TLS, framing, connection limits, workers.

Only this package touches sockets and ``ssl``. It frames bytes (``ttlv.Framer``) and hands each
whole request message, with the caller's ``Identity``, to a ``RequestHandler``; it knows nothing
of KMIP beyond the TTLV header.
"""

from kmip_server.transport.handler import HandlerFactory, RequestHandler
from kmip_server.transport.metrics import (
    CloseReason,
    CountingMetrics,
    HandshakeFailure,
    MetricsFactory,
    NullMetrics,
    TransportMetrics,
)
from kmip_server.transport.server import TransportServer, listening_socket, run_worker, serve, serve_worker
from kmip_server.transport.settings import KMIP_PORT, STRONG_TLS12_CIPHERS, TLSSettings, TransportSettings
from kmip_server.transport.tls import build_client_context, build_server_context
from kmip_server.transport.workers import Supervisor

__all__ = [
    "KMIP_PORT",
    "STRONG_TLS12_CIPHERS",
    "CloseReason",
    "CountingMetrics",
    "HandlerFactory",
    "HandshakeFailure",
    "MetricsFactory",
    "NullMetrics",
    "RequestHandler",
    "Supervisor",
    "TLSSettings",
    "TransportMetrics",
    "TransportServer",
    "TransportSettings",
    "build_client_context",
    "build_server_context",
    "listening_socket",
    "run_worker",
    "serve",
    "serve_worker",
]
