"""MAC, MAC Verify and Hash (KMIP 1.4 sections 4.33, 4.34, 4.37) as tables. Pure and
synchronous: key bytes, parameters and data in, bytes or a verdict out.

- ``HASHES``: Hashing Algorithm -> hash. SHA-1, the SHA-2 family (with SHA-512/224 and
  SHA-512/256) and SHA-3. MD2, MD4, MD5, RIPEMD-160, Tiger and Whirlpool are not offered
  (Feature Not Supported).
- ``HMAC_ALGORITHMS``: Cryptographic Algorithm HMAC-SHA1 ... HMAC-SHA512 (and HMAC-SHA3-*) ->
  the hash. HMAC-MD5 is not offered. An HMAC may be computed with any symmetric key's bytes:
  the Cryptographic Algorithm of the MAC comes from the resolved parameters, and the key's
  own algorithm need not be an HMAC one (the OASIS CS-AC-M-4..6 cases MAC with an AES key whose
  Cryptographic Parameters name HMAC-SHA256).
- CMAC (NIST SP 800-38B): Block Cipher Mode CMAC with an AES key (16, 24 or 32 bytes); the
  Cryptographic Algorithm of the parameters, when given, must be AES.
- Anything else (a MAC request whose parameters name no MAC: an AES key with no mode, ECB...)
  is Permission Denied: the key "is not able to be used for MACing" as asked (11.34).
- MAC Verify computes the MAC and compares it in constant time with the one given: a MAC of
  another length or value is Validity Indicator Invalid, never an error (no oracle beyond the
  verdict itself).
- Streams: ``MacStream`` and ``HashStream`` take parts with ``update`` and end with ``finish``
  (the Init / Continue / Final form).
"""

from __future__ import annotations

import hmac as std_hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import cmac, hashes, hmac
from cryptography.hazmat.primitives.ciphers import algorithms

from kmip_server.errors import FeatureNotSupported, InvalidField, PermissionDenied
from kmip_server.model import CryptographicParameters
from ttlv.kmip14 import BlockCipherMode, CryptographicAlgorithm, HashingAlgorithm

__all__ = [
    "CMAC_KEY_LENGTHS",
    "HASHES",
    "HMAC_ALGORITHMS",
    "HashStream",
    "MacMethod",
    "MacStream",
    "hash_algorithm",
    "mac",
    "mac_method",
    "macs_equal",
    "start_hash",
    "start_mac",
]

_H = HashingAlgorithm
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
"""Hashing Algorithm -> hash (Hash, HMAC, and the derivations of ``crypto.derive``)."""

_A = CryptographicAlgorithm
HMAC_ALGORITHMS: dict[CryptographicAlgorithm, HashingAlgorithm] = {
    _A.HMAC_SHA1: _H.SHA_1,
    _A.HMAC_SHA224: _H.SHA_224,
    _A.HMAC_SHA256: _H.SHA_256,
    _A.HMAC_SHA384: _H.SHA_384,
    _A.HMAC_SHA512: _H.SHA_512,
    _A.HMAC_SHA3_224: _H.SHA_3_224,
    _A.HMAC_SHA3_256: _H.SHA_3_256,
    _A.HMAC_SHA3_384: _H.SHA_3_384,
    _A.HMAC_SHA3_512: _H.SHA_3_512,
}
"""HMAC Cryptographic Algorithm -> its hash."""

CMAC_KEY_LENGTHS = frozenset({16, 24, 32})


def hash_algorithm(algorithm: HashingAlgorithm | None) -> hashes.HashAlgorithm:
    """The hash named (Missing Data-like Invalid Field when none, Feature Not Supported when
    not offered)."""
    if algorithm is None:
        raise InvalidField("Cryptographic Parameters: a Hashing Algorithm is needed")
    make = HASHES.get(algorithm)
    if make is None:
        raise FeatureNotSupported("this hashing algorithm is not offered")
    return make()


@dataclass(frozen=True, slots=True)
class MacMethod:
    """HMAC with ``hashing`` or, when ``hashing`` is None, AES-CMAC."""

    hashing: HashingAlgorithm | None


def mac_method(
    parameters: CryptographicParameters, key_algorithm: CryptographicAlgorithm | None, key: bytes
) -> MacMethod:
    """The MAC the resolved parameters ask of this key (Permission Denied when none applies)."""
    if parameters.block_cipher_mode is BlockCipherMode.CMAC:
        algorithm = parameters.cryptographic_algorithm
        if algorithm not in {None, _A.AES} or key_algorithm not in {None, _A.AES}:
            raise PermissionDenied("CMAC is offered with AES keys only")
        if len(key) not in CMAC_KEY_LENGTHS:
            raise PermissionDenied("the key's length does not suit AES-CMAC")
        return MacMethod(None)
    algorithm = parameters.cryptographic_algorithm
    hashing = HMAC_ALGORITHMS.get(algorithm) if algorithm is not None else None
    if hashing is None:
        raise PermissionDenied(
            "the object cannot be used for MACing: name an HMAC algorithm or Block Cipher Mode CMAC"
        )
    if not key:
        raise PermissionDenied("an empty key cannot MAC")
    return MacMethod(hashing)


class MacStream:
    """One MAC over parts."""

    __slots__ = ("_context",)

    def __init__(self, method: MacMethod, key: bytes) -> None:
        if method.hashing is None:
            self._context: hmac.HMAC | cmac.CMAC = cmac.CMAC(algorithms.AES(key))
        else:
            self._context = hmac.HMAC(key, hash_algorithm(method.hashing))

    def update(self, data: bytes) -> None:
        self._context.update(data)

    def finish(self, data: bytes = b"") -> bytes:
        if data:
            self._context.update(data)
        return self._context.finalize()


def start_mac(method: MacMethod, key: bytes) -> MacStream:
    return MacStream(method, key)


def mac(method: MacMethod, key: bytes, data: bytes) -> bytes:
    """The MAC of ``data`` in one part."""
    return MacStream(method, key).finish(data)


def macs_equal(computed: bytes, given: bytes) -> bool:
    """Constant-time comparison of a computed MAC with the client's (lengths may differ)."""
    return std_hmac.compare_digest(computed, given)


class HashStream:
    """One hash over parts."""

    __slots__ = ("_context",)

    def __init__(self, algorithm: HashingAlgorithm | None) -> None:
        self._context = hashes.Hash(hash_algorithm(algorithm))

    def update(self, data: bytes) -> None:
        self._context.update(data)

    def finish(self, data: bytes = b"") -> bytes:
        if data:
            self._context.update(data)
        return self._context.finalize()


def start_hash(algorithm: HashingAlgorithm | None) -> HashStream:
    return HashStream(algorithm)
