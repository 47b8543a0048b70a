"""Get (4.11): formats, key wrapping with another managed AES key (checked by unwrapping here
with cryptography), and the refusals of 11.12."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_unwrap_with_padding

import ttlv
from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    CryptographicParameters,
    EncryptionKeyInformation,
    GetRequestPayload,
    KeyBlock,
    KeyValue,
    KeyWrappingSpecification,
    Name,
    RegisterRequestPayload,
    SecretData,
    TemplateAttribute,
    TransparentSymmetricKey,
)
from kmip_server.model.codec import decode_struct
from kmip_server.objects import first_value
from tests.unit.engine.support import (
    Core,
    batch_item,
    create_aes,
    run_core,
    tenant,
    uid_item,
)
from tests.unit.operations.attribute_support import add, delete, name, shown
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    EncodingOption,
    KeyCompressionType,
    KeyFormatType,
    KeyWrapType,
    NameType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    SecretDataType,
    WrappingMethod,
)

WRAP = CryptographicUsageMask.WRAP_KEY | CryptographicUsageMask.UNWRAP_KEY


def get(uid: str, **fields: Any) -> Any:
    return batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid, **fields))


def wrapping(kek: str, *, mode: BlockCipherMode | None = None, **fields: Any) -> KeyWrappingSpecification:
    parameters = CryptographicParameters(block_cipher_mode=mode) if mode is not None else None
    return KeyWrappingSpecification(
        wrapping_method=fields.pop("method", WrappingMethod.ENCRYPT),
        encryption_key_information=EncryptionKeyInformation(
            unique_identifier=kek, cryptographic_parameters=parameters
        ),
        **fields,
    )


async def raw_key(core: Core, uid: str) -> bytes:
    payload = await core.ok(get(uid))
    material: bytes = payload.managed_object.key_block.key_value.key_material
    return material


async def active_kek(core: Core, peer: Any = None, mask: CryptographicUsageMask = WRAP) -> str:
    kek = await create_aes(core, peer, mask=mask)
    await core.ok(uid_item(Operation.ACTIVATE, kek), peer)
    return kek


async def register_secret(core: Core, data: bytes) -> str:
    secret = SecretData(
        secret_data_type=SecretDataType.PASSWORD,
        key_block=KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=data)),
    )
    payload = await core.ok(
        batch_item(
            Operation.REGISTER,
            RegisterRequestPayload(
                object_type=ObjectType.SECRET_DATA,
                template_attribute=TemplateAttribute(),
                managed_object=secret,
            ),
        )
    )
    uid: str = payload.unique_identifier
    return uid


def test_raw_and_transparent_formats(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        key = await raw_key(core, uid)
        transparent = await core.ok(get(uid, key_format_type=KeyFormatType.TRANSPARENT_SYMMETRIC_KEY))
        block = transparent.managed_object.key_block
        assert block.key_format_type is KeyFormatType.TRANSPARENT_SYMMETRIC_KEY
        assert block.key_value.key_material == TransparentSymmetricKey(key=key)
        same = await core.ok(
            get(uid, key_format_type=KeyFormatType.RAW, key_wrap_type=KeyWrapType.NOT_WRAPPED)
        )
        assert same.managed_object.key_block.key_value.key_material == key
        for refused, reason in (
            ({"key_format_type": KeyFormatType.PKCS_8}, ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED),
            (
                {"key_compression_type": KeyCompressionType.EC_PUBLIC_KEY_TYPE_UNCOMPRESSED},
                ResultReason.KEY_COMPRESSION_TYPE_NOT_SUPPORTED,
            ),
        ):
            answer = await core.one(get(uid, **refused))
            assert answer.result_reason is reason

    run_core(tmp_path, scenario)


def test_wrapped_with_nist_key_wrap_ttlv_encoded(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        kek_uid = await active_kek(core)
        uid = await create_aes(core)
        key, kek = await raw_key(core, uid), await raw_key(core, kek_uid)
        payload = await core.ok(
            get(uid, key_wrapping_specification=wrapping(kek_uid, attribute_names=("Cryptographic Length",)))
        )
        block = payload.managed_object.key_block
        assert isinstance(block.key_value, bytes)
        assert key not in block.key_value
        assert block.key_wrapping_data.wrapping_method is WrappingMethod.ENCRYPT
        assert block.key_wrapping_data.encryption_key_information.unique_identifier == kek_uid
        assert block.key_format_type is KeyFormatType.RAW
        value = decode_struct(KeyValue, ttlv.decode(aes_key_unwrap(kek, block.key_value)))
        assert value.key_material == key
        assert [(a.name, a.value) for a in value.attributes] == [("Cryptographic Length", 256)]

    run_core(tmp_path, scenario)


def test_wrapped_attributes_keep_their_stored_indices(tmp_path: Path) -> None:
    """The attributes a wrapped Key Value carries are presented as Get Attributes presents them
    (attribute_policy.presented): after instance 0 of a Name is deleted, the remaining one is
    still index 1 (2.1.1)."""

    async def scenario(core: Core) -> None:
        kek_uid = await active_kek(core)
        uid = await create_aes(core, name="first")
        await core.ok(add(uid, name("second")))
        await core.ok(delete(uid, "Name", 0))
        kek = await raw_key(core, kek_uid)
        payload = await core.ok(
            get(uid, key_wrapping_specification=wrapping(kek_uid, attribute_names=("Name",)))
        )
        value = decode_struct(
            KeyValue, ttlv.decode(aes_key_unwrap(kek, payload.managed_object.key_block.key_value))
        )
        second = Name(name_value="second", name_type=NameType.UNINTERPRETED_TEXT_STRING)
        assert [(a.index, a.value) for a in value.attributes] == [(1, second)]
        assert list(value.attributes) == (await shown(core, uid, "Name"))["Name"]

    run_core(tmp_path, scenario)


def test_wrapped_without_encoding_and_with_padding(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        kek_uid = await active_kek(core)
        kek = await raw_key(core, kek_uid)
        uid = await create_aes(core)
        key = await raw_key(core, uid)
        bare = await core.ok(
            get(uid, key_wrapping_specification=wrapping(kek_uid, encoding_option=EncodingOption.NO_ENCODING))
        )
        wrapped = bare.managed_object.key_block.key_value
        assert aes_key_unwrap(kek, wrapped) == key
        assert bare.managed_object.key_block.key_wrapping_data.encoding_option is EncodingOption.NO_ENCODING
        # No Encoding with attribute names: Encoding Option Error (11.12).
        mixed = await core.one(
            get(
                uid,
                key_wrapping_specification=wrapping(
                    kek_uid, encoding_option=EncodingOption.NO_ENCODING, attribute_names=("Name",)
                ),
            )
        )
        assert mixed.result_reason is ResultReason.ENCODING_OPTION_ERROR
        # A 5-byte secret: NIST key wrap cannot take it, AES key wrap with padding can.
        secret = await register_secret(core, b"hello")
        spec = wrapping(kek_uid, encoding_option=EncodingOption.NO_ENCODING)
        nist = await core.one(get(secret, key_wrapping_specification=spec))
        assert nist.result_reason is ResultReason.CRYPTOGRAPHIC_FAILURE
        padded = await core.ok(
            get(
                secret,
                key_wrapping_specification=wrapping(
                    kek_uid,
                    mode=BlockCipherMode.AESKEYWRAPPADDING,
                    encoding_option=EncodingOption.NO_ENCODING,
                ),
            )
        )
        assert aes_key_unwrap_with_padding(kek, padded.managed_object.key_block.key_value) == b"hello"

    run_core(tmp_path, scenario)


def test_wrapping_key_refusals(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await create_aes(core)
        missing = "0b7a39a2-6d5e-4a70-9d64-000000000000"
        theirs = await active_kek(core, tenant("tenant-b"))
        secret = await register_secret(core, bytes(32))
        hmac = (
            await core.ok(
                batch_item(
                    Operation.CREATE,
                    CreateRequestPayload(
                        object_type=ObjectType.SYMMETRIC_KEY,
                        template_attribute=TemplateAttribute(
                            attributes=(
                                Attribute(
                                    name="Cryptographic Algorithm", value=CryptographicAlgorithm.HMAC_SHA256
                                ),
                                Attribute(name="Cryptographic Length", value=256),
                                Attribute(name="Cryptographic Usage Mask", value=WRAP),
                            )
                        ),
                    ),
                )
            )
        ).unique_identifier
        await core.ok(uid_item(Operation.ACTIVATE, hmac))
        no_wrap_mask = await active_kek(core, mask=CryptographicUsageMask.ENCRYPT)
        pre_active = await create_aes(core, mask=WRAP)
        cases = {
            missing: ResultReason.ITEM_NOT_FOUND,
            theirs: ResultReason.ITEM_NOT_FOUND,
            secret: ResultReason.ILLEGAL_OPERATION,
            hmac: ResultReason.PERMISSION_DENIED,
            no_wrap_mask: ResultReason.PERMISSION_DENIED,
            pre_active: ResultReason.PERMISSION_DENIED,
        }
        messages = set()
        for kek, reason in cases.items():
            answer = await core.one(get(uid, key_wrapping_specification=wrapping(kek)))
            assert answer.result_status is ResultStatus.OPERATION_FAILED
            assert answer.result_reason is reason, (kek, answer.result_message)
            if reason is ResultReason.ITEM_NOT_FOUND:
                messages.add(answer.result_message)
        assert len(messages) == 1  # another tenant's key reads exactly like a missing one
        kek = await active_kek(core)
        mac = await core.one(
            get(uid, key_wrapping_specification=wrapping(kek, method=WrappingMethod.MAC_SIGN))
        )
        assert mac.result_reason is ResultReason.FEATURE_NOT_SUPPORTED
        odd_mode = await core.one(
            get(uid, key_wrapping_specification=wrapping(kek, mode=BlockCipherMode.GCM))
        )
        assert odd_mode.result_reason is ResultReason.FEATURE_NOT_SUPPORTED

    run_core(tmp_path, scenario)


def test_sensitive_extractable_fresh_destroyed(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        kek = await active_kek(core)
        sensitive = await create_aes(core, extra=(Attribute(name="Sensitive", value=True),))
        answer = await core.one(get(sensitive))
        assert answer.result_reason is ResultReason.SENSITIVE
        assert (
            await core.one(get(sensitive, key_wrapping_specification=wrapping(kek)))
        ).result_status is ResultStatus.SUCCESS
        record = await core.store.get("tenant-a", sensitive)
        assert record is not None
        assert first_value(record.attributes, "Always Sensitive") is True

        locked = await create_aes(core, extra=(Attribute(name="Extractable", value=False),))
        for request in (get(locked), get(locked, key_wrapping_specification=wrapping(kek))):
            assert (await core.one(request)).result_reason is ResultReason.NOT_EXTRACTABLE

        fresh = await create_aes(core)
        record = await core.store.get("tenant-a", fresh)
        assert record is not None
        assert first_value(record.attributes, "Fresh") is True
        await core.ok(get(fresh))
        record = await core.store.get("tenant-a", fresh)
        assert record is not None
        assert first_value(record.attributes, "Fresh") is False

        await core.ok(uid_item(Operation.DESTROY, fresh))
        gone = await core.one(get(fresh))
        assert gone.result_reason is ResultReason.ILLEGAL_OPERATION

    run_core(tmp_path, scenario)
