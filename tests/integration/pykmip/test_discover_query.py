"""Discover Versions and Query through PyKMIP's ``KMIPProxy`` (``ProxyKmipClient`` has neither),
and the protocol version of every response following the request's."""

from __future__ import annotations

import pytest
from kmip.core import enums
from kmip.core.messages.contents import ProtocolVersion
from kmip.services.kmip_client import KMIPProxy

from kmip_server.operations import REGISTRY
from tests.integration.pykmip.helpers import succeeded
from tests.support.server import RawConnection, batch_item, parse_response, request_message
from ttlv import Item, ItemType, decode
from ttlv.kmip14 import Operation, ProfileName, QueryFunction, ResultReason, ResultStatus, Tag

pytestmark = pytest.mark.integration

SUPPORTED = [(1, 4), (1, 3), (1, 2), (1, 1), (1, 0)]

# Every operation the Core registers, as PyKMIP names it: Query must list exactly these.
OPERATIONS = {enums.Operation(int(operation)) for operation in REGISTRY}
# What the claimed profiles (Baseline, Symmetric Key Lifecycle, Opaque Managed Object Store) need.
BASELINE = {
    enums.Operation.CREATE,
    enums.Operation.REGISTER,
    enums.Operation.LOCATE,
    enums.Operation.GET,
    enums.Operation.GET_ATTRIBUTES,
    enums.Operation.GET_ATTRIBUTE_LIST,
    enums.Operation.ADD_ATTRIBUTE,
    enums.Operation.MODIFY_ATTRIBUTE,
    enums.Operation.DELETE_ATTRIBUTE,
    enums.Operation.ACTIVATE,
    enums.Operation.REVOKE,
    enums.Operation.DESTROY,
    enums.Operation.QUERY,
    enums.Operation.DISCOVER_VERSIONS,
}

OBJECT_TYPES = {
    enums.ObjectType.CERTIFICATE,
    enums.ObjectType.SYMMETRIC_KEY,
    enums.ObjectType.PUBLIC_KEY,
    enums.ObjectType.PRIVATE_KEY,
    enums.ObjectType.SPLIT_KEY,
    enums.ObjectType.SECRET_DATA,
    enums.ObjectType.OPAQUE_DATA,
}


def _pairs(versions: list[ProtocolVersion]) -> list[tuple[int, int]]:
    return [(v.major, v.minor) for v in versions]


def test_discover_versions(proxy: KMIPProxy) -> None:
    every = proxy.discover_versions()
    succeeded(every)
    assert _pairs(every.protocol_versions) == SUPPORTED  # highest first (4.26)

    offered = [ProtocolVersion(2, 0), ProtocolVersion(1, 1), ProtocolVersion(1, 4), ProtocolVersion(0, 9)]
    common = proxy.discover_versions(protocol_versions=offered)
    succeeded(common)
    assert _pairs(common.protocol_versions) == [(1, 4), (1, 1)]  # both support; ranked, 2.0 dropped

    none = proxy.discover_versions(protocol_versions=[ProtocolVersion(2, 0)])
    succeeded(none)
    assert not none.protocol_versions


def test_query(proxy: KMIPProxy) -> None:
    result = proxy.query(
        query_functions=[
            enums.QueryFunction.QUERY_OPERATIONS,
            enums.QueryFunction.QUERY_OBJECTS,
            enums.QueryFunction.QUERY_SERVER_INFORMATION,
        ]
    )
    succeeded(result)
    assert set(result.operations) == OPERATIONS
    assert BASELINE <= OPERATIONS
    assert len(result.operations) == len(OPERATIONS)
    assert set(result.object_types) == OBJECT_TYPES
    assert result.vendor_identification == "OpenKCM"

    only_objects = proxy.query(query_functions=[enums.QueryFunction.QUERY_OBJECTS])
    succeeded(only_objects)
    assert not only_objects.operations
    assert set(only_objects.object_types) == OBJECT_TYPES


def test_query_profiles_at_1_4(raw: RawConnection) -> None:
    """PyKMIP 0.11 does not read Profile Information (1.3+); the claimed profiles, read raw."""
    result = raw.call(
        Operation.QUERY, [Item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, int(QueryFunction.QUERY_PROFILES))]
    )
    assert result.status is ResultStatus.SUCCESS
    assert result.payload is not None
    names = {
        ProfileName(info.find(Tag.PROFILE_NAME).value)  # type: ignore[union-attr,arg-type]
        for info in result.payload.find_all(Tag.PROFILE_INFORMATION)
    }
    assert {
        ProfileName.BASELINE_SERVER_TLS_V1_2_KMIP_V1_4,
        ProfileName.SYMMETRIC_KEY_LIFECYCLE_SERVER_KMIP_V1_4,
        ProfileName.OPAQUE_MANAGED_OBJECT_STORE_SERVER_KMIP_V1_4,
    } <= names, names


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4])
def test_response_version_follows_request(raw: RawConnection, minor: int) -> None:
    objects = Item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, int(QueryFunction.QUERY_OBJECTS))
    answer = raw.exchange(request_message([batch_item(Operation.QUERY, [objects])], (1, minor)))
    header = decode(answer).find(Tag.RESPONSE_HEADER)
    assert header is not None
    version = header.find(Tag.PROTOCOL_VERSION)
    assert version is not None
    assert version.find(Tag.PROTOCOL_VERSION_MAJOR).value == 1  # type: ignore[union-attr]
    assert version.find(Tag.PROTOCOL_VERSION_MINOR).value == minor  # type: ignore[union-attr]
    assert header.find(Tag.TIME_STAMP) is not None
    (result,) = parse_response(answer)
    assert result.status is ResultStatus.SUCCESS


def test_discover_versions_is_not_kmip_1_0(raw: RawConnection) -> None:
    """Discover Versions arrived in KMIP 1.1: a 1.0 request for it is Operation Not Supported."""
    result = raw.call(Operation.DISCOVER_VERSIONS, version=(1, 0))
    assert result.status is ResultStatus.OPERATION_FAILED
    assert result.reason is ResultReason.OPERATION_NOT_SUPPORTED
