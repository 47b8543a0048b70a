"""Asymmetric key material: generating RSA and elliptic-curve key pairs, and reading and writing
their Key Values in the Key Format Types of section 9.1.3.2.3.

Pure and synchronous (RSA generation is CPU-heavy: the operations run it off the event loop).

Invariants:
- What this server generates is one table each: ``RSA_LENGTHS`` (modulus bits) and ``CURVES``
  (NIST P-256, P-384, P-521 by Recommended Curve, with the Cryptographic Length of each). The
  Cryptographic Algorithms of a generated pair are ``KEY_PAIR_ALGORITHMS``; anything else is
  Invalid Field (11.3 "Incorrect attribute value(s) specified").
- Generated pairs are stored as ``STORED_FORMATS`` says: RSA private and public keys in PKCS#1
  (as the OASIS AKLC test cases show in their Digests), EC private keys in PKCS#8 and EC public
  keys in X.509 SubjectPublicKeyInfo.
- Reading and writing key material is two tables per object type (``PRIVATE_DECODERS`` /
  ``PRIVATE_ENCODERS``, ``PUBLIC_DECODERS`` / ``PUBLIC_ENCODERS``), keyed by Key Format Type;
  Get's format conversions (``FORMAT_CONVERSIONS``) are every pair of them. A format that does
  not fit the key (PKCS#1 of an EC key, ECPrivateKey of an RSA key) is Key Format Type Not
  Supported; key material that does not parse is Cryptographic Failure, with no detail of why.
- RSA private keys are read without OpenSSL's primality tests (tens of milliseconds per load,
  on every Sign) but checked for the consistency that matters to a CRT signer
  (``_consistent_rsa``: n = pq, d, dP, dQ and qInv agree), so that a registered key with bad
  CRT values is refused rather than used to produce faulty signatures that leak its factors.
- Private key bytes come back as immutable ``bytes`` (the model's Key Material); they cannot be
  wiped and live until collected, as ``kmip_server.objects`` notes for every decoded object.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmip_server.errors import CryptographicFailure, InvalidField, KeyFormatTypeNotSupported, MissingData
from kmip_server.model import (
    KeyBlock,
    KeyValue,
    PrivateKey,
    PublicKey,
    TransparentECPrivateKey,
    TransparentECPublicKey,
    TransparentRSAPrivateKey,
    TransparentRSAPublicKey,
)
from kmip_server.model.objects import KeyMaterial
from ttlv.kmip14 import CryptographicAlgorithm, KeyFormatType, ObjectType, RecommendedCurve

__all__ = [
    "CURVES",
    "CURVE_BY_LENGTH",
    "FORMAT_CONVERSIONS",
    "KEY_PAIR_ALGORITHMS",
    "PRIVATE_DECODERS",
    "PRIVATE_ENCODERS",
    "PUBLIC_DECODERS",
    "PUBLIC_ENCODERS",
    "RSA_LENGTHS",
    "RSA_PUBLIC_EXPONENT",
    "STORED_FORMATS",
    "AsymmetricPrivateKey",
    "AsymmetricPublicKey",
    "Curve",
    "KeyFamily",
    "KeyPair",
    "KeyPairSpec",
    "family_of_key",
    "generate_key_pair",
    "key_pair_spec",
    "private_key_of",
    "public_key_of",
]

AsymmetricPrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
AsymmetricPublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class KeyFamily(IntEnum):
    """The kinds of key pair this server knows."""

    RSA = 1
    EC = 2


_A = CryptographicAlgorithm
_F = KeyFormatType

KEY_PAIR_ALGORITHMS: dict[CryptographicAlgorithm, KeyFamily] = {
    _A.RSA: KeyFamily.RSA,
    _A.ECDSA: KeyFamily.EC,  # signatures
    _A.EC: KeyFamily.EC,  # any elliptic-curve use (KMIP 1.3)
    _A.ECDH: KeyFamily.EC,  # key agreement: generated alike; this server performs none
}
"""Cryptographic Algorithm of a key pair -> its family (Create Key Pair, Re-key Key Pair)."""

RSA_LENGTHS = frozenset({2048, 3072, 4096})
"""Modulus lengths (bits) of generated RSA key pairs (NIST SP 800-131A: at least 2048)."""

RSA_PUBLIC_EXPONENT = 65537


@dataclass(frozen=True, slots=True)
class Curve:
    """One generated curve: its Recommended Curve, its ``cryptography`` class and its bits."""

    recommended_curve: RecommendedCurve
    make: Callable[[], ec.EllipticCurve]
    length: int  # the Cryptographic Length: bits of the order (4.2: "bit length of parameter Q")


CURVES: dict[RecommendedCurve, Curve] = {
    RecommendedCurve.P_256: Curve(RecommendedCurve.P_256, ec.SECP256R1, 256),
    RecommendedCurve.P_384: Curve(RecommendedCurve.P_384, ec.SECP384R1, 384),
    RecommendedCurve.P_521: Curve(RecommendedCurve.P_521, ec.SECP521R1, 521),
}
"""Recommended Curve -> the curve generated for it (FIPS 186-4 D.1.2)."""

CURVE_BY_LENGTH: dict[int, RecommendedCurve] = {curve.length: name for name, curve in CURVES.items()}
"""Cryptographic Length -> the curve an EC pair of that length is generated on (no Recommended
Curve given)."""

_CURVE_BY_NAME: dict[str, RecommendedCurve] = {curve.make().name: name for name, curve in CURVES.items()}

STORED_FORMATS: dict[KeyFamily, tuple[KeyFormatType, KeyFormatType]] = {
    KeyFamily.RSA: (_F.PKCS_1, _F.PKCS_1),
    KeyFamily.EC: (_F.PKCS_8, _F.X_509),
}
"""Family -> the (private, public) Key Format Types a generated pair is stored in."""


# --------------------------------------------------------------------------------------------
# What to generate


@dataclass(frozen=True, slots=True)
class KeyPairSpec:
    """A key pair to generate: the checked algorithm, length and (EC) curve."""

    algorithm: CryptographicAlgorithm
    family: KeyFamily
    length: int
    curve: RecommendedCurve | None = None


def key_pair_spec(algorithm: object, length: object, curve: RecommendedCurve | None = None) -> KeyPairSpec:
    """The key pair that Cryptographic Algorithm ``algorithm``, Cryptographic Length ``length``
    and the Recommended Curve of Cryptographic Domain Parameters ``curve`` ask for.

    Missing Data without an algorithm, or without a length for RSA (an EC pair takes its length
    from the curve and its curve from the length); Invalid Field for anything not generated or
    a length that contradicts the curve."""
    if algorithm is None:
        raise MissingData("Cryptographic Algorithm: required to create a key pair")
    family = KEY_PAIR_ALGORITHMS.get(algorithm) if isinstance(algorithm, CryptographicAlgorithm) else None
    if family is None or not isinstance(algorithm, CryptographicAlgorithm):
        raise InvalidField(
            "Cryptographic Algorithm: this server does not generate key pairs of this algorithm"
        )
    if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
        raise InvalidField("Cryptographic Length: not an integer")
    if family is KeyFamily.RSA:
        if curve is not None:
            raise InvalidField("Cryptographic Domain Parameters: a curve for an RSA key pair")
        if length is None:
            raise MissingData("Cryptographic Length: required to create an RSA key pair")
        if length not in RSA_LENGTHS:
            raise InvalidField("Cryptographic Length: not a supported RSA modulus length")
        return KeyPairSpec(algorithm, family, length)
    if curve is None:
        if length is None:
            raise MissingData("Cryptographic Length or Domain Parameters: required to create an EC key pair")
        chosen = CURVE_BY_LENGTH.get(length)
        if chosen is None:
            raise InvalidField("Cryptographic Length: not the length of a supported curve")
        curve = chosen
    spec = CURVES.get(curve)
    if spec is None:
        raise InvalidField("Cryptographic Domain Parameters: not a supported Recommended Curve")
    if length is not None and length != spec.length:
        raise InvalidField("Cryptographic Length: does not match the Recommended Curve")
    return KeyPairSpec(algorithm, family, spec.length, curve)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A generated pair as the managed objects to store."""

    private_key: PrivateKey = dataclasses.field(repr=False)
    public_key: PublicKey


def generate_key_pair(spec: KeyPairSpec) -> KeyPair:
    """A new key pair from the operating system's CSPRNG (through OpenSSL), in ``STORED_FORMATS``."""
    private: AsymmetricPrivateKey
    if spec.family is KeyFamily.RSA:
        private = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=spec.length)
    else:
        assert spec.curve is not None  # key_pair_spec sets it for every EC pair
        private = ec.generate_private_key(CURVES[spec.curve].make())
    private_format, public_format = STORED_FORMATS[spec.family]
    return KeyPair(
        private_key=PrivateKey(
            key_block=_key_block(private_format, PRIVATE_ENCODERS[private_format](private), spec)
        ),
        public_key=PublicKey(
            key_block=_key_block(public_format, PUBLIC_ENCODERS[public_format](private.public_key()), spec)
        ),
    )


def _key_block(key_format: KeyFormatType, material: KeyMaterial, spec: KeyPairSpec) -> KeyBlock:
    return KeyBlock(
        key_format_type=key_format,
        key_value=KeyValue(key_material=material),
        cryptographic_algorithm=spec.algorithm,
        cryptographic_length=spec.length,
    )


def family_of_key(key: AsymmetricPrivateKey | AsymmetricPublicKey) -> KeyFamily:
    return KeyFamily.RSA if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) else KeyFamily.EC


# --------------------------------------------------------------------------------------------
# Reading key material


def _unusable() -> CryptographicFailure:
    return CryptographicFailure("the key material cannot be used")


def _der(material: KeyMaterial) -> bytes:
    if not isinstance(material, bytes | bytearray):
        raise KeyFormatTypeNotSupported("the Key Material is not a byte string")
    return bytes(material)


def _consistent_rsa(key: rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    e, n = numbers.public_numbers.e, numbers.public_numbers.n
    if (
        p < 3
        or q < 3
        or p * q != n
        or numbers.dmp1 != d % (p - 1)
        or numbers.dmq1 != d % (q - 1)
        or (numbers.iqmp * q) % p != 1
        or (e * d) % ((p - 1) * (q - 1) // math.gcd(p - 1, q - 1)) != 1
    ):
        raise _unusable()
    return key


def _load_private_der(material: KeyMaterial) -> AsymmetricPrivateKey:
    try:
        key = serialization.load_der_private_key(
            _der(material), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _unusable() from None
    if isinstance(key, rsa.RSAPrivateKey):
        return _consistent_rsa(key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVE_BY_NAME:
        return key
    raise _unusable()


def _load_public_der(material: KeyMaterial) -> AsymmetricPublicKey:
    try:
        key = serialization.load_der_public_key(_der(material))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _unusable() from None
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVE_BY_NAME:
        return key
    raise _unusable()


def _rsa_private(material: KeyMaterial) -> AsymmetricPrivateKey:
    key = _load_private_der(material)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _unusable()
    return key


def _ec_private(material: KeyMaterial) -> AsymmetricPrivateKey:
    key = _load_private_der(material)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _unusable()
    return key


def _rsa_public(material: KeyMaterial) -> AsymmetricPublicKey:
    key = _load_public_der(material)
    if not isinstance(key, rsa.RSAPublicKey):
        raise _unusable()
    return key


def _transparent_rsa_private(material: KeyMaterial) -> AsymmetricPrivateKey:
    if not isinstance(material, TransparentRSAPrivateKey):
        raise KeyFormatTypeNotSupported("the Key Material is not a Transparent RSA Private Key")
    n, e, d = material.modulus, material.public_exponent, material.private_exponent
    if e is None or d is None:
        raise _unusable()  # this server signs and decrypts with d (and its CRT values)
    try:
        p, q = material.p, material.q
        if p is None or q is None:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        dmp1 = material.prime_exponent_p if material.prime_exponent_p is not None else d % (p - 1)
        dmq1 = material.prime_exponent_q if material.prime_exponent_q is not None else d % (q - 1)
        iqmp = material.crt_coefficient if material.crt_coefficient is not None else rsa.rsa_crt_iqmp(p, q)
        numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
        key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, ZeroDivisionError):
        raise _unusable() from None
    return _consistent_rsa(key)


def _transparent_rsa_public(material: KeyMaterial) -> AsymmetricPublicKey:
    if not isinstance(material, TransparentRSAPublicKey):
        raise KeyFormatTypeNotSupported("the Key Material is not a Transparent RSA Public Key")
    try:
        return rsa.RSAPublicNumbers(material.public_exponent, material.modulus).public_key()
    except ValueError:
        raise _unusable() from None


def _transparent_ec_private(material: KeyMaterial) -> AsymmetricPrivateKey:
    if not isinstance(material, TransparentECPrivateKey):
        raise KeyFormatTypeNotSupported("the Key Material is not a Transparent EC Private Key")
    curve = CURVES.get(material.recommended_curve)
    if curve is None:
        raise _unusable()
    try:
        return ec.derive_private_key(material.d, curve.make())
    except (ValueError, TypeError):
        raise _unusable() from None


def _transparent_ec_public(material: KeyMaterial) -> AsymmetricPublicKey:
    if not isinstance(material, TransparentECPublicKey):
        raise KeyFormatTypeNotSupported("the Key Material is not a Transparent EC Public Key")
    curve = CURVES.get(material.recommended_curve)
    if curve is None:
        raise _unusable()
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.make(), material.q_string)
    except ValueError:
        raise _unusable() from None


_TRANSPARENT_EC_PRIVATE = (
    _F.TRANSPARENT_EC_PRIVATE_KEY,
    _F.TRANSPARENT_ECDSA_PRIVATE_KEY,
    _F.TRANSPARENT_ECDH_PRIVATE_KEY,
    _F.TRANSPARENT_ECMQV_PRIVATE_KEY,
)
_TRANSPARENT_EC_PUBLIC = (
    _F.TRANSPARENT_EC_PUBLIC_KEY,
    _F.TRANSPARENT_ECDSA_PUBLIC_KEY,
    _F.TRANSPARENT_ECDH_PUBLIC_KEY,
    _F.TRANSPARENT_ECMQV_PUBLIC_KEY,
)

PRIVATE_DECODERS: dict[KeyFormatType, Callable[[KeyMaterial], AsymmetricPrivateKey]] = {
    _F.PKCS_1: _rsa_private,
    _F.PKCS_8: _load_private_der,
    _F.ECPRIVATEKEY: _ec_private,
    _F.TRANSPARENT_RSA_PRIVATE_KEY: _transparent_rsa_private,
    **dict.fromkeys(_TRANSPARENT_EC_PRIVATE, _transparent_ec_private),
}
"""Key Format Type of a Private Key -> its key material read as a ``cryptography`` key."""

PUBLIC_DECODERS: dict[KeyFormatType, Callable[[KeyMaterial], AsymmetricPublicKey]] = {
    _F.PKCS_1: _rsa_public,
    _F.X_509: _load_public_der,
    _F.TRANSPARENT_RSA_PUBLIC_KEY: _transparent_rsa_public,
    **dict.fromkeys(_TRANSPARENT_EC_PUBLIC, _transparent_ec_public),
}
"""Key Format Type of a Public Key -> its key material read as a ``cryptography`` key."""


def private_key_of(key_block: KeyBlock) -> AsymmetricPrivateKey:
    """The private key of a Private Key's Key Block (unwrapped, in a format of
    ``PRIVATE_DECODERS``; Key Format Type Not Supported otherwise)."""
    decode = PRIVATE_DECODERS.get(key_block.key_format_type)
    if decode is None or not isinstance(key_block.key_value, KeyValue):
        raise KeyFormatTypeNotSupported("this server cannot use a private key in this form")
    return decode(key_block.key_value.key_material)


def public_key_of(key_block: KeyBlock) -> AsymmetricPublicKey:
    """The public key of a Public Key's Key Block (see ``private_key_of``)."""
    decode = PUBLIC_DECODERS.get(key_block.key_format_type)
    if decode is None or not isinstance(key_block.key_value, KeyValue):
        raise KeyFormatTypeNotSupported("this server cannot use a public key in this form")
    return decode(key_block.key_value.key_material)


# --------------------------------------------------------------------------------------------
# Writing key material

_DER = serialization.Encoding.DER
_NO_ENCRYPTION = serialization.NoEncryption()


def _not_for_this_key() -> KeyFormatTypeNotSupported:
    return KeyFormatTypeNotSupported("this Key Format Type does not fit the key's algorithm")


def _rsa_private_pkcs1(key: AsymmetricPrivateKey) -> KeyMaterial:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _not_for_this_key()
    return key.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL, _NO_ENCRYPTION)


def _private_pkcs8(key: AsymmetricPrivateKey) -> KeyMaterial:
    return key.private_bytes(_DER, serialization.PrivateFormat.PKCS8, _NO_ENCRYPTION)


def _ec_private_sec1(key: AsymmetricPrivateKey) -> KeyMaterial:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _not_for_this_key()
    return key.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL, _NO_ENCRYPTION)


def _rsa_private_transparent(key: AsymmetricPrivateKey) -> KeyMaterial:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _not_for_this_key()
    numbers = key.private_numbers()
    return TransparentRSAPrivateKey(
        modulus=numbers.public_numbers.n,
        private_exponent=numbers.d,
        public_exponent=numbers.public_numbers.e,
        p=numbers.p,
        q=numbers.q,
        prime_exponent_p=numbers.dmp1,
        prime_exponent_q=numbers.dmq1,
        crt_coefficient=numbers.iqmp,
    )


def _ec_private_transparent(key: AsymmetricPrivateKey) -> KeyMaterial:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _not_for_this_key()
    return TransparentECPrivateKey(
        recommended_curve=_CURVE_BY_NAME[key.curve.name], d=key.private_numbers().private_value
    )


def _rsa_public_pkcs1(key: AsymmetricPublicKey) -> KeyMaterial:
    if not isinstance(key, rsa.RSAPublicKey):
        raise _not_for_this_key()
    return key.public_bytes(_DER, serialization.PublicFormat.PKCS1)


def _public_spki(key: AsymmetricPublicKey) -> KeyMaterial:
    return key.public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _rsa_public_transparent(key: AsymmetricPublicKey) -> KeyMaterial:
    if not isinstance(key, rsa.RSAPublicKey):
        raise _not_for_this_key()
    numbers = key.public_numbers()
    return TransparentRSAPublicKey(modulus=numbers.n, public_exponent=numbers.e)


def _ec_public_transparent(key: AsymmetricPublicKey) -> KeyMaterial:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise _not_for_this_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return TransparentECPublicKey(recommended_curve=_CURVE_BY_NAME[key.curve.name], q_string=point)


PRIVATE_ENCODERS: dict[KeyFormatType, Callable[[AsymmetricPrivateKey], KeyMaterial]] = {
    _F.PKCS_1: _rsa_private_pkcs1,
    _F.PKCS_8: _private_pkcs8,
    _F.ECPRIVATEKEY: _ec_private_sec1,
    _F.TRANSPARENT_RSA_PRIVATE_KEY: _rsa_private_transparent,
    **dict.fromkeys(_TRANSPARENT_EC_PRIVATE, _ec_private_transparent),
}
"""Key Format Type -> a private key written as that format's Key Material."""

PUBLIC_ENCODERS: dict[KeyFormatType, Callable[[AsymmetricPublicKey], KeyMaterial]] = {
    _F.PKCS_1: _rsa_public_pkcs1,
    _F.X_509: _public_spki,
    _F.TRANSPARENT_RSA_PUBLIC_KEY: _rsa_public_transparent,
    **dict.fromkeys(_TRANSPARENT_EC_PUBLIC, _ec_public_transparent),
}
"""Key Format Type -> a public key written as that format's Key Material."""


# --------------------------------------------------------------------------------------------
# Get's format conversions

KeyValueConversion: TypeAlias = Callable[[KeyValue], KeyValue]


def _conversion(
    decode: Callable[[KeyMaterial], object], encode: Callable[[object], KeyMaterial]
) -> KeyValueConversion:
    def convert(value: KeyValue) -> KeyValue:
        return dataclasses.replace(value, key_material=encode(decode(value.key_material)))

    return convert


def _conversions() -> dict[tuple[ObjectType, KeyFormatType, KeyFormatType], KeyValueConversion]:
    table: dict[tuple[ObjectType, KeyFormatType, KeyFormatType], KeyValueConversion] = {}
    for object_type, decoders, encoders in (
        (ObjectType.PRIVATE_KEY, PRIVATE_DECODERS, PRIVATE_ENCODERS),
        (ObjectType.PUBLIC_KEY, PUBLIC_DECODERS, PUBLIC_ENCODERS),
    ):
        for stored, decode in decoders.items():
            for wanted, encode in encoders.items():
                if stored != wanted:
                    table[(object_type, stored, wanted)] = _conversion(decode, encode)  # type: ignore[arg-type]
    return table


FORMAT_CONVERSIONS: dict[tuple[ObjectType, KeyFormatType, KeyFormatType], KeyValueConversion] = _conversions()
"""(Private or Public Key, stored format, requested format) -> the Key Value conversion, for Get
(section 4.11: "the server SHALL return the Key Format Type requested ... or an error")."""
