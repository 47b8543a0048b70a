"""Every limit and timeout of the network shell, named, with its safe default.

All durations are in seconds. Both dataclasses are picklable: each worker process receives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ttlv.limits import Limits

__all__ = ["KMIP_PORT", "STRONG_TLS12_CIPHERS", "TLSSettings", "TransportSettings"]

KMIP_PORT = 5696  # IANA-registered KMIP over TLS

# TLS 1.2 suites: ephemeral ECDH key exchange and AEAD ciphers only (TLS 1.3 suites are all AEAD
# and are configured separately by OpenSSL).
STRONG_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    )
)


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """Server certificate and key, and the CA bundle that client certificates must chain to."""

    certificate_file: Path
    key_file: Path
    client_ca_file: Path
    tls12_ciphers: str = STRONG_TLS12_CIPHERS


@dataclass(frozen=True, slots=True)
class TransportSettings:
    host: str = "127.0.0.1"  # bind address; "0.0.0.0" or "::" to listen on every interface
    port: int = KMIP_PORT  # 0 picks a free port (tests)
    backlog: int = 1024  # listen queue
    workers: int = 1  # processes sharing the port
    # workers > 1: one listening socket for all, each worker accepting only while it serves no
    # more connections than the least busy one (transport.balance); False: a socket per worker
    # with SO_REUSEPORT, the kernel spreading connections by a hash of their addresses.
    balance_connections: bool = True
    reuse_port: bool = False  # set SO_REUSEPORT even with one worker (forced on when workers > 1 unbalanced)
    use_uvloop: bool = True  # when installed; the stdlib loop keeps a 256 KiB TLS buffer per connection
    limits: Limits = field(default_factory=Limits)  # the framer's max_message_size applies here
    max_connections: int = 2048  # per worker; beyond it a new connection is closed at once
    max_in_flight: int = 32  # requests read ahead on one connection (pipelining bound)
    max_queued_bytes: int = 1 << 20  # bytes of requests read ahead on one connection
    tls_handshake_timeout: float = 10.0
    tls_shutdown_timeout: float = 5.0  # waiting for the client's close_notify when we close
    message_read_timeout: float = 30.0  # from a message's first byte to its last
    idle_timeout: float = 300.0  # between messages (no request in progress)
    request_timeout: float = 60.0  # one handler call; the engine should answer well before this
    write_timeout: float = 30.0  # waiting for the client to read a response (backpressure)
    write_buffer_high_water: int = 256 * 1024  # bytes queued in the transport before waiting
    drain_timeout: float = 30.0  # graceful shutdown: how long in-flight requests may finish
    # How often deadlines (read, idle, request) are checked; never coarser than a quarter of the
    # shortest of those timeouts, so each is enforced within 25 % of its value at worst.
    timer_resolution: float = 0.5
    worker_restart_delay: float = 1.0  # first delay before restarting a dead worker (doubles)
    worker_restart_limit: int = 5  # restarts of one worker within worker_restart_window, then give up
    worker_restart_window: float = 60.0

    @property
    def reaper_interval(self) -> float:
        """Seconds between two deadline checks (see ``timer_resolution``)."""
        shortest = min(self.message_read_timeout, self.idle_timeout, self.request_timeout)
        return min(self.timer_resolution, shortest / 4)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        for name in (
            "backlog",
            "max_connections",
            "max_in_flight",
            "max_queued_bytes",
            "tls_handshake_timeout",
            "tls_shutdown_timeout",
            "message_read_timeout",
            "idle_timeout",
            "request_timeout",
            "write_timeout",
            "write_buffer_high_water",
            "drain_timeout",
            "timer_resolution",
            "worker_restart_delay",
            "worker_restart_limit",
            "worker_restart_window",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"transport setting {name} must be positive")
