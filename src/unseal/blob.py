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
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OKCM"
FORMAT_VERSION = 1
ALGORITHM_AES_256_GCM = 1
NONCE_SIZE = 12
TAG_SIZE = 16
MAX_ID_LENGTH = 1024

_FIXED = struct.Struct(">4sBBB")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Layer(IntEnum):
    IVK = 1
    L2_ACTIVE = 2
    L2_SOVEREIGN = 3
    L3 = 4
    L4 = 5
    SEAL = 6


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


def parse_header(blob: bytes) -> tuple[BlobHeader, int]:
    """The header of ``blob`` and the offset where the nonce starts; ``UnwrapError`` if malformed."""
    try:
        magic, version, algorithm, layer = _FIXED.unpack_from(blob, 0)
        if magic != MAGIC or version != FORMAT_VERSION or algorithm != ALGORITHM_AES_256_GCM:
            raise UnwrapError
        offset = _FIXED.size
        texts: list[str] = []
        numbers: list[int] = []
        for expects_number in (False, False, True, False, True):
            if expects_number:
                numbers.append(_U32.unpack_from(blob, offset)[0])
                offset += 4
                continue
            (length,) = _U16.unpack_from(blob, offset)
            offset += 2
            raw = blob[offset : offset + length]
            if len(raw) != length or length > MAX_ID_LENGTH:
                raise UnwrapError
            texts.append(raw.decode("utf-8"))
            offset += length
        if len(blob) < offset + NONCE_SIZE + TAG_SIZE:
            raise UnwrapError
        header = BlobHeader(Layer(layer), texts[0], texts[1], numbers[0], texts[2], numbers[1])
    except (struct.error, ValueError) as exc:  # ValueError covers bad UTF-8 and unknown layers
        raise UnwrapError from exc
    return header, offset


def peek(blob: bytes) -> BlobHeader:
    """The header alone, to choose the wrapping key. Authenticates nothing."""
    return parse_header(blob)[0]


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
    header, offset = parse_header(blob)
    if (
        header.tenant_id != tenant_id
        or header.layer != layer
        or header.key_id != key_id
        or header.key_version != key_version
    ):
        raise UnwrapError
    try:
        plaintext = cipher.decrypt(
            blob[offset : offset + NONCE_SIZE], blob[offset + NONCE_SIZE :], blob[:offset]
        )
    except InvalidTag:
        raise UnwrapError from None
    return bytearray(plaintext)
