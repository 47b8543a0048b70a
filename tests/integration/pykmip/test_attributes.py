"""Get Attributes, Get Attribute List, Add / Modify / Delete Attribute through PyKMIP.

PyKMIP 0.11 has no Add Attribute (it was replaced by Set Attribute in KMIP 2.0, which PyKMIP
implements instead), so Add Attribute goes through ``RawConnection``; Modify and Delete go
through ``ProxyKmipClient``. PyKMIP cannot parse some attributes the server rightly returns
(Random Number Generator at 1.3+, Link, a Digest without Key Format Type): whole-object Get
Attributes at 1.4 is read with ``ttlv``."""

from __future__ import annotations

import time

import pytest
from kmip.core import enums
from kmip.core.exceptions import OperationFailure
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import (
    attribute,
    attributes_of,
    fresh_name,
    item_text,
    one,
    raw_attributes,
    succeeded,
)
from tests.support.server import RawConnection, text
from ttlv import Item, ItemType
from ttlv.kmip14 import Operation, ResultReason, ResultStatus, Tag

pytestmark = pytest.mark.integration

AES = enums.CryptographicAlgorithm.AES
EVERY_VERSION = {
    "Unique Identifier",
    "Object Type",
    "State",
    "Name",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Usage Mask",
    "Digest",
    "Initial Date",
    "Last Change Date",
}
SINCE_1_3 = {"Random Number Generator", "Sensitive", "Extractable", "Always Sensitive", "Never Extractable"}


def _add(raw: RawConnection, uid: str, name: str, value: str) -> Item:
    """Add Attribute (a Text String value) read raw; the Attribute the server echoes."""
    payload = [
        text(Tag.UNIQUE_IDENTIFIER, uid),
        Item(
            Tag.ATTRIBUTE,
            ItemType.STRUCTURE,
            (text(Tag.ATTRIBUTE_NAME, name), text(Tag.ATTRIBUTE_VALUE, value)),
        ),
    ]
    result = raw.call(Operation.ADD_ATTRIBUTE, payload)
    assert result.status is ResultStatus.SUCCESS, result.outcome()
    assert result.payload is not None
    assert item_text(result.payload, Tag.UNIQUE_IDENTIFIER) == uid
    echoed = result.payload.find(Tag.ATTRIBUTE)
    assert echoed is not None
    assert item_text(echoed, Tag.ATTRIBUTE_NAME) == name
    assert item_text(echoed, Tag.ATTRIBUTE_VALUE) == value
    return echoed


def test_get_attributes_of_a_new_key(client: ProxyKmipClient, version: enums.KMIPVersion) -> None:
    before = int(time.time())
    name = fresh_name("attrs")
    uid = client.create(AES, 256, name=name)
    after = int(time.time())
    # PyKMIP 0.11 reads every attribute of KMIP 1.2; at 1.4 ask for those it can read.
    values = attributes_of(
        client, uid, None if version is enums.KMIPVersion.KMIP_1_2 else sorted(EVERY_VERSION)
    )
    assert set(values) >= EVERY_VERSION
    assert one(values, "Unique Identifier") == uid
    assert one(values, "Object Type") is enums.ObjectType.SYMMETRIC_KEY
    assert one(values, "State") is enums.State.PRE_ACTIVE
    assert one(values, "Name") == (name, enums.NameType.UNINTERPRETED_TEXT_STRING)
    assert one(values, "Cryptographic Algorithm") is AES
    assert one(values, "Cryptographic Length") == 256
    initial = one(values, "Initial Date")
    assert before <= initial <= after
    assert one(values, "Last Change Date") == initial
    assert "Activation Date" not in values
    assert "Destroy Date" not in values


def test_attribute_list_follows_the_version(
    client: ProxyKmipClient, raw: RawConnection, version: enums.KMIPVersion
) -> None:
    uid = client.create(AES, 128, name=fresh_name("list"))
    listed = set(client.get_attribute_list(uid))
    assert listed >= EVERY_VERSION
    if version is enums.KMIPVersion.KMIP_1_2:
        assert not listed & SINCE_1_3
        assert set(attributes_of(client, uid)) == listed
    else:
        assert listed >= SINCE_1_3
        assert set(raw_attributes(raw, uid, [])) == listed  # no names: every attribute (4.11)


def test_attribute_list_through_kmip_proxy(proxy: KMIPProxy, client: ProxyKmipClient) -> None:
    uid = client.create(AES, 128, name=fresh_name("proxy-list"))
    result = proxy.get_attribute_list(uid)
    succeeded(result)
    assert result.uid == uid
    assert set(result.names) == set(client.get_attribute_list(uid))
    attributes = proxy.get_attributes(uid, ["State", "Cryptographic Length"])
    succeeded(attributes)
    assert {a.attribute_name.value: a.attribute_value.value for a in attributes.attributes} == {
        "State": enums.State.PRE_ACTIVE,
        "Cryptographic Length": 128,
    }


def test_add_modify_delete_attribute(client: ProxyKmipClient, raw: RawConnection) -> None:
    uid = client.create(AES, 128, name=fresh_name("amd"))
    initial = one(attributes_of(client, uid, ["Initial Date"]), "Initial Date")

    _add(raw, uid, "Contact Information", "security@acme.example")
    assert (
        one(attributes_of(client, uid, ["Contact Information"]), "Contact Information")
        == "security@acme.example"
    )
    assert "Contact Information" in client.get_attribute_list(uid)

    echoed_uid, modified = client.modify_attribute(
        uid, attribute=attribute(enums.AttributeType.CONTACT_INFORMATION, "keys@acme.example")
    )
    assert echoed_uid == uid
    assert modified.attribute_value.value == "keys@acme.example"
    values = attributes_of(client, uid, ["Contact Information", "Initial Date", "Last Change Date"])
    assert one(values, "Contact Information") == "keys@acme.example"
    assert one(values, "Initial Date") == initial
    assert one(values, "Last Change Date") >= initial

    echoed_uid, deleted = client.delete_attribute(
        uid, attribute_name="Contact Information", attribute_index=0
    )
    assert echoed_uid == uid
    assert deleted.attribute_value.value == "keys@acme.example"
    assert "Contact Information" not in attributes_of(client, uid, ["Contact Information"])
    assert "Contact Information" not in client.get_attribute_list(uid)


def test_custom_attribute_instances_keep_their_indices(client: ProxyKmipClient, raw: RawConnection) -> None:
    uid = client.create(AES, 128, name=fresh_name("custom"))
    _add(raw, uid, "x-team", "payments")
    _add(raw, uid, "x-team", "fraud")
    client.delete_attribute(uid, attribute_name="x-team", attribute_index=0)
    (left,) = raw_attributes(raw, uid, ["x-team"])["x-team"]
    assert left.value == "fraud"
    result = raw.call(
        Operation.GET_ATTRIBUTES, [text(Tag.UNIQUE_IDENTIFIER, uid), text(Tag.ATTRIBUTE_NAME, "x-team")]
    )
    assert result.payload is not None
    (instance,) = result.payload.find_all(Tag.ATTRIBUTE)
    index = instance.find(Tag.ATTRIBUTE_INDEX)
    assert index is not None
    assert index.value == 1


def test_modify_name_then_locate(client: ProxyKmipClient) -> None:
    old, new = fresh_name("before"), fresh_name("after")
    uid = client.create(AES, 128, name=old)
    client.modify_attribute(uid, attribute=attribute(enums.AttributeType.NAME, new))
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, new)]) == [uid]
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, old)]) == []
    # 11.16: a Name another object already has is Illegal Operation.
    other = client.create(AES, 128, name=old)
    with pytest.raises(OperationFailure) as taken:
        client.modify_attribute(other, attribute=attribute(enums.AttributeType.NAME, new))
    assert taken.value.reason is enums.ResultReason.ILLEGAL_OPERATION


def test_server_managed_attributes_are_refused(client: ProxyKmipClient, raw: RawConnection) -> None:
    uid = client.create(AES, 128, name=fresh_name("readonly"))
    with pytest.raises(OperationFailure) as deleted:
        client.delete_attribute(uid, attribute_name="Cryptographic Algorithm", attribute_index=0)
    assert deleted.value.reason is enums.ResultReason.PERMISSION_DENIED
    with pytest.raises(OperationFailure) as modified:
        client.modify_attribute(uid, attribute=attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 64))
    assert modified.value.reason is enums.ResultReason.PERMISSION_DENIED
    with pytest.raises(OperationFailure) as absent:
        client.modify_attribute(uid, attribute=attribute(enums.AttributeType.CONTACT_INFORMATION, "nobody"))
    assert absent.value.reason is enums.ResultReason.INVALID_FIELD  # 11.16: add it first

    added = raw.call(
        Operation.ADD_ATTRIBUTE,
        [
            text(Tag.UNIQUE_IDENTIFIER, uid),
            Item(
                Tag.ATTRIBUTE,
                ItemType.STRUCTURE,
                (text(Tag.ATTRIBUTE_NAME, "Unique Identifier"), text(Tag.ATTRIBUTE_VALUE, "mine")),
            ),
        ],
    )
    assert added.status is ResultStatus.OPERATION_FAILED
    assert added.reason is ResultReason.PERMISSION_DENIED
    values = attributes_of(
        client, uid, ["Cryptographic Algorithm", "Cryptographic Length", "Unique Identifier"]
    )
    assert (one(values, "Cryptographic Algorithm"), one(values, "Cryptographic Length")) == (AES, 128)
    assert one(values, "Unique Identifier") == uid
