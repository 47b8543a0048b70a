"""crypto.symmetric: the tables' rules and every refusal (missing IV, wrong IV, tag failures
that all read the same, tag lengths, padding, key lengths and kinds, Random IV)."""

from __future__ import annotations

import pytest

from kmip_server.crypto import symmetric
from kmip_server.crypto.symmetric import DECRYPTION_FAILED, GCM_TAG_LENGTHS, LEGACY_ALGORITHMS
from kmip_server.errors import (
    CryptographicFailure,
    FeatureNotSupported,
    GeneralFailure,
    InvalidField,
    InvalidMessage,
    KmipError,
    PermissionDenied,
)
from kmip_server.model import CryptographicParameters, KeyBlock, KeyValue, SecretData, SymmetricKey
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    KeyFormatType,
    PaddingMethod,
    SecretDataType,
)

AES = CryptographicAlgorithm.AES
KEY = bytes(range(32))
M = BlockCipherMode


def params(mode: BlockCipherMode, **fields: object) -> CryptographicParameters:
    return CryptographicParameters(block_cipher_mode=mode, **fields)  # type: ignore[arg-type]


def test_every_legacy_cipher_is_offered_by_this_cryptography() -> None:
    # Pinned: the installed cryptography has the decrepit module; PyKMIP's client uses these.
    assert set(symmetric.CIPHERS) >= LEGACY_ALGORITHMS
    assert all(symmetric.CIPHERS[a].legacy for a in LEGACY_ALGORITHMS)
    assert not symmetric.CIPHERS[AES].legacy


@pytest.mark.parametrize("mode", [M.CBC, M.CTR, M.GCM, M.CFB, M.OFB])
def test_a_mode_that_needs_an_iv_refuses_none(mode: BlockCipherMode) -> None:
    with pytest.raises(InvalidMessage, match="missing IV"):
        symmetric.encrypt(AES, KEY, params(mode), b"x" * 16)
    with pytest.raises(InvalidMessage, match="missing IV"):
        symmetric.decrypt(AES, KEY, params(mode), b"x" * 16, tag=b"t" * 16)


@pytest.mark.parametrize(("mode", "length"), [(M.CBC, 16), (M.CTR, 16), (M.GCM, 12), (M.CFB, 16)])
def test_random_iv_is_generated_returned_and_decrypts(mode: BlockCipherMode, length: int) -> None:
    out = symmetric.encrypt(AES, KEY, params(mode, random_iv=True), b"attack at dawn!!")
    assert out.iv is not None
    assert len(out.iv) == length
    again = symmetric.encrypt(AES, KEY, params(mode, random_iv=True), b"attack at dawn!!")
    assert again.iv != out.iv  # fresh every time
    back = symmetric.decrypt(AES, KEY, params(mode), out.data, iv=out.iv, tag=out.tag)
    assert back == b"attack at dawn!!"


def test_gcm_iv_length_is_taken_from_the_parameters_in_bits() -> None:
    out = symmetric.encrypt(AES, KEY, params(M.GCM, random_iv=True, iv_length=128), b"data")
    assert out.iv is not None
    assert len(out.iv) == 16
    with pytest.raises(InvalidField):
        symmetric.encrypt(AES, KEY, params(M.GCM, random_iv=True, iv_length=60), b"data")


def test_an_iv_of_the_wrong_length_is_invalid() -> None:
    with pytest.raises(InvalidField):
        symmetric.encrypt(AES, KEY, params(M.CBC), b"x" * 16, iv=b"short")
    with pytest.raises(InvalidField):
        symmetric.encrypt(AES, KEY, params(M.GCM), b"x", iv=b"1234567")  # under 64 bits


def test_ctr_nonce_completed_by_counter_length_and_initial_value() -> None:
    nonce = bytes(range(12))
    completed = symmetric.encrypt(
        AES, KEY, params(M.CTR, counter_length=32, initial_counter_value=7), b"y" * 40, iv=nonce
    )
    whole = symmetric.encrypt(AES, KEY, params(M.CTR), b"y" * 40, iv=nonce + (7).to_bytes(4, "big"))
    assert completed.data == whole.data
    with pytest.raises(InvalidField):
        symmetric.encrypt(AES, KEY, params(M.CTR, counter_length=24), b"y", iv=nonce)


def test_gcm_failures_all_read_the_same() -> None:
    """Wrong tag, wrong IV, altered data, altered AAD, truncated tag: one answer, no oracle."""
    iv, aad = bytes(12), b"header"
    out = symmetric.encrypt(AES, KEY, params(M.GCM), b"secret message", iv=iv, aad=aad)
    assert out.tag is not None
    flipped = bytes([out.tag[0] ^ 1]) + out.tag[1:]
    wrong: list[tuple[bytes, bytes, bytes | None, bytes]] = [
        (out.data, iv, aad, flipped),
        (out.data, b"\x01" + iv[1:], aad, out.tag),
        (b"\x00" + out.data[1:], iv, aad, out.tag),
        (out.data, iv, b"other", out.tag),
        (out.data, iv, None, out.tag),
        (out.data, iv, aad, out.tag[:12]),  # not the Tag Length asked
    ]
    messages = set()
    for data, nonce, extra, tag in wrong:
        with pytest.raises(CryptographicFailure) as caught:
            symmetric.decrypt(AES, KEY, params(M.GCM, tag_length=16), data, iv=nonce, aad=extra, tag=tag)
        messages.add(caught.value.message)
    assert messages == {DECRYPTION_FAILED}


def test_gcm_tag_lengths() -> None:
    for length in sorted(GCM_TAG_LENGTHS):
        out = symmetric.encrypt(AES, KEY, params(M.GCM, tag_length=length), b"m", iv=bytes(12))
        assert out.tag is not None
        assert len(out.tag) == length
        assert (
            symmetric.decrypt(AES, KEY, params(M.GCM, tag_length=length), out.data, iv=bytes(12), tag=out.tag)
            == b"m"
        )
    for bad in (1, 8, 11, 17, 32):
        with pytest.raises(GeneralFailure, match="tag length"):
            symmetric.encrypt(AES, KEY, params(M.GCM, tag_length=bad), b"m", iv=bytes(12))


def test_gcm_decrypt_needs_its_tag() -> None:
    with pytest.raises(InvalidMessage, match="missing tag"):
        symmetric.decrypt(AES, KEY, params(M.GCM), b"data", iv=bytes(12))


def test_bad_padding_is_the_generic_failure() -> None:
    p = params(M.CBC, padding_method=PaddingMethod.PKCS5)
    out = symmetric.encrypt(AES, KEY, p, b"fifteen bytes!!", iv=bytes(16))
    assert len(out.data) == 16
    # Same ciphertext under another IV: the last byte of the padding changes, so it is invalid.
    with pytest.raises(CryptographicFailure) as caught:
        symmetric.decrypt(AES, KEY, p, out.data, iv=bytes(15) + b"\x07")
    assert caught.value.message == DECRYPTION_FAILED


def test_ansi_x923_padding_round_trips() -> None:
    p = params(M.ECB, padding_method=PaddingMethod.ANSI_X9_23)
    out = symmetric.encrypt(AES, KEY, p, b"abc")
    assert symmetric.decrypt(AES, KEY, p, out.data) == b"abc"


def test_whole_blocks_without_padding() -> None:
    with pytest.raises(InvalidField, match="multiple of 16"):
        symmetric.encrypt(AES, KEY, params(M.ECB), b"not a block")
    with pytest.raises(InvalidField, match="padding applies"):
        symmetric.encrypt(AES, KEY, params(M.CTR, padding_method=PaddingMethod.PKCS5), b"x", iv=bytes(16))


@pytest.mark.parametrize(
    ("algorithm", "key", "parameters", "error"),
    [
        (AES, b"short", params(M.ECB), PermissionDenied),  # a key length AES does not take
        (CryptographicAlgorithm.HMAC_SHA256, KEY, params(M.ECB), PermissionDenied),  # not a cipher
        (CryptographicAlgorithm.RSA, KEY, params(M.ECB), PermissionDenied),
        (None, KEY, params(M.ECB), PermissionDenied),
        (AES, KEY, CryptographicParameters(), InvalidField),  # no mode at all
        (AES, KEY, params(M.XTS), FeatureNotSupported),
        (CryptographicAlgorithm.TRIPLE_DES, bytes(24), params(M.GCM), FeatureNotSupported),  # GCM is AES only
        (AES, KEY, params(M.ECB, padding_method=PaddingMethod.ISO_10126), FeatureNotSupported),
    ],
)
def test_refusals(
    algorithm: CryptographicAlgorithm | None,
    key: bytes,
    parameters: CryptographicParameters,
    error: type[KmipError],
) -> None:
    with pytest.raises(error):
        symmetric.encrypt(algorithm, key, parameters, bytes(16), iv=bytes(16))


def test_cipher_algorithm_is_the_keys_own() -> None:
    hmac_parameters = CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.HMAC_SHA256)
    # Parameters stored with an AES key may name HMAC (CS-AC-M-4): the cipher is still AES.
    assert symmetric.cipher_algorithm(AES, hmac_parameters, None) is AES
    with pytest.raises(PermissionDenied):
        symmetric.cipher_algorithm(AES, hmac_parameters, hmac_parameters)  # the request asks another
    assert symmetric.cipher_algorithm(None, hmac_parameters, None) is CryptographicAlgorithm.HMAC_SHA256


def test_key_material_only_from_symmetric_keys() -> None:
    raw = SymmetricKey(
        key_block=KeyBlock(key_format_type=KeyFormatType.RAW, key_value=KeyValue(key_material=KEY))
    )
    assert symmetric.symmetric_key_material(raw) == KEY
    wrapped = SymmetricKey(key_block=KeyBlock(key_format_type=KeyFormatType.RAW, key_value=b"wrapped bytes"))
    with pytest.raises(PermissionDenied):
        symmetric.symmetric_key_material(wrapped)
    secret = SecretData(
        secret_data_type=SecretDataType.PASSWORD,
        key_block=KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=b"pw")),
    )
    assert (
        symmetric.symmetric_key_material(secret) == b"pw"
    )  # bytes are bytes; the type check is the caller's
