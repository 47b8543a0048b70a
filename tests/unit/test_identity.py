"""Unit tests of kmip_server.identity: SPIFFE IDs (hostile ones included), the CN table, roles."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from kmip_server.devpki import IssuedCertificate, create_ca, issue_client_certificate
from kmip_server.identity import (
    Identity,
    IdentityResolver,
    IdentitySettings,
    IdentitySource,
    Role,
    UnknownIdentity,
)
from ttlv.kmip14 import ResultReason

TD = "prod.example"
SETTINGS = IdentitySettings(trust_domain=TD, common_names={"legacy-app": ("t-legacy", "svc-legacy")})


@pytest.fixture(scope="module")
def ca() -> IssuedCertificate:
    return create_ca("identity test CA")


@pytest.fixture(scope="module")
def resolver() -> IdentityResolver:
    return IdentityResolver(SETTINGS)


def certificate(
    ca: IssuedCertificate,
    spiffe_id: str | None = None,
    common_name: str | None = None,
    extra_uris: Sequence[str] = (),
) -> bytes:
    issued = issue_client_certificate(ca, spiffe_id=spiffe_id, common_name=common_name, extra_uris=extra_uris)
    return issued.certificate.public_bytes(Encoding.DER)


def refusal(resolver: IdentityResolver, der: bytes) -> UnknownIdentity:
    with pytest.raises(UnknownIdentity) as caught:
        resolver.resolve(der)
    return caught.value


# -- known identities ------------------------------------------------------------------------------


def test_tenant_client_from_spiffe_id(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    der = certificate(ca, f"spiffe://{TD}/tenant/acme/service/billing")
    identity = resolver.resolve(der)
    assert identity == Identity(
        role=Role.TENANT_CLIENT,
        subject=f"spiffe://{TD}/tenant/acme/service/billing",
        fingerprint=hashlib.sha256(der).hexdigest(),
        source=IdentitySource.SPIFFE_ID,
        tenant="acme",
        service="billing",
    )
    assert identity.known


def test_parsed_certificate_and_der_give_the_same_identity(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(ca, f"spiffe://{TD}/tenant/acme/service/billing")
    assert resolver.resolve(x509.load_der_x509_certificate(der)) == resolver.resolve(der)


def test_gateway_role(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    identity = resolver.resolve(certificate(ca, f"spiffe://{TD}/gateway/edge-eu-1"))
    assert (identity.role, identity.gateway, identity.tenant, identity.service) == (
        Role.GATEWAY,
        "edge-eu-1",
        None,
        None,
    )


def test_operator_role(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    identity = resolver.resolve(certificate(ca, f"spiffe://{TD}/operator/alice"))
    assert (identity.role, identity.operator, identity.tenant) == (Role.OPERATOR, "alice", None)


def test_common_name_table(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    identity = resolver.resolve(certificate(ca, common_name="legacy-app"))
    assert identity.role is Role.TENANT_CLIENT
    assert identity.source is IdentitySource.COMMON_NAME
    assert (identity.tenant, identity.service) == ("t-legacy", "svc-legacy")
    assert identity.subject == "CN=legacy-app"


def test_non_spiffe_uris_are_ignored(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    der = certificate(ca, common_name="legacy-app", extra_uris=["https://example.com/app"])
    assert resolver.resolve(der).tenant == "t-legacy"
    der = certificate(ca, f"spiffe://{TD}/operator/bob", extra_uris=["urn:example:thing"])
    assert resolver.resolve(der).operator == "bob"


# -- nothing mapped ------------------------------------------------------------------------------


def test_unknown_identity_is_permission_denied_with_a_fixed_message(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(ca, common_name="nobody-we-know")
    error = refusal(resolver, der)
    assert error.result_reason is ResultReason.PERMISSION_DENIED
    assert str(error) == "the client identity is not recognized"
    assert "nobody-we-know" not in str(error)
    assert error.reason == "common name not in the identity table"
    assert error.subject == "CN=nobody-we-know"
    assert error.fingerprint == hashlib.sha256(der).hexdigest()


def test_identify_returns_an_unknown_identity_for_audit(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(ca, "spiffe://other.example/tenant/acme/service/billing")
    identity = resolver.identify(der)
    assert identity.role is Role.UNKNOWN
    assert not identity.known
    assert identity.tenant is None
    assert identity.service is None
    assert identity.subject == "spiffe://other.example/tenant/acme/service/billing"
    assert identity.refusal == "SPIFFE ID matches no pattern"
    assert identity.fingerprint == hashlib.sha256(der).hexdigest()


def test_no_certificate(resolver: IdentityResolver) -> None:
    assert resolver.identify(None).role is Role.UNKNOWN
    with pytest.raises(UnknownIdentity):
        resolver.resolve(None)


def test_unparsable_certificate_bytes(resolver: IdentityResolver) -> None:
    identity = resolver.identify(b"\x30\x03\x02\x01\x01")
    assert identity.role is Role.UNKNOWN
    assert identity.refusal == "unreadable certificate names"


def test_wrong_trust_domain_is_unknown(ca: IssuedCertificate, resolver: IdentityResolver) -> None:
    for td in ("other.example", "prod.example.evil", "prodxexample", "sub.prod.example"):
        assert (
            resolver.identify(certificate(ca, f"spiffe://{td}/tenant/acme/service/billing")).role
            is Role.UNKNOWN
        )


def test_more_than_one_spiffe_id_is_refused_even_if_each_is_valid(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(
        ca, f"spiffe://{TD}/tenant/acme/service/billing", extra_uris=[f"spiffe://{TD}/operator/alice"]
    )
    error = refusal(resolver, der)
    assert error.reason == "more than one SPIFFE ID"


def test_uppercase_scheme_counts_as_a_spiffe_id_and_is_refused(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    # "SPIFFE://" must neither pass the exact pattern nor let the CN table decide instead.
    der = certificate(ca, f"SPIFFE://{TD}/tenant/acme/service/billing", common_name="legacy-app")
    assert refusal(resolver, der).reason == "SPIFFE ID matches no pattern"
    der = certificate(
        ca, f"spiffe://{TD}/tenant/acme/service/billing", extra_uris=[f"Spiffe://{TD}/operator/x"]
    )
    assert refusal(resolver, der).reason == "more than one SPIFFE ID"


def test_a_spiffe_id_decides_alone_the_cn_table_is_not_a_fallback(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(ca, "spiffe://other.example/tenant/a/service/b", common_name="legacy-app")
    assert resolver.identify(der).role is Role.UNKNOWN


def test_more_than_one_common_name_is_refused(resolver: IdentityResolver, ca: IssuedCertificate) -> None:
    issued = issue_client_certificate(ca, common_name="legacy-app")
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "legacy-app"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "other-app"),
                ]
            )
        )
        .issuer_name(ca.certificate.subject)
        .public_key(issued.private_key.public_key())
        .serial_number(1)
        .not_valid_before(issued.certificate.not_valid_before_utc)
        .not_valid_after(issued.certificate.not_valid_after_utc)
    )
    der = builder.sign(ca.private_key, hashes.SHA256()).public_bytes(Encoding.DER)
    assert refusal(resolver, der).reason == "more than one common name"


@pytest.mark.parametrize(
    "spiffe_id",
    [
        f"spiffe://{TD}/tenant/acme/service/billing/extra",
        f"spiffe://{TD}/tenant/acme/service/billing/",
        f"spiffe://{TD}/tenant/acme/service/",
        f"spiffe://{TD}/tenant//service/billing",
        f"spiffe://{TD}/tenant/../service/billing",
        f"spiffe://{TD}/tenant/./service/billing",
        f"spiffe://{TD}/tenant/acme/service/bill%20ing",
        f"spiffe://{TD}/tenant/acme%2Fother/service/billing",
        f"spiffe://{TD}/tenant/acme/service/billing?admin=1",
        f"spiffe://{TD}/tenant/acme/service/billing#frag",
        f"spiffe://{TD}:443/tenant/acme/service/billing",
        f"spiffe://user@{TD}/tenant/acme/service/billing",
        f"spiffe://{TD.upper()}/tenant/acme/service/billing",
        f"spiffe://{TD}/Tenant/acme/service/billing",
        f"spiffe://{TD}//tenant/acme/service/billing",
        f"spiffe://{TD}/tenant/acme/service/billing\n",
        f"spiffe://{TD}/tenant/acme\n/service/billing",
        f"spiffe://{TD}/tenant/ac me/service/billing",
        f"spiffe://{TD}/tenant/-acme/service/billing",
        f"spiffe://{TD}/tenant/_acme/service/billing",
        f"spiffe://{TD}/tenant/\u0430cme/service/billing",  # Cyrillic a
        f"spiffe://{TD}/tenant/\uff41cme/service/billing",  # full-width a
        f"spiffe://{TD}/tenant/acme/service/\u0661",  # Arabic-Indic digit one
        f"spiffe://{TD}/tenant/{'a' * 65}/service/billing",
        f"spiffe://{TD}/gateway/",
        f"spiffe://{TD}/gateway/edge/1",
        f"spiffe://{TD}/operator/alice/tenant/acme/service/billing",
        "spiffe:///tenant/acme/service/billing",
        f"spiffe:{TD}/tenant/acme/service/billing",
        f"https://{TD}/tenant/acme/service/billing",
        f"spiffe://{TD}/tenant/acme/service/billing" + "/x" * 2000,
        "",
    ],
)
def test_hostile_spiffe_ids_are_refused(resolver: IdentityResolver, spiffe_id: str) -> None:
    with pytest.raises(UnknownIdentity) as caught:
        resolver.resolve_spiffe_id(spiffe_id)
    assert "\n" not in caught.value.subject
    assert caught.value.subject.isascii()
    assert len(caught.value.subject) <= 256


def test_segment_charset_and_length_boundary(resolver: IdentityResolver) -> None:
    longest = "a" * 64
    identity = resolver.resolve_spiffe_id(f"spiffe://{TD}/tenant/{longest}/service/Svc-1.v_2")
    assert (identity.tenant, identity.service) == (longest, "Svc-1.v_2")
    uuid_tenant = "3f2b8a4e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"
    assert resolver.resolve_spiffe_id(f"spiffe://{TD}/tenant/{uuid_tenant}/service/s").tenant == uuid_tenant


def test_max_segment_length_is_a_setting() -> None:
    short = IdentityResolver(IdentitySettings(trust_domain=TD, max_segment_length=4))
    assert short.resolve_spiffe_id(f"spiffe://{TD}/tenant/abcd/service/s").tenant == "abcd"
    with pytest.raises(UnknownIdentity):
        short.resolve_spiffe_id(f"spiffe://{TD}/tenant/abcde/service/s")


def test_hostile_certificate_text_is_escaped_for_audit(
    ca: IssuedCertificate, resolver: IdentityResolver
) -> None:
    der = certificate(ca, common_name="evil\nCN=admin\x1b[31m\u202e")
    identity = resolver.identify(der)
    assert identity.role is Role.UNKNOWN
    assert identity.subject == "CN=evil\\x0aCN=admin\\x1b[31m\\u202e"
    assert identity.subject.isprintable()
    assert identity.subject.isascii()


def test_common_name_lookup_is_exact(resolver: IdentityResolver) -> None:
    assert resolver.resolve_common_name("legacy-app").tenant == "t-legacy"
    for near_miss in ("Legacy-App", "legacy-app ", " legacy-app", "legacy-app\x00", "legacy"):
        with pytest.raises(UnknownIdentity):
            resolver.resolve_common_name(near_miss)


# -- configuration ---------------------------------------------------------------------------------


def test_custom_tenant_pattern() -> None:
    resolver = IdentityResolver(
        IdentitySettings(
            trust_domain="k8s.example", tenant_pattern="spiffe://{trust_domain}/ns/{tenant}/sa/{service}"
        )
    )
    identity = resolver.resolve_spiffe_id("spiffe://k8s.example/ns/acme/sa/billing")
    assert (identity.role, identity.tenant, identity.service) == (Role.TENANT_CLIENT, "acme", "billing")
    with pytest.raises(UnknownIdentity):
        resolver.resolve_spiffe_id("spiffe://k8s.example/tenant/acme/service/billing")
    # Field order in the pattern does not matter.
    swapped = IdentityResolver(
        IdentitySettings(trust_domain=TD, tenant_pattern="spiffe://{trust_domain}/svc/{service}/of/{tenant}")
    )
    assert swapped.resolve_spiffe_id(f"spiffe://{TD}/svc/billing/of/acme").tenant == "acme"


def test_regex_characters_in_a_pattern_are_literal() -> None:
    resolver = IdentityResolver(
        IdentitySettings(trust_domain=TD, tenant_pattern="spiffe://{trust_domain}/t.+/{tenant}/{service}")
    )
    assert resolver.resolve_spiffe_id(f"spiffe://{TD}/t.+/acme/billing").tenant == "acme"
    with pytest.raises(UnknownIdentity):
        resolver.resolve_spiffe_id(f"spiffe://{TD}/txx/acme/billing")


def test_overlapping_patterns_refuse_the_ambiguous_id() -> None:
    resolver = IdentityResolver(
        IdentitySettings(trust_domain=TD, tenant_pattern="spiffe://{trust_domain}/{tenant}/{service}")
    )
    assert resolver.resolve_spiffe_id(f"spiffe://{TD}/acme/billing").tenant == "acme"
    with pytest.raises(UnknownIdentity) as caught:
        resolver.resolve_spiffe_id(f"spiffe://{TD}/gateway/edge")  # tenant "gateway" or gateway "edge"?
    assert caught.value.reason == "SPIFFE ID matches more than one pattern"


@pytest.mark.parametrize(
    "pattern",
    [
        "spiffe://{trust_domain}/tenant/{tenant}",  # no {service}
        "spiffe://{trust_domain}/tenant/{tenant}/service/{tenant}",  # repeated
        "spiffe://{trust_domain}/tenant/{tenant}/service/{service}/{extra}",
        "spiffe://{trust_domain}/tenant/{tenant:>10}/service/{service}",
        "spiffe://{trust_domain}/tenant/{tenant!r}/service/{service}",
        "https://{trust_domain}/tenant/{tenant}/service/{service}",
        "spiffe://{trust_domain}/tenant/{tenant/service/{service}",
    ],
)
def test_bad_patterns_are_rejected_at_construction(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"pattern|Single|expected"):
        IdentityResolver(IdentitySettings(trust_domain=TD, tenant_pattern=pattern))


@pytest.mark.parametrize(
    "trust_domain", ["", "Prod.example", "prod example", "prod/example", "x" * 256, "-prod"]
)
def test_bad_trust_domains_are_rejected(trust_domain: str) -> None:
    with pytest.raises(ValueError, match="trust_domain"):
        IdentitySettings(trust_domain=trust_domain)


@pytest.mark.parametrize(
    "table", [{"": ("t", "s")}, {"cn": ("", "s")}, {"cn": ("t", "s/x")}, {"cn": ("../t", "s")}]
)
def test_bad_common_name_tables_are_rejected(table: dict[str, tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="common_names"):
        IdentityResolver(IdentitySettings(trust_domain=TD, common_names=table))
