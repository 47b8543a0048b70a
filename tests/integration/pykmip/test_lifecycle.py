"""Activate, Check, Revoke, Destroy and Re-key through PyKMIP: states, dates, refusals, links.

PyKMIP 0.11's Check crashes on a refusal (``KMIPProxy.check`` reads the payload of a failed
batch item, which has none), so refusals of Check are read through ``RawConnection``; Links are
read raw too (PyKMIP cannot parse a Link attribute)."""

from __future__ import annotations

import hashlib
import time

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure
from kmip.services.kmip_client import KMIPProxy

from tests.integration.pykmip.helpers import (
    attribute,
    attributes_of,
    fresh_name,
    item_text,
    one,
    proxy_attributes,
    raw_attributes,
    succeeded,
)
from tests.support.server import RawConnection, text
from ttlv import Item, ItemType
from ttlv.kmip14 import CryptographicUsageMask, LinkType, Operation, ResultReason, ResultStatus, Tag

pytestmark = pytest.mark.integration

AES = enums.CryptographicAlgorithm.AES
DATES = [
    "State",
    "Initial Date",
    "Activation Date",
    "Deactivation Date",
    "Compromise Date",
    "Compromise Occurrence Date",
    "Destroy Date",
    "Last Change Date",
]


def _check(raw: RawConnection, uid: str, usage: CryptographicUsageMask) -> tuple[object, ...]:
    result = raw.call(
        Operation.CHECK,
        [text(Tag.UNIQUE_IDENTIFIER, uid), Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, ItemType.INTEGER, int(usage))],
    )
    return result.status, result.reason


def _links(raw: RawConnection, uid: str) -> list[tuple[LinkType, str]]:
    links = []
    for link in raw_attributes(raw, uid, ["Link"]).get("Link", []):
        kind = link.find(Tag.LINK_TYPE)
        assert kind is not None
        assert isinstance(kind.value, int)
        links.append((LinkType(kind.value), item_text(link, Tag.LINKED_OBJECT_IDENTIFIER)))
    return links


ALLOWED = (ResultStatus.SUCCESS, None)
REFUSED = (ResultStatus.OPERATION_FAILED, ResultReason.PERMISSION_DENIED)


def test_activate_check_revoke_destroy(client: ProxyKmipClient, raw: RawConnection) -> None:
    uid = client.create(AES, 256, name=fresh_name("life"))
    assert _check(raw, uid, CryptographicUsageMask.ENCRYPT) == REFUSED  # Pre-Active: no use at all

    before = int(time.time())
    client.activate(uid)
    after = int(time.time())
    values = attributes_of(client, uid, DATES)
    assert one(values, "State") is enums.State.ACTIVE
    activated = one(values, "Activation Date")
    assert before <= activated <= after
    assert one(values, "Last Change Date") >= activated
    with pytest.raises(KmipOperationFailure) as again:
        client.activate(uid)
    assert again.value.reason is enums.ResultReason.PERMISSION_DENIED  # 11.20: not Pre-Active

    # Check: allowed usages answer the identifier; others are refused (4.10).
    assert client.check(uid, cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT]) == uid
    assert _check(raw, uid, CryptographicUsageMask.DECRYPT) == ALLOWED
    assert _check(raw, uid, CryptographicUsageMask.SIGN) == REFUSED  # not in the mask

    # An Active object cannot be destroyed (11.22).
    with pytest.raises(KmipOperationFailure) as active:
        client.destroy(uid)
    assert active.value.reason is enums.ResultReason.PERMISSION_DENIED

    client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid, revocation_message="retired")
    values = attributes_of(client, uid, DATES)
    assert one(values, "State") is enums.State.DEACTIVATED
    deactivated = one(values, "Deactivation Date")
    assert activated <= deactivated <= int(time.time())
    assert _check(raw, uid, CryptographicUsageMask.ENCRYPT) == REFUSED  # no protection once deactivated
    assert _check(raw, uid, CryptographicUsageMask.DECRYPT) == ALLOWED  # processing still is

    client.destroy(uid)
    values = attributes_of(client, uid, DATES)  # destroyed objects keep their attributes
    assert one(values, "State") is enums.State.DESTROYED
    assert one(values, "Destroy Date") >= deactivated
    assert one(values, "Activation Date") == activated
    assert "Name" in client.get_attribute_list(uid)
    with pytest.raises(KmipOperationFailure) as gone:
        client.get(uid)
    assert gone.value.reason is enums.ResultReason.ILLEGAL_OPERATION  # 11.12: only attributes remain
    with pytest.raises(KmipOperationFailure) as twice:
        client.destroy(uid)
    assert twice.value.reason is enums.ResultReason.PERMISSION_DENIED  # 11.22: already destroyed
    assert _check(raw, uid, CryptographicUsageMask.DECRYPT) == REFUSED


def test_compromise_then_destroy(client: ProxyKmipClient) -> None:
    uid = client.create(AES, 128, name=fresh_name("compromised"))
    client.activate(uid)
    occurred = int(time.time()) - 3600
    client.revoke(
        enums.RevocationReasonCode.KEY_COMPROMISE,
        uid,
        revocation_message="leaked",
        compromise_occurrence_date=occurred,
    )
    values = attributes_of(client, uid, DATES)
    assert one(values, "State") is enums.State.COMPROMISED
    assert one(values, "Compromise Occurrence Date") == occurred
    assert one(values, "Compromise Date") >= one(values, "Activation Date")
    client.destroy(uid)
    values = attributes_of(client, uid, DATES)
    assert one(values, "State") is enums.State.DESTROYED_COMPROMISED
    assert "Destroy Date" in values


def test_pre_active_object_destroyed_directly(client: ProxyKmipClient) -> None:
    uid = client.create(AES, 128, name=fresh_name("short-lived"))
    client.destroy(uid)
    values = attributes_of(client, uid, DATES)
    assert one(values, "State") is enums.State.DESTROYED
    assert "Activation Date" not in values


def test_lifecycle_through_kmip_proxy(proxy: KMIPProxy, client: ProxyKmipClient) -> None:
    uid = client.create(AES, 128, name=fresh_name("proxy-life"))
    activated = proxy.activate(uid)
    succeeded(activated)
    assert activated.uuid.value == uid
    checked = proxy.check(uid, cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT])
    assert checked["result_status"] is enums.ResultStatus.SUCCESS
    assert checked["unique_identifier"] == uid
    revoked = proxy.revoke(enums.RevocationReasonCode.SUPERSEDED, uid, revocation_message="rotated")
    succeeded(revoked)
    assert one(proxy_attributes(proxy, uid, ["State"]), "State") is enums.State.DEACTIVATED
    destroyed = proxy.destroy(uid)
    succeeded(destroyed)
    assert one(proxy_attributes(proxy, uid, ["State"]), "State") is enums.State.DESTROYED
    assert destroyed.uuid.value == uid
    missing = proxy.get(uid)
    assert missing.result_status.value is enums.ResultStatus.OPERATION_FAILED
    assert missing.result_reason.value is enums.ResultReason.ILLEGAL_OPERATION


def test_rekey_copies_name_dates_and_links(client: ProxyKmipClient, raw: RawConnection) -> None:
    name = fresh_name("rekey")
    old = client.create(AES, 256, name=name)
    client.activate(old)
    old_bytes = client.get(old).value
    old_values = attributes_of(client, old, ["Activation Date", "Initial Date"])

    new = client.rekey(uid=old)
    assert new != old
    new_key = client.get(new)
    assert (new_key.cryptographic_algorithm, new_key.cryptographic_length) == (AES, 256)
    assert new_key.value != old_bytes
    assert client.get(old).value == old_bytes  # the existing key is untouched

    new_values = attributes_of(
        client,
        new,
        ["Name", "State", "Initial Date", "Activation Date", "Digest", "Cryptographic Usage Mask"],
    )
    assert one(new_values, "Name") == (name, enums.NameType.UNINTERPRETED_TEXT_STRING)  # the name moves
    assert "Name" not in attributes_of(client, old, ["Name"])
    assert client.locate(attributes=[attribute(enums.AttributeType.NAME, name)]) == [new]
    assert one(new_values, "Activation Date") == one(old_values, "Activation Date")  # no Offset: copied
    assert one(new_values, "State") is enums.State.ACTIVE
    assert one(new_values, "Initial Date") >= one(old_values, "Initial Date")
    assert one(new_values, "Digest")[1] == hashlib.sha256(new_key.value).digest()

    assert _links(raw, old) == [(LinkType.REPLACEMENT_OBJECT_LINK, new)]
    assert _links(raw, new) == [(LinkType.REPLACED_OBJECT_LINK, old)]


def test_rekey_with_offset_through_kmip_proxy(proxy: KMIPProxy, client: ProxyKmipClient) -> None:
    old = client.create(AES, 128, name=fresh_name("rekey-offset"))
    client.activate(old)
    result = proxy.rekey(uuid=old, offset=86400)
    assert result["result_status"] is enums.ResultStatus.SUCCESS
    new = result["unique_identifier"]
    assert new != old
    values = proxy_attributes(proxy, new, ["State", "Initial Date", "Activation Date"])
    assert one(values, "Activation Date") == one(values, "Initial Date") + 86400  # Table 172
    assert one(values, "State") is enums.State.PRE_ACTIVE
    assert len(client.get(new).value) == 16
