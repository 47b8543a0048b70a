"""loadtests.bench_crypto without a network: the request bytes are the KMIP 1.4 Encrypt/MAC the
table says, and the answer checks accept a correct response and refuse a wrong one."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.model import (
    EncryptRequestPayload,
    EncryptResponsePayload,
    MACRequestPayload,
    MACResponsePayload,
    ProtocolVersion,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    SignRequestPayload,
    decode_request,
    response_to_bytes,
)
from loadtests.bench_crypto import AES_KEY, HMAC_KEY, LARGE, SMALL, workloads
from ttlv import decode
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    Operation,
    ResultReason,
    ResultStatus,
)


def _response(operation: Operation, payload: object, status: ResultStatus = ResultStatus.SUCCESS) -> bytes:
    item = ResponseBatchItem(
        operation=operation,
        result_status=status,
        result_reason=None if status is ResultStatus.SUCCESS else ResultReason.PERMISSION_DENIED,
        response_payload=payload if status is ResultStatus.SUCCESS else None,  # type: ignore[arg-type]
    )
    header = ResponseHeader(protocol_version=ProtocolVersion(major=1, minor=4), time_stamp=0, batch_count=1)
    return response_to_bytes(ResponseMessage(response_header=header, batch_items=(item,)))


def test_the_requests() -> None:
    table = workloads()
    assert set(table) == {"gcm-64", "gcm-4k", "hmac", "ecdsa-p256"}
    for name, size in (("gcm-64", SMALL), ("gcm-4k", LARGE)):
        message = decode_request(decode(table[name].request("uid-1")))
        assert message.request_header.protocol_version.minor == 4  # GCM's tag exists from 1.4
        payload = message.batch_items[0].request_payload
        assert isinstance(payload, EncryptRequestPayload)
        assert payload.data == bytes(size)
        assert payload.iv_counter_nonce is None  # the server chooses (Random IV)
        parameters = payload.cryptographic_parameters
        assert parameters is not None
        assert parameters.block_cipher_mode is BlockCipherMode.GCM
        assert parameters.random_iv is True
        assert parameters.tag_length == 16
    mac = decode_request(decode(table["hmac"].request("uid-2"))).batch_items[0].request_payload
    assert isinstance(mac, MACRequestPayload)
    assert mac.cryptographic_parameters is not None
    assert mac.cryptographic_parameters.cryptographic_algorithm is CryptographicAlgorithm.HMAC_SHA256
    sign = decode_request(decode(table["ecdsa-p256"].request("uid-3"))).batch_items[0].request_payload
    assert isinstance(sign, SignRequestPayload)
    sign_parameters = sign.cryptographic_parameters
    assert sign_parameters is not None
    assert sign_parameters.digital_signature_algorithm is DigitalSignatureAlgorithm.ECDSA_WITH_SHA256


def test_the_checks() -> None:
    table = workloads()
    iv = bytes(range(12))
    sealed = AESGCM(AES_KEY).encrypt(iv, bytes(SMALL), None)
    good = EncryptResponsePayload(
        unique_identifier="u",
        data=sealed[:-16],
        iv_counter_nonce=iv,
        authenticated_encryption_tag=sealed[-16:],
    )
    assert table["gcm-64"].check(_response(Operation.ENCRYPT, good)) is None
    assert table["gcm-4k"].check(_response(Operation.ENCRYPT, good)) is not None  # other data
    bad_tag = EncryptResponsePayload(
        unique_identifier="u", data=sealed[:-16], iv_counter_nonce=iv, authenticated_encryption_tag=bytes(16)
    )
    assert table["gcm-64"].check(_response(Operation.ENCRYPT, bad_tag)) is not None
    no_iv = EncryptResponsePayload(
        unique_identifier="u", data=sealed[:-16], authenticated_encryption_tag=sealed[-16:]
    )
    assert table["gcm-64"].check(_response(Operation.ENCRYPT, no_iv)) is not None
    assert (
        table["gcm-64"].check(_response(Operation.ENCRYPT, None, ResultStatus.OPERATION_FAILED)) is not None
    )

    context = hmac.HMAC(HMAC_KEY, hashes.SHA256())
    context.update(bytes(SMALL))
    right = MACResponsePayload(unique_identifier="u", mac_data=context.finalize())
    assert table["hmac"].check(_response(Operation.MAC, right)) is None
    wrong = MACResponsePayload(unique_identifier="u", mac_data=bytes(32))
    assert table["hmac"].check(_response(Operation.MAC, wrong)) is not None
