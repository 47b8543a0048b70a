"""Mutual TLS over real sockets: who gets in, with which TLS version, and as whom."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

import pytest

from kmip_server.identity import Role
from kmip_server.transport import CountingMetrics, HandshakeFailure
from kmip_server.transport.settings import TLSSettings
from kmip_server.transport.tls import build_server_context
from tests.support.tls import TestPKI
from tests.unit.transport.fakes import (
    EchoHandler,
    Runner,
    close_writer,
    closed_by_server,
    connect,
    eventually,
    exchange,
    fast_settings,
    request_message,
    response_text,
    running_server,
)


def test_server_context_policy(test_pki: TestPKI) -> None:
    context = build_server_context(test_pki.tls_settings)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.verify_flags & ssl.VERIFY_X509_STRICT
    for option in (ssl.OP_NO_COMPRESSION, ssl.OP_NO_RENEGOTIATION, ssl.OP_NO_TICKET):
        assert context.options & option
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    for cipher in tls12:
        assert cipher["kea"] == "kx-ecdhe", cipher["name"]
        assert cipher["aead"], cipher["name"]


def test_server_context_refuses_missing_files(test_pki: TestPKI, tmp_path: object) -> None:
    settings = TLSSettings(
        test_pki.server_certificate, test_pki.server_key, test_pki.directory / "missing.pem"
    )
    with pytest.raises(FileNotFoundError):
        build_server_context(settings)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_clients_are_served(
    test_pki: TestPKI, run: Runner[None], version: ssl.TLSVersion
) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            context = test_pki.client_context("tenant", minimum_version=version, maximum_version=version)
            reader, writer = await connect(server.port, context)
            assert (
                writer.get_extra_info("ssl_object").version()
                == {
                    ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                    ssl.TLSVersion.TLSv1_3: "TLSv1.3",
                }[version]
            )
            assert response_text(await exchange(reader, writer, request_message("hello"))) == "hello"
            await close_writer(writer)

    run(scenario())
    assert handler.calls == 1
    peer = handler.peers[0]
    assert (peer.role, peer.tenant, peer.service) == (Role.TENANT_CLIENT, "acme", "billing")
    assert metrics.opened == 1
    assert not metrics.handshake_failures


@pytest.mark.parametrize(
    ("client", "logged"),
    [
        (None, "PEER_DID_NOT_RETURN_A_CERTIFICATE"),
        ("foreign", "unable to get local issuer certificate"),  # issued by another CA
        ("expired", "certificate has expired"),
    ],
)
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_clients_without_a_valid_certificate_are_refused(
    test_pki: TestPKI,
    run: Runner[None],
    client: str | None,
    logged: str,
    version: ssl.TLSVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kmip_server.transport")
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> None:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            context = test_pki.client_context(client, minimum_version=version, maximum_version=version)
            try:
                # With TLS 1.3 the client finishes its side before the server judges its
                # certificate, so the refusal may only show on the first read.
                reader, writer = await connect(server.port, context)
            except (ssl.SSLError, ConnectionError):
                pass
            else:
                writer.write(request_message("let me in"))
                assert await closed_by_server(reader)
                writer.close()
            await eventually(lambda: metrics.handshake_failures.total() == 1)

    run(scenario())
    assert handler.calls == 0
    assert metrics.handshake_failures == {HandshakeFailure.CERTIFICATE: 1}
    assert metrics.opened == 0
    assert logged in caplog.text


async def client_failure(port: int, context: ssl.SSLContext) -> str:
    """The reason the client's TLS layer gives for losing the connection (the alert it read), or
    what ended it otherwise. TLS 1.3 clients finish before the server judges them: they read it."""
    try:
        reader, writer = await connect(port, context)
        writer.write(request_message("let me in"))
        async with asyncio.timeout(10):
            while await reader.read(65536):
                pass
    except ssl.SSLError as error:
        return str(error.reason)
    except (ConnectionError, TimeoutError) as error:
        return type(error).__name__
    writer.close()
    return "EOF"


@pytest.mark.parametrize(
    ("client", "alerts"),
    [
        (None, ("SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV13_ALERT_CERTIFICATE_REQUIRED")),
        ("foreign", ("TLSV1_ALERT_UNKNOWN_CA",) * 2),
        ("expired", ("SSLV3_ALERT_CERTIFICATE_EXPIRED",) * 2),
    ],
)
def test_a_refused_client_reads_the_alert_that_says_why(
    test_pki: TestPKI, run: Runner[None], client: str | None, alerts: tuple[str, str]
) -> None:
    """Not just the connection's end: the TLS alert (by TLS 1.2, then 1.3), on both loops."""
    metrics = CountingMetrics()
    seen: list[str] = []

    async def scenario() -> None:
        async with running_server(EchoHandler(), test_pki, metrics=metrics) as server:
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                context = test_pki.client_context(client, minimum_version=version, maximum_version=version)
                seen.append(await client_failure(server.port, context))
            await eventually(lambda: metrics.handshake_failures.total() == 2)

    run(scenario())
    assert tuple(seen) == alerts
    assert metrics.handshake_failures == {HandshakeFailure.CERTIFICATE: 2}


def test_a_refused_client_that_stays_is_let_go_long_before_the_handshake_timeout(
    test_pki: TestPKI, run: Runner[tuple[bytes, float]]
) -> None:
    """Garbage instead of a ClientHello: the client gets an alert record and the end of the
    stream at once; if it keeps its end open, the server still ends the connection within
    _REFUSED_GRACE, not tls_handshake_timeout later."""
    metrics = CountingMetrics()

    async def scenario() -> tuple[bytes, float]:
        settings = fast_settings(tls_handshake_timeout=30.0)
        async with running_server(EchoHandler(), test_pki, settings=settings, metrics=metrics) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            started = time.monotonic()
            writer.write(b"\x16\x03\x01\x00\x05not a client hello" * 4)
            received = await asyncio.wait_for(reader.read(), 5.0)  # to the end of the stream
            await eventually(lambda: metrics.handshake_failures.total() == 1)
            waited = time.monotonic() - started
            writer.close()
            return received, waited

    received, waited = run(scenario())
    assert received[:1] == b"\x15"  # a TLS alert record
    assert waited < 10.0
    assert metrics.handshake_failures == {HandshakeFailure.PROTOCOL: 1}


def test_tls11_client_is_refused(test_pki: TestPKI, run: Runner[str]) -> None:
    handler = EchoHandler()
    metrics = CountingMetrics()

    async def scenario() -> str:
        async with running_server(handler, test_pki, metrics=metrics) as server:
            failure = await client_failure(server.port, test_pki.tls11_client_context("tenant"))
            await eventually(lambda: metrics.handshake_failures.total() == 1)
            return failure

    assert run(scenario()) == "TLSV1_ALERT_PROTOCOL_VERSION"
    assert handler.calls == 0
    # The server saw the attempt and refused the protocol version (not a client-side failure).
    assert metrics.handshake_failures == {HandshakeFailure.PROTOCOL: 1}


def test_unmapped_identity_reaches_the_handler_as_unknown(test_pki: TestPKI, run: Runner[None]) -> None:
    """A verified certificate that maps to nothing is served, so the engine can answer Permission
    Denied and audit the attempt; the handler sees who it was."""
    handler = EchoHandler()

    async def scenario() -> None:
        async with running_server(handler, test_pki) as server:
            reader, writer = await connect(server.port, test_pki.client_context("stranger"))
            await exchange(reader, writer, request_message())
            await close_writer(writer)

    run(scenario())
    peer = handler.peers[0]
    assert peer.role is Role.UNKNOWN
    assert peer.tenant is None
    assert peer.subject == "spiffe://elsewhere.example/tenant/acme/service/billing"
    assert peer.refusal == "SPIFFE ID matches no pattern"


@pytest.mark.parametrize(
    ("client", "role", "attribute", "value"),
    [
        ("gateway", Role.GATEWAY, "gateway", "edge-1"),
        ("operator", Role.OPERATOR, "operator", "alice"),
        ("legacy", Role.TENANT_CLIENT, "tenant", "legacy-tenant"),
    ],
)
def test_roles_over_the_wire(
    test_pki: TestPKI, run: Runner[None], client: str, role: Role, attribute: str, value: str
) -> None:
    handler = EchoHandler()

    async def scenario() -> None:
        async with running_server(handler, test_pki) as server:
            reader, writer = await connect(server.port, test_pki.client_context(client))
            await exchange(reader, writer, request_message())
            await close_writer(writer)

    run(scenario())
    assert handler.peers[0].role is role
    assert getattr(handler.peers[0], attribute) == value
