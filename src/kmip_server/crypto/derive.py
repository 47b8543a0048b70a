"""Derivation methods of Derive Key (KMIP 1.4 section 4.6) as one table. Pure and synchronous:
the derivation key's bytes, the Derivation Parameters and the length wanted in, bytes out.

``DERIVATIONS``: Derivation Method -> function. What each takes (Table 182, 183):
- PBKDF2 (PKCS #5 v2.1, RFC 8018): the base object's bytes are the password; Salt and Iteration
  Count REQUIRED; the PRF is HMAC with the Hashing Algorithm of the Cryptographic Parameters,
  HMAC-SHA1 when none is named (PKCS #5's default). Iteration Count is bounded
  (``MAX_PBKDF2_ITERATIONS``) so that one request cannot hold a worker for minutes. Any length.
- HMAC: one HMAC of the Derivation Data under the base key (4.6: "computing an HMAC over the
  derivation data"); the PRF comes from the key (an HMAC-SHA* algorithm, or the HMAC algorithm
  of its Cryptographic Parameters), the request's parameters are ignored (4.6). The output is
  the MAC, cut to the length asked; a longer length is refused (4.6: "If the specified length
  exceeds the output of the derivation method, then the server SHALL return an error").
- ENCRYPT: the Derivation Data encrypted under the base key with the Cryptographic Parameters
  (block cipher mode, padding) and the Initialization Vector, by ``crypto.symmetric``; the
  ciphertext, cut to the length asked, no longer than it.
- NIST800-108-C: the KDF in counter mode of NIST SP 800-108 (``cryptography``'s KBKDFHMAC, or
  KBKDFCMAC with an AES key and Block Cipher Mode CMAC): a 32-bit counter before the fixed
  input data, which is the Derivation Data (4.6: "Label||{0x00}||Context"), a 32-bit length L.
  Any length up to the counter's bound.
- HASH, NIST800-108-F and -DPI are not offered (Feature Not Supported). HASH would make a key
  from the Derivation Data alone when the client gives it, which anyone can recompute.

Every refusal of the parameters is Invalid Field (11.7: "Invalid Derivation Parameters"); a base
key that cannot serve the method is Permission Denied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, KBKDFHMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kmip_server.crypto.mac import CMAC_KEY_LENGTHS, HMAC_ALGORITHMS, hash_algorithm
from kmip_server.crypto.symmetric import encrypt
from kmip_server.errors import FeatureNotSupported, InvalidField, PermissionDenied
from kmip_server.model import CryptographicParameters, DerivationParameters
from ttlv.kmip14 import BlockCipherMode, CryptographicAlgorithm, DerivationMethod, HashingAlgorithm

__all__ = [
    "DERIVATIONS",
    "MAX_DERIVED_LENGTH",
    "MAX_PBKDF2_ITERATIONS",
    "DerivationInput",
    "derive",
]

MAX_PBKDF2_ITERATIONS = 10_000_000
"""The most PBKDF2 iterations one request may ask (about a few seconds of one core)."""
MAX_DERIVED_LENGTH = 1 << 16
"""Bytes: the longest object Derive Key makes."""


@dataclass(frozen=True, slots=True)
class DerivationInput:
    """What a derivation works with."""

    key: bytes  # the base object's bytes (a key, or a password held as Secret Data)
    key_algorithm: CryptographicAlgorithm | None  # the base object's Cryptographic Algorithm
    key_parameters: CryptographicParameters | None  # its first Cryptographic Parameters
    parameters: DerivationParameters
    data: bytes | None  # Derivation Data, or the bytes of the Secret Data object given for it
    length: int  # bytes wanted


Derivation = Callable[[DerivationInput], bytes]


def _pbkdf2(given: DerivationInput) -> bytes:
    parameters = given.parameters
    if parameters.salt is None or parameters.iteration_count is None:
        raise InvalidField("Derivation Parameters: PBKDF2 needs a Salt and an Iteration Count")
    if not 1 <= parameters.iteration_count <= MAX_PBKDF2_ITERATIONS:
        raise InvalidField(f"Derivation Parameters: Iteration Count must be 1 to {MAX_PBKDF2_ITERATIONS}")
    crypto = parameters.cryptographic_parameters
    hashing = crypto.hashing_algorithm if crypto is not None else None
    prf = hash_algorithm(hashing or HashingAlgorithm.SHA_1)
    kdf = PBKDF2HMAC(
        algorithm=prf, length=given.length, salt=parameters.salt, iterations=parameters.iteration_count
    )
    return kdf.derive(given.key)


def _hmac_prf(given: DerivationInput) -> HashingAlgorithm:
    hashing = HMAC_ALGORITHMS.get(given.key_algorithm) if given.key_algorithm is not None else None
    if hashing is None and given.key_parameters is not None:
        named = given.key_parameters.cryptographic_algorithm
        hashing = HMAC_ALGORITHMS.get(named) if named is not None else None
    if hashing is None:
        raise PermissionDenied("the derivation key names no HMAC algorithm")
    return hashing


def _hmac(given: DerivationInput) -> bytes:
    if given.data is None:
        raise InvalidField("Derivation Parameters: HMAC derivation needs Derivation Data")
    context = hmac.HMAC(given.key, hash_algorithm(_hmac_prf(given)))
    context.update(given.data)
    return _cut(context.finalize(), given.length)


def _encrypt(given: DerivationInput) -> bytes:
    if given.data is None:
        raise InvalidField("Derivation Parameters: Encrypt derivation needs Derivation Data")
    parameters = _cipher_parameters(given)
    out = encrypt(
        given.key_algorithm, given.key, parameters, given.data, iv=given.parameters.initialization_vector
    )
    return _cut(out.data, given.length)


def _cipher_parameters(given: DerivationInput) -> CryptographicParameters:
    """The request's Cryptographic Parameters, else the key's (4.6: "the lowest Attribute Index")."""
    parameters = given.parameters.cryptographic_parameters or given.key_parameters
    if parameters is None:
        raise InvalidField("Derivation Parameters: Cryptographic Parameters are needed")
    return parameters


def _nist_800_108_counter(given: DerivationInput) -> bytes:
    if given.data is None:
        raise InvalidField("Derivation Parameters: SP 800-108 needs Derivation Data (Label, 0x00, Context)")
    parameters = _cipher_parameters(given)
    try:
        if parameters.block_cipher_mode is BlockCipherMode.CMAC:
            if (
                given.key_algorithm not in {None, CryptographicAlgorithm.AES}
                or len(given.key) not in CMAC_KEY_LENGTHS
            ):
                raise PermissionDenied("CMAC derivation needs an AES key")
            return KBKDFCMAC(
                algorithms.AES,
                Mode.CounterMode,
                given.length,
                4,
                4,
                CounterLocation.BeforeFixed,
                None,
                None,
                given.data,
            ).derive(given.key)
        hashing = parameters.hashing_algorithm
        if hashing is None and parameters.cryptographic_algorithm is not None:
            hashing = HMAC_ALGORITHMS.get(parameters.cryptographic_algorithm)
        if hashing is None:
            raise InvalidField(
                "Derivation Parameters: name the PRF (a Hashing Algorithm, an HMAC algorithm or CMAC)"
            )
        prf: hashes.HashAlgorithm = hash_algorithm(hashing)
        return KBKDFHMAC(
            prf, Mode.CounterMode, given.length, 4, 4, CounterLocation.BeforeFixed, None, None, given.data
        ).derive(given.key)
    except ValueError:
        raise InvalidField(
            "Derivation Parameters: the length asked exceeds what the KDF can produce"
        ) from None


def _cut(output: bytes, length: int) -> bytes:
    if length > len(output):
        raise InvalidField("Cryptographic Length: longer than the output of the derivation method")
    return output[:length]


DERIVATIONS: dict[DerivationMethod, Derivation] = {
    DerivationMethod.PBKDF2: _pbkdf2,
    DerivationMethod.HMAC: _hmac,
    DerivationMethod.ENCRYPT: _encrypt,
    DerivationMethod.NIST800_108_C: _nist_800_108_counter,
}
"""Derivation Method -> how it derives. Methods absent are Feature Not Supported."""


def derive(method: DerivationMethod, given: DerivationInput) -> bytes:
    """``given.length`` bytes derived by ``method``."""
    if not 1 <= given.length <= MAX_DERIVED_LENGTH:
        raise InvalidField(f"Cryptographic Length: 8 to {MAX_DERIVED_LENGTH * 8} bits")
    derivation = DERIVATIONS.get(method)
    if derivation is None:
        raise FeatureNotSupported("this derivation method is not supported")
    return derivation(given)
