"""Unit tests of kmip_server.devpki: certificate contents, file modes, idempotence."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from kmip_server.devpki import (
    DevClient,
    DevPKIError,
    IssuedCertificate,
    KeyType,
    create_ca,
    ensure_dev_pki,
    issue_client_certificate,
    issue_server_certificate,
    load_certificate,
    load_private_key,
    write_certificate,
    write_private_key,
)
from kmip_server.identity import IdentityResolver, IdentitySettings, Role
from kmip_server.transport.settings import TLSSettings
from kmip_server.transport.tls import build_client_context, build_server_context


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def uris(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def extended_usages(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_is_a_ten_year_pathlen_zero_ca() -> None:
    ca = create_ca()
    certificate = ca.certificate
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime >= dt.timedelta(days=3650)
    assert isinstance(ca.private_key, ec.EllipticCurvePrivateKey)
    assert ca.private_key.curve.name == "secp256r1"
    certificate.verify_directly_issued_by(certificate)


def test_rsa_option() -> None:
    ca = create_ca(key_type=KeyType.RSA_2048)
    assert isinstance(ca.private_key, rsa.RSAPrivateKey)
    assert ca.private_key.key_size == 2048
    server = issue_server_certificate(ca, key_type=KeyType.RSA_2048)
    server.certificate.verify_directly_issued_by(ca.certificate)
    assert server.certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_server_certificate() -> None:
    ca = create_ca()
    server = issue_server_certificate(ca).certificate
    server.verify_directly_issued_by(ca.certificate)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert extended_usages(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_client_certificate_carries_spiffe_id_and_client_auth() -> None:
    ca = create_ca()
    client = issue_client_certificate(ca, spiffe_id="spiffe://td/tenant/a/service/b").certificate
    client.verify_directly_issued_by(ca.certificate)
    assert uris(client) == ["spiffe://td/tenant/a/service/b"]
    assert extended_usages(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # No subject name: the SAN must then be critical (RFC 5280 4.2.1.6).
    assert client.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_client_certificate_needs_a_name() -> None:
    with pytest.raises(ValueError, match="SPIFFE ID or a common name"):
        issue_client_certificate(create_ca())


def test_validity_window_is_honoured() -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issued = issue_client_certificate(
        create_ca(),
        common_name="x",
        not_before=now - dt.timedelta(days=2),
        not_after=now - dt.timedelta(days=1),
    )
    assert issued.certificate.not_valid_after_utc == now - dt.timedelta(days=1)
    with pytest.raises(ValueError, match="end after"):
        issue_client_certificate(create_ca(), common_name="x", not_before=now, not_after=now)


def test_ensure_dev_pki_writes_files_with_safe_modes(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "pki", trust_domain="dev.local")
    assert mode(pki.directory) == 0o700
    for key in [pki.ca_key, pki.server_key, *pki.client_keys.values()]:
        assert mode(key) == 0o600
        assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    for certificate in [pki.ca_certificate, pki.server_certificate, *pki.client_certificates.values()]:
        assert mode(certificate) == 0o644
    assert sorted(pki.client_certificates) == ["client", "gateway", "operator"]
    assert not list(pki.directory.glob(".*.tmp"))

    resolver = IdentityResolver(IdentitySettings(trust_domain="dev.local"))
    roles = {
        name: resolver.resolve(load_certificate(path)).role for name, path in pki.client_certificates.items()
    }
    assert roles == {"client": Role.TENANT_CLIENT, "gateway": Role.GATEWAY, "operator": Role.OPERATOR}


def test_ensure_dev_pki_is_idempotent(tmp_path: Path) -> None:
    first = ensure_dev_pki(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.iterdir()}
    second = ensure_dev_pki(tmp_path)
    assert second == first
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_missing_files_are_reissued_from_the_same_ca(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    ca_bytes = pki.ca_certificate.read_bytes()
    gateway_bytes = pki.client_certificates["gateway"].read_bytes()
    pki.client_keys["client"].unlink()
    pki.server_certificate.unlink()
    ensure_dev_pki(tmp_path)
    assert pki.ca_certificate.read_bytes() == ca_bytes
    assert pki.client_certificates["gateway"].read_bytes() == gateway_bytes
    ca = load_certificate(pki.ca_certificate)
    load_certificate(pki.server_certificate).verify_directly_issued_by(ca)
    load_certificate(pki.client_certificates["client"]).verify_directly_issued_by(ca)


def test_expired_leaf_is_reissued(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    ca_key = load_private_key(pki.ca_key)
    ca_cert = load_certificate(pki.ca_certificate)
    now = dt.datetime.now(dt.UTC)
    stale = issue_server_certificate(
        IssuedCertificate(ca_cert, ca_key),
        not_before=now - dt.timedelta(days=9),
        not_after=now - dt.timedelta(days=1),
    )
    write_certificate(pki.server_certificate, stale.certificate)
    write_private_key(pki.server_key, stale.private_key)
    ensure_dev_pki(tmp_path)
    assert load_certificate(pki.server_certificate).not_valid_after_utc > now


def test_changed_identity_is_reissued(tmp_path: Path) -> None:
    ensure_dev_pki(tmp_path, trust_domain="one.local")
    pki = ensure_dev_pki(tmp_path, trust_domain="two.local")
    assert uris(load_certificate(pki.client_certificates["client"])) == [
        "spiffe://two.local/tenant/dev-tenant/service/dev-service"
    ]


def test_ca_without_its_key_is_an_error(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    pki.ca_key.unlink()
    with pytest.raises(DevPKIError, match=r"ca\.pem"):
        ensure_dev_pki(tmp_path)


def test_client_names_are_checked(tmp_path: Path) -> None:
    for clients in ([DevClient("server", common_name="x")], [DevClient("a", common_name="x")] * 2):
        with pytest.raises(ValueError, match="unique"):
            ensure_dev_pki(tmp_path, clients=clients)
    with pytest.raises(ValueError, match="file name"):
        ensure_dev_pki(tmp_path, clients=[DevClient("../escape", common_name="x")])


def test_dev_pki_completes_a_mutual_tls_handshake(tmp_path: Path) -> None:
    """The generated files work with the transport's own TLS policy (in memory, no sockets)."""
    pki = ensure_dev_pki(tmp_path)
    server_context = build_server_context(
        TLSSettings(pki.server_certificate, pki.server_key, pki.ca_certificate)
    )
    client_context = build_client_context(
        pki.ca_certificate, pki.client_certificates["client"], pki.client_keys["client"]
    )
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, to_client, server_side=True)
    client = client_context.wrap_bio(to_client, to_server, server_hostname="localhost")
    done = {client: False, server: False}
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
        if all(done.values()):
            break
    assert all(done.values())
    assert client.version() in {"TLSv1.2", "TLSv1.3"}
    expected = load_certificate(pki.client_certificates["client"]).public_bytes(Encoding.DER)
    assert server.getpeercert(binary_form=True) == expected
