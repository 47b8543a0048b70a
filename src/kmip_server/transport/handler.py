"""The one interface between the transport and the request engine.

The transport frames bytes and knows nothing of KMIP; the engine (``RequestHandler``) turns one
whole request message into one whole response message. Per connection, calls are made one at a
time, in the order the requests arrived, so responses go back in order; across connections they
run concurrently (no global lock).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeAlias

from kmip_server.identity import Identity

__all__ = ["HandlerFactory", "RequestHandler"]


class RequestHandler(Protocol):
    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        """Answer one request.

        ``message`` is one whole top-level TTLV Structure as framed (not yet decoded; the framer
        only checked its header and size). ``peer`` is the caller's identity, resolved once at the
        TLS handshake; a verified certificate that maps to nothing arrives as ``Role.UNKNOWN``
        (answer Permission Denied and audit the attempt).

        Return the whole response message, or None to close the connection without answering.
        An exception closes this connection only (logged with a correlation id, no payload);
        the engine should rather answer General Failure itself.
        """
        ...


HandlerFactory: TypeAlias = Callable[[], AbstractAsyncContextManager[RequestHandler]]
"""Builds the handler inside each worker process (after the event loop started) and tears it
down at shutdown. Must be picklable (a module-level callable or a functools.partial of one) when
``workers > 1``, because each worker is a freshly spawned interpreter."""
