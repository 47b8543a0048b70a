"""A Krypton Core without a network for engine and operation tests.

A real ``KeyHierarchy`` over a temporary SQLite file with the software keystore as every
tenant's L1, the in-memory object store, and a ``RequestEngine`` over both. Requests are built
with the message model, sent as bytes through ``RequestEngine.handle`` and decoded back, so every
test crosses the same path as a client's message.

Each test runs its scenario with ``run_core(tmp_path, scenario)``: the keystore lives outside
the event loop (its driver is closed by ``asyncio.run`` of its own), the rest inside.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kmip_server.engine import AuditEvent, EngineSettings, RequestEngine
from kmip_server.hierarchy import KeyHierarchy, ManualClock
from kmip_server.identity import Identity, IdentitySource, Role
from kmip_server.model import (
    Attribute,
    CapabilityInformation,
    Name,
    ProtocolVersion,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    ResponseBatchItem,
    ResponseMessage,
    TemplateAttribute,
    request_to_bytes,
    response_from_bytes,
)
from kmip_server.model.payloads import (
    CreateRequestPayload,
    UniqueIdentifierRequestPayload,
)
from kmip_server.objects import ObjectService, ObjectSettings, TenantObjects
from kmip_server.operations import OperationContext, ServerInfo
from kmip_server.storage.memory import MemoryObjectStore
from kmip_server.storage.sqlite import SqliteStore
from tests.support.keystores import KeystoreEnv, keystore_environment
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    NameType,
    ObjectType,
    Operation,
    ResultStatus,
)
from unseal.memory import SecretBuffer

__all__ = [
    "NOW",
    "OPERATOR",
    "UNKNOWN",
    "Core",
    "Seal",
    "aes_template",
    "batch_item",
    "create_aes",
    "create_item",
    "linked_hierarchy",
    "operation_context",
    "payload_of",
    "run_core",
    "tenant",
    "uid_item",
]

NOW = 1_700_000_000  # the engine's clock in these tests (POSIX seconds)
TENANTS = ("tenant-a", "tenant-b")


def tenant(name: str, service: str = "svc") -> Identity:
    return Identity(
        Role.TENANT_CLIENT,
        f"spiffe://openkcm.local/tenant/{name}/service/{service}",
        source=IdentitySource.SPIFFE_ID,
        tenant=name,
        service=service,
    )


OPERATOR = Identity(Role.OPERATOR, "spiffe://openkcm.local/operator/ops", operator="ops")
UNKNOWN = Identity(Role.UNKNOWN, "CN=stranger", refusal="common name not in the identity table")


class Seal:
    """A seal state the test flips (the engine reads ``unsealed``, as of a SealController)."""

    def __init__(self) -> None:
        self.unsealed = True


@dataclass
class Core:
    engine: RequestEngine
    objects: ObjectService
    store: MemoryObjectStore
    hierarchy: KeyHierarchy
    seal: Seal
    clock: list[int]
    audit: list[AuditEvent] = field(default_factory=list)

    async def send_bytes(self, data: bytes, peer: Identity | None = None) -> ResponseMessage:
        answer = await self.engine.handle(data, peer or tenant("tenant-a"))
        assert answer is not None
        return response_from_bytes(answer)

    async def send(
        self,
        *items: RequestBatchItem,
        peer: Identity | None = None,
        version: tuple[int, int] = (1, 4),
        **header: Any,
    ) -> ResponseMessage:
        request = RequestMessage(
            request_header=RequestHeader(
                protocol_version=ProtocolVersion(major=version[0], minor=version[1]),
                batch_count=len(items),
                **header,
            ),
            batch_items=items,
        )
        return await self.send_bytes(request_to_bytes(request), peer)

    async def one(
        self, item: RequestBatchItem, peer: Identity | None = None, **header: Any
    ) -> ResponseBatchItem:
        response = await self.send(item, peer=peer, **header)
        assert len(response.batch_items) == 1
        return response.batch_items[0]

    async def ok(self, item: RequestBatchItem, peer: Identity | None = None) -> Any:
        answer = await self.one(item, peer)
        assert answer.result_status is ResultStatus.SUCCESS, (answer.result_reason, answer.result_message)
        return answer.response_payload


T = TypeVar("T")


def payload_of(item: ResponseBatchItem, cls: type[T]) -> T:
    """The response payload of a successful batch item, as ``cls``."""
    assert item.result_status is ResultStatus.SUCCESS, (item.result_reason, item.result_message)
    payload = item.response_payload
    assert isinstance(payload, cls), type(payload)
    return payload


def batch_item(operation: Operation, payload: Any, batch_id: bytes | None = None) -> RequestBatchItem:
    return RequestBatchItem(operation=operation, request_payload=payload, unique_batch_item_id=batch_id)


def aes_template(
    length: int = 256,
    mask: CryptographicUsageMask = CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
    name: str | None = None,
    extra: tuple[Attribute, ...] = (),
) -> TemplateAttribute:
    attributes = [
        Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),
        Attribute(name="Cryptographic Length", value=length),
        Attribute(name="Cryptographic Usage Mask", value=mask),
    ]
    if name is not None:
        attributes.append(
            Attribute(name="Name", value=Name(name_value=name, name_type=NameType.UNINTERPRETED_TEXT_STRING))
        )
    return TemplateAttribute(attributes=(*attributes, *extra))


def create_item(template: TemplateAttribute | None = None, batch_id: bytes | None = None) -> RequestBatchItem:
    return batch_item(
        Operation.CREATE,
        CreateRequestPayload(
            object_type=ObjectType.SYMMETRIC_KEY, template_attribute=template or aes_template()
        ),
        batch_id,
    )


def uid_item(
    operation: Operation, unique_identifier: str | None = None, batch_id: bytes | None = None
) -> RequestBatchItem:
    return batch_item(
        operation, UniqueIdentifierRequestPayload(unique_identifier=unique_identifier), batch_id
    )


async def create_aes(core: Core, peer: Identity | None = None, **template: Any) -> str:
    payload = await core.ok(create_item(aes_template(**template)), peer)
    unique_identifier: str = payload.unique_identifier
    return unique_identifier


def operation_context(
    scope: TenantObjects, *, tenant_id: str = "tenant-a", correlation: str = "test"
) -> OperationContext:
    """A request context of ``tenant_id`` (KMIP 1.4, at ``NOW``) whose objects are ``scope``: for
    calling an operation's handler directly, without the engine."""
    server = ServerInfo(
        vendor_identification="test",
        server_information=None,
        operations=(),
        object_types=(),
        versions=((1, 4),),
        profiles=(),
        capabilities=CapabilityInformation(),
        rng_parameters=(),
    )
    return OperationContext(
        identity=tenant(tenant_id),
        version=(1, 4),
        now=NOW,
        server=server,
        correlation=correlation,
        scope=scope,
    )


@contextlib.asynccontextmanager
async def linked_hierarchy(
    env: KeystoreEnv, tmp_path: Path, tenants: Sequence[str] = TENANTS
) -> AsyncIterator[KeyHierarchy]:
    """A key hierarchy over ``tmp_path``/hierarchy.db, attached, each of ``tenants`` linked to a
    key of ``env`` (the software keystore); detached and closed on exit."""
    hierarchy_store = await SqliteStore.open(tmp_path / "hierarchy.db")
    hierarchy = KeyHierarchy(
        store=hierarchy_store,
        keystores={"software": env.keystore},
        cluster_id="cluster-test",
        clock=ManualClock(),
    )
    master_key = SecretBuffer.random(32)
    try:
        await hierarchy.attach(master_key)
        for name in tenants:
            await hierarchy.link_tenant(name, "software", env.console.create_key())
        yield hierarchy
    finally:
        hierarchy.detach()
        master_key.wipe()
        await hierarchy_store.close()


@contextlib.asynccontextmanager
async def _core(
    env: KeystoreEnv, tmp_path: Path, settings: EngineSettings, object_settings: ObjectSettings
) -> AsyncIterator[Core]:
    async with linked_hierarchy(env, tmp_path) as hierarchy:
        store = MemoryObjectStore()
        objects = ObjectService(store, hierarchy, object_settings)
        seal = Seal()
        clock = [NOW]
        audit: list[AuditEvent] = []
        engine = RequestEngine(
            objects=objects, seal=seal, settings=settings, clock=lambda: clock[0], audit=audit.append
        )
        yield Core(engine, objects, store, hierarchy, seal, clock, audit)


def run_core(
    tmp_path: Path,
    scenario: Callable[[Core], Awaitable[None]],
    *,
    settings: EngineSettings | None = None,
    object_settings: ObjectSettings | None = None,
) -> None:
    """Run ``scenario`` against a fresh Core (two linked tenants, unsealed)."""

    async def main(env: KeystoreEnv) -> None:
        async with _core(
            env, tmp_path, settings or EngineSettings(), object_settings or ObjectSettings()
        ) as core:
            await scenario(core)

    with keystore_environment("software") as env:
        asyncio.run(main(env))
