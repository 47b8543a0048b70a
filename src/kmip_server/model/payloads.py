"""Request and response payloads of every KMIP 1.4 operation (sections 4 and 5).

One class per payload, fields in the order of its spec table; ``OPERATIONS`` maps each
Operation to its payload classes, the version that introduced it and its section. The payload
of a batch item is chosen by its Operation through that table.

Poll's response carries the payload of the polled operation, which the Poll itself does not
name: it stays a raw Item (``decode_response_payload`` types it once the caller knows the
operation). Notify and Put responses have no payload (sections 5.1, 5.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypeAlias

from kmip_server.model.attributes import Attribute
from kmip_server.model.base import (
    CapabilityInformation,
    CryptographicParameters,
    DerivationParameters,
    ExtensionInformation,
    KeyWrappingSpecification,
    ProfileInformation,
    ProtocolVersion,
    RevocationReason,
    RNGParameters,
    ValidationInformation,
)
from kmip_server.model.codec import (
    BigInteger,
    DateTime,
    Interval,
    LongInteger,
    NonEmpty,
    Partial,
    Version,
    model,
)
from kmip_server.model.objects import MANAGED_OBJECT_FIELD, Certificate, ManagedObject, TemplateAttribute
from ttlv.item import Item
from ttlv.kmip14 import (
    AttestationType,
    CancellationResult,
    CertificateRequestType,
    ClientRegistrationMethod,
    CryptographicUsageMask,
    DerivationMethod,
    KeyCompressionType,
    KeyFormatType,
    KeyWrapType,
    ObjectGroupMember,
    ObjectType,
    Operation,
    PutFunction,
    QueryFunction,
    SecretDataType,
    SplitKeyMethod,
    StorageStatusMask,
    Tag,
    ValidityIndicator,
)

__all__ = [
    "ActivateRequestPayload",
    "ActivateResponsePayload",
    "AddAttributeRequestPayload",
    "AddAttributeResponsePayload",
    "ArchiveRequestPayload",
    "ArchiveResponsePayload",
    "CancelRequestPayload",
    "CancelResponsePayload",
    "CertifyRequestPayload",
    "CertifyResponsePayload",
    "CheckRequestPayload",
    "CheckResponsePayload",
    "CreateKeyPairRequestPayload",
    "CreateKeyPairResponsePayload",
    "CreateRequestPayload",
    "CreateResponsePayload",
    "CreateSplitKeyRequestPayload",
    "CreateSplitKeyResponsePayload",
    "DecryptRequestPayload",
    "DecryptResponsePayload",
    "DeleteAttributeRequestPayload",
    "DeleteAttributeResponsePayload",
    "DeriveKeyRequestPayload",
    "DeriveKeyResponsePayload",
    "DestroyRequestPayload",
    "DestroyResponsePayload",
    "DiscoverVersionsRequestPayload",
    "DiscoverVersionsResponsePayload",
    "EmptyPayload",
    "EncryptRequestPayload",
    "EncryptResponsePayload",
    "ExportRequestPayload",
    "ExportResponsePayload",
    "GetAttributeListRequestPayload",
    "GetAttributeListResponsePayload",
    "GetAttributesRequestPayload",
    "GetAttributesResponsePayload",
    "GetRequestPayload",
    "GetResponsePayload",
    "GetUsageAllocationRequestPayload",
    "GetUsageAllocationResponsePayload",
    "HashRequestPayload",
    "HashResponsePayload",
    "ImportRequestPayload",
    "ImportResponsePayload",
    "JoinSplitKeyRequestPayload",
    "JoinSplitKeyResponsePayload",
    "LocateRequestPayload",
    "LocateResponsePayload",
    "MACRequestPayload",
    "MACResponsePayload",
    "MACVerifyRequestPayload",
    "MACVerifyResponsePayload",
    "ModifyAttributeRequestPayload",
    "ModifyAttributeResponsePayload",
    "NotifyRequestPayload",
    "OPERATIONS",
    "ObtainLeaseRequestPayload",
    "ObtainLeaseResponsePayload",
    "OperationSpec",
    "PollRequestPayload",
    "PutRequestPayload",
    "QueryRequestPayload",
    "QueryResponsePayload",
    "RNGRetrieveRequestPayload",
    "RNGRetrieveResponsePayload",
    "RNGSeedRequestPayload",
    "RNGSeedResponsePayload",
    "ReCertifyRequestPayload",
    "ReCertifyResponsePayload",
    "ReKeyKeyPairRequestPayload",
    "ReKeyKeyPairResponsePayload",
    "ReKeyRequestPayload",
    "ReKeyResponsePayload",
    "RecoverRequestPayload",
    "RecoverResponsePayload",
    "RegisterRequestPayload",
    "RegisterResponsePayload",
    "RequestPayload",
    "ResponsePayload",
    "RevokeRequestPayload",
    "RevokeResponsePayload",
    "SignRequestPayload",
    "SignResponsePayload",
    "SignatureVerifyRequestPayload",
    "SignatureVerifyResponsePayload",
    "UniqueIdentifierRequestPayload",
    "UniqueIdentifierResponsePayload",
    "ValidateRequestPayload",
    "ValidateResponsePayload",
]

# Field annotations used by many payloads.
UID = Annotated[str, Tag.UNIQUE_IDENTIFIER]
OptUID = Annotated[str | None, Tag.UNIQUE_IDENTIFIER]
OptTemplateAttribute = Annotated[TemplateAttribute | None, Tag.TEMPLATE_ATTRIBUTE]
OptCryptoParams = Annotated[CryptographicParameters | None, Tag.CRYPTOGRAPHIC_PARAMETERS]
OptCorrelation = Annotated[bytes | None, Tag.CORRELATION_VALUE]
OptInit = Annotated[bool | None, Tag.INIT_INDICATOR]
OptFinal = Annotated[bool | None, Tag.FINAL_INDICATOR]
OptData = Annotated[bytes | None, Tag.DATA]


@model
class EmptyPayload:
    """A payload with no fields (the responses to Notify and Put, sections 5.1 and 5.2)."""


# 4.1 Create ----------------------------------------------------------------------------------


@model
class CreateRequestPayload:
    """Section 4.1, Table 163."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    template_attribute: Annotated[TemplateAttribute, Tag.TEMPLATE_ATTRIBUTE]


@model
class CreateResponsePayload:
    """Section 4.1, Table 164."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


# 4.2 Create Key Pair -------------------------------------------------------------------------


@model
class CreateKeyPairRequestPayload:
    """Section 4.2, Table 166."""

    common_template_attribute: Annotated[TemplateAttribute | None, Tag.COMMON_TEMPLATE_ATTRIBUTE] = None
    private_key_template_attribute: Annotated[
        TemplateAttribute | None, Tag.PRIVATE_KEY_TEMPLATE_ATTRIBUTE
    ] = None
    public_key_template_attribute: Annotated[TemplateAttribute | None, Tag.PUBLIC_KEY_TEMPLATE_ATTRIBUTE] = (
        None
    )


@model
class CreateKeyPairResponsePayload:
    """Section 4.2, Table 167."""

    private_key_unique_identifier: Annotated[str, Tag.PRIVATE_KEY_UNIQUE_IDENTIFIER]
    public_key_unique_identifier: Annotated[str, Tag.PUBLIC_KEY_UNIQUE_IDENTIFIER]
    private_key_template_attribute: Annotated[
        TemplateAttribute | None, Tag.PRIVATE_KEY_TEMPLATE_ATTRIBUTE
    ] = None
    public_key_template_attribute: Annotated[TemplateAttribute | None, Tag.PUBLIC_KEY_TEMPLATE_ATTRIBUTE] = (
        None
    )


# 4.3 Register --------------------------------------------------------------------------------


@model
class RegisterRequestPayload:
    """Section 4.3, Table 169."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    template_attribute: Annotated[TemplateAttribute, Tag.TEMPLATE_ATTRIBUTE]
    managed_object: Annotated[ManagedObject, MANAGED_OBJECT_FIELD]


@model
class RegisterResponsePayload:
    """Section 4.3, Table 170."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


# 4.4 Re-key, 4.5 Re-key Key Pair -------------------------------------------------------------


@model
class ReKeyRequestPayload:
    """Section 4.4, Table 174."""

    unique_identifier: OptUID = None
    offset: Annotated[Interval | None, Tag.OFFSET] = None
    template_attribute: OptTemplateAttribute = None


@model
class ReKeyResponsePayload:
    """Section 4.4, Table 175."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


@model
class ReKeyKeyPairRequestPayload:
    """Section 4.5, Table 178 (KMIP 1.1)."""

    private_key_unique_identifier: Annotated[str | None, Tag.PRIVATE_KEY_UNIQUE_IDENTIFIER] = None
    offset: Annotated[Interval | None, Tag.OFFSET] = None
    common_template_attribute: Annotated[TemplateAttribute | None, Tag.COMMON_TEMPLATE_ATTRIBUTE] = None
    private_key_template_attribute: Annotated[
        TemplateAttribute | None, Tag.PRIVATE_KEY_TEMPLATE_ATTRIBUTE
    ] = None
    public_key_template_attribute: Annotated[TemplateAttribute | None, Tag.PUBLIC_KEY_TEMPLATE_ATTRIBUTE] = (
        None
    )


@model
class ReKeyKeyPairResponsePayload:
    """Section 4.5, Table 179 (KMIP 1.1)."""

    private_key_unique_identifier: Annotated[str, Tag.PRIVATE_KEY_UNIQUE_IDENTIFIER]
    public_key_unique_identifier: Annotated[str, Tag.PUBLIC_KEY_UNIQUE_IDENTIFIER]
    private_key_template_attribute: Annotated[
        TemplateAttribute | None, Tag.PRIVATE_KEY_TEMPLATE_ATTRIBUTE
    ] = None
    public_key_template_attribute: Annotated[TemplateAttribute | None, Tag.PUBLIC_KEY_TEMPLATE_ATTRIBUTE] = (
        None
    )


# 4.6 Derive Key ------------------------------------------------------------------------------


@model
class DeriveKeyRequestPayload:
    """Section 4.6, Table 180."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifiers: Annotated[tuple[str, ...], Tag.UNIQUE_IDENTIFIER, NonEmpty()]
    derivation_method: Annotated[DerivationMethod, Tag.DERIVATION_METHOD]
    derivation_parameters: Annotated[DerivationParameters, Tag.DERIVATION_PARAMETERS]
    template_attribute: Annotated[TemplateAttribute, Tag.TEMPLATE_ATTRIBUTE]


@model
class DeriveKeyResponsePayload:
    """Section 4.6, Table 181."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


# 4.7 Certify, 4.8 Re-certify -----------------------------------------------------------------


@model
class CertifyRequestPayload:
    """Section 4.7, Table 184."""

    unique_identifier: OptUID = None
    certificate_request_type: Annotated[CertificateRequestType | None, Tag.CERTIFICATE_REQUEST_TYPE] = None
    certificate_request: Annotated[bytes | None, Tag.CERTIFICATE_REQUEST] = None
    template_attribute: OptTemplateAttribute = None


@model
class CertifyResponsePayload:
    """Section 4.7, Table 185."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


@model
class ReCertifyRequestPayload:
    """Section 4.8, Table 188."""

    unique_identifier: OptUID = None
    certificate_request_type: Annotated[CertificateRequestType | None, Tag.CERTIFICATE_REQUEST_TYPE] = None
    certificate_request: Annotated[bytes | None, Tag.CERTIFICATE_REQUEST] = None
    offset: Annotated[Interval | None, Tag.OFFSET] = None
    template_attribute: OptTemplateAttribute = None


@model
class ReCertifyResponsePayload:
    """Section 4.8, Table 189."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


# 4.9 Locate, 4.10 Check ----------------------------------------------------------------------


@model
class LocateRequestPayload:
    """Section 4.9, Table 190. The attributes are match templates: structured values may omit
    fields (decoded as None), and Attribute Index is to be ignored."""

    maximum_items: Annotated[int | None, Tag.MAXIMUM_ITEMS] = None
    offset_items: Annotated[int | None, Tag.OFFSET_ITEMS] = None
    storage_status_mask: Annotated[StorageStatusMask | None, Tag.STORAGE_STATUS_MASK] = None
    object_group_member: Annotated[ObjectGroupMember | None, Tag.OBJECT_GROUP_MEMBER] = None
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE, Partial()] = ()


@model
class LocateResponsePayload:
    """Section 4.9, Table 191."""

    located_items: Annotated[int | None, Tag.LOCATED_ITEMS] = None
    unique_identifiers: Annotated[tuple[str, ...], Tag.UNIQUE_IDENTIFIER] = ()


@model
class CheckRequestPayload:
    """Section 4.10, Table 192."""

    unique_identifier: OptUID = None
    usage_limits_count: Annotated[LongInteger | None, Tag.USAGE_LIMITS_COUNT] = None
    cryptographic_usage_mask: Annotated[CryptographicUsageMask | None, Tag.CRYPTOGRAPHIC_USAGE_MASK] = None
    lease_time: Annotated[Interval | None, Tag.LEASE_TIME] = None


@model
class CheckResponsePayload:
    """Section 4.10, Table 193 (Unique Identifier absent when the check fails)."""

    unique_identifier: OptUID = None
    usage_limits_count: Annotated[LongInteger | None, Tag.USAGE_LIMITS_COUNT] = None
    cryptographic_usage_mask: Annotated[CryptographicUsageMask | None, Tag.CRYPTOGRAPHIC_USAGE_MASK] = None
    lease_time: Annotated[Interval | None, Tag.LEASE_TIME] = None


# 4.11 Get ... 4.16 Delete Attribute ----------------------------------------------------------


@model
class GetRequestPayload:
    """Section 4.11, Table 194."""

    unique_identifier: OptUID = None
    key_format_type: Annotated[KeyFormatType | None, Tag.KEY_FORMAT_TYPE] = None
    key_wrap_type: Annotated[KeyWrapType | None, Tag.KEY_WRAP_TYPE] = None
    key_compression_type: Annotated[KeyCompressionType | None, Tag.KEY_COMPRESSION_TYPE] = None
    key_wrapping_specification: Annotated[KeyWrappingSpecification | None, Tag.KEY_WRAPPING_SPECIFICATION] = (
        None
    )


@model
class GetResponsePayload:
    """Section 4.11, Table 195."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifier: UID
    managed_object: Annotated[ManagedObject, MANAGED_OBJECT_FIELD]


@model
class GetAttributesRequestPayload:
    """Section 4.12, Table 196."""

    unique_identifier: OptUID = None
    attribute_names: Annotated[tuple[str, ...], Tag.ATTRIBUTE_NAME] = ()


@model
class GetAttributesResponsePayload:
    """Section 4.12, Table 197."""

    unique_identifier: UID
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE] = ()


@model
class GetAttributeListRequestPayload:
    """Section 4.13, Table 198."""

    unique_identifier: OptUID = None


@model
class GetAttributeListResponsePayload:
    """Section 4.13, Table 199."""

    unique_identifier: UID
    attribute_names: Annotated[tuple[str, ...], Tag.ATTRIBUTE_NAME, NonEmpty()]


@model
class AddAttributeRequestPayload:
    """Section 4.14, Table 200."""

    unique_identifier: OptUID = None
    attribute: Annotated[Attribute, Tag.ATTRIBUTE]


@model
class AddAttributeResponsePayload:
    """Section 4.14, Table 201."""

    unique_identifier: UID
    attribute: Annotated[Attribute, Tag.ATTRIBUTE]


@model
class ModifyAttributeRequestPayload:
    """Section 4.15, Table 202."""

    unique_identifier: OptUID = None
    attribute: Annotated[Attribute, Tag.ATTRIBUTE]


@model
class ModifyAttributeResponsePayload:
    """Section 4.15, Table 203."""

    unique_identifier: UID
    attribute: Annotated[Attribute, Tag.ATTRIBUTE]


@model
class DeleteAttributeRequestPayload:
    """Section 4.16, Table 204."""

    unique_identifier: OptUID = None
    attribute_name: Annotated[str, Tag.ATTRIBUTE_NAME]
    attribute_index: Annotated[int | None, Tag.ATTRIBUTE_INDEX] = None


@model
class DeleteAttributeResponsePayload:
    """Section 4.16, Table 205."""

    unique_identifier: UID
    attribute: Annotated[Attribute, Tag.ATTRIBUTE]


# 4.17 Obtain Lease ... 4.24 Validate ---------------------------------------------------------


@model
class ObtainLeaseRequestPayload:
    """Section 4.17, Table 206."""

    unique_identifier: OptUID = None


@model
class ObtainLeaseResponsePayload:
    """Section 4.17, Table 207."""

    unique_identifier: UID
    lease_time: Annotated[Interval, Tag.LEASE_TIME]
    last_change_date: Annotated[DateTime, Tag.LAST_CHANGE_DATE]


@model
class GetUsageAllocationRequestPayload:
    """Section 4.18, Table 208."""

    unique_identifier: OptUID = None
    usage_limits_count: Annotated[LongInteger, Tag.USAGE_LIMITS_COUNT]


@model
class GetUsageAllocationResponsePayload:
    """Section 4.18, Table 209."""

    unique_identifier: UID


@model
class UniqueIdentifierRequestPayload:
    """Sections 4.19 Activate, 4.21 Destroy, 4.22 Archive, 4.23 Recover (Tables 210, 214, 216,
    218): the Unique Identifier alone, OPTIONAL (the ID Placeholder stands in)."""

    unique_identifier: OptUID = None


@model
class UniqueIdentifierResponsePayload:
    """Sections 4.18-4.23, 4.41 (Tables 211, 213, 215, 217, 219, 254): the Unique Identifier."""

    unique_identifier: UID


ActivateRequestPayload = UniqueIdentifierRequestPayload
ActivateResponsePayload = UniqueIdentifierResponsePayload
DestroyRequestPayload = UniqueIdentifierRequestPayload
DestroyResponsePayload = UniqueIdentifierResponsePayload
ArchiveRequestPayload = UniqueIdentifierRequestPayload
ArchiveResponsePayload = UniqueIdentifierResponsePayload
RecoverRequestPayload = UniqueIdentifierRequestPayload
RecoverResponsePayload = UniqueIdentifierResponsePayload
RevokeResponsePayload = UniqueIdentifierResponsePayload
ImportResponsePayload = UniqueIdentifierResponsePayload


@model
class RevokeRequestPayload:
    """Section 4.20, Table 212."""

    unique_identifier: OptUID = None
    revocation_reason: Annotated[RevocationReason, Tag.REVOCATION_REASON]
    compromise_occurrence_date: Annotated[DateTime | None, Tag.COMPROMISE_OCCURRENCE_DATE] = None


@model
class ValidateRequestPayload:
    """Section 4.24, Table 220."""

    certificates: Annotated[tuple[Certificate, ...], Tag.CERTIFICATE] = ()
    unique_identifiers: Annotated[tuple[str, ...], Tag.UNIQUE_IDENTIFIER] = ()
    validity_date: Annotated[DateTime | None, Tag.VALIDITY_DATE] = None


@model
class ValidateResponsePayload:
    """Section 4.24, Table 221."""

    validity_indicator: Annotated[ValidityIndicator, Tag.VALIDITY_INDICATOR]


# 4.25 Query ... 4.28 Poll --------------------------------------------------------------------


@model
class QueryRequestPayload:
    """Section 4.25, Table 222 (and 5.3, Table 257)."""

    query_functions: Annotated[tuple[QueryFunction, ...], Tag.QUERY_FUNCTION, NonEmpty()]


@model
class QueryResponsePayload:
    """Section 4.25, Table 223 (and 5.3, Table 258). Server Information is vendor-defined: raw."""

    operations: Annotated[tuple[Operation, ...], Tag.OPERATION] = ()
    object_types: Annotated[tuple[ObjectType, ...], Tag.OBJECT_TYPE] = ()
    vendor_identification: Annotated[str | None, Tag.VENDOR_IDENTIFICATION] = None
    server_information: Annotated[Item | None, Tag.SERVER_INFORMATION] = None
    application_namespaces: Annotated[tuple[str, ...], Tag.APPLICATION_NAMESPACE] = ()
    extension_information: Annotated[tuple[ExtensionInformation, ...], Tag.EXTENSION_INFORMATION] = ()
    attestation_types: Annotated[tuple[AttestationType, ...], Tag.ATTESTATION_TYPE] = ()
    rng_parameters: Annotated[tuple[RNGParameters, ...], Tag.RNG_PARAMETERS] = ()
    profile_information: Annotated[tuple[ProfileInformation, ...], Tag.PROFILE_INFORMATION] = ()
    validation_information: Annotated[tuple[ValidationInformation, ...], Tag.VALIDATION_INFORMATION] = ()
    capability_information: Annotated[tuple[CapabilityInformation, ...], Tag.CAPABILITY_INFORMATION] = ()
    client_registration_methods: Annotated[
        tuple[ClientRegistrationMethod, ...], Tag.CLIENT_REGISTRATION_METHOD
    ] = ()


@model
class DiscoverVersionsRequestPayload:
    """Section 4.26, Table 224 (KMIP 1.1; and 5.4, Table 259)."""

    protocol_versions: Annotated[tuple[ProtocolVersion, ...], Tag.PROTOCOL_VERSION] = ()


@model
class DiscoverVersionsResponsePayload:
    """Section 4.26, Table 225 (KMIP 1.1; and 5.4, Table 260)."""

    protocol_versions: Annotated[tuple[ProtocolVersion, ...], Tag.PROTOCOL_VERSION] = ()


@model
class CancelRequestPayload:
    """Section 4.27, Table 226."""

    asynchronous_correlation_value: Annotated[bytes, Tag.ASYNCHRONOUS_CORRELATION_VALUE]


@model
class CancelResponsePayload:
    """Section 4.27, Table 227."""

    asynchronous_correlation_value: Annotated[bytes, Tag.ASYNCHRONOUS_CORRELATION_VALUE]
    cancellation_result: Annotated[CancellationResult, Tag.CANCELLATION_RESULT]


@model
class PollRequestPayload:
    """Section 4.28, Table 228."""

    asynchronous_correlation_value: Annotated[bytes, Tag.ASYNCHRONOUS_CORRELATION_VALUE]


# 4.29 Encrypt ... 4.37 Hash (KMIP 1.2) -------------------------------------------------------


@model
class EncryptRequestPayload:
    """Section 4.29, Table 229."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = field(default=None, repr=False)
    iv_counter_nonce: Annotated[bytes | None, Tag.IV_COUNTER_NONCE] = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None
    authenticated_encryption_additional_data: Annotated[
        bytes | None, Tag.AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA
    ] = None


@model
class EncryptResponsePayload:
    """Section 4.29, Table 230."""

    unique_identifier: UID
    data: OptData = None
    iv_counter_nonce: Annotated[bytes | None, Tag.IV_COUNTER_NONCE] = None
    correlation_value: OptCorrelation = None
    authenticated_encryption_tag: Annotated[bytes | None, Tag.AUTHENTICATED_ENCRYPTION_TAG] = None


@model
class DecryptRequestPayload:
    """Section 4.30, Table 231."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = None
    iv_counter_nonce: Annotated[bytes | None, Tag.IV_COUNTER_NONCE] = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None
    authenticated_encryption_additional_data: Annotated[
        bytes | None, Tag.AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA
    ] = None
    authenticated_encryption_tag: Annotated[bytes | None, Tag.AUTHENTICATED_ENCRYPTION_TAG] = None


@model
class DecryptResponsePayload:
    """Section 4.30, Table 232."""

    unique_identifier: UID
    data: OptData = field(default=None, repr=False)
    correlation_value: OptCorrelation = None


@model
class SignRequestPayload:
    """Section 4.31, Table 233."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = None
    digested_data: Annotated[bytes | None, Tag.DIGESTED_DATA] = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None


@model
class SignResponsePayload:
    """Section 4.31, Table 234."""

    unique_identifier: UID
    signature_data: Annotated[bytes | None, Tag.SIGNATURE_DATA] = None
    correlation_value: OptCorrelation = None


@model
class SignatureVerifyRequestPayload:
    """Section 4.32, Table 235."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = None
    digested_data: Annotated[bytes | None, Tag.DIGESTED_DATA] = None
    signature_data: Annotated[bytes | None, Tag.SIGNATURE_DATA] = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None


@model
class SignatureVerifyResponsePayload:
    """Section 4.32, Table 236."""

    unique_identifier: UID
    validity_indicator: Annotated[ValidityIndicator, Tag.VALIDITY_INDICATOR]
    data: OptData = None
    correlation_value: OptCorrelation = None


@model
class MACRequestPayload:
    """Section 4.33, Table 237."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None


@model
class MACResponsePayload:
    """Section 4.33, Table 238."""

    unique_identifier: UID
    mac_data: Annotated[bytes | None, Tag.MAC_DATA] = None
    correlation_value: OptCorrelation = None


@model
class MACVerifyRequestPayload:
    """Section 4.34, Table 239."""

    unique_identifier: OptUID = None
    cryptographic_parameters: OptCryptoParams = None
    data: OptData = None
    mac_data: Annotated[bytes | None, Tag.MAC_DATA] = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None


@model
class MACVerifyResponsePayload:
    """Section 4.34, Table 240."""

    unique_identifier: UID
    validity_indicator: Annotated[ValidityIndicator, Tag.VALIDITY_INDICATOR]
    correlation_value: OptCorrelation = None


@model
class RNGRetrieveRequestPayload:
    """Section 4.35, Table 241."""

    data_length: Annotated[int, Tag.DATA_LENGTH]


@model
class RNGRetrieveResponsePayload:
    """Section 4.35, Table 242."""

    data: Annotated[bytes, Tag.DATA] = field(repr=False)


@model
class RNGSeedRequestPayload:
    """Section 4.36, Table 243."""

    data: Annotated[bytes, Tag.DATA] = field(repr=False)


@model
class RNGSeedResponsePayload:
    """Section 4.36, Table 244."""

    data_length: Annotated[int, Tag.DATA_LENGTH]


@model
class HashRequestPayload:
    """Section 4.37, Table 245."""

    cryptographic_parameters: Annotated[CryptographicParameters, Tag.CRYPTOGRAPHIC_PARAMETERS]
    data: OptData = None
    correlation_value: OptCorrelation = None
    init_indicator: OptInit = None
    final_indicator: OptFinal = None


@model
class HashResponsePayload:
    """Section 4.37, Table 246."""

    data: OptData = None
    correlation_value: OptCorrelation = None


# 4.38 Create Split Key, 4.39 Join Split Key (KMIP 1.2) ---------------------------------------


@model
class CreateSplitKeyRequestPayload:
    """Section 4.38, Table 247."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifier: OptUID = None
    split_key_parts: Annotated[int, Tag.SPLIT_KEY_PARTS]
    split_key_threshold: Annotated[int, Tag.SPLIT_KEY_THRESHOLD]
    split_key_method: Annotated[SplitKeyMethod, Tag.SPLIT_KEY_METHOD]
    prime_field_size: Annotated[BigInteger | None, Tag.PRIME_FIELD_SIZE] = None
    template_attribute: Annotated[TemplateAttribute, Tag.TEMPLATE_ATTRIBUTE]


@model
class CreateSplitKeyResponsePayload:
    """Section 4.38, Table 248."""

    unique_identifiers: Annotated[tuple[str, ...], Tag.UNIQUE_IDENTIFIER, NonEmpty()]
    template_attribute: OptTemplateAttribute = None


@model
class JoinSplitKeyRequestPayload:
    """Section 4.39, Table 249."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifiers: Annotated[tuple[str, ...], Tag.UNIQUE_IDENTIFIER, NonEmpty()]
    secret_data_type: Annotated[SecretDataType | None, Tag.SECRET_DATA_TYPE] = None
    template_attribute: OptTemplateAttribute = None


@model
class JoinSplitKeyResponsePayload:
    """Section 4.39, Table 250."""

    unique_identifier: UID
    template_attribute: OptTemplateAttribute = None


# 4.40 Export, 4.41 Import (KMIP 1.4) ---------------------------------------------------------


@model
class ExportRequestPayload:
    """Section 4.40, Table 251."""

    unique_identifier: OptUID = None
    key_format_type: Annotated[KeyFormatType | None, Tag.KEY_FORMAT_TYPE] = None
    key_wrap_type: Annotated[KeyWrapType | None, Tag.KEY_WRAP_TYPE] = None
    key_compression_type: Annotated[KeyCompressionType | None, Tag.KEY_COMPRESSION_TYPE] = None
    key_wrapping_specification: Annotated[KeyWrappingSpecification | None, Tag.KEY_WRAPPING_SPECIFICATION] = (
        None
    )


@model
class ExportResponsePayload:
    """Section 4.40, Table 252."""

    object_type: Annotated[ObjectType, Tag.OBJECT_TYPE]
    unique_identifier: UID
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE, NonEmpty()]
    managed_object: Annotated[ManagedObject, MANAGED_OBJECT_FIELD]


@model
class ImportRequestPayload:
    """Section 4.41, Table 253 (titled "Export Request Payload" in the spec, a typo)."""

    unique_identifier: UID
    replace_existing: Annotated[bool | None, Tag.REPLACE_EXISTING] = None
    key_wrap_type: Annotated[KeyWrapType | None, Tag.KEY_WRAP_TYPE] = None
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE, NonEmpty()]
    managed_object: Annotated[ManagedObject, MANAGED_OBJECT_FIELD]


# 5.1 Notify, 5.2 Put (server to client) ------------------------------------------------------


@model
class NotifyRequestPayload:
    """Section 5.1, Table 255. A deleted attribute comes without its value (decoded as None)."""

    unique_identifier: UID
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE, NonEmpty(), Partial()]


@model
class PutRequestPayload:
    """Section 5.2, Table 256."""

    unique_identifier: UID
    put_function: Annotated[PutFunction, Tag.PUT_FUNCTION]
    replaced_unique_identifier: Annotated[str | None, Tag.REPLACED_UNIQUE_IDENTIFIER] = None
    managed_object: Annotated[ManagedObject, MANAGED_OBJECT_FIELD]
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE] = ()


# ---------------------------------------------------------------------------------------------
# The operation table


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One operation: its payload classes (``response`` None: kept raw, see Poll), the protocol
    version that introduced it and its spec section."""

    operation: Operation
    request: type
    response: type | None
    since: Version
    section: str
    server_to_client: bool = False


_O = Operation
_V10, _V11, _V12, _V14 = (1, 0), (1, 1), (1, 2), (1, 4)

OPERATIONS: dict[Operation, OperationSpec] = {
    spec.operation: spec
    for spec in (
        OperationSpec(_O.CREATE, CreateRequestPayload, CreateResponsePayload, _V10, "4.1"),
        OperationSpec(
            _O.CREATE_KEY_PAIR, CreateKeyPairRequestPayload, CreateKeyPairResponsePayload, _V10, "4.2"
        ),
        OperationSpec(_O.REGISTER, RegisterRequestPayload, RegisterResponsePayload, _V10, "4.3"),
        OperationSpec(_O.RE_KEY, ReKeyRequestPayload, ReKeyResponsePayload, _V10, "4.4"),
        OperationSpec(
            _O.RE_KEY_KEY_PAIR, ReKeyKeyPairRequestPayload, ReKeyKeyPairResponsePayload, _V11, "4.5"
        ),
        OperationSpec(_O.DERIVE_KEY, DeriveKeyRequestPayload, DeriveKeyResponsePayload, _V10, "4.6"),
        OperationSpec(_O.CERTIFY, CertifyRequestPayload, CertifyResponsePayload, _V10, "4.7"),
        OperationSpec(_O.RE_CERTIFY, ReCertifyRequestPayload, ReCertifyResponsePayload, _V10, "4.8"),
        OperationSpec(_O.LOCATE, LocateRequestPayload, LocateResponsePayload, _V10, "4.9"),
        OperationSpec(_O.CHECK, CheckRequestPayload, CheckResponsePayload, _V10, "4.10"),
        OperationSpec(_O.GET, GetRequestPayload, GetResponsePayload, _V10, "4.11"),
        OperationSpec(
            _O.GET_ATTRIBUTES, GetAttributesRequestPayload, GetAttributesResponsePayload, _V10, "4.12"
        ),
        OperationSpec(
            _O.GET_ATTRIBUTE_LIST,
            GetAttributeListRequestPayload,
            GetAttributeListResponsePayload,
            _V10,
            "4.13",
        ),
        OperationSpec(
            _O.ADD_ATTRIBUTE, AddAttributeRequestPayload, AddAttributeResponsePayload, _V10, "4.14"
        ),
        OperationSpec(
            _O.MODIFY_ATTRIBUTE, ModifyAttributeRequestPayload, ModifyAttributeResponsePayload, _V10, "4.15"
        ),
        OperationSpec(
            _O.DELETE_ATTRIBUTE, DeleteAttributeRequestPayload, DeleteAttributeResponsePayload, _V10, "4.16"
        ),
        OperationSpec(_O.OBTAIN_LEASE, ObtainLeaseRequestPayload, ObtainLeaseResponsePayload, _V10, "4.17"),
        OperationSpec(
            _O.GET_USAGE_ALLOCATION,
            GetUsageAllocationRequestPayload,
            GetUsageAllocationResponsePayload,
            _V10,
            "4.18",
        ),
        OperationSpec(_O.ACTIVATE, ActivateRequestPayload, ActivateResponsePayload, _V10, "4.19"),
        OperationSpec(_O.REVOKE, RevokeRequestPayload, RevokeResponsePayload, _V10, "4.20"),
        OperationSpec(_O.DESTROY, DestroyRequestPayload, DestroyResponsePayload, _V10, "4.21"),
        OperationSpec(_O.ARCHIVE, ArchiveRequestPayload, ArchiveResponsePayload, _V10, "4.22"),
        OperationSpec(_O.RECOVER, RecoverRequestPayload, RecoverResponsePayload, _V10, "4.23"),
        OperationSpec(_O.VALIDATE, ValidateRequestPayload, ValidateResponsePayload, _V10, "4.24"),
        OperationSpec(_O.QUERY, QueryRequestPayload, QueryResponsePayload, _V10, "4.25"),
        OperationSpec(
            _O.DISCOVER_VERSIONS,
            DiscoverVersionsRequestPayload,
            DiscoverVersionsResponsePayload,
            _V11,
            "4.26",
        ),
        OperationSpec(_O.CANCEL, CancelRequestPayload, CancelResponsePayload, _V10, "4.27"),
        OperationSpec(_O.POLL, PollRequestPayload, None, _V10, "4.28"),
        OperationSpec(_O.ENCRYPT, EncryptRequestPayload, EncryptResponsePayload, _V12, "4.29"),
        OperationSpec(_O.DECRYPT, DecryptRequestPayload, DecryptResponsePayload, _V12, "4.30"),
        OperationSpec(_O.SIGN, SignRequestPayload, SignResponsePayload, _V12, "4.31"),
        OperationSpec(
            _O.SIGNATURE_VERIFY, SignatureVerifyRequestPayload, SignatureVerifyResponsePayload, _V12, "4.32"
        ),
        OperationSpec(_O.MAC, MACRequestPayload, MACResponsePayload, _V12, "4.33"),
        OperationSpec(_O.MAC_VERIFY, MACVerifyRequestPayload, MACVerifyResponsePayload, _V12, "4.34"),
        OperationSpec(_O.RNG_RETRIEVE, RNGRetrieveRequestPayload, RNGRetrieveResponsePayload, _V12, "4.35"),
        OperationSpec(_O.RNG_SEED, RNGSeedRequestPayload, RNGSeedResponsePayload, _V12, "4.36"),
        OperationSpec(_O.HASH, HashRequestPayload, HashResponsePayload, _V12, "4.37"),
        OperationSpec(
            _O.CREATE_SPLIT_KEY, CreateSplitKeyRequestPayload, CreateSplitKeyResponsePayload, _V12, "4.38"
        ),
        OperationSpec(
            _O.JOIN_SPLIT_KEY, JoinSplitKeyRequestPayload, JoinSplitKeyResponsePayload, _V12, "4.39"
        ),
        OperationSpec(_O.EXPORT, ExportRequestPayload, ExportResponsePayload, _V14, "4.40"),
        OperationSpec(_O.IMPORT, ImportRequestPayload, ImportResponsePayload, _V14, "4.41"),
        OperationSpec(_O.NOTIFY, NotifyRequestPayload, EmptyPayload, _V10, "5.1", server_to_client=True),
        OperationSpec(_O.PUT, PutRequestPayload, EmptyPayload, _V10, "5.2", server_to_client=True),
    )
}
"""Operation -> its payloads (sections 4 and 5; Query and Discover Versions serve both ways)."""

RequestPayload: TypeAlias = (
    CreateRequestPayload
    | CreateKeyPairRequestPayload
    | RegisterRequestPayload
    | ReKeyRequestPayload
    | ReKeyKeyPairRequestPayload
    | DeriveKeyRequestPayload
    | CertifyRequestPayload
    | ReCertifyRequestPayload
    | LocateRequestPayload
    | CheckRequestPayload
    | GetRequestPayload
    | GetAttributesRequestPayload
    | GetAttributeListRequestPayload
    | AddAttributeRequestPayload
    | ModifyAttributeRequestPayload
    | DeleteAttributeRequestPayload
    | ObtainLeaseRequestPayload
    | GetUsageAllocationRequestPayload
    | UniqueIdentifierRequestPayload
    | RevokeRequestPayload
    | ValidateRequestPayload
    | QueryRequestPayload
    | DiscoverVersionsRequestPayload
    | CancelRequestPayload
    | PollRequestPayload
    | EncryptRequestPayload
    | DecryptRequestPayload
    | SignRequestPayload
    | SignatureVerifyRequestPayload
    | MACRequestPayload
    | MACVerifyRequestPayload
    | RNGRetrieveRequestPayload
    | RNGSeedRequestPayload
    | HashRequestPayload
    | CreateSplitKeyRequestPayload
    | JoinSplitKeyRequestPayload
    | ExportRequestPayload
    | ImportRequestPayload
    | NotifyRequestPayload
    | PutRequestPayload
)
"""Any request payload (a class of ``OPERATIONS``)."""

ResponsePayload: TypeAlias = (
    EmptyPayload
    | CreateResponsePayload
    | CreateKeyPairResponsePayload
    | RegisterResponsePayload
    | ReKeyResponsePayload
    | ReKeyKeyPairResponsePayload
    | DeriveKeyResponsePayload
    | CertifyResponsePayload
    | ReCertifyResponsePayload
    | LocateResponsePayload
    | CheckResponsePayload
    | GetResponsePayload
    | GetAttributesResponsePayload
    | GetAttributeListResponsePayload
    | AddAttributeResponsePayload
    | ModifyAttributeResponsePayload
    | DeleteAttributeResponsePayload
    | ObtainLeaseResponsePayload
    | GetUsageAllocationResponsePayload
    | UniqueIdentifierResponsePayload
    | ValidateResponsePayload
    | QueryResponsePayload
    | DiscoverVersionsResponsePayload
    | CancelResponsePayload
    | EncryptResponsePayload
    | DecryptResponsePayload
    | SignResponsePayload
    | SignatureVerifyResponsePayload
    | MACResponsePayload
    | MACVerifyResponsePayload
    | RNGRetrieveResponsePayload
    | RNGSeedResponsePayload
    | HashResponsePayload
    | CreateSplitKeyResponsePayload
    | JoinSplitKeyResponsePayload
    | ExportResponsePayload
    | Item  # Poll
)
"""Any response payload (a class of ``OPERATIONS``), or the raw Item of a Poll response."""
