"""A development PKI: one CA, a server certificate and client certificates, as PEM files.

For ``openkcm dev`` and for tests; production brings its own CA. What it makes:
- a CA (EC P-256 by default, or RSA 2048), valid 10 years, ``pathLen 0``;
- a server certificate for ``localhost`` / ``127.0.0.1`` with the serverAuth extended key usage;
- client certificates carrying a SPIFFE URI SAN (and/or a Subject CN) with the clientAuth extended
  key usage, which PyKMIP's client and OpenSSL's purpose check require.

Invariants:
- Private keys are written with mode 0600 (created so, never chmod-ed after the fact), through a
  temporary file renamed into place, so a reader never sees half a key.
- ``ensure_dev_pki`` is idempotent: files that exist and still hold a valid certificate and key are
  reused; only what is missing or expired is (re)issued. A CA whose key is gone is an error, not
  a silent re-creation (that would orphan every certificate issued before).
- Leaf certificates carry the extensions OpenSSL's strict X.509 mode asks for (Basic Constraints,
  Key Usage, Subject and Authority Key Identifiers).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_VALIDITY",
    "LEAF_VALIDITY",
    "DevClient",
    "DevPKI",
    "DevPKIError",
    "IssuedCertificate",
    "KeyType",
    "PrivateKey",
    "create_ca",
    "default_dev_clients",
    "ensure_dev_pki",
    "issue_client_certificate",
    "issue_server_certificate",
    "load_certificate",
    "load_private_key",
    "write_certificate",
    "write_private_key",
]

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=825)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between the dev machine and clients

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class KeyType(IntEnum):
    EC_P256 = 1
    RSA_2048 = 2


class DevPKIError(Exception):
    """The PKI directory holds something that cannot be reused safely (e.g. a CA without its key)."""


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)


@dataclass(frozen=True, slots=True)
class DevClient:
    """A client certificate to make: file stem, and its SPIFFE ID and/or Subject CN."""

    name: str
    spiffe_id: str | None = None
    common_name: str | None = None


@dataclass(frozen=True, slots=True)
class DevPKI:
    """Where ``ensure_dev_pki`` put everything."""

    directory: Path
    ca_certificate: Path
    ca_key: Path
    server_certificate: Path
    server_key: Path
    client_certificates: dict[str, Path]
    client_keys: dict[str, Path]


def default_dev_clients(trust_domain: str) -> tuple[DevClient, ...]:
    """One tenant client, one gateway and one operator, for the all-in-one dev server."""
    return (
        DevClient("client", spiffe_id=f"spiffe://{trust_domain}/tenant/dev-tenant/service/dev-service"),
        DevClient("gateway", spiffe_id=f"spiffe://{trust_domain}/gateway/dev-gateway"),
        DevClient("operator", spiffe_id=f"spiffe://{trust_domain}/operator/dev-operator"),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str | None, organization: str = "OpenKCM development") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _validity(
    not_before: dt.datetime | None, not_after: dt.datetime | None, default: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    start = not_before if not_before is not None else _now() - _BACKDATE
    end = not_after if not_after is not None else start + default
    if end <= start:
        raise ValueError("a certificate must end after it starts")
    return start, end


def create_ca(
    common_name: str = "OpenKCM Development CA",
    *,
    key_type: KeyType = KeyType.EC_P256,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> IssuedCertificate:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = _new_key(key_type)
    start, end = _validity(not_before, not_after, CA_VALIDITY)
    name = _name(common_name)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(certificate, key)


def _issue_leaf(
    ca: IssuedCertificate,
    *,
    common_name: str | None,
    san: Sequence[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    key_type: KeyType,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> IssuedCertificate:
    key = _new_key(key_type)
    start, end = _validity(not_before, not_after, LEAF_VALIDITY)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_type is KeyType.RSA_2048,  # RSA key exchange in TLS 1.2 peers
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    if san:
        # RFC 5280 4.2.1.6: the SAN is critical when the subject name is empty.
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=not common_name)
    return IssuedCertificate(builder.sign(ca.private_key, hashes.SHA256()), key)


def issue_server_certificate(
    ca: IssuedCertificate,
    *,
    common_name: str = "localhost",
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    key_type: KeyType = KeyType.EC_P256,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> IssuedCertificate:
    """A TLS server certificate (serverAuth) for the given DNS names and IP addresses."""
    san: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    return _issue_leaf(
        ca,
        common_name=common_name,
        san=san,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        key_type=key_type,
        not_before=not_before,
        not_after=not_after,
    )


def issue_client_certificate(
    ca: IssuedCertificate,
    *,
    spiffe_id: str | None = None,
    common_name: str | None = None,
    extra_uris: Sequence[str] = (),
    key_type: KeyType = KeyType.EC_P256,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> IssuedCertificate:
    """A TLS client certificate (clientAuth) with a SPIFFE URI SAN and/or a Subject CN.

    ``extra_uris`` adds further URI SANs (tests use it to build hostile certificates).
    """
    uris = ([spiffe_id] if spiffe_id is not None else []) + list(extra_uris)
    if not uris and not common_name:
        raise ValueError("a client certificate needs a SPIFFE ID or a common name")
    return _issue_leaf(
        ca,
        common_name=common_name,
        san=[x509.UniformResourceIdentifier(uri) for uri in uris],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        key_type=key_type,
        not_before=not_before,
        not_after=not_after,
    )


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_certificate(path: Path, certificate: x509.Certificate | Sequence[x509.Certificate]) -> None:
    """Write one certificate, or a chain / bundle, as PEM (mode 0644)."""
    chain = [certificate] if isinstance(certificate, x509.Certificate) else list(certificate)
    _write_atomically(path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain), 0o644)


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write an unencrypted PKCS#8 PEM key, created with mode 0600."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_atomically(path, pem, 0o600)


def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DevPKIError(f"{path.name} holds an unsupported key type")
    return key


def _reusable(cert_path: Path, key_path: Path, ca: IssuedCertificate | None) -> IssuedCertificate | None:
    """The pair at these paths if both exist, match, are unexpired and (for leaves) come from ``ca``."""
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        certificate = load_certificate(cert_path)
        key = load_private_key(key_path)
    except ValueError:
        return None
    if certificate.public_key() != key.public_key():
        return None
    if certificate.not_valid_after_utc <= _now():
        return None
    if ca is not None:
        try:
            certificate.verify_directly_issued_by(ca.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return None
    return IssuedCertificate(certificate, key)


def _names_match(certificate: x509.Certificate, client: DevClient) -> bool:
    """Whether a reused client certificate still names what is asked (the trust domain may change)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = names[0].value if names else None
    return uris == ([client.spiffe_id] if client.spiffe_id else []) and common_name == client.common_name


def _load_or_create_ca(directory: Path, key_type: KeyType) -> IssuedCertificate:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    reused = _reusable(cert_path, key_path, None)
    if reused is not None:
        return reused
    if cert_path.exists():
        raise DevPKIError(
            "ca.pem exists but cannot be reused (key missing or mismatched, or expired); "
            "remove the directory to start a new development PKI"
        )
    ca = create_ca(key_type=key_type)
    write_private_key(key_path, ca.private_key)
    write_certificate(cert_path, ca.certificate)
    return ca


def ensure_dev_pki(
    directory: Path,
    *,
    trust_domain: str = "openkcm.local",
    clients: Sequence[DevClient] | None = None,
    key_type: KeyType = KeyType.EC_P256,
) -> DevPKI:
    """Create (or reuse) the development CA, server and client certificates under ``directory``.

    Files: ``ca.pem``/``ca.key``, ``server.pem``/``server.key``, ``<client>.pem``/``<client>.key``.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = _load_or_create_ca(directory, key_type)
    chosen = default_dev_clients(trust_domain) if clients is None else tuple(clients)
    reserved = {"ca", "server"}
    names = [client.name for client in chosen]
    if len(set(names)) != len(names) or reserved & set(names):
        raise ValueError("client names must be unique and not 'ca' or 'server'")

    server_cert, server_key = directory / "server.pem", directory / "server.key"
    if _reusable(server_cert, server_key, ca) is None:
        issued = issue_server_certificate(ca, key_type=key_type)
        write_private_key(server_key, issued.private_key)
        write_certificate(server_cert, issued.certificate)

    client_certificates: dict[str, Path] = {}
    client_keys: dict[str, Path] = {}
    for client in chosen:
        if not client.name or "/" in client.name or client.name.startswith("."):
            raise ValueError(f"unusable client file name {client.name!r}")
        cert_path, key_path = directory / f"{client.name}.pem", directory / f"{client.name}.key"
        reused = _reusable(cert_path, key_path, ca)
        if reused is None or not _names_match(reused.certificate, client):
            issued = issue_client_certificate(
                ca, spiffe_id=client.spiffe_id, common_name=client.common_name, key_type=key_type
            )
            write_private_key(key_path, issued.private_key)
            write_certificate(cert_path, issued.certificate)
        client_certificates[client.name] = cert_path
        client_keys[client.name] = key_path

    return DevPKI(
        directory=directory,
        ca_certificate=directory / "ca.pem",
        ca_key=directory / "ca.key",
        server_certificate=server_cert,
        server_key=server_key,
        client_certificates=client_certificates,
        client_keys=client_keys,
    )
