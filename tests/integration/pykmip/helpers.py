"""Small helpers for the PyKMIP suite: unique names, attributes as plain Python values, requests
that PyKMIP encodes but cannot decode the answer of (sent through ``RawConnection``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from kmip.core import enums, primitives
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.messages import contents, messages
from kmip.core.utils import BytearrayStream
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from tests.support.server import RawConnection, text
from ttlv import Item, ItemType
from ttlv.kmip14 import HashingAlgorithm, Operation, ResultStatus, Tag

ATTRIBUTES = AttributeFactory()
VERSION_PAIRS = {enums.KMIPVersion.KMIP_1_2: (1, 2), enums.KMIPVersion.KMIP_1_4: (1, 4)}


def fresh_name(prefix: str) -> str:
    """A Name no other test uses (the server keeps Names unique per tenant)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def attribute(kind: enums.AttributeType, value: Any) -> cobjects.Attribute:
    return ATTRIBUTES.create_attribute(kind, value)


def plain(value: Any) -> Any:
    """A PyKMIP attribute value as a plain Python value (tuples for structures)."""
    if isinstance(value, cobjects.Attribute):
        return plain(value.attribute_value)
    name_value = getattr(value, "name_value", None)
    if name_value is not None:
        return (name_value.value, value.name_type.value)
    digest_value = getattr(value, "digest_value", None)
    if digest_value is not None:
        return (value.hashing_algorithm.value, digest_value.value, value.key_format_type.value)
    if isinstance(value, primitives.Base) and hasattr(value, "value"):
        return value.value
    return value


def as_dict(attributes: Iterable[cobjects.Attribute]) -> dict[str, list[Any]]:
    """Attribute name -> its values, in the order the server sent them."""
    values: dict[str, list[Any]] = {}
    for item in attributes:
        values.setdefault(item.attribute_name.value, []).append(plain(item.attribute_value))
    return values


def attributes_of(
    client: ProxyKmipClient, uid: str, names: Sequence[str] | None = None
) -> dict[str, list[Any]]:
    """Get Attributes through ProxyKmipClient, as a dict (asserting the UID is echoed)."""
    echoed, attributes = client.get_attributes(uid, list(names) if names is not None else None)
    assert echoed == uid
    return as_dict(attributes)


def one(values: dict[str, list[Any]], name: str) -> Any:
    """The single value of a single-instance attribute."""
    found = values[name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def encode_request(version: enums.KMIPVersion, operation: enums.Operation, payload: Any) -> bytes:
    """A one-item Request Message encoded by PyKMIP's own classes."""
    major, minor = VERSION_PAIRS[version]
    header = messages.RequestHeader(
        protocol_version=contents.ProtocolVersion(major, minor),
        batch_count=contents.BatchCount(1),
    )
    item = messages.RequestBatchItem(
        operation=contents.Operation(operation),
        request_payload=payload,
    )
    stream = BytearrayStream()
    messages.RequestMessage(request_header=header, batch_items=[item]).write(stream, kmip_version=version)
    return bytes(stream.buffer)


def succeeded(result: Any) -> None:
    """Assert a KMIPProxy result is a success (showing the server's reason when not)."""
    status = result.result_status.value
    if status != enums.ResultStatus.SUCCESS:
        raise AssertionError(f"{status}: {result.result_reason.value} - {result.result_message.value}")


def proxy_attributes(proxy: KMIPProxy, uid: str, names: Sequence[str]) -> dict[str, list[Any]]:
    result = proxy.get_attributes(uid, list(names))
    succeeded(result)
    assert result.uuid == uid
    return as_dict(result.attributes)


def item_text(parent: Item, tag: Tag) -> str:
    child = parent.find(tag)
    assert child is not None, f"no {tag.name}"
    assert child.type is ItemType.TEXT_STRING
    assert isinstance(child.value, str)
    return child.value


def raw_attributes(raw: RawConnection, uid: str, names: Sequence[str]) -> dict[str, list[Item]]:
    """Get Attributes read with ``ttlv`` (for attributes PyKMIP 0.11 cannot parse): name -> the
    Attribute Value items."""
    payload = [text(Tag.UNIQUE_IDENTIFIER, uid), *(text(Tag.ATTRIBUTE_NAME, name) for name in names)]
    result = raw.call(Operation.GET_ATTRIBUTES, payload)
    assert result.status is ResultStatus.SUCCESS, result.outcome()
    assert result.payload is not None
    assert item_text(result.payload, Tag.UNIQUE_IDENTIFIER) == uid
    values: dict[str, list[Item]] = {}
    for found in result.payload.find_all(Tag.ATTRIBUTE):
        value = found.find(Tag.ATTRIBUTE_VALUE)
        assert value is not None
        values.setdefault(item_text(found, Tag.ATTRIBUTE_NAME), []).append(value)
    return values


def raw_digest(raw: RawConnection, uid: str) -> bytes:
    """The Digest Value of the object's (single) Digest, asserting SHA-256."""
    (digest,) = raw_attributes(raw, uid, ["Digest"])["Digest"]
    algorithm = digest.find(Tag.HASHING_ALGORITHM)
    assert algorithm is not None
    assert algorithm.value == HashingAlgorithm.SHA_256
    value = digest.find(Tag.DIGEST_VALUE)
    assert value is not None
    assert isinstance(value.value, bytes)
    return value.value
