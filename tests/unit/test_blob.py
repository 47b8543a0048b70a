"""The wrapped-blob format (src/unseal/blob.py): integrity of every bit, binding of every field, no oracle."""

from __future__ import annotations

import os
from typing import cast

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from unseal.blob import (
    NONCE_SIZE,
    TAG_SIZE,
    BlobHeader,
    Layer,
    UnwrapError,
    cipher_for,
    parse_header,
    peek,
    unwrap,
    wrap,
)

KEY = bytes(range(32))
MATERIAL = b"\x5a" * 32


def header_for(layer: Layer) -> BlobHeader:
    """A realistic header per layer (IVK and seal blobs carry no tenant)."""
    headers = {
        Layer.IVK: BlobHeader(Layer.IVK, "", "ivk", 3, "master", 1),
        Layer.L2_ACTIVE: BlobHeader(Layer.L2_ACTIVE, "tenant-a", "l2-0001", 1, "ivk", 3),
        Layer.L2_SOVEREIGN: BlobHeader(Layer.L2_SOVEREIGN, "tenant-a", "l2-0001", 1, "ivk", 3),
        Layer.L3: BlobHeader(Layer.L3, "tenant-a", "payments", 2, "l2-0001", 1),
        Layer.L4: BlobHeader(Layer.L4, "tenant-a", "6f1c2a9e-object", 1, "payments", 2),
        Layer.SEAL: BlobHeader(Layer.SEAL, "", "master", 1, "seal-key", 1),
    }
    assert set(headers) == set(Layer), "every layer needs a test header"
    return headers[layer]


def expect(header: BlobHeader) -> dict[str, object]:
    return {
        "layer": header.layer,
        "tenant_id": header.tenant_id,
        "key_id": header.key_id,
        "key_version": header.key_version,
    }


def failure_text(blob: bytes, cipher: AESGCM, **expected: object) -> str:
    with pytest.raises(UnwrapError) as caught:
        unwrap(blob, cipher, **expected)  # type: ignore[arg-type]
    return str(caught.value)


class RecordingCipher:
    """Stands where an AESGCM goes and records whether any cryptography was attempted."""

    def __init__(self) -> None:
        self.calls = 0

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        self.calls += 1
        raise AssertionError("cryptography ran")

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        self.calls += 1
        raise AssertionError("cryptography ran")


@pytest.mark.parametrize("layer", list(Layer))
def test_round_trip_and_header(layer: Layer) -> None:
    header = header_for(layer)
    cipher = cipher_for(KEY)
    blob = wrap(header, cipher, MATERIAL)
    assert peek(blob) == header
    parsed, offset = parse_header(blob)
    assert parsed == header
    assert blob[:offset] == header.encode()
    assert len(blob) == offset + NONCE_SIZE + len(MATERIAL) + TAG_SIZE
    plain = unwrap(blob, cipher, **expect(header))  # type: ignore[arg-type]
    assert isinstance(plain, bytearray)
    assert plain == MATERIAL


def test_each_wrap_uses_a_fresh_nonce() -> None:
    cipher = cipher_for(KEY)
    header = header_for(Layer.L4)
    assert wrap(header, cipher, MATERIAL) != wrap(header, cipher, MATERIAL)


@pytest.mark.parametrize("layer", list(Layer))
def test_every_single_bit_flip_fails(layer: Layer) -> None:
    header = header_for(layer)
    cipher = cipher_for(KEY)
    blob = wrap(header, cipher, MATERIAL)
    texts = set()
    for position in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[position // 8] ^= 1 << (position % 8)
        texts.add(failure_text(bytes(tampered), cipher, **expect(header)))
    assert texts == {"unwrap failed"}


@pytest.mark.parametrize("layer", list(Layer))
def test_every_truncation_and_extension_fails(layer: Layer) -> None:
    header = header_for(layer)
    cipher = cipher_for(KEY)
    blob = wrap(header, cipher, MATERIAL)
    texts = {failure_text(blob[:length], cipher, **expect(header)) for length in range(len(blob))}
    texts.add(failure_text(blob + b"\x00", cipher, **expect(header)))
    assert texts == {"unwrap failed"}


@pytest.mark.parametrize(
    "field",
    ["tenant_id", "key_id", "key_version", "layer"],
)
def test_unwrap_expecting_another_field_fails(field: str) -> None:
    header = header_for(Layer.L4)
    cipher = cipher_for(KEY)
    blob = wrap(header, cipher, MATERIAL)
    other: dict[str, object] = {
        "tenant_id": "tenant-b",
        "key_id": "another-object",
        "key_version": 2,
        "layer": Layer.L3,
    }
    expected = {**expect(header), field: other[field]}
    assert failure_text(blob, cipher, **expected) == "unwrap failed"


@pytest.mark.parametrize(
    "moved",
    [
        {"tenant_id": "tenant-b"},
        {"key_id": "another-object"},
        {"key_version": 7},
        {"layer": Layer.L3},
        {"wrapping_key_id": "billing"},
        {"wrapping_key_version": 9},
    ],
    ids=lambda moved: next(iter(moved)),
)
def test_blob_moved_under_another_header_fails(moved: dict[str, object]) -> None:
    """Re-label the ciphertext with another tenant, key, version, layer or wrapping key: the tag breaks."""
    header = header_for(Layer.L4)
    cipher = cipher_for(KEY)
    blob = wrap(header, cipher, MATERIAL)
    _, offset = parse_header(blob)
    fields = {
        "layer": header.layer,
        "tenant_id": header.tenant_id,
        "key_id": header.key_id,
        "key_version": header.key_version,
        "wrapping_key_id": header.wrapping_key_id,
        "wrapping_key_version": header.wrapping_key_version,
        **moved,
    }
    relabelled = BlobHeader(**fields)  # type: ignore[arg-type]
    forged = relabelled.encode() + blob[offset:]
    assert peek(forged) == relabelled
    assert failure_text(forged, cipher, **expect(relabelled)) == "unwrap failed"


def test_wrong_key_fails_with_the_same_text() -> None:
    header = header_for(Layer.L3)
    blob = wrap(header, cipher_for(KEY), MATERIAL)
    assert failure_text(blob, cipher_for(os.urandom(32)), **expect(header)) == "unwrap failed"


@pytest.mark.parametrize(
    "mismatch",
    [{"tenant_id": "tenant-b"}, {"layer": Layer.L3}, {"key_id": "x"}, {"key_version": 2}],
    ids=lambda mismatch: next(iter(mismatch)),
)
def test_mismatched_header_is_refused_before_any_cryptography(mismatch: dict[str, object]) -> None:
    header = header_for(Layer.L4)
    blob = wrap(header, cipher_for(KEY), MATERIAL)
    recorder = RecordingCipher()
    text = failure_text(blob, cast(AESGCM, recorder), **{**expect(header), **mismatch})
    assert recorder.calls == 0
    assert text == "unwrap failed"


def test_matching_header_does_reach_the_cipher() -> None:
    """The control for the test above: with every field right, the cipher is called."""
    header = header_for(Layer.L4)
    blob = wrap(header, cipher_for(KEY), MATERIAL)
    recorder = RecordingCipher()
    with pytest.raises(AssertionError):
        unwrap(blob, cast(AESGCM, recorder), **expect(header))  # type: ignore[arg-type]
    assert recorder.calls == 1


@pytest.mark.parametrize(
    "garbage",
    [b"", b"OKCM", b"XXXX" + bytes(60), b"OKCM\x02\x01\x05" + bytes(60), b"OKCM\x01\x01\x63" + bytes(60)],
)
def test_malformed_input_is_the_same_unwrap_error(garbage: bytes) -> None:
    with pytest.raises(UnwrapError) as caught:
        peek(garbage)
    assert str(caught.value) == "unwrap failed"
    assert failure_text(garbage, cipher_for(KEY), **expect(header_for(Layer.L4))) == "unwrap failed"


def test_identifier_length_limit_is_enforced_on_wrap() -> None:
    header = BlobHeader(Layer.L4, "t" * 1025, "k", 1, "w", 1)
    with pytest.raises(ValueError, match="too long"):
        wrap(header, cipher_for(KEY), MATERIAL)


def test_cipher_for_requires_a_256_bit_key() -> None:
    with pytest.raises(ValueError, match="256-bit"):
        cipher_for(bytes(16))
