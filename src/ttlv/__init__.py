"""The TTLV codec of KMIP 1.4: items, encode/decode, named limits and the codec's errors.

Pure and synchronous: bytes in, Items out, and back. No KMIP semantics beyond tag numbers.
"""

from ttlv import errors
from ttlv.codec import decode, decode_prefix, encode
from ttlv.errors import DecodeError, EncodeError, TTLVError
from ttlv.item import Item, ItemType
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeError",
    "EncodeError",
    "Item",
    "ItemType",
    "Limits",
    "TTLVError",
    "decode",
    "decode_prefix",
    "encode",
    "errors",
]
