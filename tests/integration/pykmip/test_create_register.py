"""Create and Register through PyKMIP's ``ProxyKmipClient`` and ``KMIPProxy``: every object type
PyKMIP's pie API can carry, read back with Get and Get Attributes (bytes, types, digests)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kmip.core import enums
from kmip.core import objects as cobjects
from kmip.core.factories.secrets import SecretFactory
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure
from kmip.pie.factory import ObjectFactory
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import attribute, attributes_of, fresh_name, one, raw_digest, succeeded
from tests.support.server import CoreProcess, RawConnection

pytestmark = pytest.mark.integration

ENCRYPT_DECRYPT = enums.CryptographicUsageMask.ENCRYPT.value | enums.CryptographicUsageMask.DECRYPT.value
BASIC = ["Object Type", "State", "Name", "Cryptographic Algorithm", "Cryptographic Length", "Digest"]


@pytest.fixture(scope="module")
def rsa_material() -> tuple[bytes, bytes]:
    """An RSA-2048 pair: the public key as PKCS#1 DER, the private key as PKCS#8 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return public, private


# -- Create ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "length"),
    [
        (enums.CryptographicAlgorithm.AES, 128),
        (enums.CryptographicAlgorithm.AES, 256),
        (enums.CryptographicAlgorithm.TRIPLE_DES, 192),
    ],
    ids=["aes-128", "aes-256", "3des-192"],
)
def test_create_symmetric_key(
    client: ProxyKmipClient, algorithm: enums.CryptographicAlgorithm, length: int
) -> None:
    name = fresh_name("create")
    uid = client.create(algorithm, length, name=name)
    key = client.get(uid)
    assert isinstance(key, objects.SymmetricKey)
    assert key.cryptographic_algorithm is algorithm
    assert key.cryptographic_length == length
    assert len(key.value) * 8 == length
    assert key.key_format_type is enums.KeyFormatType.RAW

    values = attributes_of(client, uid, [*BASIC, "Cryptographic Usage Mask"])
    assert one(values, "Object Type") is enums.ObjectType.SYMMETRIC_KEY
    assert one(values, "State") is enums.State.PRE_ACTIVE
    assert one(values, "Name") == (name, enums.NameType.UNINTERPRETED_TEXT_STRING)
    assert one(values, "Cryptographic Algorithm") is algorithm
    assert one(values, "Cryptographic Length") == length
    assert one(values, "Cryptographic Usage Mask") == ENCRYPT_DECRYPT  # PyKMIP's default
    assert one(values, "Digest") == (
        enums.HashingAlgorithm.SHA_256,
        hashlib.sha256(key.value).digest(),
        enums.KeyFormatType.RAW,
    )

    # A second Create makes different key material.
    other = client.get(client.create(algorithm, length, name=fresh_name("create")))
    assert other.value != key.value


def test_create_with_usage_mask(client: ProxyKmipClient) -> None:
    uid = client.create(
        enums.CryptographicAlgorithm.AES,
        256,
        name=fresh_name("mask"),
        cryptographic_usage_mask=[
            enums.CryptographicUsageMask.WRAP_KEY,
            enums.CryptographicUsageMask.MAC_GENERATE,
        ],
    )
    mask = one(attributes_of(client, uid, ["Cryptographic Usage Mask"]), "Cryptographic Usage Mask")
    assert mask == (
        ENCRYPT_DECRYPT
        | enums.CryptographicUsageMask.WRAP_KEY.value
        | enums.CryptographicUsageMask.MAC_GENERATE.value
    )


def test_create_through_kmip_proxy(proxy: KMIPProxy) -> None:
    name = fresh_name("proxy-create")
    template = cobjects.TemplateAttribute(
        attributes=[
            attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES),
            attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
            attribute(
                enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
            ),
            attribute(enums.AttributeType.NAME, name),
        ]
    )
    created = proxy.create(enums.ObjectType.SYMMETRIC_KEY, template)
    succeeded(created)
    assert created.object_type is enums.ObjectType.SYMMETRIC_KEY
    got = proxy.get(created.uuid)
    succeeded(got)
    material = got.secret.key_block.key_value.key_material.value
    assert len(material) == 32
    assert got.secret.key_block.cryptographic_algorithm.value is enums.CryptographicAlgorithm.AES


def test_create_refuses_a_name_in_use(client: ProxyKmipClient) -> None:
    """Names are unique per tenant (3.2); a live object's name is Invalid Field, a destroyed one's is free."""
    name = fresh_name("taken")
    first = client.create(enums.CryptographicAlgorithm.AES, 128, name=name)
    with pytest.raises(KmipOperationFailure) as refused:
        client.create(enums.CryptographicAlgorithm.AES, 128, name=name)
    assert refused.value.reason is enums.ResultReason.INVALID_FIELD
    client.destroy(first)
    second = client.create(enums.CryptographicAlgorithm.AES, 128, name=name)
    assert second != first
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, name)]) == [second]


# -- Register --------------------------------------------------------------------------------------


def test_register_symmetric_key(client: ProxyKmipClient) -> None:
    material = bytes(range(32))
    name = fresh_name("reg-sym")
    masks = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    uid = client.register(
        objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, material, masks=masks, name=name)
    )
    key = client.get(uid)
    assert isinstance(key, objects.SymmetricKey)
    assert key.value == material
    values = attributes_of(client, uid, BASIC)
    assert one(values, "Object Type") is enums.ObjectType.SYMMETRIC_KEY
    assert one(values, "Name") == (name, enums.NameType.UNINTERPRETED_TEXT_STRING)
    assert one(values, "Cryptographic Length") == 256
    assert one(values, "State") is enums.State.PRE_ACTIVE
    assert one(values, "Digest")[1] == hashlib.sha256(material).digest()


def test_register_secret_data(client: ProxyKmipClient) -> None:
    secret = b"correct horse battery staple"
    uid = client.register(
        objects.SecretData(secret, enums.SecretDataType.PASSWORD, name=fresh_name("reg-secret"))
    )
    got = client.get(uid)
    assert isinstance(got, objects.SecretData)
    assert got.value == secret
    assert got.data_type is enums.SecretDataType.PASSWORD
    values = attributes_of(client, uid, ["Object Type", "State", "Digest"])
    assert one(values, "Object Type") is enums.ObjectType.SECRET_DATA
    assert one(values, "Digest")[1] == hashlib.sha256(secret).digest()


def test_register_opaque_object(client: ProxyKmipClient, raw: RawConnection) -> None:
    blob = b"\x00opaque\xffbytes" * 10
    uid = client.register(
        objects.OpaqueObject(blob, enums.OpaqueDataType.NONE, name=fresh_name("reg-opaque"))
    )
    got = client.get(uid)
    assert isinstance(got, objects.OpaqueObject)
    assert got.value == blob
    assert got.opaque_type is enums.OpaqueDataType.NONE
    values = attributes_of(client, uid, ["Object Type"])
    assert one(values, "Object Type") is enums.ObjectType.OPAQUE_DATA
    # PyKMIP 0.11 cannot read a Digest without Key Format Type (only keys and secret data have one).
    assert raw_digest(raw, uid) == hashlib.sha256(blob).digest()


def test_register_certificate(client: ProxyKmipClient, raw: RawConnection, core_server: CoreProcess) -> None:
    der = x509.load_pem_x509_certificate(core_server.tenant("acme").certificate.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    uid = client.register(objects.X509Certificate(der, name=fresh_name("reg-cert")))
    got = client.get(uid)
    assert isinstance(got, objects.X509Certificate)
    assert got.value == der
    assert got.certificate_type is enums.CertificateType.X_509
    values = attributes_of(client, uid, ["Object Type", "State"])
    assert one(values, "Object Type") is enums.ObjectType.CERTIFICATE
    assert one(values, "State") is enums.State.PRE_ACTIVE
    assert raw_digest(raw, uid) == hashlib.sha256(der).digest()


def test_register_public_and_private_keys(client: ProxyKmipClient, rsa_material: tuple[bytes, bytes]) -> None:
    public_der, private_der = rsa_material
    public_uid = client.register(
        objects.PublicKey(
            enums.CryptographicAlgorithm.RSA,
            2048,
            public_der,
            enums.KeyFormatType.PKCS_1,
            masks=[enums.CryptographicUsageMask.VERIFY],
            name=fresh_name("reg-public"),
        )
    )
    private_uid = client.register(
        objects.PrivateKey(
            enums.CryptographicAlgorithm.RSA,
            2048,
            private_der,
            enums.KeyFormatType.PKCS_8,
            masks=[enums.CryptographicUsageMask.SIGN],
            name=fresh_name("reg-private"),
        )
    )
    public = client.get(public_uid)
    assert isinstance(public, objects.PublicKey)
    assert (public.value, public.key_format_type) == (public_der, enums.KeyFormatType.PKCS_1)
    assert public.cryptographic_algorithm is enums.CryptographicAlgorithm.RSA
    assert public.cryptographic_length == 2048
    private = client.get(private_uid)
    assert isinstance(private, objects.PrivateKey)
    assert (private.value, private.key_format_type) == (private_der, enums.KeyFormatType.PKCS_8)
    assert (
        one(attributes_of(client, public_uid, ["Object Type"]), "Object Type") is enums.ObjectType.PUBLIC_KEY
    )
    assert (
        one(attributes_of(client, private_uid, ["Object Type"]), "Object Type")
        is enums.ObjectType.PRIVATE_KEY
    )
    mask = one(attributes_of(client, private_uid, ["Cryptographic Usage Mask"]), "Cryptographic Usage Mask")
    assert mask == enums.CryptographicUsageMask.SIGN.value


def _split_key(name: str, part: int) -> objects.SplitKey:
    return objects.SplitKey(
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        cryptographic_length=128,
        key_value=bytes([part]) * 16,
        name=name,
        split_key_parts=3,
        key_part_identifier=part,
        split_key_threshold=2,
        split_key_method=enums.SplitKeyMethod.XOR,
    )


def test_register_split_key(client: ProxyKmipClient) -> None:
    uid = client.register(_split_key(fresh_name("reg-split"), 2))
    got = client.get(uid)
    assert isinstance(got, objects.SplitKey)
    assert got.value == bytes([2]) * 16
    assert (got.split_key_parts, got.key_part_identifier, got.split_key_threshold) == (3, 2, 2)
    assert got.split_key_method is enums.SplitKeyMethod.XOR
    assert one(attributes_of(client, uid, ["Object Type"]), "Object Type") is enums.ObjectType.SPLIT_KEY


@pytest.mark.parametrize("kind", ["symmetric", "secret", "opaque", "split"])
def test_register_through_kmip_proxy(proxy: KMIPProxy, kind: str) -> None:
    pie: objects.ManagedObject = {
        "symmetric": lambda: objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, b"\x11" * 16),
        "secret": lambda: objects.SecretData(b"s3cret", enums.SecretDataType.SEED),
        "opaque": lambda: objects.OpaqueObject(b"\x01\x02\x03", enums.OpaqueDataType.NONE),
        "split": lambda: _split_key("unused", 1),
    }[kind]()
    secret = ObjectFactory().convert(pie)
    template = cobjects.TemplateAttribute(
        attributes=[attribute(enums.AttributeType.NAME, fresh_name("proxy-reg"))]
    )
    registered = proxy.register(pie.object_type, template, secret)
    succeeded(registered)
    got = proxy.get(registered.uuid)
    succeeded(got)
    assert got.object_type == pie.object_type
    assert ObjectFactory().convert(got.secret).value == pie.value
    assert isinstance(SecretFactory().create(pie.object_type), type(got.secret))


def test_pykmip_default_names_collide(client: ProxyKmipClient) -> None:
    """PyKMIP's pie objects carry a default Name ("Symmetric Key", "Secret Data", ...), so two
    registrations without a name give two objects the same Name, which 3.2 forbids ("Names SHALL
    be unique within a given key management domain"): the second is Invalid Field."""
    default = attribute(enums.AttributeType.NAME, "Secret Data")
    for uid in client.locate(attributes=[default]):
        client.destroy(uid)  # an earlier run's, or another version's (destroyed names are free)
    first = client.register(objects.SecretData(b"one", enums.SecretDataType.PASSWORD))
    with pytest.raises(KmipOperationFailure) as refused:
        client.register(objects.SecretData(b"two", enums.SecretDataType.PASSWORD))
    assert refused.value.reason is enums.ResultReason.INVALID_FIELD
    assert "name" in str(refused.value.message).lower()
    client.destroy(first)
