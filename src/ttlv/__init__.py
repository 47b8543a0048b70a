"""The TTLV codec of KMIP 1.4: items, encode/decode, framing, named limits, errors, dump.

Pure and synchronous: bytes in, Items out, and back. No KMIP semantics beyond tag numbers.
"""

from ttlv import errors
from ttlv.codec import decode, decode_prefix, encode
from ttlv.dump import dump, dump_bytes
from ttlv.errors import DecodeError, EncodeError, TTLVError
from ttlv.framing import Framer
from ttlv.item import Item, ItemType
from ttlv.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeError",
    "EncodeError",
    "Framer",
    "Item",
    "ItemType",
    "Limits",
    "TTLVError",
    "decode",
    "decode_prefix",
    "dump",
    "dump_bytes",
    "encode",
    "errors",
]
