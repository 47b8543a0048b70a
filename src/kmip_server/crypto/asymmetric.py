"""RSA and ECDSA with managed keys: Sign and Signature Verify (4.31, 4.32), RSA Encrypt and
Decrypt (4.29, 4.30), and the resolution of their Cryptographic Parameters (3.6).

Pure and synchronous: a key cleared by ``crypto.usage.use_key`` (``KeyUse``) and bytes in,
bytes or a Validity Indicator out, or a ``KmipError``.

Invariants:
- Which key serves what is one table (``KEY_TYPE_FOR``): Private Keys sign and decrypt, Public
  Keys verify and encrypt. Another object type, or parameters naming an algorithm the key is not
  (ECDSA with an RSA key) is Permission Denied (11.30-11.33 "Object specified is not able to be
  used for ...").
- Parameters resolve through tables, never a chain of branches: a Digital Signature Algorithm
  (``DIGITAL_SIGNATURE_ALGORITHMS``) or the Cryptographic Algorithm, Padding Method and Hashing
  Algorithm combination (3.6: "either the Digital Signature Algorithm can be specified or the
  Cryptographic Algorithm and Hashing Algorithm combination"; the first decides when both are
  there) gives a ``SignatureMethod``; the
  Padding Method gives an ``RSAEncryptionMethod``. Fields that contradict each other are Invalid
  Field; a hash the server does not use for the purpose is Invalid Field; a required parameter
  missing is Missing Data (4.31 "the algorithm requires parameters").
- Defaults (Table 65), and where this server departs from them and why:
  - OAEP: Hashing Algorithm SHA-1 when omitted (RFC 8017 A.2.1), Mask Generator MGF1, its hash
    SHA-1 when omitted (Table 65), P Source empty (Table 65).
  - PSS: the MGF1 hash defaults to the Hashing Algorithm, not to SHA-1: the published signature
    of OASIS CS-AC-M-2-14 (a PSS/SHA-256 key without a Mask Generator Hashing Algorithm)
    verifies only with MGF1-SHA-256. A Salt Length omitted when signing is the hash's output
    length (Table 65 "defaults to the block size", read as RFC 8017's hLen, the largest that
    FIPS 186-4 5.5 allows); omitted when verifying, any salt length the signature carries is
    accepted (the CS-AC-M-2 signature has the maximum, 222 bytes). Trailer Field only 1 (0xBC).
  - RSA with a Hashing Algorithm and no Padding Method signs with PKCS#1 v1.5
    (sha256WithRSAEncryption and its siblings). ECDSA without a Hashing Algorithm uses the hash
    that matches the curve (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512, RFC 5480 section 4).
  - RSA encryption without a Padding Method is Missing Data: raw RSA is never performed.
- SHA-1 (and ECDSA/RSA with SHA-1) only verifies: NIST SP 800-131A disallows it for signature
  generation (``SIGNING_HASHES``). MD2, MD5, RIPEMD and the others are not used at all.
- ECDSA signatures are DER ``ECDSA-Sig-Value`` (RFC 5480, X9.62), the form ``cryptography``
  and X.509 use.
- Verification never fails the operation for a bad signature: any signature that does not
  verify (wrong length, not DER, another key's) is Validity Indicator Invalid. Decryption
  failures are one vague Cryptographic Failure, whatever went wrong (no padding oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from kmip_server.crypto.keypairs import (
    AsymmetricPrivateKey,
    AsymmetricPublicKey,
    KeyFamily,
    family_of_key,
    private_key_of,
    public_key_of,
)
from kmip_server.crypto.usage import KeyUse
from kmip_server.errors import CryptographicFailure, InvalidField, MissingData, PermissionDenied
from kmip_server.model import CryptographicParameters, KeyBlock
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    MaskGenerator,
    ObjectType,
    PaddingMethod,
    ValidityIndicator,
)

__all__ = [
    "ALGORITHM_FAMILIES",
    "ASYMMETRIC_OBJECT_TYPES",
    "CURVE_HASHES",
    "DIGITAL_SIGNATURE_ALGORITHMS",
    "HASHES",
    "KEY_TYPE_FOR",
    "PSS_TRAILER_FIELD",
    "SIGNING_HASHES",
    "RSAEncryptionMethod",
    "RSAEncryptionScheme",
    "SignatureMethod",
    "SignatureScheme",
    "SignatureStream",
    "decrypt",
    "encrypt",
    "hash_of",
    "rsa_encryption_method",
    "sign",
    "sign_digest",
    "signature_method",
    "signing_key",
    "verify",
    "verify_digest",
    "verifying_key",
]

_H = HashingAlgorithm
_D = DigitalSignatureAlgorithm
_U = CryptographicUsageMask

HASHES: dict[HashingAlgorithm, Callable[[], hashes.HashAlgorithm]] = {
    _H.SHA_1: hashes.SHA1,
    _H.SHA_224: hashes.SHA224,
    _H.SHA_256: hashes.SHA256,
    _H.SHA_384: hashes.SHA384,
    _H.SHA_512: hashes.SHA512,
    _H.SHA_512_224: hashes.SHA512_224,
    _H.SHA_512_256: hashes.SHA512_256,
    _H.SHA_3_224: hashes.SHA3_224,
    _H.SHA_3_256: hashes.SHA3_256,
    _H.SHA_3_384: hashes.SHA3_384,
    _H.SHA_3_512: hashes.SHA3_512,
}
"""Hashing Algorithm -> the hash used with RSA and ECDSA (verification and OAEP)."""

SIGNING_HASHES = frozenset(HASHES) - {_H.SHA_1}
"""Hashes a new signature may use (NIST SP 800-131A: SHA-1 only for legacy verification)."""


class SignatureScheme(IntEnum):
    RSA_PKCS1_V1_5 = 1  # RSASSA-PKCS1-v1_5 (RFC 8017 8.2)
    RSA_PSS = 2  # RSASSA-PSS (RFC 8017 8.1)
    ECDSA = 3  # FIPS 186-4 section 6


_SCHEME_FAMILY: dict[SignatureScheme, KeyFamily] = {
    SignatureScheme.RSA_PKCS1_V1_5: KeyFamily.RSA,
    SignatureScheme.RSA_PSS: KeyFamily.RSA,
    SignatureScheme.ECDSA: KeyFamily.EC,
}

DIGITAL_SIGNATURE_ALGORITHMS: dict[
    DigitalSignatureAlgorithm, tuple[SignatureScheme, HashingAlgorithm | None]
] = {
    _D.SHA_1_WITH_RSA_ENCRYPTION_PKCS_1_V1_5: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_1),
    _D.SHA_224_WITH_RSA_ENCRYPTION_PKCS_1_V1_5: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_224),
    _D.SHA_256_WITH_RSA_ENCRYPTION_PKCS_1_V1_5: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_256),
    _D.SHA_384_WITH_RSA_ENCRYPTION_PKCS_1_V1_5: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_384),
    _D.SHA_512_WITH_RSA_ENCRYPTION_PKCS_1_V1_5: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_512),
    _D.SHA3_256_WITH_RSA_ENCRYPTION: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_3_256),
    _D.SHA3_384_WITH_RSA_ENCRYPTION: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_3_384),
    _D.SHA3_512_WITH_RSA_ENCRYPTION: (SignatureScheme.RSA_PKCS1_V1_5, _H.SHA_3_512),
    _D.RSASSA_PSS_PKCS_1_V2_1: (SignatureScheme.RSA_PSS, None),  # the hash: Hashing Algorithm
    _D.ECDSA_WITH_SHA_1: (SignatureScheme.ECDSA, _H.SHA_1),
    _D.ECDSA_WITH_SHA224: (SignatureScheme.ECDSA, _H.SHA_224),
    _D.ECDSA_WITH_SHA256: (SignatureScheme.ECDSA, _H.SHA_256),
    _D.ECDSA_WITH_SHA384: (SignatureScheme.ECDSA, _H.SHA_384),
    _D.ECDSA_WITH_SHA512: (SignatureScheme.ECDSA, _H.SHA_512),
}
"""Digital Signature Algorithm (9.1.3.2.7) -> its scheme and hash. MD2/MD5 with RSA and DSA are
absent: Invalid Field."""

ALGORITHM_FAMILIES: dict[CryptographicAlgorithm, KeyFamily] = {
    CryptographicAlgorithm.RSA: KeyFamily.RSA,
    CryptographicAlgorithm.ECDSA: KeyFamily.EC,
    CryptographicAlgorithm.EC: KeyFamily.EC,
}
"""Cryptographic Algorithm of a signature (or RSA encryption) -> the key family it needs."""

_RSA_SIGNATURE_PADDINGS: dict[PaddingMethod | None, SignatureScheme] = {
    PaddingMethod.PKCS1_V1_5: SignatureScheme.RSA_PKCS1_V1_5,
    PaddingMethod.PSS: SignatureScheme.RSA_PSS,
    None: SignatureScheme.RSA_PKCS1_V1_5,
}
"""Padding Method of an RSA signature -> its scheme."""

_SCHEME_PADDING: dict[SignatureScheme, PaddingMethod | None] = {
    SignatureScheme.RSA_PKCS1_V1_5: PaddingMethod.PKCS1_V1_5,
    SignatureScheme.RSA_PSS: PaddingMethod.PSS,
    SignatureScheme.ECDSA: None,
}

CURVE_HASHES: dict[str, HashingAlgorithm] = {
    "secp256r1": _H.SHA_256,
    "secp384r1": _H.SHA_384,
    "secp521r1": _H.SHA_512,
}
"""Curve -> the hash of an ECDSA signature that names none (RFC 5480 section 4)."""

PSS_TRAILER_FIELD = 1
"""The one Trailer Field of RSASSA-PSS (RFC 8017 A.2.3: trailerFieldBC, the byte 0xBC)."""

KEY_TYPE_FOR: dict[CryptographicUsageMask, ObjectType] = {
    _U.SIGN: ObjectType.PRIVATE_KEY,
    _U.VERIFY: ObjectType.PUBLIC_KEY,
    _U.ENCRYPT: ObjectType.PUBLIC_KEY,
    _U.DECRYPT: ObjectType.PRIVATE_KEY,
}
"""Usage -> the only object type that serves it here."""

ASYMMETRIC_OBJECT_TYPES = frozenset({ObjectType.PUBLIC_KEY, ObjectType.PRIVATE_KEY})
"""Objects whose Encrypt and Decrypt are this module's (``encrypt``, ``decrypt``)."""

_USE_WORDS: dict[CryptographicUsageMask, str] = {
    _U.SIGN: "only a Private Key signs",
    _U.VERIFY: "only a Public Key verifies signatures",
    _U.ENCRYPT: "only a Public Key encrypts with RSA",
    _U.DECRYPT: "only a Private Key decrypts with RSA",
}


def hash_of(algorithm: HashingAlgorithm, *, signing: bool = False) -> hashes.HashAlgorithm:
    """The hash object of Hashing Algorithm ``algorithm`` (Invalid Field for one not used; for
    ``signing``, SHA-1 too)."""
    if signing and algorithm not in SIGNING_HASHES:
        raise InvalidField("Hashing Algorithm: not permitted for new signatures")
    make = HASHES.get(algorithm)
    if make is None:
        raise InvalidField("Hashing Algorithm: not supported with RSA or ECDSA")
    return make()


# --------------------------------------------------------------------------------------------
# Keys


def _key_block(use: KeyUse, usage: CryptographicUsageMask) -> KeyBlock:
    if use.record.object_type is not KEY_TYPE_FOR[usage]:
        raise PermissionDenied(f"the object cannot be used for this operation: {_USE_WORDS[usage]}")
    key_block: KeyBlock | None = getattr(use.managed_object, "key_block", None)
    if key_block is None:
        raise PermissionDenied(f"the object cannot be used for this operation: {_USE_WORDS[usage]}")
    return key_block


def signing_key(use: KeyUse, usage: CryptographicUsageMask = _U.SIGN) -> AsymmetricPrivateKey:
    """The private key of a cleared Private Key (``usage`` SIGN or DECRYPT)."""
    return private_key_of(_key_block(use, usage))


def verifying_key(use: KeyUse, usage: CryptographicUsageMask = _U.VERIFY) -> AsymmetricPublicKey:
    """The public key of a cleared Public Key (``usage`` VERIFY or ENCRYPT)."""
    return public_key_of(_key_block(use, usage))


# --------------------------------------------------------------------------------------------
# Signatures


@dataclass(frozen=True, slots=True)
class SignatureMethod:
    """How to sign or verify: scheme, hash, and for PSS the MGF1 hash and salt length."""

    scheme: SignatureScheme
    hashing_algorithm: HashingAlgorithm
    mask_hashing_algorithm: HashingAlgorithm | None = None  # PSS only
    salt_length: int | None = None  # PSS only; None: hLen when signing, any when verifying

    def hash(self, *, signing: bool) -> hashes.HashAlgorithm:
        return hash_of(self.hashing_algorithm, signing=signing)


def _agree(name: str, given: object, implied: object) -> None:
    if given is not None and implied is not None and given != implied:
        raise InvalidField(f"Cryptographic Parameters: {name} contradicts the Digital Signature Algorithm")


def _scheme_and_hash(
    parameters: CryptographicParameters, family: KeyFamily
) -> tuple[SignatureScheme, HashingAlgorithm | None]:
    named = parameters.digital_signature_algorithm
    if named is not None:
        row = DIGITAL_SIGNATURE_ALGORITHMS.get(named)
        if row is None:
            raise InvalidField("Digital Signature Algorithm: not supported")
        scheme, implied_hash = row
        _agree("Hashing Algorithm", parameters.hashing_algorithm, implied_hash)
        _agree("Padding Method", parameters.padding_method, _SCHEME_PADDING[scheme])
        # The Cryptographic Algorithm is not compared: resolve_parameters fills it from the key,
        # and a scheme of another family than the key's is Permission Denied (signature_method).
        return scheme, implied_hash or parameters.hashing_algorithm
    algorithm = parameters.cryptographic_algorithm
    wanted = ALGORITHM_FAMILIES.get(algorithm) if algorithm is not None else family
    if wanted is None:
        raise InvalidField("Cryptographic Algorithm: not a signature algorithm")
    if wanted is KeyFamily.EC:
        if parameters.padding_method is not None:
            raise InvalidField("Padding Method: ECDSA has none")
        return SignatureScheme.ECDSA, parameters.hashing_algorithm
    rsa_scheme = _RSA_SIGNATURE_PADDINGS.get(parameters.padding_method)
    if rsa_scheme is None:
        raise InvalidField("Padding Method: not an RSA signature padding (PKCS1 v1.5 or PSS)")
    return rsa_scheme, parameters.hashing_algorithm


def signature_method(
    parameters: CryptographicParameters, key: AsymmetricPrivateKey | AsymmetricPublicKey
) -> SignatureMethod:
    """The signature method ``parameters`` (resolved by ``crypto.usage.resolve_parameters``)
    name for ``key``. Permission Denied when they name a scheme of another key family."""
    family = family_of_key(key)
    scheme, hashing_algorithm = _scheme_and_hash(parameters, family)
    if _SCHEME_FAMILY[scheme] is not family:
        raise PermissionDenied(
            "the object cannot be used for this operation: the key does not suit this algorithm"
        )
    if hashing_algorithm is None:
        if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            hashing_algorithm = CURVE_HASHES[key.curve.name]
        else:
            raise MissingData(
                "Cryptographic Parameters: a Hashing Algorithm is required for an RSA signature"
            )
    if scheme is not SignatureScheme.RSA_PSS:
        return SignatureMethod(scheme, hashing_algorithm)
    if parameters.mask_generator not in (None, MaskGenerator.MGF1):
        raise InvalidField("Mask Generator: only MGF1")
    if parameters.trailer_field not in (None, PSS_TRAILER_FIELD):
        raise InvalidField("Trailer Field: only the standard trailer (1)")
    if parameters.salt_length is not None and parameters.salt_length < 0:
        raise InvalidField("Salt Length: negative")
    return SignatureMethod(
        scheme,
        hashing_algorithm,
        parameters.mask_generator_hashing_algorithm or hashing_algorithm,
        parameters.salt_length,
    )


def _rsa_padding(method: SignatureMethod, *, signing: bool) -> padding.AsymmetricPadding:
    if method.scheme is SignatureScheme.RSA_PKCS1_V1_5:
        return padding.PKCS1v15()
    assert method.mask_hashing_algorithm is not None  # signature_method sets it for PSS
    mgf = padding.MGF1(hash_of(method.mask_hashing_algorithm))
    if method.salt_length is not None:
        return padding.PSS(mgf=mgf, salt_length=method.salt_length)
    return padding.PSS(mgf=mgf, salt_length=padding.PSS.DIGEST_LENGTH if signing else padding.PSS.AUTO)


def sign_digest(key: AsymmetricPrivateKey, method: SignatureMethod, digest: bytes) -> bytes:
    """The signature of an already computed ``digest`` (Digested Data, or a stream's hash)."""
    algorithm = method.hash(signing=True)
    if len(digest) != algorithm.digest_size:
        raise InvalidField("Digested Data: not the length of the hash's output")
    prehashed = utils.Prehashed(algorithm)
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, _rsa_padding(method, signing=True), prehashed)
        return key.sign(digest, ec.ECDSA(prehashed))
    except ValueError:
        # Salt too long for the modulus, or a hash too long for the key (RFC 8017 9.1.1).
        raise InvalidField("Cryptographic Parameters: too large for this key") from None
    except UnsupportedAlgorithm:
        raise InvalidField("Cryptographic Parameters: not supported with this key") from None


def sign(key: AsymmetricPrivateKey, method: SignatureMethod, data: bytes) -> bytes:
    """The signature of ``data`` (hashed with the method's hash)."""
    digest = hashes.Hash(method.hash(signing=True))
    digest.update(data)
    return sign_digest(key, method, digest.finalize())


def verify_digest(
    key: AsymmetricPublicKey, method: SignatureMethod, digest: bytes, signature: bytes
) -> ValidityIndicator:
    """Whether ``signature`` is ``key``'s over ``digest``."""
    algorithm = method.hash(signing=False)
    if len(digest) != algorithm.digest_size:
        raise InvalidField("Digested Data: not the length of the hash's output")
    prehashed = utils.Prehashed(algorithm)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, _rsa_padding(method, signing=False), prehashed)
        else:
            key.verify(signature, digest, ec.ECDSA(prehashed))
    except (InvalidSignature, ValueError):
        return ValidityIndicator.INVALID
    except UnsupportedAlgorithm:
        raise InvalidField("Cryptographic Parameters: not supported with this key") from None
    return ValidityIndicator.VALID


class SignatureStream:
    """The state of a Sign or Signature Verify by parts (2.1.15-2.1.17): the method fixed by the
    first part and the running hash of the data so far. The key is used only by the last part."""

    __slots__ = ("_digest", "method")

    def __init__(self, method: SignatureMethod, *, signing: bool) -> None:
        self.method = method
        self._digest = hashes.Hash(method.hash(signing=signing))

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def finalize(self) -> bytes:
        return self._digest.finalize()


def verify(
    key: AsymmetricPublicKey, method: SignatureMethod, data: bytes, signature: bytes
) -> ValidityIndicator:
    """Whether ``signature`` is ``key``'s over ``data``."""
    digest = hashes.Hash(method.hash(signing=False))
    digest.update(data)
    return verify_digest(key, method, digest.finalize(), signature)


# --------------------------------------------------------------------------------------------
# RSA encryption


class RSAEncryptionScheme(IntEnum):
    OAEP = 1  # RSAES-OAEP (RFC 8017 7.1)
    PKCS1_V1_5 = 2  # RSAES-PKCS1-v1_5 (RFC 8017 7.2)


_RSA_ENCRYPTION_PADDINGS: dict[PaddingMethod, RSAEncryptionScheme] = {
    PaddingMethod.OAEP: RSAEncryptionScheme.OAEP,
    PaddingMethod.PKCS1_V1_5: RSAEncryptionScheme.PKCS1_V1_5,
}

_OAEP_DEFAULT_HASH = _H.SHA_1  # RFC 8017 A.2.1 (hashAlgorithm DEFAULT sha1); Table 65 for MGF1


@dataclass(frozen=True, slots=True)
class RSAEncryptionMethod:
    """How to encrypt or decrypt with RSA."""

    scheme: RSAEncryptionScheme
    hashing_algorithm: HashingAlgorithm = _OAEP_DEFAULT_HASH  # OAEP only
    mask_hashing_algorithm: HashingAlgorithm = _OAEP_DEFAULT_HASH  # OAEP only
    label: bytes = b""  # OAEP only: P Source

    def padding(self) -> padding.AsymmetricPadding:
        if self.scheme is RSAEncryptionScheme.PKCS1_V1_5:
            return padding.PKCS1v15()
        return padding.OAEP(
            mgf=padding.MGF1(hash_of(self.mask_hashing_algorithm)),
            algorithm=hash_of(self.hashing_algorithm),
            label=self.label or None,
        )


def rsa_encryption_method(parameters: CryptographicParameters) -> RSAEncryptionMethod:
    """The RSA encryption method ``parameters`` name (resolved as for signatures)."""
    algorithm = parameters.cryptographic_algorithm
    if algorithm is not None and algorithm is not CryptographicAlgorithm.RSA:
        raise PermissionDenied(
            "the object cannot be used for this operation: the key does not suit this algorithm"
        )
    if parameters.padding_method is None:
        raise MissingData(
            "Cryptographic Parameters: RSA encryption needs a Padding Method (OAEP or PKCS1 v1.5)"
        )
    scheme = _RSA_ENCRYPTION_PADDINGS.get(parameters.padding_method)
    if scheme is None:
        raise InvalidField("Padding Method: RSA encryption uses OAEP or PKCS1 v1.5")
    if scheme is RSAEncryptionScheme.PKCS1_V1_5:
        return RSAEncryptionMethod(scheme)
    if parameters.mask_generator not in (None, MaskGenerator.MGF1):
        raise InvalidField("Mask Generator: only MGF1")
    method = RSAEncryptionMethod(
        scheme,
        parameters.hashing_algorithm or _OAEP_DEFAULT_HASH,
        parameters.mask_generator_hashing_algorithm or _OAEP_DEFAULT_HASH,
        parameters.p_source or b"",
    )
    method.padding()  # Invalid Field now for a hash OAEP does not use
    return method


def _rsa(key: AsymmetricPrivateKey | AsymmetricPublicKey) -> None:
    if family_of_key(key) is not KeyFamily.RSA:
        raise PermissionDenied("the object cannot be used for this operation: only RSA keys encrypt")


def encrypt(use: KeyUse, data: bytes) -> bytes:
    """Encrypt ``data`` with a cleared RSA Public Key (the resolved parameters' padding)."""
    key = verifying_key(use, _U.ENCRYPT)
    _rsa(key)
    assert isinstance(key, rsa.RSAPublicKey)
    method = rsa_encryption_method(use.parameters)
    try:
        return key.encrypt(data, method.padding())
    except ValueError:
        raise CryptographicFailure("the data is too long for this key and padding") from None
    except UnsupportedAlgorithm:
        raise InvalidField("Cryptographic Parameters: not supported with this key") from None


def decrypt(use: KeyUse, data: bytes) -> bytes:
    """Decrypt ``data`` with a cleared RSA Private Key. Every failure is the same Cryptographic
    Failure."""
    key = signing_key(use, _U.DECRYPT)
    _rsa(key)
    assert isinstance(key, rsa.RSAPrivateKey)
    method = rsa_encryption_method(use.parameters)
    try:
        return key.decrypt(data, method.padding())
    except (ValueError, UnsupportedAlgorithm):
        raise CryptographicFailure("decryption failed") from None
