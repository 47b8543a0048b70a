"""Key Block, Key Value, Template-Attribute (section 2.1) and the Managed Objects (section 2.2).

Polymorphic spots, each table-driven:
- Key Value (section 2.1.4): a Byte String (wrapped) or a structure; in the structure, Key
  Material is a Byte String, or the Transparent structure its Key Block's Key Format Type names
  (``base.TRANSPARENT_KEY_TYPES``), or, for an extension Key Format Type, a raw Item. A Byte
  String Key Material is accepted for any format: wrapped key material is bytes.
- The managed object of Register, Get, Put, Import, Export and Validate: the item's tag chooses
  the class (``MANAGED_OBJECTS``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, TypeAlias

from kmip_server.model.attributes import Attribute
from kmip_server.model.base import TRANSPARENT_KEY_TYPES, KeyWrappingData, Name, TransparentKey
from kmip_server.model.codec import (
    BigInteger,
    Custom,
    DependsOn,
    NonEmpty,
    OneOf,
    Version,
    decode_struct,
    encode_struct,
    make_item,
    model,
    write_item,
    write_struct,
)
from kmip_server.model.errors import InvalidField
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    CertificateType,
    CryptographicAlgorithm,
    KeyCompressionType,
    KeyFormatType,
    ObjectType,
    OpaqueDataType,
    SecretDataType,
    SplitKeyMethod,
    Tag,
)

__all__ = [
    "MANAGED_OBJECTS",
    "MANAGED_OBJECT_FIELD",
    "Certificate",
    "KeyBlock",
    "KeyMaterial",
    "KeyValue",
    "ManagedObject",
    "OpaqueObject",
    "PGPKey",
    "PrivateKey",
    "PublicKey",
    "SecretData",
    "SplitKey",
    "SymmetricKey",
    "Template",
    "TemplateAttribute",
    "object_type_of",
]

KeyMaterial: TypeAlias = bytes | TransparentKey | Item
"""Bytes (Raw, Opaque, PKCS#1, PKCS#8, X.509, ECPrivateKey, PKCS#12, wrapped), a Transparent
structure, or the raw Item of an extension format's structure."""


def _decode_key_material(item: Item, ctx: int) -> KeyMaterial:
    """Bytes, or the Structure's Item (typed by the Key Block, which knows the format)."""
    value = item.value
    if item.type is ItemType.BYTE_STRING and type(value) is bytes:
        return value
    if item.type is ItemType.STRUCTURE and type(value) is tuple:
        return item
    raise InvalidField("Key Material: must be a Byte String or a Structure")


def _encode_key_material(value: KeyMaterial, tag: int, version: Version) -> Item:
    if isinstance(value, bytes | bytearray):
        return make_item(tag, ItemType.BYTE_STRING, value)
    if isinstance(value, Item):
        return value if value.tag == tag else make_item(tag, value.type, value.value)
    return encode_struct(value, tag, version)


# The writers below give struct_to_bytes the bytes of exactly the Items the encoders above
# build, writing a structure value straight through its codec (no intermediate Item): the
# Get response's key block is on the hot path. Anything else goes through the encoder.


def _write_key_material(value: KeyMaterial, tag: int, version: Version, out: list[bytes | bytearray]) -> int:
    if isinstance(value, TransparentKey):
        return write_struct(value, tag, version, out)
    return write_item(_encode_key_material(value, tag, version), version, out)


@model
class KeyValue:
    """Section 2.1.4, Table 8 (the structure form)."""

    key_material: Annotated[
        KeyMaterial,
        Tag.KEY_MATERIAL,
        Custom(_decode_key_material, _encode_key_material, _write_key_material),
    ] = field(repr=False)
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE] = ()


def _decode_key_value(item: Item, ctx: int, key_format_type: Any) -> KeyValue | bytes:
    value = item.value
    if item.type is ItemType.BYTE_STRING and type(value) is bytes:
        return value  # a wrapped Key Value
    key_value = decode_struct(KeyValue, item, ctx)
    material = key_value.key_material
    if not isinstance(material, Item) or key_format_type is None:
        return key_value
    cls = TRANSPARENT_KEY_TYPES.get(key_format_type)
    if cls is not None:
        return dataclasses.replace(key_value, key_material=decode_struct(cls, material, ctx))
    if key_format_type in KeyFormatType._value2member_map_:
        raise InvalidField("Key Material: a Structure for a Key Format Type that is a Byte String")
    return key_value  # extension format: the structure stays raw


def _encode_key_value(value: KeyValue | bytes, tag: int, version: Version, _kft: Any) -> Item:
    if isinstance(value, bytes | bytearray):
        return make_item(tag, ItemType.BYTE_STRING, value)
    return encode_struct(value, tag, version)


def _write_key_value(
    value: KeyValue | bytes, tag: int, version: Version, kft: Any, out: list[bytes | bytearray]
) -> int:
    if type(value) is KeyValue:
        return write_struct(value, tag, version, out)
    return write_item(_encode_key_value(value, tag, version, kft), version, out)


@model
class KeyBlock:
    """Section 2.1.3, Table 7. ``key_value`` is bytes when wrapped (Byte String form)."""

    key_format_type: Annotated[KeyFormatType, Tag.KEY_FORMAT_TYPE]
    key_compression_type: Annotated[KeyCompressionType | None, Tag.KEY_COMPRESSION_TYPE] = None
    key_value: Annotated[
        KeyValue | bytes | None,
        Tag.KEY_VALUE,
        DependsOn("key_format_type", _decode_key_value, _encode_key_value, _write_key_value),
    ] = None
    cryptographic_algorithm: Annotated[CryptographicAlgorithm | None, Tag.CRYPTOGRAPHIC_ALGORITHM] = None
    cryptographic_length: Annotated[int | None, Tag.CRYPTOGRAPHIC_LENGTH] = None
    key_wrapping_data: Annotated[KeyWrappingData | None, Tag.KEY_WRAPPING_DATA] = None


@model
class TemplateAttribute:
    """Section 2.1.8, Table 29: also the Common, Private Key and Public Key Template-Attribute
    (the field's tag says which). ``names`` are Template names (deprecated since 1.3)."""

    names: Annotated[tuple[Name, ...], Tag.NAME] = ()
    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE] = ()


# --------------------------------------------------------------------------------------------
# Managed objects (section 2.2)


@model
class Certificate:
    """Section 2.2.1, Table 45."""

    certificate_type: Annotated[CertificateType, Tag.CERTIFICATE_TYPE]
    certificate_value: Annotated[bytes, Tag.CERTIFICATE_VALUE]


@model
class SymmetricKey:
    """Section 2.2.2, Table 46."""

    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


@model
class PublicKey:
    """Section 2.2.3, Table 47."""

    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


@model
class PrivateKey:
    """Section 2.2.4, Table 48."""

    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


@model
class SplitKey:
    """Section 2.2.5, Table 49."""

    split_key_parts: Annotated[int, Tag.SPLIT_KEY_PARTS]
    key_part_identifier: Annotated[int, Tag.KEY_PART_IDENTIFIER]
    split_key_threshold: Annotated[int, Tag.SPLIT_KEY_THRESHOLD]
    split_key_method: Annotated[SplitKeyMethod, Tag.SPLIT_KEY_METHOD]
    prime_field_size: Annotated[BigInteger | None, Tag.PRIME_FIELD_SIZE] = None
    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


@model
class Template:
    """Section 2.2.6, Table 50 (deprecated since 1.3)."""

    attributes: Annotated[tuple[Attribute, ...], Tag.ATTRIBUTE, NonEmpty()]


@model
class SecretData:
    """Section 2.2.7, Table 51."""

    secret_data_type: Annotated[SecretDataType, Tag.SECRET_DATA_TYPE]
    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


@model
class OpaqueObject:
    """Section 2.2.8, Table 52."""

    opaque_data_type: Annotated[OpaqueDataType, Tag.OPAQUE_DATA_TYPE]
    opaque_data_value: Annotated[bytes, Tag.OPAQUE_DATA_VALUE] = field(repr=False)


@model
class PGPKey:
    """Section 2.2.9, Table 53 (KMIP 1.2)."""

    pgp_key_version: Annotated[int, Tag.PGP_KEY_VERSION]
    key_block: Annotated[KeyBlock, Tag.KEY_BLOCK]


ManagedObject: TypeAlias = (
    Certificate
    | SymmetricKey
    | PublicKey
    | PrivateKey
    | SplitKey
    | Template
    | SecretData
    | OpaqueObject
    | PGPKey
)

MANAGED_OBJECTS: dict[ObjectType, tuple[Tag, type]] = {
    ObjectType.CERTIFICATE: (Tag.CERTIFICATE, Certificate),
    ObjectType.SYMMETRIC_KEY: (Tag.SYMMETRIC_KEY, SymmetricKey),
    ObjectType.PUBLIC_KEY: (Tag.PUBLIC_KEY, PublicKey),
    ObjectType.PRIVATE_KEY: (Tag.PRIVATE_KEY, PrivateKey),
    ObjectType.SPLIT_KEY: (Tag.SPLIT_KEY, SplitKey),
    ObjectType.TEMPLATE: (Tag.TEMPLATE, Template),
    ObjectType.SECRET_DATA: (Tag.SECRET_DATA, SecretData),
    ObjectType.OPAQUE_OBJECT: (Tag.OPAQUE_OBJECT, OpaqueObject),
    ObjectType.PGP_KEY: (Tag.PGP_KEY, PGPKey),
}
"""Object Type -> (the object's tag, its class): section 2.2, one row per managed object."""

_CLASS_BY_TAG: dict[int, type] = dict(MANAGED_OBJECTS.values())
_TAG_BY_CLASS: dict[type, int] = {cls: tag for tag, cls in MANAGED_OBJECTS.values()}
_TYPE_BY_CLASS: dict[type, ObjectType] = {cls: ot for ot, (_tag, cls) in MANAGED_OBJECTS.items()}


def object_type_of(obj: ManagedObject) -> ObjectType:
    """The Object Type of managed object ``obj``."""
    return _TYPE_BY_CLASS[type(obj)]


def _decode_managed_object(item: Item, ctx: int) -> ManagedObject:
    result: ManagedObject = decode_struct(_CLASS_BY_TAG[item.tag], item, ctx)
    return result


def _encode_managed_object(obj: ManagedObject, version: Version) -> Item:
    return encode_struct(obj, _TAG_BY_CLASS[type(obj)], version)


def _write_managed_object(obj: ManagedObject, version: Version, out: list[bytes | bytearray]) -> int:
    return write_struct(obj, _TAG_BY_CLASS[type(obj)], version, out)


MANAGED_OBJECT_FIELD = OneOf(
    tuple(_CLASS_BY_TAG), _decode_managed_object, _encode_managed_object, _write_managed_object
)
"""The field marker of "Certificate, Symmetric Key, ... or Opaque Object" in a payload."""
