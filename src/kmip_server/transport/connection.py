"""One served connection: the thin asyncio shell around the sans-I/O ``Framer``.

TLS is the event loop's; this object sees plaintext. Its parts:
- ``data_received`` feeds the Framer and moves whole messages into a read-ahead queue bounded by
  ``max_in_flight`` messages and ``max_queued_bytes``; when the queue is full, reading pauses,
  so one connection holds at most the queue, one partial message and one read chunk.
- ``serve`` (the connection's task) takes the requests one at a time, in order, calls the
  handler, writes the response, and waits (bounded) for the client to read when the transport
  reports backpressure.
- Deadlines are not timers: the connection records when a message began (``message_read_timeout``
  from its first byte), when it became idle (``idle_timeout``) and when the current handler call
  began (``request_timeout``); the server's reaper calls ``check_deadlines`` a few times a second.
  A request costs no timer operation at all and an idle connection holds no timer handle; every
  deadline is enforced within one reaper tick.

Invariants:
- Malformed framing (any ``TTLVError`` from the Framer, including a message over the size limit)
  aborts the connection at once: nothing more is read, buffered or answered.
- A handler exception, timeout or None closes this connection only. Exceptions are logged by
  type and traceback frames with a correlation id; never their text, never payload bytes.
- ``CancelledError`` is never swallowed.
- The close reason is decided once (the first cause wins) and reported once, by the server.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from typing import cast

from kmip_server.identity import Identity, IdentityResolver
from kmip_server.transport.handler import RequestHandler
from kmip_server.transport.metrics import CloseReason, TransportMetrics
from kmip_server.transport.settings import TransportSettings
from ttlv.errors import TTLVError
from ttlv.framing import Framer

__all__ = ["Connection", "ServingContext"]

_log = logging.getLogger("kmip_server.transport")


@dataclass(frozen=True, slots=True)
class ServingContext:
    """What every connection of one server shares."""

    handler: RequestHandler
    resolver: IdentityResolver
    settings: TransportSettings
    metrics: TransportMetrics


class Connection(asyncio.Protocol):
    __slots__ = (
        "_busy_since",
        "_close_reason",
        "_context",
        "_drain_waiter",
        "_draining",
        "_eof",
        "_framer",
        "_idle_since",
        "_loop",
        "_lost",
        "_partial_since",
        "_queued_bytes",
        "_reading_paused",
        "_requests",
        "_task",
        "_timeout_cancel",
        "_transport",
        "_waiter",
        "_writing_paused",
        "connection_id",
        "peer",
    )

    def __init__(self, context: ServingContext, connection_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self._context = context
        self._loop = loop
        self.connection_id = connection_id
        self.peer: Identity | None = None
        self._framer = Framer(context.settings.limits)
        self._requests: deque[bytes] = deque()
        self._queued_bytes = 0
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] = loop.create_future()
        self._reading_paused = False
        self._writing_paused = False
        self._eof = False
        self._busy_since: float | None = None  # when the handler call in progress began
        self._task: asyncio.Task[None] | None = None
        self._timeout_cancel = False  # check_deadlines cancelled the handler (request_timeout)
        self._draining = False
        self._close_reason: CloseReason | None = None
        self._partial_since: float | None = None
        self._idle_since = loop.time()

    # -- state seen by the server ---------------------------------------------------------------

    @property
    def established(self) -> bool:
        """The TLS handshake completed and the peer's identity is known."""
        return self.peer is not None

    @property
    def queued_requests(self) -> int:
        """Whole requests read ahead and not yet handed to the handler."""
        return len(self._requests)

    @property
    def reading_paused(self) -> bool:
        """Reading is paused because the read-ahead queue is full (or the server is draining)."""
        return self._reading_paused

    @property
    def close_reason(self) -> CloseReason:
        return self._close_reason if self._close_reason is not None else CloseReason.PEER_CLOSED

    def begin_drain(self) -> None:
        """Server shutdown: read nothing more; answer what was received, then close."""
        self._draining = True
        self._partial_since = None  # a partial message will never be completed: not the client's fault
        if self._transport is not None and not self._reading_paused:
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def abort(self, reason: CloseReason) -> None:
        """Drop the connection now, without a TLS close_notify."""
        self._decide(reason)
        if self._transport is not None:
            self._transport.abort()

    def close(self, reason: CloseReason) -> None:
        """Close politely: flush what was written, send close_notify."""
        self._decide(reason)
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self, timeout: float) -> None:
        """Wait until the transport is gone (TLS shutdown included); abort it after ``timeout``."""
        if self._lost.done():
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._lost)
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()

    # -- asyncio.Protocol callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport does not subclass asyncio.Transport but has its interface.
        transport = cast(asyncio.Transport, transport)
        settings = self._context.settings
        self._transport = transport
        transport.set_write_buffer_limits(high=settings.write_buffer_high_water)
        ssl_object = transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.peer = peer = self._context.resolver.identify(certificate)
        if not peer.known:
            _log.info(
                "connection %s: client certificate maps to no identity (%s): %s",
                self.connection_id,
                peer.refusal,
                peer.subject,
            )
        self._idle_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        if self._close_reason is not None or self._draining:
            return
        framer = self._framer
        try:
            framer.feed(data)
            pulled = self._pull()
        except TTLVError as error:
            self._malformed(error)
            return
        if framer.buffered and not self._reading_paused:
            if self._partial_since is None or pulled:
                # A message is in progress (from this chunk on, if an earlier one just completed).
                self._partial_since = self._loop.time()
        else:
            self._partial_since = None
        if pulled:
            self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None  # let the transport close: TLS has no half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        if self._close_reason is None:
            self._close_reason = CloseReason.CONNECTION_LOST if exc is not None else self._end_of_stream()
        self._requests.clear()
        self._queued_bytes = 0
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the connection's task ------------------------------------------------------------------

    async def serve(self) -> None:
        """Answer requests in order until the connection ends. Raises only ``CancelledError``."""
        handler = self._context.handler
        peer = self.peer
        transport = self._transport
        assert peer is not None
        assert transport is not None
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        loop = self._loop
        requests = self._requests
        while True:
            if self._close_reason is not None:
                return
            if not requests:
                if self._eof:
                    self._decide(self._end_of_stream())
                    return
                if self._draining:
                    self.close(CloseReason.SHUTDOWN)
                    return
                # Woken by data, EOF, loss, close or shutdown; check_deadlines bounds the wait.
                waiter = self._waiter = loop.create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
                continue

            message = requests.popleft()
            self._queued_bytes -= len(message)
            if self._reading_paused:
                self._make_room()
                if self._close_reason is not None:
                    return  # the framer found the next message malformed
            self._busy_since = loop.time()
            try:
                response = await handler.handle(message, peer)
            except asyncio.CancelledError:
                if self._timeout_cancel and task.uncancel() == 0:
                    self._handler_failed(None)  # our own cancellation: request_timeout
                    return
                raise
            except Exception as error:
                self._handler_failed(error)
                return
            finally:
                self._busy_since = None
            if self._timeout_cancel:  # the handler swallowed our cancellation: still a timeout
                task.uncancel()
                self._handler_failed(None)
                return
            if response is None:
                self.close(CloseReason.HANDLER_CLOSED)
                return
            if self._close_reason is not None:
                return  # lost (or timed out) while the handler ran: nobody to answer
            transport.write(response)
            if self._writing_paused and not await self._drain():
                return
            if not requests:
                self._idle_since = loop.time()

    # -- internals ------------------------------------------------------------------------------

    def _pull(self) -> int:
        """Move whole messages from the framer to the queue, up to its bounds; pause when full."""
        settings = self._context.settings
        framer = self._framer
        requests = self._requests
        pulled = 0
        while len(requests) < settings.max_in_flight and self._queued_bytes < settings.max_queued_bytes:
            message = framer.next_message()
            if message is None:
                return pulled
            requests.append(message)
            self._queued_bytes += len(message)
            pulled += 1
        if not self._reading_paused and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
            self._partial_since = None  # we stopped reading: a partial message is not the client's delay
        return pulled

    def _make_room(self) -> None:
        """The task took a request: pull what the framer holds, and read again if there is room
        (unless draining: then whole messages already received are still answered, nothing more)."""
        try:
            self._pull()
        except TTLVError as error:
            self._malformed(error)
            return
        settings = self._context.settings
        has_room = (
            len(self._requests) < settings.max_in_flight and self._queued_bytes < settings.max_queued_bytes
        )
        if has_room and self._reading_paused and not self._draining and self._transport is not None:
            self._transport.resume_reading()
            self._reading_paused = False
            if self._framer.buffered:
                self._partial_since = self._loop.time()

    async def _drain(self) -> bool:
        """Wait for the client to read; False (and the connection aborted) after write_timeout."""
        waiter = self._drain_waiter = self._loop.create_future()
        try:
            async with asyncio.timeout(self._context.settings.write_timeout):
                await waiter
        except TimeoutError:
            _log.info("connection %s: client did not read its responses in time", self.connection_id)
            self.abort(CloseReason.WRITE_TIMEOUT)
            return False
        finally:
            self._drain_waiter = None
        return self._close_reason is None

    def _malformed(self, error: TTLVError) -> None:
        # Type and offset only: the error text may quote a few stream bytes.
        _log.info(
            "connection %s: malformed framing (%s at offset %d), closing",
            self.connection_id,
            type(error).__name__,
            error.offset,
        )
        self.abort(CloseReason.MALFORMED_FRAMING)

    def _handler_failed(self, error: Exception | None) -> None:
        """``error`` None: the handler did not answer within request_timeout."""
        correlation_id = uuid.uuid4().hex
        if error is None:
            _log.error(
                "connection %s: handler did not answer within %.1f s [correlation_id=%s]",
                self.connection_id,
                self._context.settings.request_timeout,
                correlation_id,
            )
            self.close(CloseReason.HANDLER_TIMEOUT)
            return
        # The exception's text is not logged: it could carry request bytes or key material.
        frames = "".join(traceback.format_tb(error.__traceback__))
        _log.error(
            "connection %s: handler raised %s.%s [correlation_id=%s]\n%s",
            self.connection_id,
            type(error).__module__,
            type(error).__qualname__,
            correlation_id,
            frames,
        )
        self.close(CloseReason.HANDLER_ERROR)

    def _end_of_stream(self) -> CloseReason:
        """The client closed: cleanly between messages, or inside one."""
        framer = self._framer
        if framer.broken is None and framer.buffered and framer.bytes_needed:
            return CloseReason.TRUNCATED
        return CloseReason.PEER_CLOSED

    def _decide(self, reason: CloseReason) -> None:
        if self._close_reason is None:
            self._close_reason = reason
            _log.debug("connection %s: closing (%s)", self.connection_id, reason.name)
        self._requests.clear()
        self._queued_bytes = 0
        self._wake()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def check_deadlines(self, now: float) -> None:
        """Enforce the request, idle and read deadlines (called by the server's reaper)."""
        if self._close_reason is not None or self._task is None:
            return
        settings = self._context.settings
        busy_since = self._busy_since
        if busy_since is not None:
            if now - busy_since >= settings.request_timeout and not self._timeout_cancel:
                self._timeout_cancel = True
                self._task.cancel()  # surfaces as CancelledError from the handler's await
        elif (
            not (self._requests or self._framer.buffered) and now - self._idle_since >= settings.idle_timeout
        ):
            _log.debug("connection %s: idle, closing", self.connection_id)
            self.close(CloseReason.IDLE_TIMEOUT)
            return
        partial_since = self._partial_since
        if partial_since is not None and now - partial_since >= settings.message_read_timeout:
            _log.info("connection %s: message not complete in time, dropping", self.connection_id)
            self.abort(CloseReason.READ_TIMEOUT)
