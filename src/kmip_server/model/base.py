"""KMIP 1.4 base objects (section 2.1) and the structured attribute values (section 3).

Every class is a model class (see ``codec``): its fields, in spec order, carry their tags; the
codec is derived from the annotations. Field names are the spec names in snake case. Fields
that hold secrets (key material, private key components, passwords) are ``repr=False``.

Everything here but ``Credential`` is independent of the Attribute structure, so that the
attribute table can refer to these classes as attribute value types.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, TypeAlias

from kmip_server.model.codec import (
    BigInteger,
    DependsOn,
    LongInteger,
    NonEmpty,
    Since,
    Version,
    decode_struct,
    encode_struct,
    model,
)
from kmip_server.model.errors import InvalidMessage
from ttlv.item import Item
from ttlv.kmip14 import (
    AlternativeNameType,
    AttestationType,
    BlockCipherMode,
    CredentialType,
    CryptographicAlgorithm,
    DestroyAction,
    DigitalSignatureAlgorithm,
    DRBGAlgorithm,
    EncodingOption,
    FIPS186Variation,
    HashingAlgorithm,
    KeyFormatType,
    KeyRoleType,
    KeyValueLocationType,
    LinkType,
    MaskGenerator,
    NameType,
    PaddingMethod,
    ProfileName,
    RecommendedCurve,
    RevocationReasonCode,
    RNGAlgorithm,
    RNGMode,
    ShreddingAlgorithm,
    Tag,
    UnwrapMode,
    UsageLimitsUnit,
    ValidationAuthorityType,
    ValidationType,
    WrappingMethod,
)

# --------------------------------------------------------------------------------------------
# Message building blocks (section 6)


@model
class ProtocolVersion:
    """Section 6.1, Table 261."""

    major: Annotated[int, Tag.PROTOCOL_VERSION_MAJOR]
    minor: Annotated[int, Tag.PROTOCOL_VERSION_MINOR]

    @property
    def version(self) -> Version:
        return (self.major, self.minor)


@model
class MessageExtension:
    """Section 6.16, Table 276. The Vendor Extension's content is vendor-defined: kept raw."""

    vendor_identification: Annotated[str, Tag.VENDOR_IDENTIFICATION]
    criticality_indicator: Annotated[bool, Tag.CRITICALITY_INDICATOR]
    vendor_extension: Annotated[Item, Tag.VENDOR_EXTENSION]


@model
class Nonce:
    """Section 2.1.14, Table 35."""

    nonce_id: Annotated[bytes, Tag.NONCE_ID]
    nonce_value: Annotated[bytes, Tag.NONCE_VALUE] = field(repr=False)


# --------------------------------------------------------------------------------------------
# Credential (section 2.1.2): Credential Value chosen by Credential Type


@model
class UsernamePasswordCredential:
    """Section 2.1.2, Table 4."""

    username: Annotated[str, Tag.USERNAME]
    password: Annotated[str | None, Tag.PASSWORD] = field(default=None, repr=False)


@model
class DeviceCredential:
    """Section 2.1.2, Table 5 (KMIP 1.1)."""

    device_serial_number: Annotated[str | None, Tag.DEVICE_SERIAL_NUMBER] = None
    password: Annotated[str | None, Tag.PASSWORD] = field(default=None, repr=False)
    device_identifier: Annotated[str | None, Tag.DEVICE_IDENTIFIER] = None
    network_identifier: Annotated[str | None, Tag.NETWORK_IDENTIFIER] = None
    machine_identifier: Annotated[str | None, Tag.MACHINE_IDENTIFIER] = None
    media_identifier: Annotated[str | None, Tag.MEDIA_IDENTIFIER] = None


@model
class AttestationCredential:
    """Section 2.1.2, Table 6 (KMIP 1.2)."""

    nonce: Annotated[Nonce, Tag.NONCE]
    attestation_type: Annotated[AttestationType, Tag.ATTESTATION_TYPE]
    attestation_measurement: Annotated[bytes | None, Tag.ATTESTATION_MEASUREMENT] = None
    attestation_assertion: Annotated[bytes | None, Tag.ATTESTATION_ASSERTION] = None


CredentialValue: TypeAlias = UsernamePasswordCredential | DeviceCredential | AttestationCredential | Item
"""A Credential Value; an extension Credential Type's value is kept as its raw Item."""

CREDENTIAL_VALUE_TYPES: dict[int, type] = {
    CredentialType.USERNAME_AND_PASSWORD: UsernamePasswordCredential,
    CredentialType.DEVICE: DeviceCredential,
    CredentialType.ATTESTATION: AttestationCredential,
}
"""Credential Type -> the Credential Value structure (section 2.1.2, Tables 4-6)."""


def _decode_credential_value(item: Item, ctx: int, credential_type: Any) -> CredentialValue:
    cls = CREDENTIAL_VALUE_TYPES.get(credential_type) if credential_type is not None else None
    if cls is None:
        if credential_type is None:
            raise InvalidMessage("Credential: REQUIRED field Credential Type missing")
        return item  # an extension credential type (the enumeration check let only those through)
    value: CredentialValue = decode_struct(cls, item, ctx)
    return value


def _encode_credential_value(value: CredentialValue, tag: int, version: Version, _type: Any) -> Item:
    if isinstance(value, Item):
        return value
    return encode_struct(value, tag, version)


@model
class Credential:
    """Section 2.1.2, Table 3."""

    credential_type: Annotated[CredentialType, Tag.CREDENTIAL_TYPE]
    credential_value: Annotated[
        CredentialValue,
        Tag.CREDENTIAL_VALUE,
        DependsOn("credential_type", _decode_credential_value, _encode_credential_value),
    ]


@model
class Authentication:
    """Section 6.6, Table 266: one or more Credentials."""

    credentials: Annotated[tuple[Credential, ...], Tag.CREDENTIAL, NonEmpty()]


# --------------------------------------------------------------------------------------------
# Structured attribute values (section 3)


@model
class Name:
    """Section 3.2, Table 57."""

    name_value: Annotated[str, Tag.NAME_VALUE]
    name_type: Annotated[NameType, Tag.NAME_TYPE]


@model
class CryptographicParameters:
    """Section 3.6, Table 65. All fields OPTIONAL."""

    block_cipher_mode: Annotated[BlockCipherMode | None, Tag.BLOCK_CIPHER_MODE] = None
    padding_method: Annotated[PaddingMethod | None, Tag.PADDING_METHOD] = None
    hashing_algorithm: Annotated[HashingAlgorithm | None, Tag.HASHING_ALGORITHM] = None
    key_role_type: Annotated[KeyRoleType | None, Tag.KEY_ROLE_TYPE] = None
    digital_signature_algorithm: Annotated[
        DigitalSignatureAlgorithm | None, Tag.DIGITAL_SIGNATURE_ALGORITHM, Since(1, 2)
    ] = None
    cryptographic_algorithm: Annotated[
        CryptographicAlgorithm | None, Tag.CRYPTOGRAPHIC_ALGORITHM, Since(1, 2)
    ] = None
    random_iv: Annotated[bool | None, Tag.RANDOM_IV] = None
    iv_length: Annotated[int | None, Tag.IV_LENGTH] = None
    tag_length: Annotated[int | None, Tag.TAG_LENGTH] = None
    fixed_field_length: Annotated[int | None, Tag.FIXED_FIELD_LENGTH] = None
    invocation_field_length: Annotated[int | None, Tag.INVOCATION_FIELD_LENGTH] = None
    counter_length: Annotated[int | None, Tag.COUNTER_LENGTH] = None
    initial_counter_value: Annotated[int | None, Tag.INITIAL_COUNTER_VALUE] = None
    salt_length: Annotated[int | None, Tag.SALT_LENGTH] = None
    mask_generator: Annotated[MaskGenerator | None, Tag.MASK_GENERATOR] = None
    mask_generator_hashing_algorithm: Annotated[
        HashingAlgorithm | None, Tag.MASK_GENERATOR_HASHING_ALGORITHM
    ] = None
    p_source: Annotated[bytes | None, Tag.P_SOURCE] = None
    trailer_field: Annotated[int | None, Tag.TRAILER_FIELD] = None


@model
class CryptographicDomainParameters:
    """Section 3.7, Table 68."""

    qlength: Annotated[int | None, Tag.QLENGTH] = None
    recommended_curve: Annotated[RecommendedCurve | None, Tag.RECOMMENDED_CURVE] = None


@model
class X509CertificateIdentifier:
    """Section 3.10, Table 74 (KMIP 1.1)."""

    issuer_distinguished_name: Annotated[bytes, Tag.ISSUER_DISTINGUISHED_NAME]
    certificate_serial_number: Annotated[bytes, Tag.CERTIFICATE_SERIAL_NUMBER]


@model
class X509CertificateSubject:
    """Section 3.11, Table 76 (KMIP 1.1)."""

    subject_distinguished_name: Annotated[bytes, Tag.SUBJECT_DISTINGUISHED_NAME]
    subject_alternative_names: Annotated[tuple[bytes, ...], Tag.SUBJECT_ALTERNATIVE_NAME] = ()


@model
class X509CertificateIssuer:
    """Section 3.12, Table 78 (KMIP 1.1)."""

    issuer_distinguished_name: Annotated[bytes, Tag.ISSUER_DISTINGUISHED_NAME]
    issuer_alternative_names: Annotated[tuple[bytes, ...], Tag.ISSUER_ALTERNATIVE_NAME] = ()


@model
class CertificateIdentifier:
    """Section 3.13, Table 80 (deprecated since KMIP 1.1)."""

    issuer: Annotated[str, Tag.ISSUER]
    serial_number: Annotated[str | None, Tag.SERIAL_NUMBER] = None


@model
class CertificateSubject:
    """Section 3.14, Table 82 (deprecated since KMIP 1.1)."""

    certificate_subject_distinguished_name: Annotated[str, Tag.CERTIFICATE_SUBJECT_DISTINGUISHED_NAME]
    certificate_subject_alternative_names: Annotated[
        tuple[str, ...], Tag.CERTIFICATE_SUBJECT_ALTERNATIVE_NAME
    ] = ()


@model
class CertificateIssuer:
    """Section 3.15, Table 84 (deprecated since KMIP 1.1)."""

    certificate_issuer_distinguished_name: Annotated[str, Tag.CERTIFICATE_ISSUER_DISTINGUISHED_NAME]
    certificate_issuer_alternative_names: Annotated[
        tuple[str, ...], Tag.CERTIFICATE_ISSUER_ALTERNATIVE_NAME
    ] = ()


@model
class Digest:
    """Section 3.17, Table 88. Digest Value is absent when the server has no key material."""

    hashing_algorithm: Annotated[HashingAlgorithm, Tag.HASHING_ALGORITHM]
    digest_value: Annotated[bytes | None, Tag.DIGEST_VALUE] = None
    key_format_type: Annotated[KeyFormatType | None, Tag.KEY_FORMAT_TYPE, Since(1, 1)] = None


@model
class UsageLimits:
    """Section 3.21, Table 101. A client sets Total and/or Unit only (Table 102), so every field
    is optional here; the server enforces what each operation needs."""

    usage_limits_total: Annotated[LongInteger | None, Tag.USAGE_LIMITS_TOTAL] = None
    usage_limits_count: Annotated[LongInteger | None, Tag.USAGE_LIMITS_COUNT] = None
    usage_limits_unit: Annotated[UsageLimitsUnit | None, Tag.USAGE_LIMITS_UNIT] = None


@model
class RevocationReason:
    """Section 3.31, Table 121."""

    revocation_reason_code: Annotated[RevocationReasonCode, Tag.REVOCATION_REASON_CODE]
    revocation_message: Annotated[str | None, Tag.REVOCATION_MESSAGE] = None


@model
class Link:
    """Section 3.35, Table 129."""

    link_type: Annotated[LinkType, Tag.LINK_TYPE]
    linked_object_identifier: Annotated[str, Tag.LINKED_OBJECT_IDENTIFIER]


@model
class ApplicationSpecificInformation:
    """Section 3.36, Table 131."""

    application_namespace: Annotated[str, Tag.APPLICATION_NAMESPACE]
    application_data: Annotated[str | None, Tag.APPLICATION_DATA] = None


@model
class AlternativeName:
    """Section 3.40, Table 139 (KMIP 1.2)."""

    alternative_name_value: Annotated[str, Tag.ALTERNATIVE_NAME_VALUE]
    alternative_name_type: Annotated[AlternativeNameType, Tag.ALTERNATIVE_NAME_TYPE]


@model
class KeyValueLocation:
    """Section 3.42, Table 143 (KMIP 1.2)."""

    key_value_location_value: Annotated[str, Tag.KEY_VALUE_LOCATION_VALUE]
    key_value_location_type: Annotated[KeyValueLocationType, Tag.KEY_VALUE_LOCATION_TYPE]


@model
class RNGParameters:
    """Section 2.1.18, Table 39 (KMIP 1.3); the value of Random Number Generator (3.44)."""

    rng_algorithm: Annotated[RNGAlgorithm, Tag.RNG_ALGORITHM]
    cryptographic_algorithm: Annotated[CryptographicAlgorithm | None, Tag.CRYPTOGRAPHIC_ALGORITHM] = None
    cryptographic_length: Annotated[int | None, Tag.CRYPTOGRAPHIC_LENGTH] = None
    hashing_algorithm: Annotated[HashingAlgorithm | None, Tag.HASHING_ALGORITHM] = None
    drbg_algorithm: Annotated[DRBGAlgorithm | None, Tag.DRBG_ALGORITHM] = None
    recommended_curve: Annotated[RecommendedCurve | None, Tag.RECOMMENDED_CURVE] = None
    fips186_variation: Annotated[FIPS186Variation | None, Tag.FIPS186_VARIATION] = None
    prediction_resistance: Annotated[bool | None, Tag.PREDICTION_RESISTANCE] = None


# --------------------------------------------------------------------------------------------
# Key wrapping (sections 2.1.5, 2.1.6)


@model
class EncryptionKeyInformation:
    """Section 2.1.5, Table 10."""

    unique_identifier: Annotated[str, Tag.UNIQUE_IDENTIFIER]
    cryptographic_parameters: Annotated[CryptographicParameters | None, Tag.CRYPTOGRAPHIC_PARAMETERS] = None


@model
class MACSignatureKeyInformation:
    """Section 2.1.5, Table 11."""

    unique_identifier: Annotated[str, Tag.UNIQUE_IDENTIFIER]
    cryptographic_parameters: Annotated[CryptographicParameters | None, Tag.CRYPTOGRAPHIC_PARAMETERS] = None


@model
class KeyWrappingData:
    """Section 2.1.5, Table 9."""

    wrapping_method: Annotated[WrappingMethod, Tag.WRAPPING_METHOD]
    encryption_key_information: Annotated[EncryptionKeyInformation | None, Tag.ENCRYPTION_KEY_INFORMATION] = (
        None
    )
    mac_signature_key_information: Annotated[
        MACSignatureKeyInformation | None, Tag.MAC_SIGNATURE_KEY_INFORMATION
    ] = None
    mac_signature: Annotated[bytes | None, Tag.MAC_SIGNATURE] = None
    iv_counter_nonce: Annotated[bytes | None, Tag.IV_COUNTER_NONCE] = None
    encoding_option: Annotated[EncodingOption | None, Tag.ENCODING_OPTION] = None


@model
class KeyWrappingSpecification:
    """Section 2.1.6, Table 12."""

    wrapping_method: Annotated[WrappingMethod, Tag.WRAPPING_METHOD]
    encryption_key_information: Annotated[EncryptionKeyInformation | None, Tag.ENCRYPTION_KEY_INFORMATION] = (
        None
    )
    mac_signature_key_information: Annotated[
        MACSignatureKeyInformation | None, Tag.MAC_SIGNATURE_KEY_INFORMATION
    ] = None
    attribute_names: Annotated[tuple[str, ...], Tag.ATTRIBUTE_NAME] = ()
    encoding_option: Annotated[EncodingOption | None, Tag.ENCODING_OPTION] = None


# --------------------------------------------------------------------------------------------
# Transparent key structures (section 2.1.7): the Key Material of the Transparent formats


@model
class TransparentSymmetricKey:
    """Section 2.1.7.1, Table 14."""

    key: Annotated[bytes, Tag.KEY] = field(repr=False)


@model
class TransparentDSAPrivateKey:
    """Section 2.1.7.2, Table 15."""

    p: Annotated[BigInteger, Tag.P]
    q: Annotated[BigInteger, Tag.Q]
    g: Annotated[BigInteger, Tag.G]
    x: Annotated[BigInteger, Tag.X] = field(repr=False)


@model
class TransparentDSAPublicKey:
    """Section 2.1.7.3, Table 16."""

    p: Annotated[BigInteger, Tag.P]
    q: Annotated[BigInteger, Tag.Q]
    g: Annotated[BigInteger, Tag.G]
    y: Annotated[BigInteger, Tag.Y]


@model
class TransparentRSAPrivateKey:
    """Section 2.1.7.4, Table 17."""

    modulus: Annotated[BigInteger, Tag.MODULUS]
    private_exponent: Annotated[BigInteger | None, Tag.PRIVATE_EXPONENT] = field(default=None, repr=False)
    public_exponent: Annotated[BigInteger | None, Tag.PUBLIC_EXPONENT] = None
    p: Annotated[BigInteger | None, Tag.P] = field(default=None, repr=False)
    q: Annotated[BigInteger | None, Tag.Q] = field(default=None, repr=False)
    prime_exponent_p: Annotated[BigInteger | None, Tag.PRIME_EXPONENT_P] = field(default=None, repr=False)
    prime_exponent_q: Annotated[BigInteger | None, Tag.PRIME_EXPONENT_Q] = field(default=None, repr=False)
    crt_coefficient: Annotated[BigInteger | None, Tag.CRT_COEFFICIENT] = field(default=None, repr=False)


@model
class TransparentRSAPublicKey:
    """Section 2.1.7.5, Table 18."""

    modulus: Annotated[BigInteger, Tag.MODULUS]
    public_exponent: Annotated[BigInteger, Tag.PUBLIC_EXPONENT]


@model
class TransparentDHPrivateKey:
    """Section 2.1.7.6, Table 19."""

    p: Annotated[BigInteger, Tag.P]
    q: Annotated[BigInteger | None, Tag.Q] = None
    g: Annotated[BigInteger, Tag.G]
    j: Annotated[BigInteger | None, Tag.J] = None
    x: Annotated[BigInteger, Tag.X] = field(repr=False)


@model
class TransparentDHPublicKey:
    """Section 2.1.7.7, Table 20."""

    p: Annotated[BigInteger, Tag.P]
    q: Annotated[BigInteger | None, Tag.Q] = None
    g: Annotated[BigInteger, Tag.G]
    j: Annotated[BigInteger | None, Tag.J] = None
    y: Annotated[BigInteger, Tag.Y]


@model
class TransparentECPrivateKey:
    """Sections 2.1.7.8, .10, .12, .14 (Tables 21, 23, 25, 27): the ECDSA, ECDH, ECMQV and EC
    private key structures are identical."""

    recommended_curve: Annotated[RecommendedCurve, Tag.RECOMMENDED_CURVE]
    d: Annotated[BigInteger, Tag.D] = field(repr=False)


@model
class TransparentECPublicKey:
    """Sections 2.1.7.9, .11, .13, .15 (Tables 22, 24, 26, 28): the ECDSA, ECDH, ECMQV and EC
    public key structures are identical."""

    recommended_curve: Annotated[RecommendedCurve, Tag.RECOMMENDED_CURVE]
    q_string: Annotated[bytes, Tag.Q_STRING]


TransparentKey: TypeAlias = (
    TransparentSymmetricKey
    | TransparentDSAPrivateKey
    | TransparentDSAPublicKey
    | TransparentRSAPrivateKey
    | TransparentRSAPublicKey
    | TransparentDHPrivateKey
    | TransparentDHPublicKey
    | TransparentECPrivateKey
    | TransparentECPublicKey
)

TRANSPARENT_KEY_TYPES: dict[int, type] = {
    KeyFormatType.TRANSPARENT_SYMMETRIC_KEY: TransparentSymmetricKey,
    KeyFormatType.TRANSPARENT_DSA_PRIVATE_KEY: TransparentDSAPrivateKey,
    KeyFormatType.TRANSPARENT_DSA_PUBLIC_KEY: TransparentDSAPublicKey,
    KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY: TransparentRSAPrivateKey,
    KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY: TransparentRSAPublicKey,
    KeyFormatType.TRANSPARENT_DH_PRIVATE_KEY: TransparentDHPrivateKey,
    KeyFormatType.TRANSPARENT_DH_PUBLIC_KEY: TransparentDHPublicKey,
    KeyFormatType.TRANSPARENT_ECDSA_PRIVATE_KEY: TransparentECPrivateKey,
    KeyFormatType.TRANSPARENT_ECDSA_PUBLIC_KEY: TransparentECPublicKey,
    KeyFormatType.TRANSPARENT_ECDH_PRIVATE_KEY: TransparentECPrivateKey,
    KeyFormatType.TRANSPARENT_ECDH_PUBLIC_KEY: TransparentECPublicKey,
    KeyFormatType.TRANSPARENT_ECMQV_PRIVATE_KEY: TransparentECPrivateKey,
    KeyFormatType.TRANSPARENT_ECMQV_PUBLIC_KEY: TransparentECPublicKey,
    KeyFormatType.TRANSPARENT_EC_PRIVATE_KEY: TransparentECPrivateKey,
    KeyFormatType.TRANSPARENT_EC_PUBLIC_KEY: TransparentECPublicKey,
}
"""Key Format Type -> the structure its Key Material is (section 2.1.7). Every other defined
format carries its Key Material as a Byte String (section 2.1.4, Table 8)."""


# --------------------------------------------------------------------------------------------
# Query and operation parameters (sections 2.1.9, 2.1.19-2.1.21, 4.6)


@model
class ExtensionInformation:
    """Section 2.1.9, Table 30 (KMIP 1.1)."""

    extension_name: Annotated[str, Tag.EXTENSION_NAME]
    extension_tag: Annotated[int | None, Tag.EXTENSION_TAG] = None
    extension_type: Annotated[int | None, Tag.EXTENSION_TYPE] = None


@model
class ProfileInformation:
    """Section 2.1.19, Table 40 (KMIP 1.3)."""

    profile_name: Annotated[ProfileName, Tag.PROFILE_NAME]
    server_uri: Annotated[str | None, Tag.SERVER_URI] = None
    server_port: Annotated[int | None, Tag.SERVER_PORT] = None


@model
class ValidationInformation:
    """Section 2.1.20, Table 41 (KMIP 1.3)."""

    validation_authority_type: Annotated[ValidationAuthorityType, Tag.VALIDATION_AUTHORITY_TYPE]
    validation_authority_country: Annotated[str | None, Tag.VALIDATION_AUTHORITY_COUNTRY] = None
    validation_authority_uri: Annotated[str | None, Tag.VALIDATION_AUTHORITY_URI] = None
    validation_version_major: Annotated[int, Tag.VALIDATION_VERSION_MAJOR]
    validation_version_minor: Annotated[int | None, Tag.VALIDATION_VERSION_MINOR] = None
    validation_type: Annotated[ValidationType, Tag.VALIDATION_TYPE]
    validation_level: Annotated[int, Tag.VALIDATION_LEVEL]
    validation_certificate_identifier: Annotated[str | None, Tag.VALIDATION_CERTIFICATE_IDENTIFIER] = None
    validation_certificate_uri: Annotated[str | None, Tag.VALIDATION_CERTIFICATE_URI] = None
    validation_vendor_uri: Annotated[str | None, Tag.VALIDATION_VENDOR_URI] = None
    validation_profiles: Annotated[tuple[str, ...], Tag.VALIDATION_PROFILE] = ()


@model
class CapabilityInformation:
    """Section 2.1.21, Table 42 (KMIP 1.3; the Batch capabilities 1.4)."""

    streaming_capability: Annotated[bool | None, Tag.STREAMING_CAPABILITY] = None
    asynchronous_capability: Annotated[bool | None, Tag.ASYNCHRONOUS_CAPABILITY] = None
    attestation_capability: Annotated[bool | None, Tag.ATTESTATION_CAPABILITY] = None
    batch_undo_capability: Annotated[bool | None, Tag.BATCH_UNDO_CAPABILITY] = None
    batch_continue_capability: Annotated[bool | None, Tag.BATCH_CONTINUE_CAPABILITY] = None
    unwrap_mode: Annotated[UnwrapMode | None, Tag.UNWRAP_MODE] = None
    destroy_action: Annotated[DestroyAction | None, Tag.DESTROY_ACTION] = None
    shredding_algorithm: Annotated[ShreddingAlgorithm | None, Tag.SHREDDING_ALGORITHM] = None
    rng_mode: Annotated[RNGMode | None, Tag.RNG_MODE] = None


@model
class DerivationParameters:
    """Section 4.6, Tables 182 and 183 (the PBKDF2 form adds Salt and Iteration Count). Which
    fields a Derivation Method REQUIRES is the server's to check."""

    cryptographic_parameters: Annotated[CryptographicParameters | None, Tag.CRYPTOGRAPHIC_PARAMETERS] = None
    initialization_vector: Annotated[bytes | None, Tag.INITIALIZATION_VECTOR] = None
    derivation_data: Annotated[bytes | None, Tag.DERIVATION_DATA] = field(default=None, repr=False)
    salt: Annotated[bytes | None, Tag.SALT] = None
    iteration_count: Annotated[int | None, Tag.ITERATION_COUNT] = None
