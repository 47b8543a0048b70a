"""The Attribute structure (section 2.1.1): its Attribute Value typed by its Attribute Name.

The value's type comes from ``attribute_table.ATTRIBUTES`` (one table, section 3); custom
attributes ("x-"/"y-", section 3.39) keep their raw Item, since their type is the creator's
choice. An Attribute Name that is neither is InvalidField in a message of a version this model
implements (section 11, "attributes that the server does not understand": Invalid Field) and
kept raw in a message of a later minor version.

The value is None only in the PARTIAL decoding context: Notify's deleted attributes (section
5.1) and Locate's match templates (section 4.9), where structured values may also lack fields.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeAlias

from kmip_server.model.attribute_table import ATTRIBUTES, is_custom_attribute_name
from kmip_server.model.base import (
    AlternativeName,
    ApplicationSpecificInformation,
    CertificateIdentifier,
    CertificateIssuer,
    CertificateSubject,
    CryptographicDomainParameters,
    CryptographicParameters,
    Digest,
    KeyValueLocation,
    Link,
    Name,
    RevocationReason,
    RNGParameters,
    UsageLimits,
    X509CertificateIdentifier,
    X509CertificateIssuer,
    X509CertificateSubject,
)
from kmip_server.model.codec import (
    STRICT,
    DependsOn,
    Interned,
    ValueCodec,
    Version,
    make_item,
    model,
    value_codec,
)
from kmip_server.model.errors import InvalidField, InvalidMessage, ModelEncodeError
from ttlv.item import Item
from ttlv.kmip14 import Tag

__all__ = ["Attribute", "AttributeValue", "attribute_value_codec"]

AttributeValue: TypeAlias = (
    str
    | int  # Integer, Enumeration (an IntEnum), mask (an IntFlag), Date-Time, Interval
    | bool
    | bytes
    | Name
    | CryptographicParameters
    | CryptographicDomainParameters
    | X509CertificateIdentifier
    | X509CertificateSubject
    | X509CertificateIssuer
    | CertificateIdentifier
    | CertificateSubject
    | CertificateIssuer
    | Digest
    | UsageLimits
    | RevocationReason
    | Link
    | ApplicationSpecificInformation
    | AlternativeName
    | KeyValueLocation
    | RNGParameters
    | Item  # custom attributes
)
"""The Python value of an Attribute Value; which one is given by the attribute's table row."""


_decoders: dict[str, Callable[[Item, int], Any]] = {}  # Attribute Name -> value decoder (memo)
_encoders: dict[str, Callable[[Any, int, Version], Item]] = {}  # Attribute Name -> value encoder


@functools.cache
def _value_codecs() -> dict[str, ValueCodec]:
    codecs = {name: value_codec(rule.value_type) for name, rule in ATTRIBUTES.items()}
    _decoders.update({name: codec.decode for name, codec in codecs.items()})
    _encoders.update({name: codec.encode for name, codec in codecs.items()})
    return codecs


def attribute_value_codec(name: str) -> ValueCodec | None:
    """The codec of the value of attribute ``name`` (None for custom and unknown names)."""
    return _value_codecs().get(name)


def _decode_value(item: Item, ctx: int, name: Any) -> AttributeValue:
    if not _decoders:
        _value_codecs()
    decode = _decoders.get(name)
    if decode is None:
        if name is None:
            raise InvalidMessage("Attribute: REQUIRED field Attribute Name missing")
        if is_custom_attribute_name(name) or not ctx & STRICT:
            return item
        raise InvalidField("Attribute: attribute name not defined by KMIP 1.4")
    value: AttributeValue = decode(item, ctx)
    return value


def _encode_value(value: AttributeValue, tag: int, version: Version, name: str) -> Item:
    if isinstance(value, Item):
        return value if value.tag == tag else make_item(tag, value.type, value.value)
    if not _encoders:
        _value_codecs()
    encode = _encoders.get(name)
    if encode is None:
        raise ModelEncodeError("Attribute: a value for an unknown attribute name must be a raw Item")
    return encode(value, tag, version)


@model
class Attribute:
    """Section 2.1.1, Table 2. ``index`` is the Attribute Index (absent means 0)."""

    name: Annotated[str, Tag.ATTRIBUTE_NAME, Interned()]
    index: Annotated[int | None, Tag.ATTRIBUTE_INDEX] = None
    value: Annotated[AttributeValue, Tag.ATTRIBUTE_VALUE, DependsOn("name", _decode_value, _encode_value)]
