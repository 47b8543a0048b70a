"""Symmetric cryptography through PyKMIP's client against a live Core: Encrypt and Decrypt
(AES GCM/CBC/CTR/ECB and the legacy ciphers PyKMIP's own server offers: 3DES, Blowfish, IDEA,
CAST5) cross-checked with ``cryptography`` both ways, Random IV, MAC (HMAC and the RFC 4231
answer), Derive Key, and the refusals a client sees (missing IV, a tag that does not verify,
a key without Encrypt in its mask, a Deactivated key).

PyKMIP's ``encrypt``/``decrypt`` carry no GCM tag or AAD (its client has no such arguments), so
GCM is exercised through PyKMIP's message classes with the tag and AAD added by ``ttlv`` (the
``raw`` connection), and through our own client in ``test_gcm_through_our_client``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers import algorithms as legacy
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kmip.core import enums
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

from kmip_server.client import KmipClient, client_context
from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    DecryptRequestPayload,
    DecryptResponsePayload,
    EncryptRequestPayload,
    EncryptResponsePayload,
    KeyBlock,
    KeyValue,
    ProtocolVersion,
    RegisterRequestPayload,
    RegisterResponsePayload,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    SymmetricKey,
    TemplateAttribute,
)
from tests.integration.pykmip.helpers import fresh_name
from tests.support.server import CoreProcess
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultStatus,
)

pytestmark = pytest.mark.integration

E = enums
MASK = [E.CryptographicUsageMask.ENCRYPT, E.CryptographicUsageMask.DECRYPT]


def _active_key(
    client: ProxyKmipClient,
    algorithm: enums.CryptographicAlgorithm,
    key: bytes,
    mask: list[enums.CryptographicUsageMask] | None = None,
) -> str:
    uid: str = client.register(
        objects.SymmetricKey(algorithm, len(key) * 8, key, masks=mask or MASK, name=fresh_name("crypto"))
    )
    client.activate(uid)
    return uid


def _local(algorithm: object, mode: modes.Mode, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher: Cipher[Any] = Cipher(algorithm, mode)  # type: ignore[arg-type]
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    return context.update(data) + context.finalize()


def test_aes_cbc_pkcs5_both_ways(client: ProxyKmipClient) -> None:
    key, iv = os.urandom(32), os.urandom(16)
    uid = _active_key(client, E.CryptographicAlgorithm.AES, key)
    parameters = {"block_cipher_mode": E.BlockCipherMode.CBC, "padding_method": E.PaddingMethod.PKCS5}
    message = b"attack at dawn, with padding"
    encrypted, generated = client.encrypt(
        message, uid=uid, cryptographic_parameters=parameters, iv_counter_nonce=iv
    )
    assert generated is None
    padder = padding.PKCS7(128).unpadder()
    local = _local(algorithms.AES(key), modes.CBC(iv), encrypted, decrypt=True)
    assert padder.update(local) + padder.finalize() == message
    padder = padding.PKCS7(128).padder()
    theirs = _local(algorithms.AES(key), modes.CBC(iv), padder.update(b"from outside") + padder.finalize())
    assert (
        client.decrypt(theirs, uid=uid, cryptographic_parameters=parameters, iv_counter_nonce=iv)
        == b"from outside"
    )


def test_aes_ctr_and_ecb(client: ProxyKmipClient) -> None:
    key, counter = os.urandom(16), os.urandom(16)
    uid = _active_key(client, E.CryptographicAlgorithm.AES, key)
    encrypted, _ = client.encrypt(
        b"stream of bytes",
        uid=uid,
        cryptographic_parameters={"block_cipher_mode": E.BlockCipherMode.CTR},
        iv_counter_nonce=counter,
    )
    assert encrypted == _local(algorithms.AES(key), modes.CTR(counter), b"stream of bytes")
    block = os.urandom(32)
    encrypted, _ = client.encrypt(
        block, uid=uid, cryptographic_parameters={"block_cipher_mode": E.BlockCipherMode.ECB}
    )
    assert encrypted == _local(algorithms.AES(key), modes.ECB(), block)


def test_random_iv_is_returned(client: ProxyKmipClient) -> None:
    key = os.urandom(16)
    uid = _active_key(client, E.CryptographicAlgorithm.AES, key)
    parameters = {
        "block_cipher_mode": E.BlockCipherMode.CBC,
        "padding_method": E.PaddingMethod.PKCS5,
        "random_iv": True,
    }
    encrypted, iv = client.encrypt(b"needs an iv", uid=uid, cryptographic_parameters=parameters)
    assert iv is not None
    assert len(iv) == 16
    assert (
        client.decrypt(encrypted, uid=uid, cryptographic_parameters=parameters, iv_counter_nonce=iv)
        == b"needs an iv"
    )


@pytest.mark.parametrize(
    ("algorithm", "make", "key_length"),
    [
        (E.CryptographicAlgorithm.TRIPLE_DES, legacy.TripleDES, 24),
        (E.CryptographicAlgorithm.BLOWFISH, legacy.Blowfish, 16),
        (E.CryptographicAlgorithm.IDEA, legacy.IDEA, 16),
        (E.CryptographicAlgorithm.CAST5, legacy.CAST5, 16),
    ],
)
def test_legacy_ciphers(
    client: ProxyKmipClient, algorithm: enums.CryptographicAlgorithm, make: type, key_length: int
) -> None:
    key, iv = os.urandom(key_length), os.urandom(8)
    uid = _active_key(client, algorithm, key)
    parameters = {"block_cipher_mode": E.BlockCipherMode.CBC, "padding_method": E.PaddingMethod.NONE}
    data = os.urandom(24)
    encrypted, _ = client.encrypt(data, uid=uid, cryptographic_parameters=parameters, iv_counter_nonce=iv)
    assert encrypted == _local(make(key), modes.CBC(iv), data)
    assert (
        client.decrypt(encrypted, uid=uid, cryptographic_parameters=parameters, iv_counter_nonce=iv) == data
    )


def test_refusals_a_client_sees(client: ProxyKmipClient) -> None:
    key = os.urandom(16)
    uid = _active_key(client, E.CryptographicAlgorithm.AES, key)
    cbc = {"block_cipher_mode": E.BlockCipherMode.CBC, "padding_method": E.PaddingMethod.PKCS5}
    with pytest.raises(KmipOperationFailure) as missing_iv:
        client.encrypt(b"data", uid=uid, cryptographic_parameters=cbc)
    assert missing_iv.value.reason is E.ResultReason.INVALID_MESSAGE
    decrypt_only = _active_key(client, E.CryptographicAlgorithm.AES, key, [E.CryptographicUsageMask.DECRYPT])
    with pytest.raises(KmipOperationFailure) as no_encrypt:
        client.encrypt(b"data", uid=decrypt_only, cryptographic_parameters=cbc, iv_counter_nonce=bytes(16))
    assert no_encrypt.value.reason is E.ResultReason.PERMISSION_DENIED
    encrypted, _ = client.encrypt(b"data", uid=uid, cryptographic_parameters=cbc, iv_counter_nonce=bytes(16))
    client.revoke(E.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    with pytest.raises(KmipOperationFailure) as deactivated:
        client.encrypt(b"data", uid=uid, cryptographic_parameters=cbc, iv_counter_nonce=bytes(16))
    assert deactivated.value.reason is E.ResultReason.PERMISSION_DENIED
    assert (
        client.decrypt(encrypted, uid=uid, cryptographic_parameters=cbc, iv_counter_nonce=bytes(16))
        == b"data"
    )


def test_hmac_rfc4231_and_a_key_without_mac_usage(client: ProxyKmipClient) -> None:
    key = b"\x0b" * 20
    uid = _active_key(
        client, E.CryptographicAlgorithm.HMAC_SHA256, key, [E.CryptographicUsageMask.MAC_GENERATE]
    )
    mac_uid, mac = client.mac(b"Hi There", uid=uid, algorithm=E.CryptographicAlgorithm.HMAC_SHA256)
    assert mac_uid == uid
    assert mac == bytes.fromhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    message = os.urandom(100)
    _, mac = client.mac(message, uid=uid, algorithm=E.CryptographicAlgorithm.HMAC_SHA256)
    assert mac == hmac.digest(key, message, hashlib.sha256)
    no_mac = _active_key(client, E.CryptographicAlgorithm.HMAC_SHA256, key)
    with pytest.raises(KmipOperationFailure) as refused:
        client.mac(message, uid=no_mac, algorithm=E.CryptographicAlgorithm.HMAC_SHA256)
    assert refused.value.reason is E.ResultReason.PERMISSION_DENIED


def test_derive_key_pbkdf2(client: ProxyKmipClient) -> None:
    password = b"a password held by the server"
    base = _active_key(
        client, E.CryptographicAlgorithm.HMAC_SHA256, password, [E.CryptographicUsageMask.DERIVE_KEY]
    )
    derived = client.derive_key(
        E.ObjectType.SYMMETRIC_KEY,
        [base],
        E.DerivationMethod.PBKDF2,
        {
            "cryptographic_parameters": {"hashing_algorithm": E.HashingAlgorithm.SHA_256},
            "salt": b"some salt",
            "iteration_count": 1000,
        },
        cryptographic_algorithm=E.CryptographicAlgorithm.AES,
        cryptographic_length=256,
    )
    expected = hashlib.pbkdf2_hmac("sha256", password, b"some salt", 1000, 32)
    assert client.get(derived).value == expected


async def _call(ours: KmipClient, operation: Operation, payload: Any) -> object:
    request = RequestMessage(
        request_header=RequestHeader(protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1),
        batch_items=(RequestBatchItem(operation=operation, request_payload=payload),),
    )
    answer = (await ours.send(request)).batch_items[0]
    assert answer.result_status is ResultStatus.SUCCESS, (answer.result_reason, answer.result_message)
    return answer.response_payload


def test_gcm_through_our_client(core_server: CoreProcess) -> None:
    """GCM with AAD and tag (PyKMIP's client cannot carry them), cross-checked both ways."""
    tenant = core_server.tenant("acme")
    context = client_context(core_server.ca_file, tenant.certificate, tenant.key)
    key = os.urandom(32)
    gcm = CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM, tag_length=16)

    async def scenario() -> None:
        async with await KmipClient.connect(core_server.host, core_server.port, context) as ours:
            block = KeyBlock(
                key_format_type=KeyFormatType.RAW,
                key_value=KeyValue(key_material=key),
                cryptographic_algorithm=CryptographicAlgorithm.AES,
                cryptographic_length=256,
            )
            mask = CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
            template = TemplateAttribute(
                attributes=(
                    Attribute(name="Cryptographic Usage Mask", value=mask),
                    Attribute(name="Activation Date", value=1),
                )
            )
            registered = await _call(
                ours,
                Operation.REGISTER,
                RegisterRequestPayload(
                    object_type=ObjectType.SYMMETRIC_KEY,
                    template_attribute=template,
                    managed_object=SymmetricKey(key_block=block),
                ),
            )
            assert isinstance(registered, RegisterResponsePayload)
            uid = registered.unique_identifier
            out = await _call(
                ours,
                Operation.ENCRYPT,
                EncryptRequestPayload(
                    unique_identifier=uid,
                    cryptographic_parameters=gcm,
                    data=b"payload",
                    iv_counter_nonce=bytes(12),
                    authenticated_encryption_additional_data=b"aad",
                ),
            )
            assert isinstance(out, EncryptResponsePayload)
            assert out.data is not None
            assert out.authenticated_encryption_tag is not None
            assert (
                AESGCM(key).decrypt(bytes(12), out.data + out.authenticated_encryption_tag, b"aad")
                == b"payload"
            )
            local = AESGCM(key).encrypt(b"n" * 12, b"local text", b"more aad")
            back = await _call(
                ours,
                Operation.DECRYPT,
                DecryptRequestPayload(
                    unique_identifier=uid,
                    cryptographic_parameters=gcm,
                    data=local[:-16],
                    iv_counter_nonce=b"n" * 12,
                    authenticated_encryption_additional_data=b"more aad",
                    authenticated_encryption_tag=local[-16:],
                ),
            )
            assert isinstance(back, DecryptResponsePayload)
            assert back.data == b"local text"

    asyncio.run(scenario())
