"""The store implementations the contract suites run against, and records to store.

Each kind opens (or reopens) the store persisted at a place, a directory owned by the test.
A new implementation joins every contract test, restart and SIGKILL included, with one line
in ``STORE_KINDS`` (``ObjectStore``) or ``HIERARCHY_KINDS`` (``HierarchyStore``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kmip_server.model import (
    AlternativeName,
    ApplicationSpecificInformation,
    Attribute,
    CryptographicParameters,
    Digest,
    Link,
    Name,
    RevocationReason,
    UsageLimits,
)
from kmip_server.storage import (
    HierarchyStore,
    IvkRecord,
    IvkState,
    L1State,
    ServiceKeyRecord,
    ServiceKeyState,
    TenantRootRecord,
)
from kmip_server.storage.memory import MemoryObjectStore
from kmip_server.storage.objects import ObjectRecord, ObjectStore
from kmip_server.storage.postgres import PostgresHierarchyStore, PostgresObjectStore
from kmip_server.storage.sqlite import SqliteStore
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from tests.support.postgres import place_settings
from ttlv.item import Item, ItemType, ItemValue
from ttlv.kmip14 import (
    AlternativeNameType,
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    KeyFormatType,
    LinkType,
    NameType,
    ObjectType,
    PaddingMethod,
    RevocationReasonCode,
    State,
    Tag,
    UsageLimitsUnit,
)
from unseal.blob import BlobHeader, Layer, cipher_for, wrap


@dataclass(frozen=True, slots=True)
class StoreKind:
    name: str
    open: Callable[[Path], Awaitable[ObjectStore]]  # the store kept at this place (a directory)
    durable: bool  # what it stored is still there when it is opened again at the same place


async def _memory(place: Path) -> ObjectStore:
    return MemoryObjectStore()


async def _sqlite(place: Path) -> ObjectStore:
    return await SqliteObjectStore.open(place / "objects.db")


async def _postgres(place: Path) -> ObjectStore:
    return await PostgresObjectStore.open(await place_settings(place))


STORE_KINDS: dict[str, StoreKind] = {
    kind.name: kind
    for kind in (
        StoreKind("memory", _memory, durable=False),
        StoreKind("sqlite", _sqlite, durable=True),
        StoreKind("postgres", _postgres, durable=True),
    )
}


@dataclass(frozen=True, slots=True)
class HierarchyKind:
    name: str
    open: Callable[[Path], Awaitable[HierarchyStore]]  # the store kept at this place (a directory)


async def _sqlite_hierarchy(place: Path) -> HierarchyStore:
    return await SqliteStore.open(place / "hierarchy.db")


async def _postgres_hierarchy(place: Path) -> HierarchyStore:
    return await PostgresHierarchyStore.open(await place_settings(place))


HIERARCHY_KINDS: dict[str, HierarchyKind] = {
    kind.name: kind
    for kind in (
        HierarchyKind("sqlite", _sqlite_hierarchy),
        HierarchyKind("postgres", _postgres_hierarchy),
    )
}

T0 = 1_700_000_000  # a Date-Time (seconds since the epoch)


def name(value: str, index: int | None = None) -> Attribute:
    return Attribute(
        name="Name", index=index, value=Name(name_value=value, name_type=NameType.UNINTERPRETED_TEXT_STRING)
    )


def custom(attribute_name: str, itype: ItemType, value: ItemValue) -> Attribute:
    """A custom attribute as the model decodes one from a request: its raw Attribute Value."""
    return Attribute(name=attribute_name, value=Item(Tag.ATTRIBUTE_VALUE, itype, value))


def rich_attributes(uid: str) -> tuple[Attribute, ...]:
    """One of nearly every kind of value an Attribute carries."""
    nested = (
        Item(0x540001, ItemType.TEXT_STRING, "inner"),
        Item(0x540002, ItemType.BYTE_STRING, b"\x00\xff" * 3),
        Item(0x540003, ItemType.STRUCTURE, (Item(0x540004, ItemType.INTEGER, -7),)),
    )
    return (
        name(f"{uid}-primary", 0),
        name(f"{uid}-alias", 1),
        Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),
        Attribute(name="Cryptographic Length", value=256),
        Attribute(
            name="Cryptographic Usage Mask",
            value=CryptographicUsageMask.ENCRYPT
            | CryptographicUsageMask.DECRYPT
            | CryptographicUsageMask.EXPORT,
        ),
        Attribute(
            name="Cryptographic Parameters",
            value=CryptographicParameters(
                block_cipher_mode=BlockCipherMode.GCM,
                padding_method=PaddingMethod.NONE,
                random_iv=True,
                tag_length=16,
                cryptographic_algorithm=CryptographicAlgorithm.AES,
            ),
        ),
        Attribute(
            name="Digest",
            value=Digest(
                hashing_algorithm=HashingAlgorithm.SHA_256,
                digest_value=bytes(range(32)),
                key_format_type=KeyFormatType.RAW,
            ),
        ),
        Attribute(name="Initial Date", value=T0),
        Attribute(name="Activation Date", value=T0 + 60),
        Attribute(name="Last Change Date", value=T0 + 120),
        Attribute(name="Lease Time", value=3600),
        Attribute(
            name="Usage Limits",
            value=UsageLimits(usage_limits_total=1 << 40, usage_limits_unit=UsageLimitsUnit.OBJECT),
        ),
        Attribute(
            name="Link",
            index=0,
            value=Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier="pub-1"),
        ),
        Attribute(
            name="Link",
            index=1,
            value=Link(link_type=LinkType.PARENT_LINK, linked_object_identifier="parent-1"),
        ),
        Attribute(name="Object Group", value="group-a"),
        Attribute(name="Fresh", value=False),
        Attribute(name="Contact Information", value="security@example.test"),
        Attribute(
            name="Application Specific Information",
            value=ApplicationSpecificInformation(
                application_namespace="ssl", application_data="example.test"
            ),
        ),
        Attribute(
            name="Alternative Name",
            value=AlternativeName(
                alternative_name_value="alt",
                alternative_name_type=AlternativeNameType.UNINTERPRETED_TEXT_STRING,
            ),
        ),
        Attribute(name="Description", value="a key with one of everything"),
        Attribute(name="Sensitive", value=True),
        custom("x-text", ItemType.TEXT_STRING, "héllo ☃"),
        custom("x-integer", ItemType.INTEGER, -42),
        custom("x-long", ItemType.LONG_INTEGER, -(1 << 62)),
        custom("x-big", ItemType.BIG_INTEGER, (1 << 200) + 12345),
        custom("x-enumeration", ItemType.ENUMERATION, 0x80000001),
        custom("x-boolean", ItemType.BOOLEAN, True),
        custom("x-bytes", ItemType.BYTE_STRING, b"\x00binary\xff"),
        custom("x-date", ItemType.DATE_TIME, T0),
        custom("x-interval", ItemType.INTERVAL, 86400),
        custom("x-structure", ItemType.STRUCTURE, nested),
        custom("y-server", ItemType.TEXT_STRING, "server-defined"),
    )


def revoked_reason() -> Attribute:
    return Attribute(
        name="Revocation Reason",
        value=RevocationReason(
            revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE, revocation_message="leak"
        ),
    )


def record(
    uid: str,
    tenant: str = "tenant-a",
    *,
    service: str = "payments",
    object_type: ObjectType = ObjectType.SYMMETRIC_KEY,
    state: State = State.ACTIVE,
    names: tuple[str, ...] = (),
    attributes: tuple[Attribute, ...] = (),
    material: bytes | None = b"OKCM-l4-blob",
) -> ObjectRecord:
    return ObjectRecord(
        unique_identifier=uid,
        tenant_id=tenant,
        service=service,
        object_type=object_type,
        state=state,
        attributes=tuple(name(value, index) for index, value in enumerate(names)) + attributes,
        material=material,
    )


def record_for_uid(uid: str) -> ObjectRecord:
    """A record entirely determined by its identifier (what the SIGKILL test re-checks)."""
    number = int(uid.rsplit("-", 1)[1])
    return record(
        uid,
        f"tenant-{number % 3}",
        names=(f"name-{uid}",),
        attributes=(Attribute(name="Cryptographic Length", value=128 + number),),
        material=uid.encode() * 4,
    )


# The key hierarchy's records --------------------------------------------------------------------

CIPHER = cipher_for(bytes(32))


def binding(layer: Layer, tenant: str, ivk_version: int) -> bytes:
    return wrap(BlobHeader(layer, tenant, f"l2-{tenant}", 1, "ivk", ivk_version), CIPHER, b"k" * 32)


def root(tenant: str, ivk_version: int = 1, *, linked: bool = True) -> TenantRootRecord:
    return TenantRootRecord(
        tenant_id=tenant,
        l2_id=f"l2-{tenant}",
        keystore_kind="software",
        l1_key_id="key",
        sovereign_binding=binding(Layer.L2_SOVEREIGN, tenant, ivk_version),
        active_binding=binding(Layer.L2_ACTIVE, tenant, ivk_version) if linked else None,
        linked=linked,
        last_l1_check=100.0,
        l1_state=L1State.OK,
        l1_state_at=100.0,
        created_at=100.0,
    )


def ivk(version: int, state: IvkState = IvkState.ACTIVE) -> IvkRecord:
    return IvkRecord(version, state, b"blob-%d" % version, 10.0 * version, 0)


def service_key(tenant: str, number: int, service: str = "svc") -> ServiceKeyRecord:
    return ServiceKeyRecord(
        tenant, service, number, ServiceKeyState.ACTIVE, b"blob-%d" % number, float(number)
    )


def rewind_sqlite_schema(path: Path, component: str, version: int, *statements: str) -> None:
    """Make the SQLite file at ``path`` look as ``component``'s schema ``version`` left it:
    ``statements`` undo what later versions added, and the recorded version goes back."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "UPDATE schema_versions SET version = ? WHERE component = ?", (version, component)
            )
    finally:
        connection.close()
