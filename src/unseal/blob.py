"""The wrapped-blob format (DESIGN.md section 4): every wrapped key at rest, in one module.

Layout (big-endian):
    magic "OKCM" (4) | format version (1) | algorithm (1) | layer (1)
    | tenant id (u16 length + UTF-8) | key id (u16 length + UTF-8) | key version (u32)
    | wrapping key id (u16 length + UTF-8) | wrapping key version (u32)
    | nonce (12) | ciphertext and tag (n + 16)

Invariants:
- The whole header (everything before the nonce) is the AES-256-GCM associated data, so no
  field can be changed, and no blob moved to another tenant, key, version or layer, without
  the unwrap failing.
- ``unwrap`` compares the header with what the caller expects (layer, tenant, key id,
  version) before any cryptography runs, and every failure, whatever its cause, is the same
  ``UnwrapError`` with the same message: the error is no oracle.
- Plaintext comes back in a ``bytearray`` that the caller zeroizes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OKCM"
FORMAT_VERSION = 1
ALGORITHM_AES_256_GCM = 1
NONCE_SIZE = 12
TAG_SIZE = 16
MAX_WRAPS_PER_KEY = 2**32
"""The most wraps one key may make: AES-GCM with random 96-bit nonces (NIST SP 800-38D, 8.3).
Every wrap budget of the key hierarchy is at most this."""
MAX_ID_LENGTH = 1024

_FIXED = struct.Struct(">4sBBB")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PREFIX = MAGIC + bytes((FORMAT_VERSION, ALGORITHM_AES_256_GCM))


class Layer(IntEnum):
    IVK = 1
    L2_ACTIVE = 2
    L2_SOVEREIGN = 3
    L3 = 4
    L4 = 5
    SEAL = 6


_LAYERS = frozenset(Layer)


class UnwrapError(Exception):
    """A blob could not be unwrapped. Deliberately the same for every cause."""

    def __init__(self) -> None:
        super().__init__("unwrap failed")


@dataclass(frozen=True, slots=True)
class BlobHeader:
    layer: Layer
    tenant_id: str
    key_id: str
    key_version: int
    wrapping_key_id: str
    wrapping_key_version: int

    def encode(self) -> bytes:
        parts = [_FIXED.pack(MAGIC, FORMAT_VERSION, ALGORITHM_AES_256_GCM, int(self.layer))]
        for text in (self.tenant_id, self.key_id):
            parts.append(_encode_text(text))
        parts.append(_U32.pack(self.key_version))
        parts.append(_encode_text(self.wrapping_key_id))
        parts.append(_U32.pack(self.wrapping_key_version))
        return b"".join(parts)


def _encode_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > MAX_ID_LENGTH:
        raise ValueError("identifier too long for a blob header")
    return _U16.pack(len(raw)) + raw


def cipher_for(key: bytes | bytearray | memoryview) -> AESGCM:
    """An AES-256-GCM cipher for a 32-byte wrapping key (callers cache it for warm keys)."""
    if len(key) != 32:
        raise ValueError("wrapping keys are 256-bit")
    return AESGCM(key)


def wrap(header: BlobHeader, cipher: AESGCM, plaintext: bytes | bytearray | memoryview) -> bytes:
    """Encrypt ``plaintext`` under ``cipher``, bound to ``header``."""
    aad = header.encode()
    nonce = os.urandom(NONCE_SIZE)
    return aad + nonce + cipher.encrypt(nonce, plaintext, aad)


def _parse(blob: bytes) -> tuple[int, str, str, int, str, int, int]:
    """(layer, tenant id, key id, key version, wrapping key id, wrapping key version, nonce offset).

    Straight-line on purpose: this runs once per L4 unwrap, on the hot path."""
    try:
        if blob[:6] != _PREFIX:
            raise UnwrapError
        layer = blob[6]
        end = 9 + int.from_bytes(blob[7:9], "big")
        tenant_id = blob[9:end].decode("utf-8")
        start = end + 2
        end = start + int.from_bytes(blob[end:start], "big")
        key_id = blob[start:end].decode("utf-8")
        key_version = int.from_bytes(blob[end : end + 4], "big")
        start = end + 6
        end = start + int.from_bytes(blob[end + 4 : start], "big")
        wrapping_key_id = blob[start:end].decode("utf-8")
        wrapping_key_version = int.from_bytes(blob[end : end + 4], "big")
    except (IndexError, ValueError) as exc:  # ValueError covers bad UTF-8
        raise UnwrapError from exc
    offset = end + 4
    # Slices never fail short, so the lengths are checked once here: the whole header, the
    # nonce and a tag must be present, and no field may exceed its bound.
    if (
        len(blob) < offset + NONCE_SIZE + TAG_SIZE
        or max(len(tenant_id), len(key_id), len(wrapping_key_id)) > MAX_ID_LENGTH
        or layer not in _LAYERS
    ):
        raise UnwrapError
    return layer, tenant_id, key_id, key_version, wrapping_key_id, wrapping_key_version, offset


def parse_header(blob: bytes) -> tuple[BlobHeader, int]:
    """The header of ``blob`` and the offset where the nonce starts; ``UnwrapError`` if malformed."""
    layer, tenant_id, key_id, key_version, wrapping_key_id, wrapping_key_version, offset = _parse(blob)
    header = BlobHeader(Layer(layer), tenant_id, key_id, key_version, wrapping_key_id, wrapping_key_version)
    return header, offset


def peek(blob: bytes) -> BlobHeader:
    """The header alone, to choose the wrapping key. Authenticates nothing."""
    return parse_header(blob)[0]


def _check(blob: bytes, layer: Layer, tenant_id: str, key_id: str, key_version: int) -> tuple[str, int, int]:
    """(wrapping key id, wrapping key version, nonce offset) if the header names exactly this
    layer, tenant, key and version; ``UnwrapError`` otherwise. No cryptography runs here."""
    parsed_layer, parsed_tenant, parsed_key, parsed_version, wrapping_key_id, wrapping_version, offset = (
        _parse(blob)
    )
    if (
        parsed_tenant != tenant_id
        or parsed_layer != layer
        or parsed_key != key_id
        or parsed_version != key_version
    ):
        raise UnwrapError
    return wrapping_key_id, wrapping_version, offset


def _decrypt(blob: bytes, cipher: AESGCM, offset: int) -> bytearray:
    try:
        plaintext = cipher.decrypt(
            blob[offset : offset + NONCE_SIZE], blob[offset + NONCE_SIZE :], blob[:offset]
        )
    except InvalidTag:
        raise UnwrapError from None
    return bytearray(plaintext)


def unwrap(
    blob: bytes,
    cipher: AESGCM,
    *,
    layer: Layer,
    tenant_id: str,
    key_id: str,
    key_version: int,
) -> bytearray:
    """Decrypt ``blob`` if, and only if, its header names exactly this layer, tenant, key and version."""
    _, _, offset = _check(blob, layer, tenant_id, key_id, key_version)
    return _decrypt(blob, cipher, offset)


def unwrap_selecting(
    blob: bytes,
    select: Callable[[str, int], AESGCM | None],
    *,
    layer: Layer,
    tenant_id: str,
    key_id: str,
    key_version: int,
) -> bytearray:
    """``unwrap``, with the cipher chosen by ``select(wrapping key id, wrapping key version)`` from the
    header (None: no such key), after the header matched: the header is parsed once. ``select`` may
    raise its own exception (for example, to ask the caller to load a newer key version)."""
    wrapping_key_id, wrapping_version, offset = _check(blob, layer, tenant_id, key_id, key_version)
    cipher = select(wrapping_key_id, wrapping_version)
    if cipher is None:
        raise UnwrapError
    return _decrypt(blob, cipher, offset)
