"""Requests racing for one Name, through the operations, over every store kind.

Each contender's Name check (``TenantObjects.name_in_use``) reads the name as free before any
contender writes: the store's Locate by name waits at a barrier until all of them have read
(``ReadAllFirst``), the interleaving a loaded server or two Cores produce by chance. Then
exactly one request may win, and every other one gets the Result Reason the Name check gives
(Invalid Field for Create, Register, Create Key Pair and Re-key; Illegal Operation for Add and
Modify Attribute), never a General Failure. The durable stores are opened twice on one
database, the contenders alternating between the two, as two Cores (or two worker processes)
would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmip_server.errors import KmipError
from kmip_server.model import (
    AddAttributeRequestPayload,
    Attribute,
    CreateKeyPairRequestPayload,
    CreateRequestPayload,
    CryptographicDomainParameters,
    KeyBlock,
    KeyValue,
    Link,
    ModifyAttributeRequestPayload,
    Name,
    RegisterRequestPayload,
    ReKeyRequestPayload,
    SecretData,
    TemplateAttribute,
)
from kmip_server.objects import ObjectService, TenantObjects, UndoJournal
from kmip_server.operations import (
    OperationContext,
    add_attribute,
    create,
    create_key_pair,
    modify_attribute,
    register,
    rekey,
)
from kmip_server.storage.objects import LocateQuery, ObjectRecord, ObjectStore
from tests.integration.storage.stores import StoreKind
from tests.support.keystores import KeystoreEnv, keystore_environment
from tests.unit.engine.support import aes_template, linked_hierarchy, operation_context
from tests.unit.operations.racing import PassThroughStore
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    NameType,
    ObjectType,
    RecommendedCurve,
    ResultReason,
    SecretDataType,
)

CONTENDERS = 8
NAME = "contested"
TENANT = "tenant-a"


@dataclass
class Gate:
    """Armed for the race (not while the contenders' own objects are made)."""

    barrier: asyncio.Barrier | None = None


class ReadAllFirst(PassThroughStore):
    """A store whose Locate by name returns only once every contender has read (a barrier)."""

    def __init__(self, inner: ObjectStore, gate: Gate) -> None:
        super().__init__(inner)
        self.gate = gate

    async def find(self, tenant_id: str, query: LocateQuery) -> Sequence[ObjectRecord]:
        found = await self.inner.find(tenant_id, query)
        barrier = self.gate.barrier
        if query.names and barrier is not None:
            async with asyncio.timeout(30):
                await barrier.wait()
        return found


@dataclass
class Cores:
    """``CONTENDERS`` request scopes, alternating between two stores on one database."""

    scopes: list[TenantObjects]
    stores: list[ObjectStore]
    gate: Gate

    def context(self, number: int) -> OperationContext:
        return operation_context(self.scopes[number], tenant_id=TENANT, correlation=f"race-{number}")

    async def live_holders(self) -> list[str]:
        found = await self.stores[0].find(TENANT, LocateQuery(names=(NAME,)))
        return [record.unique_identifier for record in found]


@asynccontextmanager
async def two_cores(kind: StoreKind, tmp_path: Path, keystore: KeystoreEnv) -> AsyncIterator[Cores]:
    async with linked_hierarchy(keystore, tmp_path, (TENANT,)) as hierarchy:
        place = tmp_path / "objects"
        place.mkdir()
        stores: list[ObjectStore] = []
        try:
            first = await kind.open(place)
            stores = [first, await kind.open(place) if kind.durable else first]
            gate = Gate()
            services = [ObjectService(ReadAllFirst(store, gate), hierarchy) for store in stores]
            scopes = [services[n % 2].scope(TENANT, "svc", UndoJournal()) for n in range(CONTENDERS)]
            yield Cores(scopes, stores, gate)
        finally:
            for store in dict.fromkeys(stores):
                await store.close()


def name_attribute(value: str = NAME) -> Attribute:
    return Attribute(name="Name", value=Name(name_value=value, name_type=NameType.UNINTERPRETED_TEXT_STRING))


async def own_key(cores: Cores, number: int, name: str | None = None) -> str:
    """A key of contender ``number`` (made before the race, through its own scope)."""
    answer = await create.handle(
        cores.context(number),
        CreateRequestPayload(
            object_type=ObjectType.SYMMETRIC_KEY, template_attribute=aes_template(name=name)
        ),
    )
    return answer.unique_identifier


Contender = Callable[[Cores, int], Awaitable[Callable[[], Awaitable[object]]]]
"""Prepares contender ``number``'s request (before the race) and returns the request to race."""


async def creates(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    payload = CreateRequestPayload(
        object_type=ObjectType.SYMMETRIC_KEY, template_attribute=aes_template(name=NAME)
    )
    return lambda: create.handle(cores.context(number), payload)


async def registers(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    secret = SecretData(
        secret_data_type=SecretDataType.PASSWORD,
        key_block=KeyBlock(
            key_format_type=KeyFormatType.OPAQUE, key_value=KeyValue(key_material=f"secret {number}".encode())
        ),
    )
    payload = RegisterRequestPayload(
        object_type=ObjectType.SECRET_DATA,
        template_attribute=TemplateAttribute(attributes=(name_attribute(),)),
        managed_object=secret,
    )
    return lambda: register.handle(cores.context(number), payload)


async def creates_key_pairs(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    payload = CreateKeyPairRequestPayload(
        common_template_attribute=TemplateAttribute(
            attributes=(
                Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.ECDSA),
                Attribute(
                    name="Cryptographic Domain Parameters",
                    value=CryptographicDomainParameters(recommended_curve=RecommendedCurve.P_256),
                ),
            )
        ),
        private_key_template_attribute=TemplateAttribute(attributes=(name_attribute(),)),
    )
    return lambda: create_key_pair.handle(cores.context(number), payload)


async def rekeys_with_a_name(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    existing = await own_key(cores, number)
    payload = ReKeyRequestPayload(
        unique_identifier=existing, template_attribute=TemplateAttribute(attributes=(name_attribute(),))
    )
    return lambda: rekey.handle(cores.context(number), payload)


async def adds_the_name(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    existing = await own_key(cores, number)
    payload = AddAttributeRequestPayload(unique_identifier=existing, attribute=name_attribute())
    return lambda: add_attribute.handle(cores.context(number), payload)


async def modifies_its_name(cores: Cores, number: int) -> Callable[[], Awaitable[object]]:
    existing = await own_key(cores, number, name=f"own-{number}")
    payload = ModifyAttributeRequestPayload(unique_identifier=existing, attribute=name_attribute())
    return lambda: modify_attribute.handle(cores.context(number), payload)


CASES: dict[str, tuple[Contender, ResultReason]] = {
    "create": (creates, ResultReason.INVALID_FIELD),
    "register": (registers, ResultReason.INVALID_FIELD),
    "create key pair": (creates_key_pairs, ResultReason.INVALID_FIELD),
    "re-key": (rekeys_with_a_name, ResultReason.INVALID_FIELD),
    "add attribute": (adds_the_name, ResultReason.ILLEGAL_OPERATION),
    "modify attribute": (modifies_its_name, ResultReason.ILLEGAL_OPERATION),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_requests_racing_for_one_name_exactly_one_wins(kind: StoreKind, tmp_path: Path, case: str) -> None:
    prepare, reason = CASES[case]

    async def scenario(keystore: KeystoreEnv) -> None:
        async with two_cores(kind, tmp_path, keystore) as cores:
            requests = [await prepare(cores, number) for number in range(CONTENDERS)]
            cores.gate.barrier = asyncio.Barrier(CONTENDERS)
            results = await asyncio.gather(*(request() for request in requests), return_exceptions=True)
            won = [result for result in results if not isinstance(result, BaseException)]
            lost = [result for result in results if isinstance(result, BaseException)]
            assert len(won) == 1, results
            assert all(isinstance(error, KmipError) for error in lost), lost
            assert {error.result_reason for error in lost if isinstance(error, KmipError)} == {reason}
            holders = await cores.live_holders()
            assert len(holders) == 1, holders
            if case == "re-key":  # a loser stored nothing: no replacement, no link on its key
                everything = await cores.stores[0].find(TENANT, LocateQuery())
                assert len(everything) == CONTENDERS + 1
                replaced = [record for record in everything if _replacement_links(record)]
                assert len(replaced) == 1

    with keystore_environment("software") as env:
        asyncio.run(scenario(env))


def _replacement_links(record: ObjectRecord) -> list[Link]:
    return [
        a.value
        for a in record.attributes
        if isinstance(a.value, Link) and a.value.link_type is LinkType.REPLACEMENT_OBJECT_LINK
    ]
