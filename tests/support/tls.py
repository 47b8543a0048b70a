"""A throwaway PKI for tests, built with ``kmip_server.devpki``, and TLS client contexts.

Reuse from a test module by importing the fixture (pytest picks up imported fixtures)::

    from tests.support.tls import test_pki  # noqa: F401

``test_pki`` (session) holds one CA, a server certificate for localhost/127.0.0.1, and these
client certificates (``TestPKI.client(name)``):

- ``tenant``: ``spiffe://test.openkcm/tenant/acme/service/billing``
- ``gateway``: ``spiffe://test.openkcm/gateway/edge-1``
- ``operator``: ``spiffe://test.openkcm/operator/alice``
- ``legacy``: no SAN, Subject CN ``legacy-app`` (mapped through ``IDENTITY_SETTINGS``)
- ``stranger``: ``spiffe://elsewhere.example/tenant/acme/service/billing`` (another trust domain)
- ``expired``: a tenant certificate that expired yesterday
- ``foreign``: a tenant certificate from another CA
"""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kmip_server.devpki import (
    IssuedCertificate,
    create_ca,
    issue_client_certificate,
    issue_server_certificate,
    write_certificate,
    write_private_key,
)
from kmip_server.identity import IdentitySettings
from kmip_server.transport.settings import TLSSettings
from kmip_server.transport.tls import build_client_context

TRUST_DOMAIN = "test.openkcm"
TENANT_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/tenant/acme/service/billing"
LEGACY_CN = "legacy-app"
IDENTITY_SETTINGS = IdentitySettings(
    trust_domain=TRUST_DOMAIN, common_names={LEGACY_CN: ("legacy-tenant", "legacy-service")}
)


@dataclass(frozen=True, slots=True)
class ClientFiles:
    certificate: Path
    key: Path


@dataclass(slots=True)
class TestPKI:
    __test__ = False  # not a test class

    directory: Path
    ca: IssuedCertificate
    ca_file: Path
    server_certificate: Path
    server_key: Path
    clients: dict[str, ClientFiles] = field(default_factory=dict)

    @property
    def tls_settings(self) -> TLSSettings:
        return TLSSettings(self.server_certificate, self.server_key, self.ca_file)

    def client(self, name: str) -> ClientFiles:
        return self.clients[name]

    def add_client(self, name: str, issued: IssuedCertificate) -> ClientFiles:
        files = ClientFiles(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        write_certificate(files.certificate, issued.certificate)
        write_private_key(files.key, issued.private_key)
        self.clients[name] = files
        return files

    def client_context(
        self,
        name: str | None,
        *,
        minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        maximum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ) -> ssl.SSLContext:
        """A client context trusting the test CA and presenting ``name``'s certificate (None: none)."""
        files = self.clients[name] if name is not None else None
        return build_client_context(
            self.ca_file,
            files.certificate if files else None,
            files.key if files else None,
            minimum_version=minimum_version,
            maximum_version=maximum_version,
        )

    def tls11_client_context(self, name: str) -> ssl.SSLContext:
        """A client that offers TLS 1.1 only (OpenSSL 3 needs security level 0 to send it at all)."""
        files = self.clients[name]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.load_verify_locations(cafile=self.ca_file)
        context.load_cert_chain(files.certificate, files.key)
        return context


def make_test_pki(directory: Path) -> TestPKI:
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_ca("OpenKCM Test CA")
    server = issue_server_certificate(ca)
    pki = TestPKI(directory, ca, directory / "ca.pem", directory / "server.pem", directory / "server.key")
    write_certificate(pki.ca_file, ca.certificate)
    write_certificate(pki.server_certificate, server.certificate)
    write_private_key(pki.server_key, server.private_key)

    pki.add_client("tenant", issue_client_certificate(ca, spiffe_id=TENANT_SPIFFE_ID))
    pki.add_client(
        "gateway", issue_client_certificate(ca, spiffe_id=f"spiffe://{TRUST_DOMAIN}/gateway/edge-1")
    )
    pki.add_client(
        "operator", issue_client_certificate(ca, spiffe_id=f"spiffe://{TRUST_DOMAIN}/operator/alice")
    )
    pki.add_client("legacy", issue_client_certificate(ca, common_name=LEGACY_CN))
    pki.add_client(
        "stranger",
        issue_client_certificate(ca, spiffe_id="spiffe://elsewhere.example/tenant/acme/service/billing"),
    )
    now = dt.datetime.now(dt.UTC)
    pki.add_client(
        "expired",
        issue_client_certificate(
            ca,
            spiffe_id=TENANT_SPIFFE_ID,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
    )
    other_ca = create_ca("Some Other CA")
    pki.add_client("foreign", issue_client_certificate(other_ca, spiffe_id=TENANT_SPIFFE_ID))
    return pki


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))
