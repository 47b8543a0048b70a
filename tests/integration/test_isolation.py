"""Tenant isolation against a live Core: two tenants (acme, globex) with their own client
certificates, and identities that map to nothing.

For every operation that names an object, another tenant's Unique Identifier must get an answer
that is byte for byte the answer to a random identifier that never existed (Result Status,
Reason and Message: the whole response Batch Item), the owner's object must be untouched
afterwards (its attributes, Last Change Date included, and its key bytes), and Locate must not
find it, by name or otherwise. Names are per tenant: a name taken in one tenant is free in the
other (a refusal would reveal that it exists).

An identity that maps to nothing (the dev CA, a SPIFFE ID matching no pattern; or a tenant
SPIFFE ID of another trust domain) gets Permission Denied for every operation, Query and
Discover Versions included, and cannot tell an existing identifier from a random one either.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

from tests.support.server import (
    KMIP_1_2,
    KMIP_1_4,
    BatchResult,
    ClientCertificate,
    CoreProcess,
    CoreProcesses,
    RawConnection,
    attribute_item,
    create_aes_payload,
    issue_extra_clients,
    key_material,
    name_value,
    pykmip_client,
    pykmip_proxy,
    register_secret_payload,
    text,
)
from ttlv import Item, ItemType, encode
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicUsageMask,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    Tag,
    WrappingMethod,
)

pytestmark = pytest.mark.integration

Payload = Callable[[str], list[Item]]


def _uid(uid: str) -> list[Item]:
    return [text(Tag.UNIQUE_IDENTIFIER, uid)]


def _wrapped_by(wrapping_uid: str, target: str) -> list[Item]:
    """Get ``target`` wrapped under ``wrapping_uid`` (NIST key wrap)."""
    specification = Item(
        Tag.KEY_WRAPPING_SPECIFICATION,
        ItemType.STRUCTURE,
        (
            Item(Tag.WRAPPING_METHOD, ItemType.ENUMERATION, int(WrappingMethod.ENCRYPT)),
            Item(
                Tag.ENCRYPTION_KEY_INFORMATION,
                ItemType.STRUCTURE,
                (
                    text(Tag.UNIQUE_IDENTIFIER, wrapping_uid),
                    Item(
                        Tag.CRYPTOGRAPHIC_PARAMETERS,
                        ItemType.STRUCTURE,
                        (
                            Item(
                                Tag.BLOCK_CIPHER_MODE, ItemType.ENUMERATION, int(BlockCipherMode.NISTKEYWRAP)
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )
    return [text(Tag.UNIQUE_IDENTIFIER, target), specification]


# What an intruder tries on an object it names by identifier: operation -> request payload.
ATTEMPTS: dict[str, tuple[Operation, Payload]] = {
    "get": (Operation.GET, _uid),
    "get-attributes": (Operation.GET_ATTRIBUTES, _uid),
    "get-attributes-named": (
        Operation.GET_ATTRIBUTES,
        lambda uid: [*_uid(uid), text(Tag.ATTRIBUTE_NAME, "State"), text(Tag.ATTRIBUTE_NAME, "Name")],
    ),
    "get-attribute-list": (Operation.GET_ATTRIBUTE_LIST, _uid),
    "add-attribute": (
        Operation.ADD_ATTRIBUTE,
        lambda uid: [
            *_uid(uid),
            attribute_item("Contact Information", text(Tag.ATTRIBUTE_VALUE, "intruder")),
        ],
    ),
    "modify-attribute": (
        Operation.MODIFY_ATTRIBUTE,
        lambda uid: [*_uid(uid), attribute_item("Name", name_value(f"stolen-{uuid.uuid4().hex}"))],
    ),
    "modify-absent-attribute": (
        Operation.MODIFY_ATTRIBUTE,
        lambda uid: [*_uid(uid), attribute_item("Contact Information", text(Tag.ATTRIBUTE_VALUE, "x"))],
    ),
    "delete-attribute": (
        Operation.DELETE_ATTRIBUTE,
        lambda uid: [*_uid(uid), text(Tag.ATTRIBUTE_NAME, "Name")],
    ),
    "delete-read-only-attribute": (
        Operation.DELETE_ATTRIBUTE,
        lambda uid: [*_uid(uid), text(Tag.ATTRIBUTE_NAME, "Cryptographic Algorithm")],
    ),
    "activate": (Operation.ACTIVATE, _uid),
    "revoke": (
        Operation.REVOKE,
        lambda uid: [
            *_uid(uid),
            Item(
                Tag.REVOCATION_REASON,
                ItemType.STRUCTURE,
                (
                    Item(
                        Tag.REVOCATION_REASON_CODE,
                        ItemType.ENUMERATION,
                        int(RevocationReasonCode.KEY_COMPROMISE),
                    ),
                ),
            ),
        ],
    ),
    "destroy": (Operation.DESTROY, _uid),
    "check": (
        Operation.CHECK,
        lambda uid: [
            *_uid(uid),
            Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, ItemType.INTEGER, int(CryptographicUsageMask.ENCRYPT)),
        ],
    ),
    "re-key": (Operation.RE_KEY, _uid),
}


@dataclass
class Tenant:
    name: str
    pre_active: str  # an AES key never activated
    active: str  # an Active AES key that may wrap keys
    secret: str  # Secret Data
    key_name: str  # the Name of ``pre_active``


@dataclass
class World:
    core: CoreProcess
    tenants: dict[str, Tenant]
    extra: dict[str, ClientCertificate]


def _populate(core: CoreProcess, tenant: str) -> Tenant:
    key_name = f"{tenant}-key-{uuid.uuid4().hex[:8]}"
    with pykmip_client(core, tenant, KMIP_1_4) as client:
        pre_active = client.create(enums.CryptographicAlgorithm.AES, 256, name=key_name)
        active = client.create(
            enums.CryptographicAlgorithm.AES,
            256,
            name=f"{tenant}-kek-{uuid.uuid4().hex[:8]}",
            cryptographic_usage_mask=[enums.CryptographicUsageMask.WRAP_KEY],
        )
        client.activate(active)
    with RawConnection(core, tenant) as raw:
        registered = raw.call(Operation.REGISTER, register_secret_payload(b"hunter2", f"{tenant}-secret"))
        assert registered.status is ResultStatus.SUCCESS, registered.outcome()
        assert registered.payload is not None
        secret = registered.payload.find(Tag.UNIQUE_IDENTIFIER)
        assert secret is not None
        assert isinstance(secret.value, str)
    return Tenant(tenant, pre_active, active, secret.value, key_name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("isolation")
    with CoreProcesses() as cores:
        core = cores.start(base / "dev", label="isolation-core")
        tenants = {name: _populate(core, name) for name in ("acme", "globex")}
        yield World(core, tenants, issue_extra_clients(core, base / "extra"))
        assert core.alive(), core.output()
        assert core.terminate() == 0, core.output()
        assert "Traceback" not in core.stderr.read_text()


def _snapshot(core: CoreProcess, owner: Tenant) -> dict[str, bytes]:
    """What the owner sees of its objects: every attribute (encoded) and the key bytes."""
    seen: dict[str, bytes] = {}
    with RawConnection(core, owner.name) as raw:
        for uid in (owner.pre_active, owner.active, owner.secret):
            # Get first: the owner's own first Get clears Fresh (3.34), which is not a change
            # an intruder made.
            got = raw.call(Operation.GET, _uid(uid))
            assert got.status is ResultStatus.SUCCESS, got.outcome()
            assert got.payload is not None
            seen[f"{uid}/material"] = key_material(got.payload)
            attributes = raw.call(Operation.GET_ATTRIBUTES, _uid(uid))
            assert attributes.status is ResultStatus.SUCCESS, attributes.outcome()
            assert attributes.payload is not None
            seen[f"{uid}/attributes"] = encode(attributes.payload)
    return seen


def _not_found(result: BatchResult) -> None:
    assert result.status is ResultStatus.OPERATION_FAILED
    assert result.reason is ResultReason.ITEM_NOT_FOUND, result.outcome()
    assert result.payload is None


DIRECTIONS = [("acme", "globex"), ("globex", "acme")]


@pytest.mark.parametrize(("owner", "intruder"), DIRECTIONS, ids=["globex-vs-acme", "acme-vs-globex"])
@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_another_tenants_identifier_is_a_nonexistent_one(
    world: World, owner: str, intruder: str, attempt: str
) -> None:
    target = world.tenants[owner]
    before = _snapshot(world.core, target)
    operation, payload = ATTEMPTS[attempt]
    with RawConnection(world.core, intruder) as raw:
        for uid in (target.pre_active, target.active, target.secret):
            theirs = raw.call(operation, payload(uid))
            nobody = raw.call(operation, payload(str(uuid.uuid4())))
            _not_found(nobody)
            assert theirs.outcome() == nobody.outcome()
            assert theirs.encoded == nobody.encoded  # the whole Batch Item, byte for byte
    assert _snapshot(world.core, target) == before


@pytest.mark.parametrize(("owner", "intruder"), DIRECTIONS, ids=["globex-vs-acme", "acme-vs-globex"])
def test_another_tenants_key_wraps_nothing(world: World, owner: str, intruder: str) -> None:
    """Naming the other tenant's key as the wrapping key of one's own Get: Item Not Found,
    exactly as for a wrapping key that does not exist (11.12)."""
    mine = world.tenants[intruder].pre_active
    with RawConnection(world.core, intruder) as raw:
        theirs = raw.call(Operation.GET, _wrapped_by(world.tenants[owner].active, mine))
        nobody = raw.call(Operation.GET, _wrapped_by(str(uuid.uuid4()), mine))
        _not_found(nobody)
        assert theirs.encoded == nobody.encoded
        # The intruder's own wrapping key works, so the refusal above is about ownership.
        own = raw.call(Operation.GET, _wrapped_by(world.tenants[intruder].active, mine))
        assert own.status is ResultStatus.SUCCESS, own.outcome()


@pytest.mark.parametrize(("owner", "intruder"), DIRECTIONS, ids=["globex-vs-acme", "acme-vs-globex"])
def test_locate_never_finds_another_tenants_objects(world: World, owner: str, intruder: str) -> None:
    target = world.tenants[owner]
    theirs = {target.pre_active, target.active, target.secret}
    with pykmip_client(world.core, intruder, KMIP_1_4) as client:
        by_name = client.attribute_factory.create_attribute(enums.AttributeType.NAME, target.key_name)
        assert client.locate(attributes=[by_name]) == []
        everything = set(client.locate())
        assert everything
        assert not everything & theirs
        for kind in (enums.ObjectType.SYMMETRIC_KEY, enums.ObjectType.SECRET_DATA):
            of_type = client.attribute_factory.create_attribute(enums.AttributeType.OBJECT_TYPE, kind)
            assert not set(client.locate(attributes=[of_type])) & theirs
        active = client.attribute_factory.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE)
        assert not set(client.locate(attributes=[active])) & theirs


@pytest.mark.parametrize(("owner", "intruder"), DIRECTIONS, ids=["globex-vs-acme", "acme-vs-globex"])
def test_names_are_per_tenant(world: World, owner: str, intruder: str) -> None:
    """A name the other tenant uses is free here: refusing it would reveal that it exists."""
    taken = f"shared-{uuid.uuid4().hex[:8]}"
    with RawConnection(world.core, owner) as raw:
        assert raw.call(Operation.CREATE, create_aes_payload(128, taken)).status is ResultStatus.SUCCESS
        assert raw.call(Operation.CREATE, create_aes_payload(128, taken)).reason is ResultReason.INVALID_FIELD
    with RawConnection(world.core, intruder) as raw:
        created = raw.call(Operation.CREATE, create_aes_payload(128, taken))
        assert created.status is ResultStatus.SUCCESS, created.outcome()
        registered = raw.call(Operation.REGISTER, register_secret_payload(b"x", f"{owner}-secret"))
        assert registered.status is ResultStatus.SUCCESS, registered.outcome()


@pytest.mark.parametrize(("owner", "intruder"), DIRECTIONS, ids=["globex-vs-acme", "acme-vs-globex"])
def test_pykmip_sees_item_not_found(world: World, owner: str, intruder: str) -> None:
    """The same through PyKMIP's client, as a user would meet it."""
    target = world.tenants[owner]
    calls: dict[str, Callable[[ProxyKmipClient, str], object]] = {
        "get": lambda c, uid: c.get(uid),
        "get_attributes": lambda c, uid: c.get_attributes(uid),
        "get_attribute_list": lambda c, uid: c.get_attribute_list(uid),
        "activate": lambda c, uid: c.activate(uid),
        "revoke": lambda c, uid: c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid),
        "destroy": lambda c, uid: c.destroy(uid),
        "rekey": lambda c, uid: c.rekey(uid=uid),
    }
    with pykmip_client(world.core, intruder, KMIP_1_2) as client:
        for name, call in calls.items():
            answers = []
            for uid in (target.active, str(uuid.uuid4())):
                with pytest.raises(KmipOperationFailure) as failed:
                    call(client, uid)
                answers.append((failed.value.status, failed.value.reason, str(failed.value.message)))
            assert answers[0] == answers[1], name
            assert answers[0][1] is enums.ResultReason.ITEM_NOT_FOUND, name


# -- identities that map to nothing ---------------------------------------------------------------


def _everything(acme_uid: str, name: str) -> dict[Operation, list[Item]]:
    """A well-formed request payload for every operation the server implements."""
    requests: dict[Operation, list[Item]] = {op: build(acme_uid) for op, build in ATTEMPTS.values()}
    requests[Operation.CREATE] = create_aes_payload(128, name)
    requests[Operation.REGISTER] = register_secret_payload(b"secret", f"{name}-secret")
    requests[Operation.LOCATE] = []
    requests[Operation.QUERY] = [
        Item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, int(QueryFunction.QUERY_OPERATIONS)),
        Item(Tag.QUERY_FUNCTION, ItemType.ENUMERATION, int(QueryFunction.QUERY_OBJECTS)),
    ]
    requests[Operation.DISCOVER_VERSIONS] = []
    return requests


@pytest.mark.parametrize("who", ["unknown", "stranger"])
@pytest.mark.parametrize("version", [(1, 2), (1, 4)], ids=["kmip-1.2", "kmip-1.4"])
def test_unknown_identity_is_denied_everything(world: World, who: str, version: tuple[int, int]) -> None:
    acme = world.tenants["acme"]
    before = _snapshot(world.core, acme)
    name = f"unknown-{uuid.uuid4().hex[:8]}"
    with RawConnection(world.core, world.extra[who]) as raw:
        for operation, payload in _everything(acme.active, name).items():
            result = raw.call(operation, payload, version)
            assert result.status is ResultStatus.OPERATION_FAILED, operation
            assert result.reason is ResultReason.PERMISSION_DENIED, (operation, result.outcome())
            assert result.payload is None, operation
        # Existing or not, an identifier tells it nothing.
        for operation, build in ATTEMPTS.values():
            existing = raw.call(operation, build(acme.active), version)
            random = raw.call(operation, build(str(uuid.uuid4())), version)
            assert existing.encoded == random.encoded, operation
    assert _snapshot(world.core, acme) == before
    for tenant in ("acme", "globex"):  # nothing was created anywhere
        with pykmip_client(world.core, tenant, KMIP_1_4) as client:
            for created in (name, f"{name}-secret"):
                by_name = client.attribute_factory.create_attribute(enums.AttributeType.NAME, created)
                assert client.locate(attributes=[by_name]) == []


@pytest.mark.parametrize("who", ["unknown", "stranger"])
def test_unknown_identity_through_pykmip(world: World, who: str) -> None:
    with (
        pykmip_client(world.core, world.extra[who], KMIP_1_2) as client,
        pytest.raises(KmipOperationFailure) as denied,
    ):
        client.create(enums.CryptographicAlgorithm.AES, 128)
    assert denied.value.reason is enums.ResultReason.PERMISSION_DENIED
    proxy = pykmip_proxy(world.core, world.extra[who], KMIP_1_4)
    proxy.open()
    try:
        query = proxy.query(query_functions=[enums.QueryFunction.QUERY_OPERATIONS])
        assert query.result_status.value is enums.ResultStatus.OPERATION_FAILED
        assert query.result_reason.value is enums.ResultReason.PERMISSION_DENIED
        assert not query.operations
        # (PyKMIP's discover_versions reads the payload of a failure and crashes: raw test above.)
    finally:
        proxy.close()
