"""The codec's own errors. Every failure of ``ttlv`` on any input is one of these.

Each error carries the byte offset (in the message being decoded) where the problem was
found, or -1 when it is not about a position (an item that cannot be encoded).
Messages name the problem and never echo value bytes, which may be secret.
"""

from __future__ import annotations


class TTLVError(Exception):
    """Base of every error raised by the ``ttlv`` package."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message if offset < 0 else f"{message} (at offset {offset})")
        self.offset = offset


class DecodeError(TTLVError):
    """The bytes are not valid TTLV (bad type, length, padding, UTF-8, truncation...)."""


class EncodeError(TTLVError):
    """An Item cannot be encoded (value of the wrong Python type or out of range)."""


class LimitExceeded(DecodeError):
    """A named limit (see ``ttlv.limits.Limits``) was exceeded; ``limit`` names it."""

    limit: str = ""


class MessageTooLarge(LimitExceeded):
    limit = "max_message_size"


class NestingTooDeep(LimitExceeded):
    limit = "max_depth"


class TooManyItems(LimitExceeded):
    limit = "max_items"
