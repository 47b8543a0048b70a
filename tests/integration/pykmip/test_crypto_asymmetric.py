"""Asymmetric cryptography through PyKMIP's clients against a live Core, at KMIP 1.2 and 1.4:
Create Key Pair (RSA and ECDSA), Get of both halves, Sign and Signature Verify (RSA PSS,
PKCS#1 v1.5, ECDSA), RSA Encrypt and Decrypt (OAEP, PKCS#1 v1.5); every result cross-checked
with ``cryptography``, and the refusals PyKMIP surfaces as ``KmipOperationFailure``.

PyKMIP 0.11 sends only some Cryptographic Parameters fields (no Mask Generator Hashing
Algorithm, no Salt Length): OAEP then uses Table 65's MGF1 default (SHA-1), PSS signs with a
salt of the hash's length and verifies any salt length."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from kmip.core import enums
from kmip.core.misc import KeyFormatType
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import fresh_name, raw_attributes, succeeded
from tests.support.server import RawConnection
from ttlv.kmip14 import LinkType, Tag

pytestmark = pytest.mark.integration

_U = enums.CryptographicUsageMask
RSA = enums.CryptographicAlgorithm.RSA
ECDSA = enums.CryptographicAlgorithm.ECDSA
DATA = b"signed through PyKMIP " * 4


def _pair(client: ProxyKmipClient, algorithm: enums.CryptographicAlgorithm, length: int) -> tuple[str, str]:
    """(private uid, public uid) of a new, activated pair with every usage it needs here."""
    public_uid, private_uid = client.create_key_pair(
        algorithm,
        length,
        public_name=fresh_name("pair-public"),
        public_usage_mask=[_U.VERIFY, _U.ENCRYPT],
        private_name=fresh_name("pair-private"),
        private_usage_mask=[_U.SIGN, _U.DECRYPT],
    )
    client.activate(private_uid)
    client.activate(public_uid)
    return private_uid, public_uid


def test_an_rsa_pair_is_created_linked_and_readable(client: ProxyKmipClient, raw: RawConnection) -> None:
    private_uid, public_uid = _pair(client, RSA, 2048)
    private = client.get(private_uid)
    public = client.get(public_uid)
    assert private.key_format_type is enums.KeyFormatType.PKCS_1
    assert public.key_format_type is enums.KeyFormatType.PKCS_1
    assert private.cryptographic_length == public.cryptographic_length == 2048
    private_key = serialization.load_der_private_key(private.value, None)
    public_key = serialization.load_der_public_key(public.value)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert private_key.public_key().public_numbers() == public_key.public_numbers()
    assert _links(raw, private_uid) == [(LinkType.PUBLIC_KEY_LINK, public_uid)]
    assert _links(raw, public_uid) == [(LinkType.PRIVATE_KEY_LINK, private_uid)]


def _links(raw: RawConnection, uid: str) -> list[tuple[object, object]]:
    """The Link attributes as (Link Type, Linked Object Identifier), read with ttlv (PyKMIP 0.11
    cannot parse a Link)."""
    result: list[tuple[object, object]] = []
    for link in raw_attributes(raw, uid, ["Link"])["Link"]:
        kind, linked = link.find(Tag.LINK_TYPE), link.find(Tag.LINKED_OBJECT_IDENTIFIER)
        assert kind is not None
        assert linked is not None
        result.append((kind.value, linked.value))
    return result


def test_get_in_another_format_through_the_proxy(client: ProxyKmipClient, proxy: KMIPProxy) -> None:
    private_uid, public_uid = _pair(client, ECDSA, 256)
    got = proxy.get(private_uid, key_format_type=KeyFormatType(enums.KeyFormatType.EC_PRIVATE_KEY))
    succeeded(got)
    block = got.secret.key_block
    assert block.key_format_type.value is enums.KeyFormatType.EC_PRIVATE_KEY
    sec1 = serialization.load_der_private_key(block.key_value.key_material.value, None)
    assert isinstance(sec1, ec.EllipticCurvePrivateKey)
    assert isinstance(sec1.curve, ec.SECP256R1)
    spki = serialization.load_der_public_key(client.get(public_uid).value)  # stored as X.509
    assert isinstance(spki, ec.EllipticCurvePublicKey)
    assert sec1.public_key().public_numbers() == spki.public_numbers()


_PSS_SHA256 = {
    "cryptographic_algorithm": RSA,
    "padding_method": enums.PaddingMethod.PSS,
    "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
}
_PKCS1_SHA384 = {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.SHA384_WITH_RSA_ENCRYPTION}


@pytest.mark.parametrize(
    ("parameters", "server_padding", "local_padding", "local_hash"),
    [
        (
            _PSS_SHA256,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),  # the hash's length
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        ),
        (_PKCS1_SHA384, padding.PKCS1v15(), padding.PKCS1v15(), hashes.SHA384()),
    ],
    ids=["PSS SHA-256", "PKCS1 v1.5 SHA-384"],
)
def test_rsa_sign_and_verify(
    client: ProxyKmipClient,
    parameters: dict[str, Any],
    server_padding: padding.AsymmetricPadding,
    local_padding: padding.AsymmetricPadding,
    local_hash: hashes.HashAlgorithm,
) -> None:
    private_uid, public_uid = _pair(client, RSA, 2048)
    signature = client.sign(DATA, uid=private_uid, cryptographic_parameters=parameters)
    public_key = serialization.load_der_public_key(client.get(public_uid).value)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, DATA, server_padding, local_hash)
    verdict = client.signature_verify(DATA, signature, uid=public_uid, cryptographic_parameters=parameters)
    assert verdict is enums.ValidityIndicator.VALID
    verdict = client.signature_verify(
        DATA + b"!", signature, uid=public_uid, cryptographic_parameters=parameters
    )
    assert verdict is enums.ValidityIndicator.INVALID
    private_key = serialization.load_der_private_key(client.get(private_uid).value, None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    mine = private_key.sign(DATA, local_padding, local_hash)
    verdict = client.signature_verify(DATA, mine, uid=public_uid, cryptographic_parameters=parameters)
    assert verdict is enums.ValidityIndicator.VALID


def test_ecdsa_sign_and_verify(client: ProxyKmipClient) -> None:
    private_uid, public_uid = _pair(client, ECDSA, 256)
    parameters = {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256}
    signature = client.sign(DATA, uid=private_uid, cryptographic_parameters=parameters)
    public_key = serialization.load_der_public_key(client.get(public_uid).value)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, DATA, ec.ECDSA(hashes.SHA256()))
    private_key = serialization.load_der_private_key(client.get(private_uid).value, None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    mine = private_key.sign(DATA, ec.ECDSA(hashes.SHA256()))
    assert client.signature_verify(DATA, mine, uid=public_uid, cryptographic_parameters=parameters) is (
        enums.ValidityIndicator.VALID
    )
    assert client.signature_verify(b"other", mine, uid=public_uid, cryptographic_parameters=parameters) is (
        enums.ValidityIndicator.INVALID
    )


@pytest.mark.parametrize(
    ("parameters", "local"),
    [
        (
            {
                "cryptographic_algorithm": RSA,
                "padding_method": enums.PaddingMethod.OAEP,
                "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
            },
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA256(), label=None),
        ),
        (
            {"cryptographic_algorithm": RSA, "padding_method": enums.PaddingMethod.PKCS1v15},
            padding.PKCS1v15(),
        ),
    ],
    ids=["OAEP SHA-256", "PKCS1 v1.5"],
)
def test_rsa_encrypt_and_decrypt(client: ProxyKmipClient, parameters: dict[str, Any], local: Any) -> None:
    private_uid, public_uid = _pair(client, RSA, 2048)
    secret = b"thirty-two bytes of key material"
    ciphertext, iv = client.encrypt(secret, uid=public_uid, cryptographic_parameters=parameters)
    assert iv is None
    private_key = serialization.load_der_private_key(client.get(private_uid).value, None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert private_key.decrypt(ciphertext, local) == secret
    assert client.decrypt(ciphertext, uid=private_uid, cryptographic_parameters=parameters) == secret
    mine = private_key.public_key().encrypt(secret, local)
    assert client.decrypt(mine, uid=private_uid, cryptographic_parameters=parameters) == secret


def test_refusals(client: ProxyKmipClient) -> None:
    private_uid, public_uid = _pair(client, ECDSA, 256)
    parameters = {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256}
    signature = client.sign(DATA, uid=private_uid, cryptographic_parameters=parameters)
    with pytest.raises(KmipOperationFailure) as refused:
        client.sign(DATA, uid=public_uid, cryptographic_parameters=parameters)  # a public key does not sign
    assert refused.value.reason is enums.ResultReason.PERMISSION_DENIED
    client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, private_uid)
    with pytest.raises(KmipOperationFailure) as refused:
        client.sign(DATA, uid=private_uid, cryptographic_parameters=parameters)  # Deactivated
    assert refused.value.reason is enums.ResultReason.PERMISSION_DENIED
    client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, public_uid)
    assert client.signature_verify(DATA, signature, uid=public_uid, cryptographic_parameters=parameters) is (
        enums.ValidityIndicator.VALID  # a Deactivated key still verifies
    )
    with pytest.raises(KmipOperationFailure) as refused:
        client.create_key_pair(RSA, 1024)
    assert refused.value.reason is enums.ResultReason.INVALID_FIELD
