"""TLS contexts: the server's (mutual TLS, DESIGN section 5) and a client's (tests, our own client).

Server policy: TLS 1.2 minimum, 1.3 allowed; a client certificate is required and verified
against the configured CA bundle (strict X.509 checks); TLS 1.2 suites are ECDHE with AEAD only;
no compression, no renegotiation, no session tickets (connections are long-lived, so resumption
buys little, and every connection then proves its certificate afresh).

A refused handshake ends with the TLS alert that says why (unknown CA, expired certificate,
protocol version, ...), as any TLS server sends it: asyncio's and uvloop's TLS layers drop what
OpenSSL queued when a handshake fails and close at once, so the client saw only the connection
end. The server context's TLS objects (``_AlertingSSLObject``, through the documented
``SSLContext.sslobject_class``) report a failed handshake as "wants more data" instead, which
makes the layer send what is queued (the alert), and note the real failure in the connection's
``HandshakeRefusal`` (a context variable the transport sets around the handshake: the TLS
layer's callbacks run in a copy of that context, sharing the one holder). The transport then
ends its side of the connection (``on_refused``), the client closes its, and the handshake
fails, recorded with the noted reason. A TLS object asked again raises the noted failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

from kmip_server.transport.settings import STRONG_TLS12_CIPHERS, TLSSettings

__all__ = ["HandshakeRefusal", "build_client_context", "build_server_context", "watching_refusal"]


class HandshakeRefusal:
    """What refused one connection's TLS handshake, if it was refused (``error``)."""

    __slots__ = ("_on_refused", "error")

    def __init__(self, on_refused: Callable[[], object]) -> None:
        self.error: ssl.SSLError | None = None
        self._on_refused = on_refused

    def refused(self, error: ssl.SSLError) -> None:
        if self.error is None:
            self.error = error
            self._on_refused()


_REFUSAL: contextvars.ContextVar[HandshakeRefusal | None] = contextvars.ContextVar(
    "kmip_server_tls_refusal", default=None
)


@contextlib.contextmanager
def watching_refusal(on_refused: Callable[[], object]) -> Iterator[HandshakeRefusal]:
    """Around a server-side handshake: the holder its TLS object fills if it refuses, and
    ``on_refused`` run once then (after the alert was handed to the TLS layer to send)."""
    holder = HandshakeRefusal(on_refused)
    token = _REFUSAL.set(holder)
    try:
        yield holder
    finally:
        _REFUSAL.reset(token)


class _AlertingSSLObject(ssl.SSLObject):
    """A server TLS object whose failed handshake lets the alert out first (module docstring)."""

    _refusal: ssl.SSLError | None = None

    def do_handshake(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as error:
            self._refusal = error
            holder = _REFUSAL.get()
            if holder is None:  # not inside watching_refusal: fail as usual
                raise
            # Scheduled by the holder, so that it runs after the TLS layer sent the alert.
            holder.refused(error)
            raise ssl.SSLWantReadError("handshake refused; sending the alert") from None


_HARDENING = (
    ssl.OP_NO_COMPRESSION
    | ssl.OP_NO_RENEGOTIATION
    | ssl.OP_NO_TICKET
    | ssl.OP_CIPHER_SERVER_PREFERENCE
    | ssl.OP_SINGLE_ECDH_USE
)


def build_server_context(settings: TLSSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.options |= _HARDENING
    context.num_tickets = 0
    context.set_ciphers(settings.tls12_ciphers)
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_verify_locations(cafile=settings.client_ca_file)
    context.load_cert_chain(settings.certificate_file, settings.key_file)
    context.sslobject_class = _AlertingSSLObject
    return context


def build_client_context(
    ca_file: Path,
    certificate_file: Path | None = None,
    key_file: Path | None = None,
    *,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context that verifies the server against ``ca_file`` and presents a certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = minimum_version
    context.maximum_version = maximum_version
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(STRONG_TLS12_CIPHERS)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca_file)
    if certificate_file is not None:
        context.load_cert_chain(certificate_file, key_file)
    return context
