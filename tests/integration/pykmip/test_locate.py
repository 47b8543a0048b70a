"""Locate through PyKMIP: by Name, by Object Type, by other attributes, Maximum Items and (1.3+)
Offset Items, and what destroyed objects do to a Locate by name.

The shared Core holds other tests' objects, so every search is narrowed by something this test
made (a fresh Name or Object Group) or checked by containment."""

from __future__ import annotations

import pytest
from kmip.core import enums
from kmip.core import objects as cobjects
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import attribute, fresh_name, succeeded
from tests.support.server import KMIP_1_4, CoreProcess, pykmip_client, pykmip_proxy

pytestmark = pytest.mark.integration

AES = enums.CryptographicAlgorithm.AES


def _grouped_keys(proxy: KMIPProxy, group: str, count: int) -> list[str]:
    """``count`` AES keys sharing an Object Group, created in order through KMIPProxy."""
    uids = []
    for _ in range(count):
        template = cobjects.TemplateAttribute(
            attributes=[
                attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, AES),
                attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 128),
                attribute(
                    enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, [enums.CryptographicUsageMask.ENCRYPT]
                ),
                attribute(enums.AttributeType.OBJECT_GROUP, group),
                attribute(enums.AttributeType.NAME, fresh_name("grouped")),
            ]
        )
        created = proxy.create(enums.ObjectType.SYMMETRIC_KEY, template)
        succeeded(created)
        uids.append(created.uuid)
    return uids


def test_locate_by_name(client: ProxyKmipClient) -> None:
    name = fresh_name("locate")
    uid = client.create(AES, 256, name=name)
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, name)]) == [uid]
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, fresh_name("nobody"))]) == []


def test_locate_by_object_type(client: ProxyKmipClient) -> None:
    secret = client.register(
        objects.SecretData(b"pin 1234", enums.SecretDataType.PASSWORD, name=fresh_name("locate-secret"))
    )
    key = client.create(AES, 128, name=fresh_name("locate-key"))
    secrets = client.locate(
        attributes=[attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SECRET_DATA)]
    )
    keys = client.locate(
        attributes=[attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY)]
    )
    assert secret in secrets
    assert key not in secrets
    assert key in keys
    assert secret not in keys


def test_locate_by_several_attributes(client: ProxyKmipClient) -> None:
    name = fresh_name("locate-3des")
    uid = client.create(enums.CryptographicAlgorithm.TRIPLE_DES, 192, name=name)
    by_name = attribute(enums.AttributeType.NAME, name)
    matching = [
        by_name,
        attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY),
        attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.TRIPLE_DES),
        attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 192),
        attribute(enums.AttributeType.STATE, enums.State.PRE_ACTIVE),
    ]
    assert client.locate(attributes=matching) == [uid]
    # Every attribute must hold: one that does not hides the object.
    for wrong in (
        attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, AES),
        attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 168),
        attribute(enums.AttributeType.STATE, enums.State.ACTIVE),
        attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SECRET_DATA),
    ):
        assert client.locate(attributes=[by_name, wrong]) == [], wrong
    everything = client.locate(
        attributes=[
            attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.TRIPLE_DES),
            attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 192),
        ]
    )
    assert uid in everything


def test_locate_maximum_items(client: ProxyKmipClient, proxy: KMIPProxy) -> None:
    group = fresh_name("group")
    uids = _grouped_keys(proxy, group, 4)
    in_group = [attribute(enums.AttributeType.OBJECT_GROUP, group)]
    assert client.locate(attributes=in_group) == uids  # creation order
    assert client.locate(attributes=in_group, maximum_items=2) == uids[:2]

    located = proxy.locate(attributes=in_group, maximum_items=3)
    succeeded(located)
    assert located.uuids == uids[:3]


def test_locate_offset_items_at_1_4(core_server: CoreProcess) -> None:
    """Offset Items is a KMIP 1.3 field: paged Locates at 1.4, through both clients."""
    proxy = pykmip_proxy(core_server, "acme", KMIP_1_4)
    proxy.open()
    try:
        with pykmip_client(core_server, "acme", KMIP_1_4) as client:
            group = fresh_name("paged")
            uids = _grouped_keys(proxy, group, 5)
            in_group = [attribute(enums.AttributeType.OBJECT_GROUP, group)]
            assert client.locate(attributes=in_group, maximum_items=2, offset_items=1) == uids[1:3]
            assert client.locate(attributes=in_group, offset_items=3) == uids[3:]
            assert client.locate(attributes=in_group, offset_items=5) == []
            pages = [
                client.locate(attributes=in_group, maximum_items=2, offset_items=start) for start in (0, 2, 4)
            ]
            assert [uid for page in pages for uid in page] == uids

        located = proxy.locate(attributes=in_group, maximum_items=1, offset_items=4)
        succeeded(located)
        assert located.uuids == uids[4:]
    finally:
        proxy.close()


def test_locate_skips_destroyed_objects(client: ProxyKmipClient) -> None:
    name = fresh_name("locate-destroyed")
    uid = client.create(AES, 128, name=name)
    by_name = attribute(enums.AttributeType.NAME, name)
    client.destroy(uid)
    assert client.locate(attributes=[by_name]) == []
    # Asked for by State, destroyed objects are still found (they keep their attributes).
    assert client.locate(
        attributes=[by_name, attribute(enums.AttributeType.STATE, enums.State.DESTROYED)]
    ) == [uid]


def test_locate_fresh_group_members_and_storage_status(client: ProxyKmipClient, proxy: KMIPProxy) -> None:
    group = fresh_name("fresh")
    served, unserved = _grouped_keys(proxy, group, 2)
    client.get(served)  # served to a client: no longer Fresh (3.34)
    in_group = [attribute(enums.AttributeType.OBJECT_GROUP, group)]
    assert client.locate(attributes=in_group) == [served, unserved]
    fresh = client.locate(attributes=in_group, object_group_member=enums.ObjectGroupMember.GROUP_MEMBER_FRESH)
    assert fresh == [unserved]
    online = client.locate(
        attributes=in_group, storage_status_mask=enums.StorageStatusMask.ONLINE_STORAGE.value
    )
    assert online == [served, unserved]
    archived = client.locate(
        attributes=in_group, storage_status_mask=enums.StorageStatusMask.ARCHIVAL_STORAGE.value
    )
    assert archived == []  # nothing is ever archived here
