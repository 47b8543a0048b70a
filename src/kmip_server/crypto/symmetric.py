"""Block ciphers for Encrypt and Decrypt (KMIP 1.4 sections 4.29, 4.30) as tables: algorithm,
mode, padding. Pure and synchronous: key bytes, parameters and data in, data out.

- ``CIPHERS``: Cryptographic Algorithm -> the block cipher, its block size and key lengths.
  AES, and the legacy ciphers PyKMIP's client uses (3DES, Blowfish, IDEA, CAST5, and Camellia)
  from ``cryptography``'s ``decrepit`` module; when the installed ``cryptography`` lacks that module
  the legacy rows are absent and asking for them is Feature Not Supported, never a crash. Single
  DES is not offered (56-bit keys).
- ``MODES``: Block Cipher Mode -> what it needs: ECB (no IV), CBC, CFB, OFB (an IV of one
  block; CFB and OFB from the decrepit module too), CTR (a whole counter block, or a nonce
  that the Counter Length and Initial Counter Value complete), GCM (AES only; a nonce of 8 to
  128 bytes, 12 recommended; Tag Length 12 to 16 bytes, ``GCM_TAG_LENGTHS``, NIST SP 800-38D
  section 5.2.1.2, default 16).
- ``PADDINGS``: Padding Method -> padder: None, PKCS5 (PKCS#7 over the cipher's block), ANSI
  X9.23. Padding applies to ECB and CBC only; a stream mode with a padding other than None is
  Invalid Field. ECB or CBC without padding need whole blocks.

IVs (4.29): an IV/Counter/Nonce the request gives is used; otherwise, when the parameters ask
for a Random IV, Encrypt makes one (``os.urandom``: one block, or for GCM the IV Length, in
bits, else 96 bits) and returns it. A mode that needs an IV and has none is Invalid Message
("missing IV", as the OASIS CS-BC-M-11..13 test cases answer); Decrypt never invents one.

Failures: a tag that does not verify or padding that does not strip is Cryptographic Failure
with the one generic message (``DECRYPTION_FAILED``): the same words for a wrong tag, a wrong
IV, altered data or bad padding, so the answer tells an attacker no more than "no". A Tag
Length outside ``GCM_TAG_LENGTHS`` is General Failure (CS-BC-M-GCM-1 expects that reason). A key
whose length or algorithm does not suit the cipher is Permission Denied (11.30: "not able to be
used for encryption").

Streaming (the Init / Continue / Final form) is the same objects: ``start_encryption`` and
``start_decryption`` return a stream whose ``update`` takes each part and whose ``finish`` ends
it (the tag of an authenticated encryption comes with the last part); the single-part form is
``encrypt`` / ``decrypt``, which run one stream to its end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from types import ModuleType
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import (
    AEADCipherContext,
    AEADEncryptionContext,
    BlockCipherAlgorithm,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from kmip_server.errors import (
    CryptographicFailure,
    FeatureNotSupported,
    GeneralFailure,
    InvalidField,
    InvalidMessage,
    PermissionDenied,
)
from kmip_server.model import CryptographicParameters, KeyValue, ManagedObject, TransparentSymmetricKey
from ttlv.kmip14 import BlockCipherMode, CryptographicAlgorithm, PaddingMethod

decrepit: ModuleType | None
decrepit_modes: ModuleType | None
try:  # cryptography >= 43 keeps the legacy ciphers here; a build without them offers none
    from cryptography.hazmat.decrepit.ciphers import algorithms as _legacy_algorithms
    from cryptography.hazmat.decrepit.ciphers import modes as _legacy_modes

    decrepit, decrepit_modes = _legacy_algorithms, _legacy_modes
except ImportError:  # pragma: no cover - depends on the installed cryptography
    decrepit = decrepit_modes = None

__all__ = [
    "AUTHENTICATED_MODES",
    "CIPHERS",
    "DECRYPTION_FAILED",
    "DEFAULT_GCM_TAG_LENGTH",
    "GCM_TAG_LENGTHS",
    "LEGACY_ALGORITHMS",
    "MODES",
    "PADDINGS",
    "BlockCipher",
    "cipher_algorithm",
    "DecryptionStream",
    "Encrypted",
    "EncryptionStream",
    "IvRule",
    "ModeRule",
    "decrypt",
    "encrypt",
    "start_decryption",
    "start_encryption",
    "symmetric_key_material",
]

DECRYPTION_FAILED = "decryption failed"
"""The one message of every decryption that does not authenticate or unpad (no oracle)."""

DEFAULT_GCM_TAG_LENGTH = 16
GCM_TAG_LENGTHS = frozenset({12, 13, 14, 15, 16})
"""Tag lengths in bytes (NIST SP 800-38D 5.2.1.2: 128, 120, 112, 104, 96 bits; the 64- and 32-bit
tags of its Appendix C are not offered)."""
GCM_NONCE_LENGTHS = range(8, 129)  # bytes: what OpenSSL accepts; 12 is the recommended length
DEFAULT_GCM_NONCE_LENGTH = 12


# Ciphers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockCipher:
    """One block cipher: how to make it from key bytes, its block and key lengths (bytes)."""

    make: Callable[[bytes], BlockCipherAlgorithm]
    block_size: int
    key_lengths: frozenset[int]
    legacy: bool = False  # from the decrepit module: kept for old clients only


def _cipher_table() -> dict[CryptographicAlgorithm, BlockCipher]:
    table: dict[CryptographicAlgorithm, BlockCipher] = {
        CryptographicAlgorithm.AES: BlockCipher(algorithms.AES, 16, frozenset({16, 24, 32})),
    }
    if decrepit is not None:
        table[CryptographicAlgorithm.CAMELLIA] = BlockCipher(
            decrepit.Camellia, 16, frozenset({16, 24, 32}), legacy=True
        )
        table[CryptographicAlgorithm.TRIPLE_DES] = BlockCipher(
            decrepit.TripleDES, 8, frozenset({16, 24}), legacy=True
        )
        table[CryptographicAlgorithm.BLOWFISH] = BlockCipher(
            decrepit.Blowfish, 8, frozenset(range(4, 57)), legacy=True
        )
        table[CryptographicAlgorithm.IDEA] = BlockCipher(decrepit.IDEA, 8, frozenset({16}), legacy=True)
        table[CryptographicAlgorithm.CAST5] = BlockCipher(
            decrepit.CAST5, 8, frozenset(range(5, 17)), legacy=True
        )
    return table


LEGACY_ALGORITHMS = frozenset(
    {
        CryptographicAlgorithm.TRIPLE_DES,
        CryptographicAlgorithm.BLOWFISH,
        CryptographicAlgorithm.IDEA,
        CryptographicAlgorithm.CAST5,
        CryptographicAlgorithm.CAMELLIA,
    }
)
"""Offered only through the decrepit module (absent from ``CIPHERS`` when it is missing)."""

CIPHERS: dict[CryptographicAlgorithm, BlockCipher] = _cipher_table()
"""Cryptographic Algorithm -> block cipher. Anything absent is not an encryption algorithm here."""


# Modes -----------------------------------------------------------------------------------------


class IvRule(IntEnum):
    NONE = 0  # the mode takes no IV (ECB); one given is ignored
    BLOCK = 1  # exactly one block (CBC, CFB, OFB)
    COUNTER = 2  # a counter block, or a nonce completed by Counter Length / Initial Counter Value
    NONCE = 3  # an AEAD nonce (GCM)


@dataclass(frozen=True, slots=True)
class ModeRule:
    make: Callable[[bytes], modes.Mode]
    iv: IvRule
    whole_blocks: bool  # the cipher sees whole blocks only (ECB, CBC): padding applies
    aead: bool = False
    only: frozenset[CryptographicAlgorithm] | None = None  # the algorithms it works with


def _ecb(_iv: bytes) -> modes.Mode:
    return modes.ECB()  # noqa: S305 - KMIP offers ECB (CS-BC-M-1..9); the client chose it


def _mode_table() -> dict[BlockCipherMode, ModeRule]:
    table = {
        BlockCipherMode.ECB: ModeRule(_ecb, IvRule.NONE, whole_blocks=True),
        BlockCipherMode.CBC: ModeRule(modes.CBC, IvRule.BLOCK, whole_blocks=True),
        BlockCipherMode.CTR: ModeRule(modes.CTR, IvRule.COUNTER, whole_blocks=False),
        BlockCipherMode.GCM: ModeRule(
            modes.GCM,
            IvRule.NONCE,
            whole_blocks=False,
            aead=True,
            only=frozenset({CryptographicAlgorithm.AES}),
        ),
    }
    if decrepit_modes is not None:
        table[BlockCipherMode.CFB] = ModeRule(decrepit_modes.CFB, IvRule.BLOCK, whole_blocks=False)
        table[BlockCipherMode.OFB] = ModeRule(decrepit_modes.OFB, IvRule.BLOCK, whole_blocks=False)
    return table


MODES: dict[BlockCipherMode, ModeRule] = _mode_table()
"""Block Cipher Mode -> its rule. Modes absent (CCM, XTS, key wrap modes...) are Feature Not Supported."""

AUTHENTICATED_MODES = frozenset(mode for mode, rule in MODES.items() if rule.aead)
"""Modes whose output includes an Authenticated Encryption Tag."""

Padder = Callable[[int], padding.PaddingContext]
Unpadder = Callable[[int], padding.PaddingContext]


def _pkcs7_padder(block_bits: int) -> padding.PaddingContext:
    return padding.PKCS7(block_bits).padder()


def _pkcs7_unpadder(block_bits: int) -> padding.PaddingContext:
    return padding.PKCS7(block_bits).unpadder()


def _x923_padder(block_bits: int) -> padding.PaddingContext:
    return padding.ANSIX923(block_bits).padder()


def _x923_unpadder(block_bits: int) -> padding.PaddingContext:
    return padding.ANSIX923(block_bits).unpadder()


PADDINGS: dict[PaddingMethod | None, tuple[Padder, Unpadder] | None] = {
    None: None,
    PaddingMethod.NONE: None,
    PaddingMethod.PKCS5: (_pkcs7_padder, _pkcs7_unpadder),  # PKCS#5 generalised to the block size
    PaddingMethod.ANSI_X9_23: (_x923_padder, _x923_unpadder),
}
"""Padding Method -> (padder, unpadder) factories taking the block size in bits; None: no padding."""


# Key material ----------------------------------------------------------------------------------


def symmetric_key_material(managed_object: ManagedObject) -> bytes:
    """The key bytes of a Symmetric Key (Raw or Transparent Symmetric Key format).

    Permission Denied for anything else, including a key registered wrapped (its bytes are not
    a key this server can use)."""
    key_block = getattr(managed_object, "key_block", None)
    key_value = key_block.key_value if key_block is not None else None
    if isinstance(key_value, KeyValue):
        material = key_value.key_material
        if isinstance(material, TransparentSymmetricKey):
            return material.key
        if isinstance(material, bytes | bytearray):
            return bytes(material)
    raise PermissionDenied("the object is not a symmetric key this server can use")


def cipher_algorithm(
    key_algorithm: CryptographicAlgorithm | None,
    resolved: CryptographicParameters,
    requested: CryptographicParameters | None,
) -> CryptographicAlgorithm | None:
    """The cipher an Encrypt or Decrypt uses: the key's own Cryptographic Algorithm. Parameters
    stored with the key may name another algorithm for another use (an AES key whose
    Cryptographic Parameters say HMAC-SHA256, as in the OASIS CS-AC cases) and are not a reason
    to refuse; a request that itself names another algorithm than the key's is Permission
    Denied. A key without an algorithm attribute uses the parameters' algorithm."""
    if key_algorithm is None:
        return resolved.cryptographic_algorithm
    asked = requested.cryptographic_algorithm if requested is not None else None
    if asked is not None and asked is not key_algorithm:
        raise PermissionDenied("the key's Cryptographic Algorithm is not the one the request names")
    return key_algorithm


# Choosing and checking -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    cipher: BlockCipher
    mode: BlockCipherMode
    rule: ModeRule
    paddings: tuple[Padder, Unpadder] | None
    tag_length: int


def _plan(algorithm: CryptographicAlgorithm | None, key: bytes, parameters: CryptographicParameters) -> _Plan:
    if algorithm is None:
        raise PermissionDenied("the key has no Cryptographic Algorithm to encrypt with")
    cipher = CIPHERS.get(algorithm)
    if cipher is None and algorithm in LEGACY_ALGORITHMS:
        raise FeatureNotSupported("this server's cryptography library lacks this legacy cipher")
    if cipher is None:
        raise PermissionDenied("the key's algorithm is not a block cipher this server offers")
    if len(key) not in cipher.key_lengths:
        raise PermissionDenied("the key's length does not suit its algorithm")
    mode = parameters.block_cipher_mode
    if mode is None:
        raise InvalidField("Cryptographic Parameters: a Block Cipher Mode is needed (the key has none)")
    rule = MODES.get(mode)
    if rule is None:
        raise FeatureNotSupported("this block cipher mode is not supported")
    if rule.only is not None and algorithm not in rule.only:
        raise FeatureNotSupported("this block cipher mode is not offered with this algorithm")
    if parameters.padding_method not in PADDINGS:
        raise FeatureNotSupported("this padding method is not supported")
    paddings = PADDINGS[parameters.padding_method]
    if paddings is not None and not rule.whole_blocks:
        raise InvalidField("padding applies to ECB and CBC only")
    tag_length = DEFAULT_GCM_TAG_LENGTH
    if rule.aead and parameters.tag_length is not None:
        tag_length = parameters.tag_length
        if tag_length not in GCM_TAG_LENGTHS:
            raise GeneralFailure("invalid tag length: GCM tags are 12 to 16 bytes")
    return _Plan(cipher, mode, rule, paddings, tag_length)


def _checked_iv(plan: _Plan, iv: bytes, parameters: CryptographicParameters) -> bytes:
    """``iv`` as the mode needs it (a CTR nonce completed into its counter block)."""
    block = plan.cipher.block_size
    rule = plan.rule.iv
    if rule is IvRule.BLOCK and len(iv) != block:
        raise InvalidField(f"the IV/Counter/Nonce must be {block} bytes for this cipher and mode")
    if rule is IvRule.NONCE and len(iv) not in GCM_NONCE_LENGTHS:
        raise InvalidField("a GCM nonce must be 8 to 128 bytes (12 recommended)")
    if rule is IvRule.COUNTER and len(iv) != block:
        counter_bits = parameters.counter_length
        if counter_bits is None or counter_bits % 8 or len(iv) + counter_bits // 8 != block:
            raise InvalidField(
                "a CTR IV/Counter/Nonce is a whole counter block, or a nonce that the Counter "
                "Length completes to one"
            )
        initial = parameters.initial_counter_value or 0
        try:
            return iv + initial.to_bytes(counter_bits // 8, "big")
        except OverflowError:
            raise InvalidField("the Initial Counter Value does not fit the Counter Length") from None
    return iv


def _random_iv(plan: _Plan, parameters: CryptographicParameters, random: Callable[[int], bytes]) -> bytes:
    if plan.rule.iv is IvRule.NONCE:
        bits = parameters.iv_length
        if bits is None:
            return random(DEFAULT_GCM_NONCE_LENGTH)
        if bits % 8 or bits // 8 not in GCM_NONCE_LENGTHS:
            raise InvalidField("IV Length: a GCM nonce is 64 to 1024 bits, in whole bytes")
        return random(bits // 8)
    return random(plan.cipher.block_size)


def _context(plan: _Plan, key: bytes, iv: bytes, *, decrypt: bool, tag: bytes | None = None) -> CipherContext:
    if plan.rule.aead and decrypt:
        mode: modes.Mode = modes.GCM(iv, tag, min_tag_length=len(tag or b"")) if tag else modes.GCM(iv)
    else:
        mode = plan.rule.make(iv)
    try:
        cipher: Cipher[Any] = Cipher(plan.cipher.make(key), mode)
        return cipher.decryptor() if decrypt else cipher.encryptor()
    except (UnsupportedAlgorithm, ValueError):
        # OpenSSL without this cipher/mode combination, or a key it rejects.
        raise FeatureNotSupported("this cipher and mode are not available on this server") from None


# Streams ---------------------------------------------------------------------------------------


class EncryptionStream:
    """One encryption, fed part by part. ``finish`` returns the last data and the tag (GCM)."""

    __slots__ = ("_block", "_context", "_padder", "_tag_length", "_whole_blocks")

    def __init__(self, plan: _Plan, context: CipherContext) -> None:
        self._context = context
        self._padder = plan.paddings[0](plan.cipher.block_size * 8) if plan.paddings else None
        self._tag_length = plan.tag_length if plan.rule.aead else 0
        self._whole_blocks = plan.rule.whole_blocks and plan.paddings is None
        self._block = plan.cipher.block_size

    def update(self, data: bytes) -> bytes:
        if self._padder is not None:
            data = self._padder.update(data)
        return self._context.update(data)

    def finish(self, data: bytes = b"") -> tuple[bytes, bytes | None]:
        out = self.update(data) if data else b""
        if self._padder is not None:
            out += self._context.update(self._padder.finalize())
        try:
            out += self._context.finalize()
        except ValueError:
            # ECB/CBC without padding over data that is not whole blocks.
            raise InvalidField(
                f"without padding the data must be a multiple of {self._block} bytes"
            ) from None
        context = self._context
        tag = context.tag[: self._tag_length] if isinstance(context, AEADEncryptionContext) else None
        return out, tag


class DecryptionStream:
    """One decryption, fed part by part. ``finish`` verifies the tag and the padding; any
    failure is Cryptographic Failure with ``DECRYPTION_FAILED``."""

    __slots__ = ("_context", "_unpadder")

    def __init__(self, plan: _Plan, context: CipherContext) -> None:
        self._context = context
        self._unpadder = plan.paddings[1](plan.cipher.block_size * 8) if plan.paddings else None

    def update(self, data: bytes) -> bytes:
        out = self._context.update(data)
        if self._unpadder is not None:
            out = self._unpadder.update(out)
        return out

    def finish(self, data: bytes = b"") -> bytes:
        out = self.update(data) if data else b""
        try:
            last = self._context.finalize()
            if self._unpadder is not None:
                out += self._unpadder.update(last) + self._unpadder.finalize()
            else:
                out += last
        except (InvalidTag, ValueError):
            raise CryptographicFailure(DECRYPTION_FAILED) from None
        return out


def start_encryption(
    algorithm: CryptographicAlgorithm | None,
    key: bytes,
    parameters: CryptographicParameters,
    iv: bytes | None,
    *,
    aad: bytes | None = None,
    random: Callable[[int], bytes] = os.urandom,
) -> tuple[EncryptionStream, bytes | None]:
    """An encryption stream and the IV the server generated (None when the request gave one or
    the mode takes none)."""
    plan = _plan(algorithm, key, parameters)
    generated = None
    if plan.rule.iv is IvRule.NONE:
        iv = b""
    elif iv is None:
        if not parameters.random_iv:
            raise InvalidMessage("missing IV: this mode needs an IV/Counter/Nonce or Random IV")
        iv = generated = _random_iv(plan, parameters, random)
    if aad is not None and not plan.rule.aead:
        raise InvalidField("Authenticated Encryption Additional Data needs an authenticated mode")
    context = _context(plan, key, _checked_iv(plan, iv, parameters), decrypt=False)
    if aad and isinstance(context, AEADCipherContext):
        context.authenticate_additional_data(aad)
    return EncryptionStream(plan, context), generated


def start_decryption(
    algorithm: CryptographicAlgorithm | None,
    key: bytes,
    parameters: CryptographicParameters,
    iv: bytes | None,
    *,
    aad: bytes | None = None,
    tag: bytes | None = None,
) -> DecryptionStream:
    """A decryption stream. GCM needs the tag now (4.30: supplied on the initial request)."""
    plan = _plan(algorithm, key, parameters)
    if plan.rule.iv is IvRule.NONE:
        iv = b""
    elif iv is None:
        raise InvalidMessage("missing IV: this mode needs the IV/Counter/Nonce used to encrypt")
    if plan.rule.aead:
        if tag is None:
            raise InvalidMessage("missing tag: GCM decryption needs the Authenticated Encryption Tag")
        if parameters.tag_length is not None and len(tag) != plan.tag_length:
            raise CryptographicFailure(DECRYPTION_FAILED)
        if len(tag) not in GCM_TAG_LENGTHS:
            raise CryptographicFailure(DECRYPTION_FAILED)
    elif aad is not None or tag is not None:
        raise InvalidField("an authentication tag or additional data needs an authenticated mode")
    context = _context(plan, key, _checked_iv(plan, iv, parameters), decrypt=True, tag=tag)
    if aad and isinstance(context, AEADCipherContext):
        context.authenticate_additional_data(aad)
    return DecryptionStream(plan, context)


# Single part -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encrypted:
    data: bytes
    iv: bytes | None  # generated by the server (Random IV), else None
    tag: bytes | None  # authenticated modes only


def encrypt(
    algorithm: CryptographicAlgorithm | None,
    key: bytes,
    parameters: CryptographicParameters,
    data: bytes,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    random: Callable[[int], bytes] = os.urandom,
) -> Encrypted:
    """Encrypt ``data`` in one part."""
    stream, generated = start_encryption(algorithm, key, parameters, iv, aad=aad, random=random)
    out, tag = stream.finish(data)
    return Encrypted(out, generated, tag)


def decrypt(
    algorithm: CryptographicAlgorithm | None,
    key: bytes,
    parameters: CryptographicParameters,
    data: bytes,
    *,
    iv: bytes | None = None,
    aad: bytes | None = None,
    tag: bytes | None = None,
) -> bytes:
    """Decrypt ``data`` in one part (Cryptographic Failure, generic, when it does not verify)."""
    return start_decryption(algorithm, key, parameters, iv, aad=aad, tag=tag).finish(data)
