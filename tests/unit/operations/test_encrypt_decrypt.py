"""Encrypt and Decrypt through the engine: the usage gate (Deactivated, mask, dates, Usage
Limits), wrong key types, missing IV, GCM failures without an oracle, Random IV, streams
(owned per caller, ended by failures), the ID Placeholder and Undo of an allocation."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    DecryptResponsePayload,
    EncryptResponsePayload,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
    UsageLimits,
)
from kmip_server.objects import first_value
from tests.unit.crypto.support import decrypt_item, encrypt_item, register_key
from tests.unit.engine.support import (
    NOW,
    Core,
    batch_item,
    create_item,
    payload_of,
    run_core,
    tenant,
)
from tests.unit.operations.attribute_support import failed, register_opaque
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    Operation,
    PaddingMethod,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    UsageLimitsUnit,
)

U = CryptographicUsageMask
R = ResultReason
KEY = bytes(range(32))
GCM = CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM)
CBC = CryptographicParameters(block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5)


async def encrypted(core: Core, uid: str, data: bytes, **fields: object) -> EncryptResponsePayload:
    return payload_of(await core.one(encrypt_item(uid, data, **fields)), EncryptResponsePayload)


async def decrypted(core: Core, uid: str, data: bytes, **fields: object) -> bytes:
    payload = payload_of(await core.one(decrypt_item(uid, data, **fields)), DecryptResponsePayload)
    assert payload.data is not None
    return payload.data


def revoke(uid: str) -> RequestBatchItem:
    reason = RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
    return batch_item(Operation.REVOKE, RevokeRequestPayload(unique_identifier=uid, revocation_reason=reason))


def test_server_encrypts_cryptography_decrypts_and_back(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        out = await encrypted(
            core, uid, b"plaintext", cryptographic_parameters=GCM, iv_counter_nonce=bytes(12)
        )
        assert out.data is not None
        assert out.authenticated_encryption_tag is not None
        assert (
            AESGCM(KEY).decrypt(bytes(12), out.data + out.authenticated_encryption_tag, None) == b"plaintext"
        )
        local = AESGCM(KEY).encrypt(b"n" * 12, b"from outside", b"aad")
        back = await decrypted(
            core,
            uid,
            local[:-16],
            cryptographic_parameters=GCM,
            iv_counter_nonce=b"n" * 12,
            authenticated_encryption_additional_data=b"aad",
            authenticated_encryption_tag=local[-16:],
        )
        assert back == b"from outside"

    run_core(tmp_path, scenario)


def test_a_deactivated_key_decrypts_but_does_not_encrypt(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        out = await encrypted(core, uid, b"before", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16))
        await core.ok(revoke(uid))
        answer = await failed(
            core,
            encrypt_item(uid, b"after", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.PERMISSION_DENIED,
        )
        assert answer.result_message is not None
        assert "Deactivated" in answer.result_message
        assert out.data is not None
        assert (
            await decrypted(core, uid, out.data, cryptographic_parameters=CBC, iv_counter_nonce=bytes(16))
            == b"before"
        )

    run_core(tmp_path, scenario)


def test_refusals_of_the_gate(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        decrypt_only = await register_key(core, KEY, mask=U.DECRYPT)
        answer = await failed(
            core,
            encrypt_item(decrypt_only, b"x" * 16, cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.PERMISSION_DENIED,
        )
        assert "Usage Mask does not allow encryption" in (answer.result_message or "")
        pre_active = await register_key(core, KEY, active=False)
        await failed(
            core,
            encrypt_item(pre_active, b"x", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.PERMISSION_DENIED,
        )
        stopped = await register_key(core, KEY, extra=(Attribute(name="Protect Stop Date", value=NOW - 1),))
        await failed(
            core,
            encrypt_item(stopped, b"x", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.PERMISSION_DENIED,
        )
        await failed(core, encrypt_item("no-such-object", b"x"), R.ITEM_NOT_FOUND)
        other_tenants = await register_key(core, KEY, peer=tenant("tenant-b"))
        await failed(
            core,
            encrypt_item(other_tenants, b"x", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.ITEM_NOT_FOUND,
        )

    run_core(tmp_path, scenario)


def test_wrong_key_types(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        hmac_key = await register_key(core, KEY, CryptographicAlgorithm.HMAC_SHA256)
        answer = await failed(
            core,
            encrypt_item(hmac_key, b"x" * 16, cryptographic_parameters=CBC, iv_counter_nonce=bytes(16)),
            R.PERMISSION_DENIED,
        )
        assert "block cipher" in (answer.result_message or "")
        aes = await register_key(core, KEY)
        other_algorithm = CryptographicParameters(
            block_cipher_mode=BlockCipherMode.ECB, cryptographic_algorithm=CryptographicAlgorithm.TRIPLE_DES
        )
        await failed(
            core, encrypt_item(aes, b"x" * 16, cryptographic_parameters=other_algorithm), R.PERMISSION_DENIED
        )
        opaque = await register_opaque(core)
        await failed(core, encrypt_item(opaque, b"x" * 16), R.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_missing_iv_and_gcm_tag_failure_without_oracle(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        missing = await failed(
            core, encrypt_item(uid, b"x" * 16, cryptographic_parameters=CBC), R.INVALID_MESSAGE
        )
        assert "missing IV" in (missing.result_message or "")
        out = await encrypted(core, uid, b"secret", cryptographic_parameters=GCM, iv_counter_nonce=bytes(12))
        assert out.data is not None
        assert out.authenticated_encryption_tag is not None
        bad_tag = await failed(
            core,
            decrypt_item(
                uid,
                out.data,
                cryptographic_parameters=GCM,
                iv_counter_nonce=bytes(12),
                authenticated_encryption_tag=bytes(16),
            ),
            R.CRYPTOGRAPHIC_FAILURE,
        )
        bad_iv = await failed(
            core,
            decrypt_item(
                uid,
                out.data,
                cryptographic_parameters=GCM,
                iv_counter_nonce=b"\x01" * 12,
                authenticated_encryption_tag=out.authenticated_encryption_tag,
            ),
            R.CRYPTOGRAPHIC_FAILURE,
        )
        assert bad_tag.result_message == bad_iv.result_message == "decryption failed"

    run_core(tmp_path, scenario)


def test_random_iv_from_the_keys_parameters(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        stored = CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM, random_iv=True, tag_length=12)
        uid = await register_key(core, KEY, parameters=stored)
        out = await encrypted(core, uid, b"message")
        assert out.iv_counter_nonce is not None
        assert len(out.iv_counter_nonce) == 12
        assert out.authenticated_encryption_tag is not None
        assert len(out.authenticated_encryption_tag) == 12
        assert out.data is not None
        back = await decrypted(
            core,
            uid,
            out.data,
            iv_counter_nonce=out.iv_counter_nonce,
            authenticated_encryption_tag=out.authenticated_encryption_tag,
        )
        assert back == b"message"

    run_core(tmp_path, scenario)


def test_usage_limits_exhausted(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        limits = Attribute(
            name="Usage Limits",
            value=UsageLimits(usage_limits_total=32, usage_limits_unit=UsageLimitsUnit.BYTE),
        )
        uid = await register_key(core, KEY, extra=(limits,))
        ecb = CryptographicParameters(block_cipher_mode=BlockCipherMode.ECB)
        await encrypted(core, uid, bytes(32), cryptographic_parameters=ecb)
        answer = await failed(
            core, encrypt_item(uid, bytes(16), cryptographic_parameters=ecb), R.PERMISSION_DENIED
        )
        assert "Usage Limits are exhausted" in (answer.result_message or "")

    run_core(tmp_path, scenario)


def test_a_failed_encrypt_gives_its_allocation_back(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        limits = Attribute(
            name="Usage Limits",
            value=UsageLimits(usage_limits_total=2, usage_limits_unit=UsageLimitsUnit.OBJECT),
        )
        uid = await register_key(core, KEY, extra=(limits,))
        await failed(
            core,
            encrypt_item(
                uid,
                b"not whole block",
                cryptographic_parameters=CryptographicParameters(block_cipher_mode=BlockCipherMode.ECB),
            ),
            R.INVALID_FIELD,
        )
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        stored = first_value(record.attributes, "Usage Limits")
        assert isinstance(stored, UsageLimits)
        assert stored.usage_limits_count == 2  # the failed item was compensated

    run_core(tmp_path, scenario)


def test_create_then_encrypt_through_the_id_placeholder(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            create_item(),
            batch_item(
                Operation.ACTIVATE,
                __import__(
                    "kmip_server.model", fromlist=["UniqueIdentifierRequestPayload"]
                ).UniqueIdentifierRequestPayload(),
            ),
            encrypt_item(
                None,
                b"z" * 16,
                cryptographic_parameters=CryptographicParameters(block_cipher_mode=BlockCipherMode.ECB),
            ),
            batch_error_continuation_option=BatchErrorContinuationOption.STOP,
        )
        assert [item.result_status for item in response.batch_items] == [ResultStatus.SUCCESS] * 3

    run_core(tmp_path, scenario)


def test_streaming_encrypt_and_decrypt(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        message = bytes(range(200))
        first = await encrypted(
            core,
            uid,
            message[:50],
            cryptographic_parameters=CBC,
            iv_counter_nonce=bytes(16),
            init_indicator=True,
        )
        correlation = first.correlation_value
        assert correlation is not None
        # Another caller, even of the same tenant, cannot continue it.
        await failed(
            core,
            encrypt_item(uid, b"x", correlation_value=correlation),
            R.ITEM_NOT_FOUND,
            tenant("tenant-a", "other"),
        )
        middle = await encrypted(core, uid, message[50:120], correlation_value=correlation)
        assert middle.correlation_value == correlation
        last = await encrypted(core, uid, message[120:], correlation_value=correlation, final_indicator=True)
        assert last.correlation_value is None
        ciphertext = (first.data or b"") + (middle.data or b"") + (last.data or b"")
        assert (
            await decrypted(core, uid, ciphertext, cryptographic_parameters=CBC, iv_counter_nonce=bytes(16))
            == message
        )
        # The stream ended: its Correlation Value is no longer known.
        await failed(
            core,
            encrypt_item(uid, b"x", correlation_value=correlation, final_indicator=True),
            R.ITEM_NOT_FOUND,
        )

        start = payload_of(
            await core.one(
                decrypt_item(
                    uid,
                    ciphertext[:33],
                    cryptographic_parameters=CBC,
                    iv_counter_nonce=bytes(16),
                    init_indicator=True,
                )
            ),
            DecryptResponsePayload,
        )
        assert start.correlation_value is not None
        end = await decrypted(
            core, uid, ciphertext[33:], correlation_value=start.correlation_value, final_indicator=True
        )
        assert (start.data or b"") + end == message

    run_core(tmp_path, scenario)


def test_a_key_revoked_mid_stream_stops_the_encryption(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        first = await encrypted(
            core,
            uid,
            b"a" * 16,
            cryptographic_parameters=CBC,
            iv_counter_nonce=bytes(16),
            init_indicator=True,
        )
        await core.ok(revoke(uid))
        await failed(
            core,
            encrypt_item(uid, b"b", correlation_value=first.correlation_value, final_indicator=True),
            R.PERMISSION_DENIED,
        )

    run_core(tmp_path, scenario)


def test_gcm_needs_kmip_1_4(tmp_path: Path) -> None:
    """Before 1.4 no response field carries the tag: GCM is refused, CBC still served."""

    async def scenario(core: Core) -> None:
        uid = await register_key(core, KEY)
        item = encrypt_item(uid, b"data", cryptographic_parameters=GCM, iv_counter_nonce=bytes(12))
        answer = (await core.send(item, version=(1, 2))).batch_items[0]
        assert answer.result_reason is R.FEATURE_NOT_SUPPORTED
        cbc = encrypt_item(uid, b"data", cryptographic_parameters=CBC, iv_counter_nonce=bytes(16))
        assert (await core.send(cbc, version=(1, 2))).batch_items[0].result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)
