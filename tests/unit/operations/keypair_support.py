"""Request builders for the asymmetric operations' tests (Create Key Pair, Re-key Key Pair,
Sign, Signature Verify, RSA Encrypt/Decrypt, Get of asymmetric keys), on top of
``tests.unit.engine.support``. Keys are read back with ``cryptography`` to cross-check."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmip_server.model import (
    Attribute,
    CreateKeyPairRequestPayload,
    CreateKeyPairResponsePayload,
    CryptographicParameters,
    DecryptRequestPayload,
    EncryptRequestPayload,
    GetRequestPayload,
    KeyBlock,
    KeyValue,
    PrivateKey,
    PublicKey,
    RegisterRequestPayload,
    RequestBatchItem,
    SignatureVerifyRequestPayload,
    SignRequestPayload,
    TemplateAttribute,
)
from tests.unit.engine.support import Core, batch_item
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    ObjectType,
    Operation,
)

__all__ = [
    "create_pair",
    "encrypt",
    "decrypt",
    "get_key",
    "key_pair_item",
    "local_private_key",
    "local_public_key",
    "register_private",
    "register_public",
    "sign",
    "template",
    "verify",
]

_U = CryptographicUsageMask
_DER = serialization.Encoding.DER


def template(*attributes: Attribute) -> TemplateAttribute | None:
    return TemplateAttribute(attributes=attributes) if attributes else None


def key_pair_item(
    common: tuple[Attribute, ...] = (),
    private: tuple[Attribute, ...] = (),
    public: tuple[Attribute, ...] = (),
) -> RequestBatchItem:
    return batch_item(
        Operation.CREATE_KEY_PAIR,
        CreateKeyPairRequestPayload(
            common_template_attribute=template(*common),
            private_key_template_attribute=template(*private),
            public_key_template_attribute=template(*public),
        ),
    )


async def create_pair(
    core: Core,
    algorithm: CryptographicAlgorithm = CryptographicAlgorithm.RSA,
    length: int = 2048,
    *,
    private_mask: CryptographicUsageMask = _U.SIGN | _U.DECRYPT,
    public_mask: CryptographicUsageMask = _U.VERIFY | _U.ENCRYPT,
    common: tuple[Attribute, ...] = (),
    private: tuple[Attribute, ...] = (),
    public: tuple[Attribute, ...] = (),
    peer: Any = None,
) -> tuple[str, str]:
    """(private uid, public uid) of a new pair."""
    payload = await core.ok(
        key_pair_item(
            (
                Attribute(name="Cryptographic Algorithm", value=algorithm),
                Attribute(name="Cryptographic Length", value=length),
                *common,
            ),
            (Attribute(name="Cryptographic Usage Mask", value=private_mask), *private),
            (Attribute(name="Cryptographic Usage Mask", value=public_mask), *public),
        ),
        peer,
    )
    assert isinstance(payload, CreateKeyPairResponsePayload)
    return payload.private_key_unique_identifier, payload.public_key_unique_identifier


async def get_key(core: Core, uid: str, key_format: KeyFormatType | None = None) -> KeyBlock:
    payload = await core.ok(
        batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid, key_format_type=key_format))
    )
    key_block: KeyBlock = payload.managed_object.key_block
    return key_block


def _material(key_block: KeyBlock) -> bytes:
    assert isinstance(key_block.key_value, KeyValue)
    material = key_block.key_value.key_material
    assert isinstance(material, bytes)
    return material


async def local_private_key(core: Core, uid: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The server's private key, read by ``cryptography`` from a PKCS#8 Get."""
    key = serialization.load_der_private_key(_material(await get_key(core, uid, KeyFormatType.PKCS_8)), None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


async def local_public_key(core: Core, uid: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The server's public key, read by ``cryptography`` from an X.509 Get."""
    key = serialization.load_der_public_key(_material(await get_key(core, uid, KeyFormatType.X_509)))
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key


def _key_block(
    algorithm: CryptographicAlgorithm, length: int, key_format: KeyFormatType, material: bytes
) -> KeyBlock:
    return KeyBlock(
        key_format_type=key_format,
        key_value=KeyValue(key_material=material),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )


def _algorithm(key: object) -> tuple[CryptographicAlgorithm, int]:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return CryptographicAlgorithm.RSA, key.key_size
    assert isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
    return CryptographicAlgorithm.ECDSA, key.curve.key_size


async def register_private(
    core: Core,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *attributes: Attribute,
    mask: CryptographicUsageMask = _U.SIGN | _U.DECRYPT,
    key_format: KeyFormatType = KeyFormatType.PKCS_8,
) -> str:
    """Register ``key`` as a Private Key (Active unless ``attributes`` say otherwise)."""
    private_format = (
        serialization.PrivateFormat.PKCS8
        if key_format is KeyFormatType.PKCS_8
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    material = key.private_bytes(_DER, private_format, serialization.NoEncryption())
    algorithm, length = _algorithm(key)
    return await _register(
        core,
        ObjectType.PRIVATE_KEY,
        PrivateKey(key_block=_key_block(algorithm, length, key_format, material)),
        mask,
        attributes,
    )


async def register_public(
    core: Core,
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    *attributes: Attribute,
    mask: CryptographicUsageMask = _U.VERIFY | _U.ENCRYPT,
) -> str:
    """Register ``key`` as a Public Key in X.509 format (Active unless ``attributes`` say otherwise)."""
    material = key.public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    algorithm, length = _algorithm(key)
    return await _register(
        core,
        ObjectType.PUBLIC_KEY,
        PublicKey(key_block=_key_block(algorithm, length, KeyFormatType.X_509, material)),
        mask,
        attributes,
    )


async def _register(
    core: Core,
    object_type: ObjectType,
    managed_object: PrivateKey | PublicKey,
    mask: CryptographicUsageMask,
    attributes: tuple[Attribute, ...],
) -> str:
    given = {attribute.name for attribute in attributes}
    extra = [Attribute(name="Cryptographic Usage Mask", value=mask)]
    if "Activation Date" not in given:
        extra.append(Attribute(name="Activation Date", value=core.clock[0] - 60))
    payload = await core.ok(
        batch_item(
            Operation.REGISTER,
            RegisterRequestPayload(
                object_type=object_type,
                template_attribute=TemplateAttribute(attributes=(*extra, *attributes)),
                managed_object=managed_object,
            ),
        )
    )
    uid: str = payload.unique_identifier
    return uid


def sign(
    uid: str | None,
    data: bytes | None = None,
    parameters: CryptographicParameters | None = None,
    **fields: Any,
) -> RequestBatchItem:
    return batch_item(
        Operation.SIGN,
        SignRequestPayload(unique_identifier=uid, cryptographic_parameters=parameters, data=data, **fields),
    )


def verify(
    uid: str | None,
    data: bytes | None = None,
    signature: bytes | None = None,
    parameters: CryptographicParameters | None = None,
    **fields: Any,
) -> RequestBatchItem:
    return batch_item(
        Operation.SIGNATURE_VERIFY,
        SignatureVerifyRequestPayload(
            unique_identifier=uid,
            cryptographic_parameters=parameters,
            data=data,
            signature_data=signature,
            **fields,
        ),
    )


def encrypt(
    uid: str, data: bytes | None, parameters: CryptographicParameters | None = None, **fields: Any
) -> RequestBatchItem:
    return batch_item(
        Operation.ENCRYPT,
        EncryptRequestPayload(
            unique_identifier=uid, cryptographic_parameters=parameters, data=data, **fields
        ),
    )


def decrypt(
    uid: str, data: bytes | None, parameters: CryptographicParameters | None = None
) -> RequestBatchItem:
    return batch_item(
        Operation.DECRYPT,
        DecryptRequestPayload(unique_identifier=uid, cryptographic_parameters=parameters, data=data),
    )
