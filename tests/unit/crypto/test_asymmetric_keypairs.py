"""``crypto.keypairs`` without a server: which pairs are generated, the stored formats, reading
and writing every Key Format Type, Get's conversion table, and the refusal of unusable material
(inconsistent RSA CRT values, garbage, a format that does not fit the key)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmip_server.crypto import keypairs
from kmip_server.crypto.keypairs import (
    CURVES,
    FORMAT_CONVERSIONS,
    PRIVATE_DECODERS,
    PRIVATE_ENCODERS,
    PUBLIC_DECODERS,
    PUBLIC_ENCODERS,
    RSA_LENGTHS,
    KeyFamily,
    KeyPairSpec,
    generate_key_pair,
    key_pair_spec,
)
from kmip_server.errors import CryptographicFailure, InvalidField, KeyFormatTypeNotSupported, MissingData
from kmip_server.model import KeyBlock, KeyValue, TransparentRSAPrivateKey
from ttlv.kmip14 import CryptographicAlgorithm, KeyFormatType, ObjectType, RecommendedCurve

_A = CryptographicAlgorithm
_F = KeyFormatType
_C = RecommendedCurve


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ((_A.RSA, 3072, None), KeyPairSpec(_A.RSA, KeyFamily.RSA, 3072)),
        ((_A.ECDSA, 256, None), KeyPairSpec(_A.ECDSA, KeyFamily.EC, 256, _C.P_256)),
        ((_A.EC, None, _C.P_521), KeyPairSpec(_A.EC, KeyFamily.EC, 521, _C.P_521)),
        ((_A.ECDH, 384, _C.P_384), KeyPairSpec(_A.ECDH, KeyFamily.EC, 384, _C.P_384)),
    ],
)
def test_specs(arguments: tuple[object, object, RecommendedCurve | None], expected: KeyPairSpec) -> None:
    assert key_pair_spec(*arguments) == expected


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((None, 2048, None), MissingData),
        ((_A.RSA, None, None), MissingData),
        ((_A.ECDSA, None, None), MissingData),
        ((_A.RSA, 2047, None), InvalidField),
        ((_A.RSA, 2048, _C.P_256), InvalidField),
        ((_A.RSA, True, None), InvalidField),
        ((_A.DSA, 2048, None), InvalidField),
        ((_A.ECDSA, 224, None), InvalidField),
        ((_A.ECDSA, 256, _C.P_384), InvalidField),
        ((_A.ECDSA, None, _C.BRAINPOOLP256R1), InvalidField),
        (("RSA", 2048, None), InvalidField),
    ],
)
def test_spec_refusals(arguments: tuple[object, object, RecommendedCurve | None], error: type) -> None:
    with pytest.raises(error):
        key_pair_spec(*arguments)


def test_the_tables_agree() -> None:
    assert {2048, 3072, 4096} == RSA_LENGTHS
    assert set(CURVES) == {_C.P_256, _C.P_384, _C.P_521}
    assert set(PRIVATE_DECODERS) == set(PRIVATE_ENCODERS)
    assert set(PUBLIC_DECODERS) == set(PUBLIC_ENCODERS)
    for family, (private_format, public_format) in keypairs.STORED_FORMATS.items():
        assert private_format in PRIVATE_ENCODERS, family
        assert public_format in PUBLIC_ENCODERS, family
    # Every pair of distinct formats of one object type converts (or says why it cannot).
    for object_type, formats in (
        (ObjectType.PRIVATE_KEY, PRIVATE_ENCODERS),
        (ObjectType.PUBLIC_KEY, PUBLIC_ENCODERS),
    ):
        for stored in formats:
            for wanted in formats:
                assert ((object_type, stored, wanted) in FORMAT_CONVERSIONS) is (stored != wanted)


@pytest.mark.parametrize(
    "spec", [key_pair_spec(_A.ECDSA, 256), key_pair_spec(_A.EC, 384), key_pair_spec(_A.ECDSA, 521)]
)
def test_ec_generation(spec: KeyPairSpec) -> None:
    pair = generate_key_pair(spec)
    for block in (pair.private_key.key_block, pair.public_key.key_block):
        assert block.cryptographic_algorithm is spec.algorithm
        assert block.cryptographic_length == spec.length
    assert pair.private_key.key_block.key_format_type is _F.PKCS_8
    assert pair.public_key.key_block.key_format_type is _F.X_509
    private = keypairs.private_key_of(pair.private_key.key_block)
    public = keypairs.public_key_of(pair.public_key.key_block)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.key_size == spec.length
    assert private.public_key().public_numbers() == public.public_numbers()


def test_rsa_generation() -> None:
    pair = generate_key_pair(key_pair_spec(_A.RSA, 2048))
    assert pair.private_key.key_block.key_format_type is _F.PKCS_1
    assert pair.public_key.key_block.key_format_type is _F.PKCS_1
    private = keypairs.private_key_of(pair.private_key.key_block)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    assert private.private_numbers().public_numbers.e == 65537
    assert (
        private.public_key().public_numbers()
        == keypairs.public_key_of(pair.public_key.key_block).public_numbers()
    )
    assert "key_material" not in repr(pair)  # private key material kept out of reprs


def _block(key_format: KeyFormatType, material: object) -> KeyBlock:
    return KeyBlock(key_format_type=key_format, key_value=KeyValue(key_material=material))  # type: ignore[arg-type]


def test_every_conversion_round_trips(rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for key in (rsa_key, ec_key):
        for private_format, encode in PRIVATE_ENCODERS.items():
            try:
                material = encode(key)
            except KeyFormatTypeNotSupported:
                continue
            back = keypairs.private_key_of(_block(private_format, material))
            assert back.private_numbers() == key.private_numbers(), private_format
        for public_format, encode_public in PUBLIC_ENCODERS.items():
            try:
                material = encode_public(key.public_key())
            except KeyFormatTypeNotSupported:
                continue
            assert keypairs.public_key_of(_block(public_format, material)).public_numbers() == (
                key.public_key().public_numbers()
            )


def test_transparent_rsa_without_crt_values_is_completed(rsa_key: rsa.RSAPrivateKey) -> None:
    numbers = rsa_key.private_numbers()
    bare = TransparentRSAPrivateKey(
        modulus=numbers.public_numbers.n, private_exponent=numbers.d, public_exponent=numbers.public_numbers.e
    )
    loaded = keypairs.private_key_of(_block(_F.TRANSPARENT_RSA_PRIVATE_KEY, bare))
    assert loaded.private_numbers() == numbers


def test_unusable_material_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    numbers = rsa_key.private_numbers()
    faulty = TransparentRSAPrivateKey(
        modulus=numbers.public_numbers.n,
        private_exponent=numbers.d,
        public_exponent=numbers.public_numbers.e,
        p=numbers.p,
        q=numbers.q,
        prime_exponent_p=numbers.dmp1 + 2,  # a CRT fault would leak the factors when signing
        prime_exponent_q=numbers.dmq1,
        crt_coefficient=numbers.iqmp,
    )
    with pytest.raises(CryptographicFailure):
        keypairs.private_key_of(_block(_F.TRANSPARENT_RSA_PRIVATE_KEY, faulty))
    with pytest.raises(CryptographicFailure):
        keypairs.private_key_of(_block(_F.PKCS_1, b"\x30\x03\x02\x01\x00"))
    with pytest.raises(CryptographicFailure):
        keypairs.public_key_of(_block(_F.X_509, b"not der"))
    ec_der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CryptographicFailure):
        keypairs.private_key_of(_block(_F.PKCS_1, ec_der))  # PKCS#1 is RSA only
    with pytest.raises(KeyFormatTypeNotSupported):
        keypairs.private_key_of(_block(_F.RAW, ec_der))
    with pytest.raises(KeyFormatTypeNotSupported):
        keypairs.private_key_of(_block(_F.TRANSPARENT_RSA_PRIVATE_KEY, ec_der))  # bytes, not a structure
    secp256k1 = ec.generate_private_key(ec.SECP256K1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CryptographicFailure):
        keypairs.private_key_of(_block(_F.PKCS_8, secp256k1))  # a curve this server does not use
