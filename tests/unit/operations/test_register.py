"""Register (4.3): every supported object type is stored as given and served back in that
format, with the server-set attributes of 3.17 and 3.8-3.12; the refusals of 11.4."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kmip_server.model import (
    Attribute,
    Certificate,
    Digest,
    GetRequestPayload,
    KeyBlock,
    KeyValue,
    KeyWrappingData,
    ManagedObject,
    OpaqueObject,
    PrivateKey,
    PublicKey,
    RegisterRequestPayload,
    SecretData,
    SplitKey,
    SymmetricKey,
    Template,
    TemplateAttribute,
    TransparentSymmetricKey,
    X509CertificateIdentifier,
    object_type_of,
)
from kmip_server.objects import first_value
from kmip_server.storage.objects import LocateQuery
from tests.unit.engine.support import Core, batch_item, run_core, tenant
from ttlv.kmip14 import (
    CertificateType,
    CryptographicAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    SecretDataType,
    SplitKeyMethod,
    State,
    WrappingMethod,
)

OPAQUE_EXTENSION_TYPE: Any = 0x80000001  # an extension Opaque Data Type: a plain int (OMOS-M-1-14)


def register(
    managed_object: ManagedObject, *attributes: Attribute, object_type: ObjectType | None = None
) -> Any:
    return batch_item(
        Operation.REGISTER,
        RegisterRequestPayload(
            object_type=object_type or object_type_of(managed_object),
            template_attribute=TemplateAttribute(attributes=attributes),
            managed_object=managed_object,
        ),
    )


def key_block(
    material: Any, fmt: KeyFormatType, algorithm: CryptographicAlgorithm | None, length: int | None
) -> KeyBlock:
    return KeyBlock(
        key_format_type=fmt,
        key_value=KeyValue(key_material=material),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )


def certificate_der() -> bytes:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "register test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(0x0102)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def samples() -> dict[str, ManagedObject]:
    private = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "symmetric raw": SymmetricKey(
            key_block=key_block(bytes(range(32)), KeyFormatType.RAW, CryptographicAlgorithm.AES, 256)
        ),
        "symmetric transparent": SymmetricKey(
            key_block=key_block(
                TransparentSymmetricKey(key=bytes(16)),
                KeyFormatType.TRANSPARENT_SYMMETRIC_KEY,
                CryptographicAlgorithm.AES,
                128,
            )
        ),
        "secret data": SecretData(
            secret_data_type=SecretDataType.PASSWORD,
            key_block=key_block(b"correct horse", KeyFormatType.OPAQUE, None, None),
        ),
        "opaque": OpaqueObject(opaque_data_type=OPAQUE_EXTENSION_TYPE, opaque_data_value=b"SecretPassword"),
        "certificate": Certificate(
            certificate_type=CertificateType.X_509, certificate_value=certificate_der()
        ),
        "public key": PublicKey(
            key_block=key_block(spki, KeyFormatType.X_509, CryptographicAlgorithm.EC, 256)
        ),
        "private key": PrivateKey(
            key_block=key_block(pkcs8, KeyFormatType.PKCS_8, CryptographicAlgorithm.EC, 256)
        ),
        "split key": SplitKey(
            split_key_parts=3,
            key_part_identifier=1,
            split_key_threshold=2,
            split_key_method=SplitKeyMethod.XOR,
            key_block=key_block(bytes(32), KeyFormatType.RAW, CryptographicAlgorithm.AES, 256),
        ),
        "wrapped symmetric": SymmetricKey(
            key_block=KeyBlock(
                key_format_type=KeyFormatType.RAW,
                key_value=b"\x11" * 40,
                cryptographic_algorithm=CryptographicAlgorithm.AES,
                cryptographic_length=256,
                key_wrapping_data=KeyWrappingData(wrapping_method=WrappingMethod.ENCRYPT),
            )
        ),
    }


def test_each_object_type_round_trips_as_registered(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        for label, managed_object in samples().items():
            payload = await core.ok(register(managed_object))
            uid = payload.unique_identifier
            got = await core.ok(batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)))
            assert got.object_type is object_type_of(managed_object), label
            assert got.managed_object == managed_object, label
            record = await core.store.get("tenant-a", uid)
            assert record is not None
            assert record.material is not None
            assert record.state is State.PRE_ACTIVE
            digest = first_value(record.attributes, "Digest")
            assert isinstance(digest, Digest), label
            assert digest.hashing_algorithm is HashingAlgorithm.SHA_256
            assert first_value(record.attributes, "Initial Date") is not None
            assert (
                first_value(record.attributes, "Original Creation Date") is None
            )  # generating operations only

    run_core(tmp_path, scenario)


def test_digests_follow_the_registered_format(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        objects = samples()
        expected = {
            "symmetric raw": (hashlib.sha256(bytes(range(32))).digest(), KeyFormatType.RAW),
            "secret data": (hashlib.sha256(b"correct horse").digest(), KeyFormatType.OPAQUE),
            "opaque": (hashlib.sha256(b"SecretPassword").digest(), None),
            "wrapped symmetric": (hashlib.sha256(b"\x11" * 40).digest(), KeyFormatType.RAW),
        }
        for label, (value, fmt) in expected.items():
            uid = (await core.ok(register(objects[label]))).unique_identifier
            record = await core.store.get("tenant-a", uid)
            assert record is not None
            digest = first_value(record.attributes, "Digest")
            assert isinstance(digest, Digest)
            assert (digest.digest_value, digest.key_format_type) == (value, fmt), label

    run_core(tmp_path, scenario)


def test_certificate_attributes(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        der = certificate_der()
        uid = (
            await core.ok(
                register(Certificate(certificate_type=CertificateType.X_509, certificate_value=der))
            )
        ).unique_identifier
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert first_value(record.attributes, "Certificate Type") is CertificateType.X_509
        assert first_value(record.attributes, "Certificate Length") == len(der)
        identifier = first_value(record.attributes, "X.509 Certificate Identifier")
        assert isinstance(identifier, X509CertificateIdentifier)
        assert identifier.certificate_serial_number == b"\x01\x02"
        parsed = x509.load_der_x509_certificate(der)
        assert identifier.issuer_distinguished_name == parsed.issuer.public_bytes()
        bad = await core.one(
            register(Certificate(certificate_type=CertificateType.X_509, certificate_value=b"not DER"))
        )
        assert bad.result_reason is ResultReason.INVALID_FIELD

    run_core(tmp_path, scenario)


def test_refusals(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = samples()["symmetric raw"]
        mismatch = await core.one(register(key, object_type=ObjectType.SECRET_DATA))
        assert mismatch.result_reason is ResultReason.INVALID_FIELD
        contradiction = await core.one(register(key, Attribute(name="Cryptographic Length", value=128)))
        assert contradiction.result_reason is ResultReason.INVALID_FIELD
        template = Template(attributes=(Attribute(name="Cryptographic Length", value=128),))
        assert (await core.one(register(template))).result_reason is ResultReason.FEATURE_NOT_SUPPORTED
        present = await core.one(register(key, Attribute(name="Key Value Present", value=True)))
        assert present.result_reason is ResultReason.INVALID_FIELD
        assert not await core.store.find("tenant-a", LocateQuery())
        # Tenant isolation holds for registered objects too.
        uid = (await core.ok(register(key))).unique_identifier
        other = await core.one(
            batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)), tenant("tenant-b")
        )
        assert other.result_reason is ResultReason.ITEM_NOT_FOUND
        assert other.result_status is ResultStatus.OPERATION_FAILED

    run_core(tmp_path, scenario)
