"""Errors of the request engine and its operations, each carrying its KMIP wire meaning.

Invariants:
- Every failure an operation reports is a ``KmipError`` subclass whose ``result_reason`` is the
  KMIP 1.4 Result Reason (section 11, Table 327) the client receives; the engine translates it
  in exactly one place (``kmip_server.engine``), into Result Status Operation Failed.
- ``message`` is what the client reads as Result Message: short, fixed or built only from the
  client's own request, never a lower layer's ``str()``, a secret, or a hint that an object of
  another tenant exists (another tenant's identifier is ``ItemNotFound``, word for word the same
  as an identifier that never existed).
- Anything else escaping an operation is a bug: the engine answers General Failure with a
  correlation id and logs the traceback under that id.
"""

from __future__ import annotations

from typing import ClassVar

from ttlv.kmip14 import ResultReason


class KmipError(Exception):
    """Base: a KMIP failure with its Result Reason. Subclasses set ``result_reason`` and ``default``."""

    result_reason: ClassVar[ResultReason] = ResultReason.GENERAL_FAILURE
    default: ClassVar[str] = "the operation failed"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default
        super().__init__(self.message)


class ItemNotFound(KmipError):
    result_reason = ResultReason.ITEM_NOT_FOUND
    default = "no object with this unique identifier"


class PermissionDenied(KmipError):
    result_reason = ResultReason.PERMISSION_DENIED
    default = "permission denied"


class InvalidMessage(KmipError):
    result_reason = ResultReason.INVALID_MESSAGE
    default = "the message cannot be parsed"


class InvalidField(KmipError):
    result_reason = ResultReason.INVALID_FIELD
    default = "a field of the request is not valid"


class MissingData(KmipError):
    result_reason = ResultReason.MISSING_DATA
    default = "the request lacks data the operation needs"


class OperationNotSupported(KmipError):
    result_reason = ResultReason.OPERATION_NOT_SUPPORTED
    default = "the operation is not supported"


class FeatureNotSupported(KmipError):
    result_reason = ResultReason.FEATURE_NOT_SUPPORTED
    default = "the feature is not supported"


class IllegalOperation(KmipError):
    """The operation is not allowed in the object's current state (e.g. Activate a Destroyed key)."""

    result_reason = ResultReason.ILLEGAL_OPERATION
    default = "the operation is not allowed for this object in its current state"


class CryptographicFailure(KmipError):
    """Deliberately vague: no padding, tag or key oracle."""

    result_reason = ResultReason.CRYPTOGRAPHIC_FAILURE
    default = "cryptographic failure"


class IndexOutOfBounds(KmipError):
    result_reason = ResultReason.INDEX_OUT_OF_BOUNDS
    default = "attribute index out of bounds"


class ObjectArchived(KmipError):
    result_reason = ResultReason.OBJECT_ARCHIVED
    default = "the object is archived"


class KeyFormatTypeNotSupported(KmipError):
    result_reason = ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED
    default = "the key format type is not supported"


class KeyCompressionTypeNotSupported(KmipError):
    result_reason = ResultReason.KEY_COMPRESSION_TYPE_NOT_SUPPORTED
    default = "the key compression type is not supported"


class ResponseTooLarge(KmipError):
    result_reason = ResultReason.RESPONSE_TOO_LARGE
    default = "the response exceeds the Maximum Response Size"


class EncodingOptionError(KmipError):
    result_reason = ResultReason.ENCODING_OPTION_ERROR
    default = "the encoding option is not supported"


class KeyValueNotPresent(KmipError):
    result_reason = ResultReason.KEY_VALUE_NOT_PRESENT
    default = "the object has no key value"


class Sensitive(KmipError):
    result_reason = ResultReason.SENSITIVE
    default = "the object is sensitive"


class NotExtractable(KmipError):
    result_reason = ResultReason.NOT_EXTRACTABLE
    default = "the object is not extractable"


class ApplicationNamespaceNotSupported(KmipError):
    """Application Specific Information without Application Data names a namespace for which
    the server would have to generate the data (3.36); this server generates none (11.2, 11.4,
    11.15, 11.16)."""

    result_reason = ResultReason.APPLICATION_NAMESPACE_NOT_SUPPORTED
    default = "the application namespace is not supported: give the Application Data"


class ObjectAlreadyExists(KmipError):
    result_reason = ResultReason.OBJECT_ALREADY_EXISTS
    default = "the object already exists"


class ServerSealed(KmipError):
    """Every request while the Core is sealed (DESIGN section 3)."""

    result_reason = ResultReason.GENERAL_FAILURE
    default = "the server is sealed: no key can be used until it is unsealed"


class TenantUnavailable(KmipError):
    """The tenant's chain to its L1 is cut (unlinked, L1 refused, or the sovereign TTL ran out)."""

    result_reason = ResultReason.PERMISSION_DENIED
    default = "the keys of this tenant are not available: its root key link is not active"


class GeneralFailure(KmipError):
    result_reason = ResultReason.GENERAL_FAILURE
    default = "general failure"


class ConcurrentModification(KmipError):
    """The object changed under this request (another request, maybe on another Core, won)."""

    result_reason = ResultReason.GENERAL_FAILURE
    default = "the object was changed concurrently; retry the request"
