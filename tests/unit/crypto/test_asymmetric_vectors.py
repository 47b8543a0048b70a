"""Known answers for the asymmetric algorithms, through the server's own code (``crypto.keypairs``
reads the keys in their KMIP formats, ``crypto.asymmetric`` verifies and decrypts):

- RSASSA-PKCS1-v1_5 verification: NIST CAVP SigVer15, 2048-bit modulus, SHA-224 and SHA-256,
  passing and failing cases (``vectors/crypto/asymmetric``);
- ECDSA P-256 / SHA-256 and P-384 / SHA-384: RFC 6979 A.2.5 and A.2.6 (public key from the
  private key, the published signature verifies, a changed message does not);
- RSASSA-PSS SHA-256: the published signature of OASIS CS-AC-M-2-14;
- RSAES-OAEP: the published ciphertexts of OASIS CS-AC-M-OAEP-2, -4, -6, -8 and -10 (SHA-256,
  SHA-384 with MGF1 SHA-256 and a label, SHA-512) decrypt to the published plaintext.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import utils

from kmip_server.crypto import asymmetric, keypairs
from kmip_server.crypto.asymmetric import SignatureMethod, SignatureScheme
from kmip_server.crypto.usage import KeyUse, resolve_parameters
from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    KeyBlock,
    KeyValue,
    PrivateKey,
    TransparentECPrivateKey,
    TransparentECPublicKey,
    TransparentRSAPublicKey,
)
from kmip_server.model.codec import STRICT, decode_struct
from kmip_server.storage.objects import ObjectRecord
from ttlv.item import Item
from ttlv.kmip14 import (
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    PaddingMethod,
    RecommendedCurve,
    State,
    Tag,
    ValidityIndicator,
)
from ttlv.xml import Placeholders, from_xml_document

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "vectors" / "crypto" / "asymmetric"
OASIS = ROOT / "vectors" / "kmip-1.4" / "test-cases" / "mandatory"
_H = HashingAlgorithm
_HASH_NAMES = {"SHA224": _H.SHA_224, "SHA256": _H.SHA_256, "SHA384": _H.SHA_384}


def _json(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def _block(key_format: KeyFormatType, material: Any) -> KeyBlock:
    return KeyBlock(key_format_type=key_format, key_value=KeyValue(key_material=material))


# --------------------------------------------------------------------------------------------
# NIST CAVP SigVer15

_SIGVER = _json("rsa-pkcs1v15-sigver-2048.json")


@pytest.mark.parametrize(
    "case", _SIGVER["cases"], ids=lambda case: f"{case['sha']}-{case['result']}-{case['why'][:1] or 'P'}"
)
def test_cavp_pkcs1_v1_5_verification(case: dict[str, str]) -> None:
    public = TransparentRSAPublicKey(modulus=int(_SIGVER["n"], 16), public_exponent=int(case["e"], 16))
    key = keypairs.public_key_of(_block(KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY, public))
    method = SignatureMethod(SignatureScheme.RSA_PKCS1_V1_5, _HASH_NAMES[case["sha"]])
    verdict = asymmetric.verify(key, method, bytes.fromhex(case["msg"]), bytes.fromhex(case["s"]))
    expected = ValidityIndicator.VALID if case["result"] == "P" else ValidityIndicator.INVALID
    assert verdict is expected


def test_the_cavp_vectors_cover_both_verdicts() -> None:
    assert {case["result"] for case in _SIGVER["cases"]} == {"P", "F"}


# --------------------------------------------------------------------------------------------
# RFC 6979

_CURVES = {"P-256": RecommendedCurve.P_256, "P-384": RecommendedCurve.P_384}


@pytest.mark.parametrize("case", _json("ecdsa-rfc6979.json")["cases"], ids=lambda case: case["curve"])
def test_rfc6979_ecdsa(case: dict[str, str]) -> None:
    curve = _CURVES[case["curve"]]
    width = keypairs.CURVES[curve].length // 8 + (1 if keypairs.CURVES[curve].length % 8 else 0)
    point = b"\x04" + int(case["ux"], 16).to_bytes(width, "big") + int(case["uy"], 16).to_bytes(width, "big")
    public = keypairs.public_key_of(
        _block(
            KeyFormatType.TRANSPARENT_EC_PUBLIC_KEY,
            TransparentECPublicKey(recommended_curve=curve, q_string=point),
        )
    )
    private = keypairs.private_key_of(
        _block(
            KeyFormatType.TRANSPARENT_ECDSA_PRIVATE_KEY,
            TransparentECPrivateKey(recommended_curve=curve, d=int(case["d"], 16)),
        )
    )
    assert private.public_key().public_numbers() == public.public_numbers()
    method = SignatureMethod(SignatureScheme.ECDSA, _HASH_NAMES[case["sha"]])
    signature = utils.encode_dss_signature(int(case["r"], 16), int(case["s"], 16))
    message = case["msg"].encode()
    assert asymmetric.verify(public, method, message, signature) is ValidityIndicator.VALID
    assert asymmetric.verify(public, method, b"test", signature) is ValidityIndicator.INVALID
    # ECDSA signing is randomized here (not RFC 6979's deterministic nonce): a new signature
    # differs from the published one and verifies.
    ours = asymmetric.sign(private, method, message)
    assert ours != signature
    assert asymmetric.verify(public, method, message, ours) is ValidityIndicator.VALID


# --------------------------------------------------------------------------------------------
# OASIS test-case vectors


def _walk(item: Item) -> Iterator[Item]:
    yield item
    for child in item.children if isinstance(item.value, tuple) else ():
        yield from _walk(child)


def _oasis(name: str) -> list[Item]:
    return from_xml_document((OASIS / f"{name}.xml").read_bytes(), placeholders=Placeholders())


def _first(items: list[Item], tag: int, index: int = 0) -> Item:
    found = [leaf for message in items for leaf in _walk(message) if leaf.tag == tag]
    return found[index]


def test_oasis_pss_signature() -> None:
    items = _oasis("CS-AC-M-2-14")
    material = _first(items, Tag.KEY_MATERIAL).value
    assert isinstance(material, bytes)
    key = keypairs.public_key_of(_block(KeyFormatType.PKCS_1, material))
    data, signature = _first(items, Tag.DATA).value, _first(items, Tag.SIGNATURE_DATA).value
    assert isinstance(data, bytes)
    assert isinstance(signature, bytes)
    parameters = CryptographicParameters(padding_method=PaddingMethod.PSS, hashing_algorithm=_H.SHA_256)
    method = asymmetric.signature_method(parameters, key)
    assert asymmetric.verify(key, method, data, signature) is ValidityIndicator.VALID
    assert asymmetric.verify(key, method, b"\xff" + data[1:], signature) is ValidityIndicator.INVALID
    pinned = asymmetric.signature_method(dataclasses.replace(parameters, salt_length=222), key)
    assert asymmetric.verify(key, pinned, data, signature) is ValidityIndicator.VALID  # the maximum salt


@pytest.mark.parametrize("number", [2, 4, 6, 8, 10])
def test_oasis_oaep_decryption(number: int) -> None:
    items = _oasis(f"CS-AC-M-OAEP-{number}-14")
    register_payload = _first(items, Tag.REQUEST_PAYLOAD, 0)
    stored: list[Attribute] = []
    for attribute in register_payload.find(Tag.TEMPLATE_ATTRIBUTE).find_all(Tag.ATTRIBUTE):  # type: ignore[union-attr]
        name = attribute.find(Tag.ATTRIBUTE_NAME)
        value_item = attribute.find(Tag.ATTRIBUTE_VALUE)
        if name is not None and name.value == "Cryptographic Parameters" and value_item is not None:
            value = decode_struct(CryptographicParameters, value_item, STRICT)
            stored.append(Attribute(name="Cryptographic Parameters", value=value))
    private_item = register_payload.find(Tag.PRIVATE_KEY)
    assert private_item is not None
    private_key = decode_struct(PrivateKey, private_item, STRICT)
    record = ObjectRecord(
        unique_identifier="oaep",
        tenant_id="t",
        service="s",
        object_type=ObjectType.PRIVATE_KEY,
        state=State.ACTIVE,
        attributes=tuple(stored),
    )
    use = KeyUse(record, private_key, resolve_parameters(record, None))
    ciphertext = _first(items, Tag.DATA, 0).value  # the Decrypt request's Data
    plaintext = _first(items, Tag.DATA, 1).value  # the Decrypt response's Data
    assert isinstance(ciphertext, bytes)
    assert asymmetric.decrypt(use, ciphertext) == plaintext
