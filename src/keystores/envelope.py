"""The ciphertext format of the drivers that run AES-256-GCM themselves (software, PKCS#11).

Cloud KMSs return their own opaque blobs; the software and PKCS#11 drivers produce this one:

| field | size |
|---|---|
| magic (``OKSW`` software, ``OKHS`` PKCS#11) | 4 |
| format version (1) | 1 |
| key id | 2-byte big-endian length + UTF-8 |
| nonce | 12 |
| ciphertext and tag | n + 16 |

Invariants:
- The associated data is the header (magic, version, key id) followed by the canonical encryption
  context, so a blob cannot be replayed under another key id, another driver or another context.
- Parsing is total: any byte string either parses or raises ``KeystoreDecryptFailed`` with the same
  vague message, whatever was wrong with it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from keystores.base import KeystoreDecryptFailed, KeystoreRequestInvalid

VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
MAX_KEY_ID_SIZE = 1024  # UTF-8 bytes of a key id (KeystoreRequestInvalid)

_PREFIX = struct.Struct(">4sBH")


@dataclass(frozen=True, slots=True)
class Envelope:
    header: bytes  # magic, version and key id: the first part of the associated data
    key_id: str
    nonce: bytes
    sealed: bytes  # ciphertext followed by the GCM tag

    def associated_data(self, canonical_context: bytes) -> bytes:
        return self.header + canonical_context


def header_for(magic: bytes, key_id: str) -> bytes:
    encoded = key_id.encode("utf-8")
    if not encoded or len(encoded) > MAX_KEY_ID_SIZE:
        raise KeystoreRequestInvalid(f"key id must be 1..{MAX_KEY_ID_SIZE} UTF-8 bytes")
    return _PREFIX.pack(magic, VERSION, len(encoded)) + encoded


def encode(header: bytes, nonce: bytes, sealed: bytes) -> bytes:
    return header + nonce + sealed


def parse(magic: bytes, blob: bytes) -> Envelope:
    """Split a blob produced by ``encode``; anything else raises ``KeystoreDecryptFailed``."""
    if len(blob) < _PREFIX.size:
        raise KeystoreDecryptFailed("decrypt failed")
    found_magic, version, key_id_size = _PREFIX.unpack_from(blob)
    header_end = _PREFIX.size + key_id_size
    if (
        found_magic != magic
        or version != VERSION
        or key_id_size == 0
        or len(blob) < header_end + NONCE_SIZE + TAG_SIZE
    ):
        raise KeystoreDecryptFailed("decrypt failed")
    key_id = _utf8(blob[_PREFIX.size : header_end])
    if key_id is None:
        raise KeystoreDecryptFailed("decrypt failed")
    return Envelope(
        header=bytes(blob[:header_end]),
        key_id=key_id,
        nonce=bytes(blob[header_end : header_end + NONCE_SIZE]),
        sealed=bytes(blob[header_end + NONCE_SIZE :]),
    )


def _utf8(raw: bytes) -> str | None:
    # Returning instead of raising inside the handler keeps the codec's message (which quotes
    # the offending byte) out of the normalized error's __context__.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
