"""The KMIP 1.4 attributes (section 3): one table, one row per attribute, each citing its section.

Each row gives the attribute's canonical name (the first row of its first table, as used in
Attribute Name), its tag, the Python type of its Attribute Value (read by the model's codec
exactly like a field annotation), and the characteristics of its rules table (Table 54 explains
them): whether it always has a value, who sets it initially, who may modify or delete it,
whether it is multi-instance, which operations set it implicitly, which object types it applies
to, and the protocol version that introduced it. Where the spec qualifies a rule ("Yes, only
while in Pre-Active state") the rule is ``Rule.CONDITIONAL`` and ``conditions`` quotes the
qualification; the server turns those into checks.

Custom attributes (section 3.39) have no fixed name: any name starting "x-" (client) or "y-"
(server) is one, described by ``CUSTOM_ATTRIBUTE``; their values keep their raw Item.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

from kmip_server.model.base import (
    AlternativeName,
    ApplicationSpecificInformation,
    CertificateIdentifier,
    CertificateIssuer,
    CertificateSubject,
    CryptographicDomainParameters,
    CryptographicParameters,
    Digest,
    KeyValueLocation,
    Link,
    Name,
    RevocationReason,
    RNGParameters,
    UsageLimits,
    X509CertificateIdentifier,
    X509CertificateIssuer,
    X509CertificateSubject,
)
from kmip_server.model.codec import DateTime, Interval, Version
from ttlv.item import Item
from ttlv.kmip14 import (
    CertificateType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    ObjectType,
    Operation,
    State,
    Tag,
)

__all__ = [
    "ALL_CRYPTOGRAPHIC_OBJECTS",
    "ALL_OBJECTS",
    "ATTRIBUTES",
    "CUSTOM_ATTRIBUTE",
    "AttributeRule",
    "Rule",
    "Setter",
    "attribute_rule",
    "is_custom_attribute_name",
]


class Rule(IntEnum):
    """A Yes/No characteristic of an attribute rules table."""

    NO = 0
    YES = 1
    CONDITIONAL = 2  # "Yes, only ...": see AttributeRule.conditions


class Setter(IntFlag):
    """Who may set an attribute initially ("Initially set by")."""

    SERVER = 1
    CLIENT = 2


@dataclass(frozen=True, slots=True)
class AttributeRule:
    """One attribute of section 3 and its rules table."""

    name: str
    tag: Tag
    value_type: Any  # a model field annotation: str, int, DateTime, CryptographicAlgorithm, Name...
    always_has_value: Rule
    initially_set_by: Setter
    server_may_modify: Rule
    client_may_modify: Rule
    client_may_delete: Rule
    multi_instance: Rule
    implicitly_set_by: frozenset[Operation]
    applies_to: frozenset[ObjectType]
    since: Version
    section: str
    conditions: str = ""

    @property
    def client_may_set(self) -> bool:
        """Whether a client may give the attribute its first value (templates, Add Attribute)."""
        return bool(self.initially_set_by & Setter.CLIENT)


# Object type groups as the "Applies to Object Types" rows name them.
ALL_OBJECTS = frozenset(ObjectType)
ALL_CRYPTOGRAPHIC_OBJECTS = ALL_OBJECTS - {ObjectType.TEMPLATE, ObjectType.OPAQUE_OBJECT}
"""Managed Cryptographic Objects (section 2.2): certificates, keys, split keys, secret data."""
_KEYS = frozenset(
    {
        ObjectType.SYMMETRIC_KEY,
        ObjectType.PUBLIC_KEY,
        ObjectType.PRIVATE_KEY,
        ObjectType.SPLIT_KEY,
        ObjectType.PGP_KEY,
    }
)
_ASYMMETRIC_KEYS = frozenset({ObjectType.PUBLIC_KEY, ObjectType.PRIVATE_KEY})
_CERTIFICATES = frozenset({ObjectType.CERTIFICATE})
_TEMPLATES = frozenset({ObjectType.TEMPLATE})
_OPAQUE = frozenset({ObjectType.OPAQUE_OBJECT})
_SYMMETRIC = frozenset({ObjectType.SYMMETRIC_KEY, ObjectType.SPLIT_KEY})
# Tables 110 and 112 apply Process Start and Protect Stop Date to symmetric keys only, but the
# mandatory OASIS test case CS-AC-M-8-14 (Advanced Cryptographic profile) registers a Private
# and a Public Key with both dates and expects Sign and Signature Verify to be refused by them;
# so this server lets them apply to asymmetric keys too (crypto.usage enforces them for all).
_PROCESS_DATES_APPLY_TO = _SYMMETRIC | _ASYMMETRIC_KEYS
_KEY_VALUE_HOLDERS = frozenset(
    {ObjectType.SYMMETRIC_KEY, ObjectType.PRIVATE_KEY, ObjectType.SPLIT_KEY, ObjectType.SECRET_DATA}
)

_O = Operation
_CREATING = frozenset(
    {
        _O.CREATE,
        _O.CREATE_KEY_PAIR,
        _O.REGISTER,
        _O.DERIVE_KEY,
        _O.CERTIFY,
        _O.RE_CERTIFY,
        _O.RE_KEY,
        _O.RE_KEY_KEY_PAIR,
    }
)
"""The operations most rules tables list under "When implicitly set"."""
_GENERATING = frozenset({_O.CREATE, _O.CREATE_KEY_PAIR, _O.DERIVE_KEY, _O.RE_KEY, _O.RE_KEY_KEY_PAIR})
_CERT_SOURCES = frozenset({_O.REGISTER, _O.CERTIFY, _O.RE_CERTIFY})
_REPLACING = frozenset({_O.RE_KEY, _O.RE_KEY_KEY_PAIR, _O.RE_CERTIFY})

Y, N, C = Rule.YES, Rule.NO, Rule.CONDITIONAL
S, CL = Setter.SERVER, Setter.CLIENT
SC = Setter.SERVER | Setter.CLIENT


def _row(
    name: str,
    tag: Tag,
    value_type: Any,
    section: str,
    since: Version,
    *,
    always: Rule,
    initially: Setter,
    server_modify: Rule,
    client_modify: Rule,
    client_delete: Rule,
    multi: Rule,
    implicit: frozenset[Operation],
    applies_to: frozenset[ObjectType],
    conditions: str = "",
) -> AttributeRule:
    return AttributeRule(
        name=name,
        tag=tag,
        value_type=value_type,
        always_has_value=always,
        initially_set_by=initially,
        server_may_modify=server_modify,
        client_may_modify=client_modify,
        client_may_delete=client_delete,
        multi_instance=multi,
        implicitly_set_by=implicit,
        applies_to=applies_to,
        since=since,
        section=section,
        conditions=conditions,
    )


_V10, _V11, _V12, _V13, _V14 = (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)
_SERVER_FIXED: dict[str, Any] = {  # the rules of an attribute the server sets once and nobody changes
    "always": Y,
    "initially": S,
    "server_modify": N,
    "client_modify": N,
    "client_delete": N,
    "multi": N,
}

_ROWS: tuple[AttributeRule, ...] = (
    _row("Unique Identifier", Tag.UNIQUE_IDENTIFIER, str, "3.1", _V10,
         **_SERVER_FIXED, implicit=_CREATING, applies_to=ALL_OBJECTS),
    _row("Name", Tag.NAME, Name, "3.2", _V10,
         always=N, initially=CL, server_modify=Y, client_modify=Y, client_delete=Y, multi=Y,
         implicit=_REPLACING, applies_to=ALL_OBJECTS),
    _row("Object Type", Tag.OBJECT_TYPE, ObjectType, "3.3", _V10,
         **_SERVER_FIXED, implicit=_CREATING, applies_to=ALL_OBJECTS),
    _row("Cryptographic Algorithm", Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm, "3.4", _V10,
         **_SERVER_FIXED, implicit=_CREATING, applies_to=_KEYS | _CERTIFICATES | _TEMPLATES),
    _row("Cryptographic Length", Tag.CRYPTOGRAPHIC_LENGTH, int, "3.5", _V10,
         **_SERVER_FIXED, implicit=_CREATING, applies_to=_KEYS | _CERTIFICATES | _TEMPLATES),
    _row("Cryptographic Parameters", Tag.CRYPTOGRAPHIC_PARAMETERS, CryptographicParameters, "3.6", _V10,
         always=N, initially=CL, server_modify=N, client_modify=Y, client_delete=Y, multi=Y,
         implicit=_REPLACING, applies_to=_KEYS | _CERTIFICATES | _TEMPLATES),
    _row("Cryptographic Domain Parameters", Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
         CryptographicDomainParameters, "3.7", _V10,
         always=N, initially=CL, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.RE_KEY, _O.RE_KEY_KEY_PAIR}), applies_to=_ASYMMETRIC_KEYS | _TEMPLATES),
    _row("Certificate Type", Tag.CERTIFICATE_TYPE, CertificateType, "3.8", _V10,
         **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES),
    _row("Certificate Length", Tag.CERTIFICATE_LENGTH, int, "3.9", _V11,
         **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES),
    _row("X.509 Certificate Identifier", Tag.X_509_CERTIFICATE_IDENTIFIER, X509CertificateIdentifier,
         "3.10", _V11, **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="X.509 certificates only"),
    _row("X.509 Certificate Subject", Tag.X_509_CERTIFICATE_SUBJECT, X509CertificateSubject,
         "3.11", _V11, **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="X.509 certificates only"),
    _row("X.509 Certificate Issuer", Tag.X_509_CERTIFICATE_ISSUER, X509CertificateIssuer,
         "3.12", _V11, **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="X.509 certificates only"),
    _row("Certificate Identifier", Tag.CERTIFICATE_IDENTIFIER, CertificateIdentifier, "3.13", _V10,
         **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="deprecated as of KMIP 1.1"),
    _row("Certificate Subject", Tag.CERTIFICATE_SUBJECT, CertificateSubject, "3.14", _V10,
         **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="deprecated as of KMIP 1.1"),
    _row("Certificate Issuer", Tag.CERTIFICATE_ISSUER, CertificateIssuer, "3.15", _V10,
         **_SERVER_FIXED, implicit=_CERT_SOURCES, applies_to=_CERTIFICATES,
         conditions="deprecated as of KMIP 1.1"),
    _row("Digital Signature Algorithm", Tag.DIGITAL_SIGNATURE_ALGORITHM, DigitalSignatureAlgorithm,
         "3.16", _V11,
         always=Y, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=C,
         implicit=_CERT_SOURCES, applies_to=_CERTIFICATES | {ObjectType.PGP_KEY},
         conditions="multiple instances: yes for PGP keys, no for X.509 certificates"),
    _row("Digest", Tag.DIGEST, Digest, "3.17", _V10,
         always=C, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=Y,
         implicit=_CREATING, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _OPAQUE,
         conditions="always has a value if the server has access to the Digest Value or the key "
         "material, certificate value or opaque data value; one instance SHALL use SHA-256"),
    _row("Operation Policy Name", Tag.OPERATION_POLICY_NAME, str, "3.18", _V10,
         always=N, initially=SC, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS, conditions="deprecated as of KMIP 1.3"),
    _row("Cryptographic Usage Mask", Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask, "3.19", _V10,
         always=Y, initially=SC, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _TEMPLATES),
    _row("Lease Time", Tag.LEASE_TIME, Interval, "3.20", _V10,
         always=N, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS),
    _row("Usage Limits", Tag.USAGE_LIMITS, UsageLimits, "3.21", _V10,
         always=N, initially=SC, server_modify=Y, client_modify=C, client_delete=C, multi=N,
         implicit=(_GENERATING | {_O.REGISTER, _O.GET_USAGE_ALLOCATION}),
         applies_to=_KEYS | _TEMPLATES,
         conditions="the client sets Total and/or Unit only, never Count; it may modify or delete "
         "the attribute only as long as Get Usage Allocation has not been performed"),
    _row("State", Tag.STATE, State, "3.22", _V10,
         always=Y, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING | {_O.ACTIVATE, _O.REVOKE, _O.DESTROY},
         applies_to=ALL_CRYPTOGRAPHIC_OBJECTS,
         conditions="changed only by the server as part of operations (section 3.22 transitions)"),
    _row("Initial Date", Tag.INITIAL_DATE, DateTime, "3.23", _V10,
         **_SERVER_FIXED, implicit=_CREATING, applies_to=ALL_OBJECTS),
    _row("Activation Date", Tag.ACTIVATION_DATE, DateTime, "3.24", _V10,
         always=N, initially=SC, server_modify=C, client_modify=C, client_delete=N, multi=N,
         implicit=_CREATING | {_O.ACTIVATE}, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _TEMPLATES,
         conditions="modifiable only while in Pre-Active state"),
    _row("Process Start Date", Tag.PROCESS_START_DATE, DateTime, "3.25", _V10,
         always=N, initially=SC, server_modify=C, client_modify=C, client_delete=N, multi=N,
         implicit=frozenset({_O.CREATE, _O.REGISTER, _O.DERIVE_KEY, _O.RE_KEY}),
         applies_to=_PROCESS_DATES_APPLY_TO | _TEMPLATES,
         conditions="modifiable only while in Pre-Active or Active state and as long as the Process "
         "Start Date has not been reached; split keys only of symmetric keys"),
    _row("Protect Stop Date", Tag.PROTECT_STOP_DATE, DateTime, "3.26", _V10,
         always=N, initially=SC, server_modify=C, client_modify=C, client_delete=N, multi=N,
         implicit=frozenset({_O.CREATE, _O.REGISTER, _O.DERIVE_KEY, _O.RE_KEY}),
         applies_to=_PROCESS_DATES_APPLY_TO | _TEMPLATES,
         conditions="modifiable only while in Pre-Active or Active state and as long as the Protect "
         "Stop Date has not been reached; split keys only of symmetric keys"),
    _row("Deactivation Date", Tag.DEACTIVATION_DATE, DateTime, "3.27", _V10,
         always=N, initially=SC, server_modify=C, client_modify=C, client_delete=N, multi=N,
         implicit=_CREATING | {_O.REVOKE}, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _TEMPLATES,
         conditions="modifiable only while in Pre-Active or Active state"),
    _row("Destroy Date", Tag.DESTROY_DATE, DateTime, "3.28", _V10,
         always=N, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.DESTROY}), applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _OPAQUE),
    _row("Compromise Occurrence Date", Tag.COMPROMISE_OCCURRENCE_DATE, DateTime, "3.29", _V10,
         always=N, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.REVOKE}), applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _OPAQUE),
    _row("Compromise Date", Tag.COMPROMISE_DATE, DateTime, "3.30", _V10,
         always=N, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.REVOKE}), applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _OPAQUE),
    _row("Revocation Reason", Tag.REVOCATION_REASON, RevocationReason, "3.31", _V10,
         always=N, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.REVOKE}), applies_to=ALL_CRYPTOGRAPHIC_OBJECTS | _OPAQUE),
    _row("Archive Date", Tag.ARCHIVE_DATE, DateTime, "3.32", _V10,
         always=N, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.ARCHIVE}), applies_to=ALL_OBJECTS,
         conditions="deleted by the server on Recover"),
    _row("Object Group", Tag.OBJECT_GROUP, str, "3.33", _V10,
         always=N, initially=SC, server_modify=Y, client_modify=Y, client_delete=Y, multi=Y,
         implicit=_CREATING, applies_to=ALL_OBJECTS),
    _row("Fresh", Tag.FRESH, bool, "3.34", _V11,
         always=N, initially=SC, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS),
    _row("Link", Tag.LINK, Link, "3.35", _V10,
         always=N, initially=SC, server_modify=Y, client_modify=Y, client_delete=Y, multi=Y,
         implicit=_CREATING - {_O.CREATE, _O.REGISTER}, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS),
    _row("Application Specific Information", Tag.APPLICATION_SPECIFIC_INFORMATION,
         ApplicationSpecificInformation, "3.36", _V10,
         always=N, initially=SC, server_modify=C, client_modify=Y, client_delete=Y, multi=Y,
         implicit=_REPLACING, applies_to=ALL_OBJECTS,
         conditions="the server sets or modifies it only if the client omitted Application Data"),
    _row("Contact Information", Tag.CONTACT_INFORMATION, str, "3.37", _V10,
         always=N, initially=SC, server_modify=Y, client_modify=Y, client_delete=Y, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS),
    _row("Last Change Date", Tag.LAST_CHANGE_DATE, DateTime, "3.38", _V10,
         always=Y, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING | {
             _O.ACTIVATE, _O.REVOKE, _O.DESTROY, _O.ARCHIVE, _O.RECOVER, _O.ADD_ATTRIBUTE,
             _O.MODIFY_ATTRIBUTE, _O.DELETE_ATTRIBUTE, _O.GET_USAGE_ALLOCATION,
         },
         applies_to=ALL_OBJECTS),
    _row("Alternative Name", Tag.ALTERNATIVE_NAME, AlternativeName, "3.40", _V12,
         always=N, initially=CL, server_modify=C, client_modify=Y, client_delete=Y, multi=Y,
         implicit=frozenset(), applies_to=ALL_OBJECTS,
         conditions="the server modifies it only if no value is present"),
    _row("Key Value Present", Tag.KEY_VALUE_PRESENT, bool, "3.41", _V12,
         always=N, initially=S, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=frozenset({_O.REGISTER}), applies_to=_KEY_VALUE_HOLDERS,
         conditions="SHALL NOT be specified by the client in a Register request"),
    _row("Key Value Location", Tag.KEY_VALUE_LOCATION, KeyValueLocation, "3.42", _V12,
         always=N, initially=CL, server_modify=N, client_modify=Y, client_delete=Y, multi=Y,
         implicit=frozenset(), applies_to=_KEY_VALUE_HOLDERS),
    _row("Original Creation Date", Tag.ORIGINAL_CREATION_DATE, DateTime, "3.43", _V12,
         always=N, initially=SC, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=_GENERATING, applies_to=ALL_OBJECTS,
         conditions="a client may set it (Register, or Add Attribute) only if not yet set"),
    _row("Random Number Generator", Tag.RANDOM_NUMBER_GENERATOR, RNGParameters, "3.44", _V13,
         always=N, initially=SC, server_modify=N, client_modify=N, client_delete=N, multi=N,
         implicit=_GENERATING, applies_to=ALL_CRYPTOGRAPHIC_OBJECTS,
         conditions="a client may set it (Register, or Add Attribute) only if not yet set"),
    _row("PKCS#12 Friendly Name", Tag.PKCS_12_FRIENDLY_NAME, str, "3.45", _V14,
         always=N, initially=SC, server_modify=N, client_modify=Y, client_delete=Y, multi=N,
         implicit=frozenset(), applies_to=ALL_CRYPTOGRAPHIC_OBJECTS),
    _row("Description", Tag.DESCRIPTION, str, "3.46", _V14,
         always=N, initially=SC, server_modify=Y, client_modify=Y, client_delete=Y, multi=N,
         implicit=frozenset(), applies_to=ALL_OBJECTS),
    _row("Comment", Tag.COMMENT, str, "3.47", _V14,
         always=N, initially=SC, server_modify=Y, client_modify=Y, client_delete=Y, multi=N,
         implicit=frozenset(), applies_to=ALL_OBJECTS),
    _row("Sensitive", Tag.SENSITIVE, bool, "3.48", _V14,
         always=Y, initially=SC, server_modify=Y, client_modify=Y, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS,
         conditions="set when the object is created or registered (False unless the client says)"),
    _row("Always Sensitive", Tag.ALWAYS_SENSITIVE, bool, "3.49", _V14,
         always=Y, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS,
         conditions="set when the Sensitive attribute is set or changed"),
    _row("Extractable", Tag.EXTRACTABLE, bool, "3.50", _V14,
         always=Y, initially=SC, server_modify=Y, client_modify=Y, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS,
         conditions="set when the object is created or registered (True unless the client says)"),
    _row("Never Extractable", Tag.NEVER_EXTRACTABLE, bool, "3.51", _V14,
         always=Y, initially=S, server_modify=Y, client_modify=N, client_delete=N, multi=N,
         implicit=_CREATING, applies_to=ALL_OBJECTS,
         conditions="set when the Extractable attribute is set or changed"),
)  # fmt: skip

ATTRIBUTES: dict[str, AttributeRule] = {row.name: row for row in _ROWS}
"""Attribute Name -> its rule, for every named attribute of KMIP 1.4 section 3."""

CUSTOM_ATTRIBUTE = AttributeRule(
    name="Custom Attribute",
    tag=Tag.CUSTOM_ATTRIBUTE,
    value_type=Item,
    always_has_value=N,
    initially_set_by=SC,
    server_may_modify=C,
    client_may_modify=C,
    client_may_delete=C,
    multi_instance=Y,
    implicitly_set_by=_CREATING | {_O.ACTIVATE, _O.REVOKE, _O.DESTROY},
    applies_to=ALL_OBJECTS,
    since=_V10,
    section="3.39",
    conditions="names start 'x-' (client-created: the client may modify and delete them) or 'y-' "
    "(server-created: the server may modify them; a client SHALL NOT create or modify them)",
)
"""The rule of every custom attribute (section 3.39): any type, any structure without
sub-structures."""


def is_custom_attribute_name(name: str) -> bool:
    """Whether ``name`` names a custom attribute (section 3.39: prefix 'x-' or 'y-')."""
    return name.startswith(("x-", "y-"))


def attribute_rule(name: str) -> AttributeRule | None:
    """The rule of the attribute called ``name`` (custom attributes included), or None."""
    rule = ATTRIBUTES.get(name)
    if rule is None and is_custom_attribute_name(name):
        return CUSTOM_ATTRIBUTE
    return rule
