"""Who is calling: the client certificate, mapped to a tenant client, a gateway or an operator.

DESIGN section 5. The mapping comes from the certificate alone (the TLS layer has already
verified it against the CA bundle):
- A SPIFFE ID (a ``spiffe:`` URI SAN) decides alone. It must match exactly one of three patterns
  (tenant client, gateway, operator; each configurable), in the configured trust domain, with
  every captured segment inside a strict charset and length.
- Without any SPIFFE URI SAN, the Subject Common Name is looked up in a table of
  CN -> (tenant, service), for clients that cannot carry SPIFFE IDs.
- Anything else maps to nothing.

Invariants:
- ``IdentityResolver.resolve`` returns a known ``Identity`` or raises ``UnknownIdentity``
  (Permission Denied); ``identify`` never raises and returns ``Role.UNKNOWN`` instead, so that
  the request engine can answer Permission Denied and audit the attempt with the subject and
  fingerprint of the certificate that was refused.
- More than one SPIFFE URI SAN, a SPIFFE ID that fits more than one pattern, more than one
  Common Name, or extensions that cannot be read: refused, never guessed.
- ``Identity.subject`` is printable ASCII of bounded length (control and non-ASCII characters are
  escaped), safe to write into an audit record or a log line.
- Refusal reasons are for the audit log only; what a client sees is a fixed message.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ttlv.kmip14 import ResultReason

__all__ = [
    "Identity",
    "IdentityResolver",
    "IdentitySettings",
    "IdentitySource",
    "Role",
    "UnknownIdentity",
]

_SPIFFE_SCHEME = "spiffe:"
_MAX_URI_LENGTH = 2048  # SPIFFE caps an ID at 2048 bytes
_MAX_SUBJECT_LENGTH = 256
_TRUST_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,253}[a-z0-9])?")


class Role(IntEnum):
    UNKNOWN = 0  # a verified certificate that maps to nothing: every request is Permission Denied
    TENANT_CLIENT = 1
    GATEWAY = 2
    OPERATOR = 3


class IdentitySource(IntEnum):
    NONE = 0
    SPIFFE_ID = 1
    COMMON_NAME = 2


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of one connection. ``tenant``/``service`` are set for tenant clients only,
    ``gateway`` for gateways, ``operator`` for operators; ``refusal`` for ``Role.UNKNOWN`` only."""

    role: Role
    subject: str  # the SPIFFE ID or the subject name, escaped: for audit records and logs
    fingerprint: str = ""  # SHA-256 of the certificate (DER), lowercase hex
    source: IdentitySource = IdentitySource.NONE
    tenant: str | None = None
    service: str | None = None
    gateway: str | None = None
    operator: str | None = None
    refusal: str | None = None  # why nothing matched (audit only, never sent to the client)

    @property
    def known(self) -> bool:
        return self.role is not Role.UNKNOWN


class UnknownIdentity(Exception):
    """The certificate maps to no identity. Clients are told Permission Denied and nothing more."""

    result_reason: ClassVar[ResultReason] = ResultReason.PERMISSION_DENIED
    message: ClassVar[str] = "the client identity is not recognized"

    def __init__(self, reason: str, *, subject: str = "", fingerprint: str = "") -> None:
        super().__init__(self.message)
        self.reason = reason
        self.subject = subject
        self.fingerprint = fingerprint

    def as_identity(self) -> Identity:
        return Identity(Role.UNKNOWN, self.subject, self.fingerprint, refusal=self.reason)


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """How certificates map to identities. Picklable, so that each worker process can build its
    own resolver."""

    trust_domain: str = "openkcm.local"
    tenant_pattern: str = "spiffe://{trust_domain}/tenant/{tenant}/service/{service}"
    gateway_pattern: str = "spiffe://{trust_domain}/gateway/{name}"
    operator_pattern: str = "spiffe://{trust_domain}/operator/{name}"
    # Subject CN -> (tenant, service), for clients without SPIFFE IDs.
    common_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    max_segment_length: int = 64  # tenant, service, gateway and operator names

    def __post_init__(self) -> None:
        if not 1 <= self.max_segment_length <= 255:
            raise ValueError("max_segment_length must be between 1 and 255")
        if len(self.trust_domain) > 255 or not _TRUST_DOMAIN.fullmatch(self.trust_domain):
            raise ValueError("trust_domain must be a lowercase SPIFFE trust domain name")


def _escape(text: str) -> str:
    """Printable ASCII only, bounded: certificate text is attacker-chosen."""
    escaped = text.replace("\\", "\\\\").encode("ascii", "backslashreplace").decode("ascii")
    escaped = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in escaped)
    if len(escaped) > _MAX_SUBJECT_LENGTH:
        return escaped[: _MAX_SUBJECT_LENGTH - 3] + "..."
    return escaped


@dataclass(frozen=True, slots=True)
class _Pattern:
    role: Role
    regex: re.Pattern[str]


def _compile(template: str, role: Role, required: tuple[str, ...], settings: IdentitySettings) -> _Pattern:
    """Turn ``spiffe://{trust_domain}/tenant/{tenant}/...`` into an exact regular expression."""
    if not template.startswith("spiffe://"):
        raise ValueError(f"{role.name.lower()} pattern must start with spiffe://")
    segment = f"[A-Za-z0-9][A-Za-z0-9._-]{{0,{settings.max_segment_length - 1}}}"
    parts: list[str] = []
    seen: list[str] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{role.name.lower()} pattern: no format specs or conversions allowed")
        if name == "trust_domain":
            parts.append(re.escape(settings.trust_domain))
        elif name in required and name not in seen:
            seen.append(name)
            parts.append(f"(?P<{name}>{segment})")
        else:
            raise ValueError(f"{role.name.lower()} pattern: unexpected or repeated field {{{name}}}")
    if sorted(seen) != sorted(required):
        raise ValueError(
            f"{role.name.lower()} pattern must contain {', '.join('{' + r + '}' for r in required)}"
        )
    return _Pattern(role, re.compile("".join(parts)))


class IdentityResolver:
    """Maps a verified client certificate to an ``Identity``. Pure and synchronous."""

    __slots__ = ("_common_names", "_patterns", "_segment")

    def __init__(self, settings: IdentitySettings) -> None:
        self._patterns = (
            _compile(settings.tenant_pattern, Role.TENANT_CLIENT, ("tenant", "service"), settings),
            _compile(settings.gateway_pattern, Role.GATEWAY, ("name",), settings),
            _compile(settings.operator_pattern, Role.OPERATOR, ("name",), settings),
        )
        self._segment = re.compile(f"[A-Za-z0-9][A-Za-z0-9._-]{{0,{settings.max_segment_length - 1}}}")
        table: dict[str, tuple[str, str]] = {}
        for common_name, (tenant, service) in settings.common_names.items():
            if not common_name or not all(self._segment.fullmatch(v) for v in (tenant, service)):
                raise ValueError("common_names: empty CN, or a tenant/service outside the allowed charset")
            table[common_name] = (tenant, service)
        self._common_names = table

    def identify(self, certificate: bytes | x509.Certificate | None) -> Identity:
        """Like ``resolve``, but an unmapped certificate gives a ``Role.UNKNOWN`` identity."""
        try:
            return self.resolve(certificate)
        except UnknownIdentity as unknown:
            return unknown.as_identity()

    def resolve(self, certificate: bytes | x509.Certificate | None) -> Identity:
        """The identity of a verified peer certificate (DER or parsed); raises ``UnknownIdentity``."""
        if certificate is None:
            raise UnknownIdentity("no client certificate")
        der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(Encoding.DER)
        fingerprint = hashlib.sha256(der).hexdigest()
        try:
            parsed = x509.load_der_x509_certificate(der) if isinstance(certificate, bytes) else certificate
            spiffe_ids = self._spiffe_ids(parsed)
            common_names = [
                attribute.value for attribute in parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            ]
            subject = parsed.subject.rfc4514_string()
        except (ValueError, TypeError, UnicodeError) as exc:
            raise UnknownIdentity(
                "unreadable certificate names", subject="(unreadable)", fingerprint=fingerprint
            ) from exc

        if spiffe_ids:
            if len(spiffe_ids) > 1:
                raise UnknownIdentity(
                    "more than one SPIFFE ID",
                    subject=_escape(" ".join(spiffe_ids)),
                    fingerprint=fingerprint,
                )
            return self._from_spiffe_id(spiffe_ids[0], fingerprint)

        if len(common_names) != 1 or not isinstance(common_names[0], str):
            reason = "no SPIFFE ID and no common name" if not common_names else "more than one common name"
            raise UnknownIdentity(reason, subject=_escape(subject), fingerprint=fingerprint)
        return self._from_common_name(common_names[0], fingerprint)

    def resolve_spiffe_id(self, spiffe_id: str) -> Identity:
        """The identity a SPIFFE ID maps to (no certificate involved); raises ``UnknownIdentity``."""
        return self._from_spiffe_id(spiffe_id, "")

    def resolve_common_name(self, common_name: str) -> Identity:
        """The identity a Subject CN maps to through the table; raises ``UnknownIdentity``."""
        return self._from_common_name(common_name, "")

    @staticmethod
    def _spiffe_ids(certificate: x509.Certificate) -> list[str]:
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        # The scheme is matched without regard to case so that "SPIFFE://..." counts as a SPIFFE
        # ID (and is then refused by the exact patterns) rather than slipping past as "no SPIFFE ID".
        return [uri for uri in uris if uri[: len(_SPIFFE_SCHEME)].lower() == _SPIFFE_SCHEME]

    def _from_spiffe_id(self, spiffe_id: str, fingerprint: str) -> Identity:
        subject = _escape(spiffe_id)
        if len(spiffe_id) > _MAX_URI_LENGTH:
            raise UnknownIdentity("SPIFFE ID too long", subject=subject, fingerprint=fingerprint)
        matches = [
            (pattern.role, found)
            for pattern in self._patterns
            if (found := pattern.regex.fullmatch(spiffe_id)) is not None
        ]
        if len(matches) != 1:
            reason = (
                "SPIFFE ID matches no pattern" if not matches else "SPIFFE ID matches more than one pattern"
            )
            raise UnknownIdentity(reason, subject=subject, fingerprint=fingerprint)
        role, found = matches[0]
        source = IdentitySource.SPIFFE_ID
        if role is Role.TENANT_CLIENT:
            return Identity(
                role, subject, fingerprint, source, tenant=found["tenant"], service=found["service"]
            )
        if role is Role.GATEWAY:
            return Identity(role, subject, fingerprint, source, gateway=found["name"])
        return Identity(role, subject, fingerprint, source, operator=found["name"])

    def _from_common_name(self, common_name: str, fingerprint: str) -> Identity:
        subject = _escape(f"CN={common_name}")
        entry = self._common_names.get(common_name)
        if entry is None:
            raise UnknownIdentity(
                "common name not in the identity table", subject=subject, fingerprint=fingerprint
            )
        tenant, service = entry
        return Identity(
            Role.TENANT_CLIENT,
            subject,
            fingerprint,
            IdentitySource.COMMON_NAME,
            tenant=tenant,
            service=service,
        )
