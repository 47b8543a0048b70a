"""Get (KMIP 1.4 section 4.11): return a managed object, in the format asked for, wrapped if asked.

- Format: as created or registered; a Symmetric Key converts between Raw and Transparent
  Symmetric Key, a Private Key between PKCS#1 (RSA), PKCS#8, ECPrivateKey (EC) and the
  Transparent RSA / EC private formats, a Public Key between PKCS#1 (RSA), X.509
  (SubjectPublicKeyInfo) and the Transparent RSA / EC public formats (``FORMAT_CONVERSIONS``,
  the asymmetric rows from ``crypto.keypairs``). Anything else, or a format that does not fit
  the key's algorithm, is Key Format Type Not Supported (11.12).
  A Key Compression Type other than the stored one is Key Compression Type Not Supported.
- Key Wrap Type (1.4): As Registered returns the stored form; Not Wrapped of an object stored
  wrapped is Feature Not Supported (this server does not unwrap registered wrapped keys).
- Key Wrapping Specification: Wrapping Method Encrypt with another AES key of the same tenant
  (Active, usage mask with Wrap Key), by NIST key wrap (RFC 3394, the default) or AES key wrap
  with padding (RFC 5649) as the Encryption Key Information's Block Cipher Mode says. The
  wrapped bytes are the TTLV encoding of the Key Value (Key Material and the attributes named)
  unless Encoding Option is No Encoding, then the Key Material bytes alone; No Encoding with
  attribute names is Encoding Option Error (11.12). Errors follow 11.12: a missing wrapping key
  is Item Not Found, a non-key Illegal Operation, a key that cannot wrap Permission Denied.
- Sensitive objects are served only wrapped; objects not Extractable not at all.
- Destroyed objects keep only their attributes: Illegal Operation (11.12 "the server only has
  attributes for this object").
- Fresh (3.34) becomes False once the object has been served; losing that write to a
  concurrent request is fine (the other request did the same).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, cast

from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_wrap_with_padding

import ttlv
from kmip_server.attribute_policy import presented
from kmip_server.crypto.keypairs import FORMAT_CONVERSIONS as ASYMMETRIC_FORMAT_CONVERSIONS
from kmip_server.errors import (
    ConcurrentModification,
    CryptographicFailure,
    EncodingOptionError,
    FeatureNotSupported,
    IllegalOperation,
    InvalidField,
    ItemNotFound,
    KeyCompressionTypeNotSupported,
    KeyFormatTypeNotSupported,
    NotExtractable,
    PermissionDenied,
    Sensitive,
)
from kmip_server.identity import Role
from kmip_server.model import (
    GetRequestPayload,
    GetResponsePayload,
    KeyBlock,
    KeyValue,
    KeyWrappingData,
    KeyWrappingSpecification,
    ManagedObject,
    TransparentSymmetricKey,
)
from kmip_server.model.codec import encode_struct
from kmip_server.objects import DESTROYED_STATES, first_value, replace_attribute
from kmip_server.operations.context import HandlerSpec, OperationContext, required_identifier
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    EncodingOption,
    KeyFormatType,
    KeyWrapType,
    ObjectType,
    Operation,
    State,
    Tag,
    WrappingMethod,
)

__all__ = ["FORMAT_CONVERSIONS", "KEY_WRAP_ALGORITHMS", "SPEC", "handle", "symmetric_key_bytes"]


def _raw_to_transparent(value: KeyValue) -> KeyValue:
    material = value.key_material
    if not isinstance(material, bytes | bytearray):
        raise KeyFormatTypeNotSupported
    return dataclasses.replace(value, key_material=TransparentSymmetricKey(key=bytes(material)))


def _transparent_to_raw(value: KeyValue) -> KeyValue:
    material = value.key_material
    if not isinstance(material, TransparentSymmetricKey):
        raise KeyFormatTypeNotSupported
    return dataclasses.replace(value, key_material=material.key)


_F = KeyFormatType
FORMAT_CONVERSIONS: dict[tuple[ObjectType, KeyFormatType, KeyFormatType], Callable[[KeyValue], KeyValue]] = {
    (ObjectType.SYMMETRIC_KEY, _F.RAW, _F.TRANSPARENT_SYMMETRIC_KEY): _raw_to_transparent,
    (ObjectType.SYMMETRIC_KEY, _F.TRANSPARENT_SYMMETRIC_KEY, _F.RAW): _transparent_to_raw,
    **ASYMMETRIC_FORMAT_CONVERSIONS,
}
"""(object type, stored format, requested format) -> the Key Value conversion."""

KEY_WRAP_ALGORITHMS: dict[BlockCipherMode | None, Callable[[bytes, bytes], bytes]] = {
    None: aes_key_wrap,  # no mode named: NIST key wrap
    BlockCipherMode.NISTKEYWRAP: aes_key_wrap,  # RFC 3394
    BlockCipherMode.AESKEYWRAPPADDING: aes_key_wrap_with_padding,  # RFC 5649
}
"""Block Cipher Mode of the wrapping key's Cryptographic Parameters -> the wrap function."""


def symmetric_key_bytes(managed_object: ManagedObject) -> bytes:
    """The key bytes of a Symmetric Key in Raw or Transparent Symmetric Key format."""
    key_block = getattr(managed_object, "key_block", None)
    key_value = key_block.key_value if key_block is not None else None
    if not isinstance(key_value, KeyValue):
        raise PermissionDenied("the wrapping key cannot be used for wrapping")
    material = key_value.key_material
    if isinstance(material, TransparentSymmetricKey):
        return material.key
    if isinstance(material, bytes):
        return material
    raise PermissionDenied("the wrapping key cannot be used for wrapping")


def _converted(
    managed_object: ManagedObject, object_type: ObjectType, payload: GetRequestPayload
) -> ManagedObject:
    key_block: KeyBlock | None = getattr(managed_object, "key_block", None)
    wanted = payload.key_format_type
    if key_block is None:
        if wanted is not None:
            raise KeyFormatTypeNotSupported("this object has no key block to format")
        return managed_object
    if (
        payload.key_compression_type is not None
        and payload.key_compression_type != key_block.key_compression_type
    ):
        raise KeyCompressionTypeNotSupported
    if wanted is None or wanted == key_block.key_format_type:
        return managed_object
    conversion = FORMAT_CONVERSIONS.get((object_type, key_block.key_format_type, wanted))
    if conversion is None or not isinstance(key_block.key_value, KeyValue):
        raise KeyFormatTypeNotSupported
    new_block = dataclasses.replace(
        key_block, key_format_type=wanted, key_value=conversion(key_block.key_value)
    )
    return _with_key_block(managed_object, new_block)


def _with_key_block(managed_object: ManagedObject, key_block: KeyBlock) -> ManagedObject:
    result: ManagedObject = dataclasses.replace(cast(Any, managed_object), key_block=key_block)
    return result


async def _wrapping_key(ctx: OperationContext, unique_identifier: str) -> tuple[ObjectRecord, bytes]:
    objects = ctx.objects
    try:
        record = await objects.load(unique_identifier, now=ctx.now)
    except ItemNotFound:
        raise ItemNotFound("no wrapping key with this unique identifier") from None
    if record.object_type is not ObjectType.SYMMETRIC_KEY:
        raise IllegalOperation("the wrapping key is not a symmetric key")
    algorithm = first_value(record.attributes, "Cryptographic Algorithm")
    mask = first_value(record.attributes, "Cryptographic Usage Mask")
    if algorithm is not CryptographicAlgorithm.AES or not isinstance(mask, int):
        raise PermissionDenied("the wrapping key cannot be used for wrapping")
    if not mask & CryptographicUsageMask.WRAP_KEY:
        raise PermissionDenied("the wrapping key's usage mask does not allow Wrap Key")
    if record.state is not State.ACTIVE:
        raise PermissionDenied("the wrapping key is not active")
    return record, symmetric_key_bytes(await objects.managed_object(record))


async def _wrapped(
    ctx: OperationContext, managed_object: ManagedObject, record: ObjectRecord, spec: KeyWrappingSpecification
) -> ManagedObject:
    if spec.wrapping_method is not WrappingMethod.ENCRYPT or spec.mac_signature_key_information is not None:
        raise FeatureNotSupported("only the Encrypt wrapping method is supported")
    info = spec.encryption_key_information
    if info is None:
        raise InvalidField("Key Wrapping Specification: Encryption Key Information missing")
    key_block: KeyBlock | None = getattr(managed_object, "key_block", None)
    if key_block is None:
        raise IllegalOperation("only objects with a key block can be wrapped")
    if not isinstance(key_block.key_value, KeyValue):
        raise FeatureNotSupported("the object is stored wrapped and cannot be wrapped again")
    if spec.attribute_names and spec.encoding_option is EncodingOption.NO_ENCODING:
        raise EncodingOptionError("No Encoding is not permitted with attribute names")
    parameters = info.cryptographic_parameters
    mode = parameters.block_cipher_mode if parameters is not None else None
    wrap = KEY_WRAP_ALGORITHMS.get(mode)
    if wrap is None:
        raise FeatureNotSupported("the wrapping key's block cipher mode is not a key wrap mode")
    _wrapping_record, kek = await _wrapping_key(ctx, info.unique_identifier)

    if spec.encoding_option is EncodingOption.NO_ENCODING:
        material = key_block.key_value.key_material
        if not isinstance(material, bytes):
            raise EncodingOptionError("No Encoding needs key material that is a byte string")
        plaintext = material
    else:
        wanted = frozenset(spec.attribute_names)
        attributes = tuple(a for a in presented(record, ctx.version) if a.name in wanted)
        value = dataclasses.replace(key_block.key_value, attributes=attributes)
        plaintext = ttlv.encode(encode_struct(value, Tag.KEY_VALUE, ctx.version))
    try:
        wrapped = wrap(kek, plaintext)
    except ValueError:
        raise CryptographicFailure("the key material cannot be wrapped with this mode") from None
    wrapping_data = KeyWrappingData(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=info,
        encoding_option=spec.encoding_option,
    )
    new_block = dataclasses.replace(key_block, key_value=wrapped, key_wrapping_data=wrapping_data)
    return _with_key_block(managed_object, new_block)


async def handle(ctx: OperationContext, payload: GetRequestPayload) -> GetResponsePayload:
    objects = ctx.objects
    record = await objects.load(required_identifier(payload.unique_identifier), now=ctx.now)
    if record.state in DESTROYED_STATES or record.material is None:
        raise IllegalOperation("the object was destroyed: only its attributes remain")
    if first_value(record.attributes, "Extractable") is False:
        raise NotExtractable
    spec = payload.key_wrapping_specification
    if spec is None and first_value(record.attributes, "Sensitive") is True:
        raise Sensitive("a sensitive object is served only wrapped")
    managed_object = await objects.managed_object(record)
    key_block: KeyBlock | None = getattr(managed_object, "key_block", None)
    stored_wrapped = key_block is not None and not isinstance(key_block.key_value, KeyValue)
    if payload.key_wrap_type is KeyWrapType.NOT_WRAPPED and stored_wrapped:
        raise FeatureNotSupported("Key Wrap Type Not Wrapped: the object was registered wrapped")
    managed_object = _converted(managed_object, record.object_type, payload)
    if spec is not None:
        managed_object = await _wrapped(ctx, managed_object, record, spec)
    if first_value(record.attributes, "Fresh") is True:
        # Losing this write to a concurrent request is fine: that request served it too.
        with contextlib.suppress(ConcurrentModification):
            await objects.save(
                record,
                dataclasses.replace(record, attributes=replace_attribute(record.attributes, "Fresh", False)),
            )
    return GetResponsePayload(
        object_type=record.object_type,
        unique_identifier=record.unique_identifier,
        managed_object=managed_object,
    )


SPEC = HandlerSpec(
    operation=Operation.GET,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
    uses_id_placeholder=True,
)
