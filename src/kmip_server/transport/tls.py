"""TLS contexts: the server's (mutual TLS, DESIGN section 5) and a client's (tests, our own client).

Server policy: TLS 1.2 minimum, 1.3 allowed; a client certificate is required and verified
against the configured CA bundle (strict X.509 checks); TLS 1.2 suites are ECDHE with AEAD only;
no compression, no renegotiation, no session tickets (connections are long-lived, so resumption
buys little, and every connection then proves its certificate afresh).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from kmip_server.transport.settings import STRONG_TLS12_CIPHERS, TLSSettings

__all__ = ["build_client_context", "build_server_context"]

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
