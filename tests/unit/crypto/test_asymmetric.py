"""``crypto.asymmetric`` without a server: the parameter tables and their resolution (Digital
Signature Algorithm, algorithm + padding + hash, defaults, refusals), signatures and RSA
encryption over keys made here, and the completeness of the tables."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from kmip_server.crypto import asymmetric
from kmip_server.crypto.asymmetric import (
    DIGITAL_SIGNATURE_ALGORITHMS,
    HASHES,
    SIGNING_HASHES,
    RSAEncryptionMethod,
    RSAEncryptionScheme,
    SignatureMethod,
    SignatureScheme,
    rsa_encryption_method,
    signature_method,
)
from kmip_server.errors import InvalidField, MissingData, PermissionDenied
from kmip_server.model import CryptographicParameters
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    PaddingMethod,
    ValidityIndicator,
)

_A = CryptographicAlgorithm
_D = DigitalSignatureAlgorithm
_H = HashingAlgorithm
_P = PaddingMethod
_S = SignatureScheme


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def p(**fields: object) -> CryptographicParameters:
    return CryptographicParameters(**fields)  # type: ignore[arg-type]


def test_every_digital_signature_algorithm_is_decided() -> None:
    # In the table, or one of the refused ones (MD2/MD5 with RSA: broken; DSA: no DSA keys here).
    refused = {
        _D.MD2_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
        _D.MD5_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
        _D.DSA_WITH_SHA_1,
        _D.DSA_WITH_SHA224,
        _D.DSA_WITH_SHA256,
    }
    assert set(DIGITAL_SIGNATURE_ALGORITHMS) | refused == set(_D)
    assert not set(DIGITAL_SIGNATURE_ALGORITHMS) & refused
    for _scheme, hash_name in DIGITAL_SIGNATURE_ALGORITHMS.values():
        assert hash_name is None or hash_name in HASHES


def test_sha1_is_for_verification_only() -> None:
    assert _H.SHA_1 in HASHES
    assert _H.SHA_1 not in SIGNING_HASHES
    assert {_H.MD5, _H.MD2, _H.MD4, _H.RIPEMD_160} & set(HASHES) == set()


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            p(digital_signature_algorithm=_D.SHA_256_WITH_RSA_ENCRYPTION_PKCS_1_V1_5),
            SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_256),
        ),
        (
            p(digital_signature_algorithm=_D.SHA3_384_WITH_RSA_ENCRYPTION),
            SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_3_384),
        ),
        (
            p(digital_signature_algorithm=_D.RSASSA_PSS_PKCS_1_V2_1, hashing_algorithm=_H.SHA_384),
            SignatureMethod(_S.RSA_PSS, _H.SHA_384, _H.SHA_384),
        ),
        (
            p(cryptographic_algorithm=_A.RSA, hashing_algorithm=_H.SHA_256),
            SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_256),
        ),
        (
            p(
                padding_method=_P.PSS,
                hashing_algorithm=_H.SHA_256,
                mask_generator_hashing_algorithm=_H.SHA_1,
                salt_length=0,
            ),
            SignatureMethod(_S.RSA_PSS, _H.SHA_256, _H.SHA_1, 0),
        ),
        # The Digital Signature Algorithm decides over the Cryptographic Algorithm (3.6).
        (
            p(
                digital_signature_algorithm=_D.SHA_512_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
                cryptographic_algorithm=_A.ECDSA,
            ),
            SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_512),
        ),
    ],
)
def test_rsa_signature_methods(
    rsa_key: rsa.RSAPrivateKey, parameters: CryptographicParameters, expected: SignatureMethod
) -> None:
    assert signature_method(parameters, rsa_key) == expected
    assert signature_method(parameters, rsa_key.public_key()) == expected


def test_ec_signature_methods(p384_key: ec.EllipticCurvePrivateKey) -> None:
    assert signature_method(p(), p384_key) == SignatureMethod(_S.ECDSA, _H.SHA_384)  # the curve's hash
    assert signature_method(p(cryptographic_algorithm=_A.EC), p384_key) == SignatureMethod(
        _S.ECDSA, _H.SHA_384
    )
    assert signature_method(p(hashing_algorithm=_H.SHA_256), p384_key) == SignatureMethod(
        _S.ECDSA, _H.SHA_256
    )
    assert signature_method(p(digital_signature_algorithm=_D.ECDSA_WITH_SHA512), p384_key) == SignatureMethod(
        _S.ECDSA, _H.SHA_512
    )


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        (p(), MissingData),
        (p(digital_signature_algorithm=_D.RSASSA_PSS_PKCS_1_V2_1), MissingData),
        (p(digital_signature_algorithm=_D.DSA_WITH_SHA256), InvalidField),
        (
            p(digital_signature_algorithm=_D.SHA_256_WITH_RSA_ENCRYPTION_PKCS_1_V1_5, padding_method=_P.PSS),
            InvalidField,
        ),
        (p(digital_signature_algorithm=_D.ECDSA_WITH_SHA256), PermissionDenied),
        (p(cryptographic_algorithm=_A.AES, hashing_algorithm=_H.SHA_256), InvalidField),
        (p(padding_method=_P.OAEP, hashing_algorithm=_H.SHA_256), InvalidField),
        (p(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256, salt_length=-1), InvalidField),
    ],
)
def test_rsa_signature_refusals(
    rsa_key: rsa.RSAPrivateKey, parameters: CryptographicParameters, error: type
) -> None:
    with pytest.raises(error):
        signature_method(parameters, rsa_key)


def test_ec_signature_refusals(p384_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InvalidField):
        signature_method(p(padding_method=_P.PSS), p384_key)
    with pytest.raises(PermissionDenied):
        signature_method(p(cryptographic_algorithm=_A.RSA, hashing_algorithm=_H.SHA_256), p384_key)


def test_signatures_over_data_and_digest_agree(
    rsa_key: rsa.RSAPrivateKey, p384_key: ec.EllipticCurvePrivateKey
) -> None:
    data = b"message"
    for key, method in (
        (rsa_key, SignatureMethod(_S.RSA_PSS, _H.SHA_256, _H.SHA_256)),
        (rsa_key, SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_512)),
        (p384_key, SignatureMethod(_S.ECDSA, _H.SHA_384)),
    ):
        digest = hashes.Hash(method.hash(signing=True))
        digest.update(data)
        digested = digest.finalize()
        public = key.public_key()
        for signature in (asymmetric.sign(key, method, data), asymmetric.sign_digest(key, method, digested)):
            assert asymmetric.verify(public, method, data, signature) is ValidityIndicator.VALID
            assert asymmetric.verify_digest(public, method, digested, signature) is ValidityIndicator.VALID
            assert asymmetric.verify(public, method, data + b"!", signature) is ValidityIndicator.INVALID
        stream = asymmetric.SignatureStream(method, signing=True)
        stream.update(data[:3])
        stream.update(data[3:])
        assert asymmetric.verify(
            public, method, data, asymmetric.sign_digest(key, method, stream.finalize())
        ) is (ValidityIndicator.VALID)
        with pytest.raises(InvalidField):
            asymmetric.sign_digest(key, method, digested + b"\x00")
        assert asymmetric.verify(public, method, data, b"") is ValidityIndicator.INVALID


def test_sha1_signing_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    method = SignatureMethod(_S.RSA_PKCS1_V1_5, _H.SHA_1)
    with pytest.raises(InvalidField):
        asymmetric.sign(rsa_key, method, b"x")
    legacy = rsa_key.sign(b"x", padding.PKCS1v15(), hashes.SHA1())
    assert asymmetric.verify(rsa_key.public_key(), method, b"x", legacy) is ValidityIndicator.VALID


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (p(padding_method=_P.OAEP), RSAEncryptionMethod(RSAEncryptionScheme.OAEP, _H.SHA_1, _H.SHA_1, b"")),
        (
            p(padding_method=_P.OAEP, hashing_algorithm=_H.SHA_384, p_source=b"L"),
            RSAEncryptionMethod(RSAEncryptionScheme.OAEP, _H.SHA_384, _H.SHA_1, b"L"),
        ),
        (
            p(
                padding_method=_P.OAEP,
                hashing_algorithm=_H.SHA_256,
                mask_generator_hashing_algorithm=_H.SHA_256,
            ),
            RSAEncryptionMethod(RSAEncryptionScheme.OAEP, _H.SHA_256, _H.SHA_256, b""),
        ),
        (
            p(padding_method=_P.PKCS1_V1_5, cryptographic_algorithm=_A.RSA),
            RSAEncryptionMethod(RSAEncryptionScheme.PKCS1_V1_5),
        ),
    ],
)
def test_rsa_encryption_methods(parameters: CryptographicParameters, expected: RSAEncryptionMethod) -> None:
    assert rsa_encryption_method(parameters) == expected


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        (p(), MissingData),
        (p(padding_method=_P.NONE), InvalidField),
        (p(padding_method=_P.PSS), InvalidField),
        (p(padding_method=_P.OAEP, hashing_algorithm=_H.MD5), InvalidField),
        (p(padding_method=_P.OAEP, cryptographic_algorithm=_A.AES), PermissionDenied),
    ],
)
def test_rsa_encryption_refusals(parameters: CryptographicParameters, error: type) -> None:
    with pytest.raises(error):
        rsa_encryption_method(parameters)
