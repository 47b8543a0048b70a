"""The asyncio server: accept, refuse beyond the connection limit, TLS handshake, serve, drain.

One ``TransportServer`` runs in one event loop (one worker process). It accepts raw TCP
connections itself, so that a connection over ``max_connections`` (or arriving while stopping)
is closed before any TLS work is spent on it; the others get a TLS handshake bounded by
``tls_handshake_timeout`` and then one task each (see ``connection.Connection``).

``serve`` is the process entry point: one worker in this process, or, with ``workers > 1``, a
supervisor of that many spawned worker processes sharing the port: one listening socket that
each worker accepts from while it is among the least busy (``balance``), or with
``balance_connections`` off a socket each through SO_REUSEPORT (see ``workers``).

Invariants:
- Every await is bounded by a named timeout, except the accept loop, the reaper and the wait for
  a stop signal, which last as long as the server and end by cancellation or the stop event.
  A connection's own waits (for a request, for the handler) are bounded by the reaper, which
  checks every connection's deadlines each ``reaper_interval``.
- Connection tasks never raise anything but ``CancelledError``; an unexpected exception is a bug,
  logged with a correlation id, and drops only that connection.
- ``shutdown`` stops accepting, lets received requests finish within ``drain_timeout``, then
  aborts what is left. It never waits unboundedly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import signal
import socket
import ssl
import struct
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

from kmip_server.identity import IdentityResolver, IdentitySettings
from kmip_server.transport.balance import ConnectionBalancer
from kmip_server.transport.connection import Connection, ServingContext
from kmip_server.transport.handler import HandlerFactory, RequestHandler
from kmip_server.transport.metrics import (
    CloseReason,
    HandshakeFailure,
    MetricsFactory,
    NullMetrics,
    TransportMetrics,
)
from kmip_server.transport.settings import TLSSettings, TransportSettings
from kmip_server.transport.tls import build_server_context, watching_refusal

__all__ = ["TransportServer", "listening_socket", "run_worker", "serve", "serve_worker"]

_log = logging.getLogger("kmip_server.transport")
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, zero seconds: close() sends a reset
_ACCEPT_ERROR_BACKOFF = 0.1  # out of file descriptors: let connections close before accepting again
_CERTIFICATE_REASONS = frozenset(
    {"PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_VERIFY_FAILED", "TLSV1_ALERT_UNKNOWN_CA"}
)


def listening_socket(settings: TransportSettings) -> socket.socket:
    """A non-blocking listening socket for ``settings.host``/``port`` (SO_REUSEPORT when asked)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.create_server(
        (settings.host, settings.port),
        family=family,
        backlog=settings.backlog,
        reuse_port=settings.reuse_port or settings.workers > 1,
    )
    sock.setblocking(False)
    return sock


_REFUSED_GRACE = 0.5
"""Seconds a client refused by a TLS alert has to close its end before the server ends the
connection anyway (a client sending garbage has no reason to close)."""


def _after_refusal(loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
    """Run when the TLS layer refused a handshake and was handed the alert: once it has sent it
    (the next loop turn), end our writing (the client reads the alert, then the end); after
    ``_REFUSED_GRACE``, our reading too, which fails the handshake if the client lingers. The
    socket itself stays the TLS layer's to close."""
    loop.call_soon(_shut, client, socket.SHUT_WR)
    loop.call_later(_REFUSED_GRACE, _shut, client, socket.SHUT_RDWR)


def _shut(client: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):  # already closed: the client closed first
        client.shutdown(how)


def _handshake_failure(error: BaseException) -> HandshakeFailure:
    if isinstance(error, ssl.SSLCertVerificationError):
        return HandshakeFailure.CERTIFICATE
    if isinstance(error, ssl.SSLError):
        return (
            HandshakeFailure.CERTIFICATE
            if error.reason in _CERTIFICATE_REASONS
            else HandshakeFailure.PROTOCOL
        )
    if isinstance(error, TimeoutError | ConnectionAbortedError):
        # Both loops abort a handshake that outlives ssl_handshake_timeout with ConnectionAbortedError.
        return HandshakeFailure.TIMEOUT
    return HandshakeFailure.CONNECTION_LOST


class TransportServer:
    """Serves one ``RequestHandler`` over mutual TLS in the running event loop."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        settings: TransportSettings,
        ssl_context: ssl.SSLContext,
        resolver: IdentityResolver,
        metrics: TransportMetrics | None = None,
        sock: socket.socket | None = None,
        balancer: ConnectionBalancer | None = None,
    ) -> None:
        self._settings = settings
        self._balancer = balancer
        self._ssl_context = ssl_context
        self._metrics: TransportMetrics = metrics if metrics is not None else NullMetrics()
        self._context = ServingContext(handler, resolver, settings, self._metrics)
        self._sock = sock
        self._accept_task: asyncio.Task[None] | None = None
        self._reaper_task: asyncio.Task[None] | None = None
        self._connections: dict[asyncio.Task[None], Connection] = {}
        self._stopping = False
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}-"

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError("the server is not started")
        host, port = self._sock.getsockname()[:2]
        return host, port

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def connection_count(self) -> int:
        """Connections held now: in handshake, served, or closing."""
        return len(self._connections)

    def connections(self) -> list[Connection]:
        """A snapshot of the connections held now (for status pages and tests)."""
        return list(self._connections.values())

    async def start(self) -> None:
        if self._accept_task is not None:
            raise RuntimeError("the server is already started")
        if self._sock is None:
            self._sock = listening_socket(self._settings)
        else:
            self._sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._accept_task = loop.create_task(self._accept_loop(self._sock))
        self._reaper_task = loop.create_task(self._reap())
        # Count in before anyone hears this worker is ready (its slot was DEAD until now):
        # otherwise a sibling that started first takes every connection until this worker's
        # accept loop first runs.
        self._publish()
        _log.info("listening on %s:%d", *self.address)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    async def shutdown(self, drain_timeout: float | None = None) -> None:
        """Stop accepting; finish received requests within ``drain_timeout``; abort the rest."""
        timeout = self._settings.drain_timeout if drain_timeout is None else drain_timeout
        self._stopping = True
        if self._accept_task is not None:
            self._accept_task.cancel()
            await asyncio.wait([self._accept_task])  # its CancelledError is not ours to re-raise
        if self._sock is not None:
            self._sock.close()
        for task, connection in list(self._connections.items()):
            if connection.established:
                connection.begin_drain()
            else:
                task.cancel()  # still in the TLS handshake: nothing received to finish
        pending = set(self._connections)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        if pending:
            _log.warning("shutdown: %d connections still busy after %.1f s, aborting", len(pending), timeout)
            for task in pending:
                self._connections[task].abort(CloseReason.SHUTDOWN)
                task.cancel()
            await asyncio.wait(pending, timeout=self._settings.tls_shutdown_timeout)
        if self._reaper_task is not None:
            self._reaper_task.cancel()
            await asyncio.wait([self._reaper_task])
        _log.info("stopped")

    async def _reap(self) -> None:
        """Enforce every connection's deadlines, each ``reaper_interval``; and tell sibling
        workers this one is alive (its count, fresh)."""
        loop = asyncio.get_running_loop()
        interval = self._settings.reaper_interval
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for connection in tuple(self._connections.values()):
                connection.check_deadlines(now)
            self._publish()

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._connections.pop(task)
        self._publish()

    def _publish(self) -> None:
        """Balanced workers: this one's connection count (and heartbeat) for its siblings."""
        if self._balancer is not None:
            self._balancer.publish(len(self._connections))

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        settings = self._settings
        balancer = self._balancer
        while True:
            if balancer is not None:
                await balancer.wait_turn(len(self._connections))
            try:
                client, _ = await loop.sock_accept(sock)
            except OSError as error:
                # EMFILE/ENFILE/ENOBUFS: keep the server alive; connections closing free descriptors.
                _log.warning("accept failed (%s), retrying", error.strerror or type(error).__name__)
                await asyncio.sleep(_ACCEPT_ERROR_BACKOFF)
                continue
            if self._stopping or len(self._connections) >= settings.max_connections:
                # Abortive close (RST): no TLS work, and no TIME_WAIT left behind by a flood.
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                client.close()
                self._metrics.connection_refused()
                continue
            client.setblocking(False)
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(self._context, f"{self._id_prefix}{next(self._ids):x}", loop)
            task = loop.create_task(self._run(client, connection))
            self._connections[task] = connection
            task.add_done_callback(self._forget)
            self._publish()

    async def _run(self, client: socket.socket, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        settings = self._settings
        # A refused handshake: the alert is on its way; end our side so the client ends its.
        error: BaseException | None = None
        with watching_refusal(functools.partial(_after_refusal, loop, client)) as refusal:
            try:
                await loop.connect_accepted_socket(
                    lambda: connection,
                    client,
                    ssl=self._ssl_context,
                    ssl_handshake_timeout=settings.tls_handshake_timeout,
                    ssl_shutdown_timeout=settings.tls_shutdown_timeout,
                )
            except asyncio.CancelledError:
                client.close()
                self._metrics.handshake_failed(HandshakeFailure.SHUTDOWN)
                raise
            except Exception as failure:
                client.close()
                error = refusal.error or failure
        if error is not None:
            reason = _handshake_failure(error)
            self._metrics.handshake_failed(reason)
            detail = (
                error.verify_message
                if isinstance(error, ssl.SSLCertVerificationError)
                else getattr(error, "reason", None) or type(error).__name__
            )
            _log.info(
                "connection %s: TLS handshake failed (%s: %s)", connection.connection_id, reason.name, detail
            )
            return

        self._metrics.connection_opened()
        try:
            await connection.serve()
        except asyncio.CancelledError:
            connection.abort(CloseReason.SHUTDOWN)
            raise
        except Exception as error:
            correlation_id = uuid.uuid4().hex
            _log.exception(
                "connection %s: transport bug (%s) [correlation_id=%s]",
                connection.connection_id,
                type(error).__qualname__,
                correlation_id,
            )
            connection.abort(CloseReason.CONNECTION_LOST)
        finally:
            self._metrics.connection_closed(connection.close_reason)
        # Hold the slot until the socket is really gone (TLS close_notify exchange included).
        await connection.wait_closed(settings.tls_shutdown_timeout + 1.0)


async def serve_worker(
    settings: TransportSettings,
    tls: TLSSettings,
    identity: IdentitySettings,
    handler_factory: HandlerFactory,
    *,
    metrics: TransportMetrics | None = None,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    sock: socket.socket | None = None,
    balancer: ConnectionBalancer | None = None,
) -> None:
    """Run one server in the running loop until ``stop`` is set (or SIGTERM/SIGINT), then drain.

    ``ready(port)`` is called once the server listens. ``sock``: a listening socket to serve
    (shared with sibling workers, then ``balancer`` says when to accept); else one is made.
    """
    loop = asyncio.get_running_loop()
    stop_event = stop if stop is not None else asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop_event.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals on this platform: the caller sets ``stop``
    try:
        ssl_context = build_server_context(tls)
        resolver = IdentityResolver(identity)
        async with handler_factory() as handler:
            server = TransportServer(
                handler,
                settings=settings,
                ssl_context=ssl_context,
                resolver=resolver,
                metrics=metrics,
                sock=sock,
                balancer=balancer,
            )
            await server.start()
            try:
                if ready is not None:
                    ready(server.port)
                await stop_event.wait()
            finally:
                await server.shutdown()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop  # noqa: PLC0415 (optional dependency, chosen at run time)
    except ImportError:
        _log.warning("uvloop is not installed; using the standard event loop")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_worker(
    settings: TransportSettings,
    tls: TLSSettings,
    identity: IdentitySettings,
    handler_factory: HandlerFactory,
    metrics_factory: MetricsFactory | None = None,
    *,
    ready: Callable[[int], None] | None = None,
    sock: socket.socket | None = None,
    balancer: ConnectionBalancer | None = None,
) -> None:
    """Run one worker in this process (its own event loop; uvloop when enabled) until signalled."""
    metrics = metrics_factory() if metrics_factory is not None else None
    with asyncio.Runner(loop_factory=_loop_factory(settings.use_uvloop)) as runner:
        runner.run(
            serve_worker(
                settings,
                tls,
                identity,
                handler_factory,
                metrics=metrics,
                ready=ready,
                sock=sock,
                balancer=balancer,
            )
        )


def serve(
    settings: TransportSettings,
    tls: TLSSettings,
    identity: IdentitySettings,
    handler_factory: HandlerFactory,
    metrics_factory: MetricsFactory | None = None,
    *,
    initializer: Callable[[], None] | None = None,
) -> int:
    """The process entry point: returns the exit status once stopped by SIGTERM/SIGINT.

    ``workers == 1`` serves in this process; more spawns a supervised worker per process.
    ``initializer`` runs first in each worker process (logging setup, process hardening).
    """
    if settings.workers == 1:
        if initializer is not None:
            initializer()
        run_worker(settings, tls, identity, handler_factory, metrics_factory)
        return 0
    from kmip_server.transport.workers import Supervisor  # noqa: PLC0415 (avoids an import cycle)

    return Supervisor(
        settings, tls, identity, handler_factory, metrics_factory, initializer=initializer
    ).run()
