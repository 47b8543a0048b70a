"""Get through PyKMIP: Raw key bytes, through both clients, and Get with a Key Wrapping
Specification (NIST key wrap under another managed AES key), unwrapped here and compared.

PyKMIP 0.11 sends a Key Wrapping Specification but cannot read the answer: a wrapped Key Value
is a Byte String (2.1.3) and PyKMIP's Key Block reader only accepts a Structure. So the wrapped
Get is encoded by PyKMIP's own request classes and its response read with ``ttlv``."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from kmip.core import enums
from kmip.core import objects as cobjects
from kmip.core.messages import payloads
from kmip.core.misc import KeyFormatType
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import encode_request, fresh_name, item_text, succeeded
from tests.support.server import RawConnection, parse_response
from ttlv import Item
from ttlv.kmip14 import BlockCipherMode, ResultReason, ResultStatus, Tag, WrappingMethod

pytestmark = pytest.mark.integration


def _find(parent: Item, *path: Tag) -> Item:
    node = parent
    for tag in path:
        child = node.find(tag)
        assert child is not None, f"no {tag.name} under {node.tag:#x}"
        node = child
    return node


def test_get_raw_through_both_clients(client: ProxyKmipClient, proxy: KMIPProxy) -> None:
    material = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    uid = client.register(
        objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, material, name=fresh_name("get-raw"))
    )
    assert client.get(uid).value == material

    # KMIPProxy.get takes the Key Format Type wrapped in PyKMIP's primitive (it reads ``.value``).
    got = proxy.get(uid, key_format_type=KeyFormatType(enums.KeyFormatType.RAW))
    succeeded(got)
    assert got.uuid == uid
    block = got.secret.key_block
    assert block.key_format_type.value is enums.KeyFormatType.RAW
    assert block.key_value.key_material.value == material
    assert block.cryptographic_algorithm.value is enums.CryptographicAlgorithm.AES
    assert block.cryptographic_length.value == 128


def _wrapping_key(client: ProxyKmipClient) -> tuple[str, bytes]:
    uid = client.create(
        enums.CryptographicAlgorithm.AES,
        256,
        name=fresh_name("kek"),
        cryptographic_usage_mask=[enums.CryptographicUsageMask.WRAP_KEY],
    )
    client.activate(uid)
    return uid, client.get(uid).value


def _wrapped_get_request(version: enums.KMIPVersion, uid: str, wrapping_uid: str) -> bytes:
    specification = cobjects.KeyWrappingSpecification(
        wrapping_method=enums.WrappingMethod.ENCRYPT,
        encryption_key_information=cobjects.EncryptionKeyInformation(
            unique_identifier=wrapping_uid,
            cryptographic_parameters=cobjects.CryptographicParameters(
                block_cipher_mode=enums.BlockCipherMode.NIST_KEY_WRAP
            ),
        ),
        encoding_option=enums.EncodingOption.NO_ENCODING,
    )
    payload = payloads.GetRequestPayload(unique_identifier=uid, key_wrapping_specification=specification)
    return encode_request(version, enums.Operation.GET, payload)


def test_get_wrapped_with_nist_key_wrap(
    client: ProxyKmipClient, raw: RawConnection, version: enums.KMIPVersion
) -> None:
    wrapping_uid, kek = _wrapping_key(client)
    uid = client.create(enums.CryptographicAlgorithm.AES, 128, name=fresh_name("wrapped"))
    plain = client.get(uid).value

    (result,) = parse_response(raw.exchange(_wrapped_get_request(version, uid, wrapping_uid)))
    assert result.status is ResultStatus.SUCCESS, result.outcome()
    assert result.payload is not None
    assert item_text(result.payload, Tag.UNIQUE_IDENTIFIER) == uid
    block = _find(result.payload, Tag.SYMMETRIC_KEY, Tag.KEY_BLOCK)
    wrapping = _find(block, Tag.KEY_WRAPPING_DATA)
    assert _find(wrapping, Tag.WRAPPING_METHOD).value == WrappingMethod.ENCRYPT
    information = _find(wrapping, Tag.ENCRYPTION_KEY_INFORMATION)
    assert item_text(information, Tag.UNIQUE_IDENTIFIER) == wrapping_uid
    assert (
        _find(information, Tag.CRYPTOGRAPHIC_PARAMETERS, Tag.BLOCK_CIPHER_MODE).value
        == BlockCipherMode.NISTKEYWRAP
    )
    wrapped = _find(block, Tag.KEY_VALUE).value
    assert isinstance(wrapped, bytes)
    assert len(wrapped) == len(plain) + 8  # RFC 3394
    assert aes_key_unwrap(kek, wrapped) == plain


def test_get_wrapped_refused_without_wrap_usage(
    client: ProxyKmipClient, raw: RawConnection, version: enums.KMIPVersion
) -> None:
    """A wrapping key whose mask lacks Wrap Key, or that is not Active, wraps nothing."""
    uid = client.create(enums.CryptographicAlgorithm.AES, 128, name=fresh_name("wrapped"))
    encrypt_only = client.create(enums.CryptographicAlgorithm.AES, 256, name=fresh_name("not-kek"))
    client.activate(encrypt_only)
    pre_active = client.create(
        enums.CryptographicAlgorithm.AES,
        256,
        name=fresh_name("kek-pre-active"),
        cryptographic_usage_mask=[enums.CryptographicUsageMask.WRAP_KEY],
    )
    for wrapping_uid in (encrypt_only, pre_active):
        (result,) = parse_response(raw.exchange(_wrapped_get_request(version, uid, wrapping_uid)))
        assert result.status is ResultStatus.OPERATION_FAILED
        assert result.reason in {ResultReason.PERMISSION_DENIED, ResultReason.ILLEGAL_OPERATION}, (
            result.outcome()
        )
        assert result.payload is None
