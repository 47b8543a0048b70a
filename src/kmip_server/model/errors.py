"""Errors of the KMIP message model, each carrying the Result Reason a server answers with.

Invariants:
- Decoding any Item tree raises only ``ModelError`` subclasses (never KeyError, TypeError...).
- Each subclass names its KMIP 1.4 Result Reason (section 11, Table 327) as a class attribute;
  the server translates the error at exactly one place.
- ``operation`` and ``unique_batch_item_id`` are filled in when the failing part lies inside a
  batch item whose Operation / Unique Batch Item ID could be read, so that the server can answer
  that batch item alone; ``batch_index`` is the item's position. All three are None for errors
  in the message or its header.
- Messages name the field (by its spec name) and the problem, never a value: values may be
  secret (key material, passwords).
"""

from __future__ import annotations

from ttlv.kmip14 import Operation, ResultReason

__all__ = [
    "InvalidField",
    "InvalidMessage",
    "ModelEncodeError",
    "ModelError",
    "OperationNotSupported",
]


class ModelError(Exception):
    """Base of every error raised by the message model."""

    result_reason: ResultReason = ResultReason.GENERAL_FAILURE

    def __init__(
        self,
        message: str,
        *,
        operation: Operation | int | None = None,
        unique_batch_item_id: bytes | None = None,
        batch_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.unique_batch_item_id = unique_batch_item_id
        self.batch_index = batch_index

    @property
    def in_batch_item(self) -> bool:
        """Whether the error concerns one batch item (answer it alone) or the whole message."""
        return self.batch_index is not None


class InvalidMessage(ModelError):
    """Unparsable message, header or batch item; a field repeated; a REQUIRED field missing
    (section 11.1 rows 1-3 and 10, and e.g. 11.3 "REQUIRED field(s) missing")."""

    result_reason = ResultReason.INVALID_MESSAGE


class InvalidField(ModelError):
    """A field of the wrong item type, a value outside its enumeration or range, or (in a
    message of a version this model implements) a field it does not know (section 11.1 row 5,
    11.2 "Object Type is not recognized", "Incorrect attribute value(s) specified")."""

    result_reason = ResultReason.INVALID_FIELD


class OperationNotSupported(ModelError):
    """An Operation value this model has no payload for (section 11.1 row 8)."""

    result_reason = ResultReason.OPERATION_NOT_SUPPORTED


class ModelEncodeError(ModelError):
    """A model value cannot be encoded for the message's protocol version (e.g. an operation
    that version does not define). A server bug, answered as General Failure."""

    result_reason = ResultReason.GENERAL_FAILURE
