"""The ObjectStore contract (``kmip_server.storage.objects``), run against every store kind.

What the engine relies on: exact round trips, tenant isolation indistinguishable from absence,
compare-and-set on revision, one live holder of each name per tenant (racing writers
included), several records written all or nothing, Locate narrowing in creation order,
durability.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kmip_server.model import Attribute
from kmip_server.storage.errors import StorageError
from kmip_server.storage.objects import (
    ConcurrentUpdate,
    DuplicateIdentifier,
    DuplicateName,
    LocateQuery,
    ObjectRecord,
    ObjectStore,
)
from tests.integration.storage.stores import (
    T0,
    StoreKind,
    custom,
    name,
    record,
    record_for_uid,
    revoked_reason,
    rich_attributes,
)
from ttlv.item import ItemType
from ttlv.kmip14 import ObjectType, State

REPO_ROOT = Path(__file__).resolve().parents[3]

Scenario = Callable[[ObjectStore], Awaitable[None]]


def run(kind: StoreKind, place: Path, scenario: Scenario) -> None:
    async def main() -> None:
        store = await kind.open(place)
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


async def uids(store: ObjectStore, tenant: str, query: LocateQuery) -> list[str]:
    return [found.unique_identifier for found in await store.find(tenant, query)]


# Round trips ---------------------------------------------------------------------------------


def test_every_field_and_every_kind_of_attribute_round_trips(kind: StoreKind, tmp_path: Path) -> None:
    original = dataclasses.replace(
        record("uid-rich", attributes=rich_attributes("rich"), material=bytes(range(256)) * 3),
        revision=7,
    )

    async def scenario(store: ObjectStore) -> None:
        await store.insert(original)
        stored = await store.get("tenant-a", "uid-rich")
        assert stored == original
        assert stored is not None
        # Field by field too, so a failure says which one.
        for field in dataclasses.fields(ObjectRecord):
            assert getattr(stored, field.name) == getattr(original, field.name), field.name
        assert [type(a.value) for a in stored.attributes] == [type(a.value) for a in original.attributes]
        assert stored.names == ("rich-primary", "rich-alias")
        assert [a.index for a in stored.attributes] == [a.index for a in original.attributes]

    run(kind, tmp_path, scenario)


def test_every_object_type_and_state_round_trips(kind: StoreKind, tmp_path: Path) -> None:
    combinations = [(t, s) for t in ObjectType for s in State]

    async def scenario(store: ObjectStore) -> None:
        for number, (object_type, state) in enumerate(combinations):
            await store.insert(record(f"uid-{number}", object_type=object_type, state=state))
        for number, (object_type, state) in enumerate(combinations):
            stored = await store.get("tenant-a", f"uid-{number}")
            assert stored is not None
            assert (stored.object_type, stored.state) == (object_type, state)

    run(kind, tmp_path, scenario)


def test_a_record_with_no_attributes_and_no_material(kind: StoreKind, tmp_path: Path) -> None:
    bare = record("uid-bare", object_type=ObjectType.OPAQUE_OBJECT, state=State.PRE_ACTIVE, material=None)

    async def scenario(store: ObjectStore) -> None:
        await store.insert(bare)
        assert await store.get("tenant-a", "uid-bare") == bare

    run(kind, tmp_path, scenario)


def test_a_destroyed_record_keeps_its_attributes_without_material(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        active = record("uid-1", names=("doomed",), attributes=rich_attributes("d"))
        await store.insert(active)
        destroyed = dataclasses.replace(
            active,
            state=State.DESTROYED_COMPROMISED,
            material=None,
            attributes=(*active.attributes, revoked_reason(), Attribute(name="Destroy Date", value=T0 + 999)),
        )
        written = await store.replace(destroyed, expected_revision=0)
        assert written == dataclasses.replace(destroyed, revision=1)
        stored = await store.get("tenant-a", "uid-1")
        assert stored == written
        assert stored is not None
        assert stored.material is None
        assert stored.attributes == destroyed.attributes
        assert await uids(store, "tenant-a", LocateQuery(names=("doomed",))) == ["uid-1"]
        assert await uids(
            store, "tenant-a", LocateQuery(states=frozenset({State.DESTROYED_COMPROMISED}))
        ) == ["uid-1"]

    run(kind, tmp_path, scenario)


def test_large_attribute_sets_round_trip(kind: StoreKind, tmp_path: Path) -> None:
    names = tuple(f"name-{n:04d}" for n in range(300))
    many = tuple(custom(f"x-attribute-{n}", ItemType.TEXT_STRING, f"value {n} " * 20) for n in range(3000))
    big_value = custom("x-big-bytes", ItemType.BYTE_STRING, os.urandom(512 * 1024))
    large = record("uid-large", names=names, attributes=(*rich_attributes("l"), *many, big_value))

    async def scenario(store: ObjectStore) -> None:
        await store.insert(large)
        assert await store.get("tenant-a", "uid-large") == large
        assert await uids(store, "tenant-a", LocateQuery(names=("name-0000", "name-0299"))) == ["uid-large"]
        smaller = dataclasses.replace(large, attributes=large.attributes[:10])
        await store.replace(smaller, expected_revision=0)
        assert await store.get("tenant-a", "uid-large") == dataclasses.replace(smaller, revision=1)
        assert await uids(store, "tenant-a", LocateQuery(names=("name-0299",))) == []

    run(kind, tmp_path, scenario)


# Identifiers ---------------------------------------------------------------------------------


def test_duplicate_identifier_in_any_tenant_is_refused_and_changes_nothing(
    kind: StoreKind, tmp_path: Path
) -> None:
    first = record("uid-1", names=("first",))

    async def scenario(store: ObjectStore) -> None:
        await store.insert(first)
        with pytest.raises(DuplicateIdentifier):
            await store.insert(record("uid-1", names=("second",), state=State.DEACTIVATED))
        with pytest.raises(DuplicateIdentifier):
            await store.insert(record("uid-1", "tenant-b", names=("second",)))
        assert await store.get("tenant-a", "uid-1") == first
        assert await store.get("tenant-b", "uid-1") is None
        assert await uids(store, "tenant-a", LocateQuery(names=("second",))) == []
        assert await uids(store, "tenant-b", LocateQuery(names=("second",))) == []

    run(kind, tmp_path, scenario)


def test_delete_removes_everything_and_frees_the_identifier(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        await store.insert(record("uid-1", names=("n",)))  # holds "n"
        await store.insert(record("uid-2", names=("n",)), unique_names=False)
        await store.delete("tenant-a", "uid-1")
        assert await store.get("tenant-a", "uid-1") is None
        assert await uids(store, "tenant-a", LocateQuery(names=("n",))) == ["uid-2"]
        assert await uids(store, "tenant-a", LocateQuery()) == ["uid-2"]
        with pytest.raises(ConcurrentUpdate):
            await store.replace(record("uid-1"), expected_revision=0)
        await store.delete("tenant-a", "uid-1")  # already gone: nothing to do, no error
        again = record("uid-1", names=("again", "n"))  # "n" went with the deleted record
        await store.insert(again)
        assert await store.get("tenant-a", "uid-1") == again
        # Re-inserted means newly created: it now comes after uid-2.
        assert await uids(store, "tenant-a", LocateQuery()) == ["uid-2", "uid-1"]

    run(kind, tmp_path, scenario)


# Tenant isolation ----------------------------------------------------------------------------


def test_another_tenants_identifier_answers_exactly_like_a_missing_one(
    kind: StoreKind, tmp_path: Path
) -> None:
    theirs = record("uid-theirs", "tenant-b", names=("secret-name",), service="billing")

    async def answers(store: ObjectStore, uid: str) -> list[object]:
        """Everything tenant-a can observe about ``uid``."""
        seen: list[object] = [await store.get("tenant-a", uid)]
        try:
            await store.replace(record(uid, names=("hijack",)), expected_revision=0)
            seen.append("replaced")
        except ConcurrentUpdate as exc:
            seen.append((type(exc), str(exc)))
        await store.delete("tenant-a", uid)
        seen.append(await uids(store, "tenant-a", LocateQuery(names=("secret-name",))))
        seen.append(await uids(store, "tenant-a", LocateQuery(service="billing")))
        seen.append(await uids(store, "tenant-a", LocateQuery()))
        return seen

    async def scenario(store: ObjectStore) -> None:
        await store.insert(theirs)
        assert await answers(store, "uid-theirs") == await answers(store, "uid-nobody")
        assert await answers(store, "uid-theirs") == [
            None,
            (ConcurrentUpdate, str(ConcurrentUpdate())),
            [],
            [],
            [],
        ]
        # ... and tenant-b's record went through all of that untouched.
        assert await store.get("tenant-b", "uid-theirs") == theirs
        assert await uids(store, "tenant-b", LocateQuery(names=("secret-name",))) == ["uid-theirs"]
        assert await uids(store, "tenant-b", LocateQuery(names=("hijack",))) == []

    run(kind, tmp_path, scenario)


def test_a_name_shared_by_two_tenants_locates_only_the_callers(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        # Each tenant's first record holds "shared" (names are unique per tenant); the second
        # repeats it as a write without unique_names may.
        await store.insert(record("uid-a1", "tenant-a", names=("shared", "only-a")))
        await store.insert(record("uid-b1", "tenant-b", names=("shared",)))
        await store.insert(record("uid-a2", "tenant-a", names=("shared",)), unique_names=False)
        await store.insert(record("uid-b2", "tenant-b", names=("shared", "only-a")), unique_names=False)
        assert await uids(store, "tenant-a", LocateQuery(names=("shared",))) == ["uid-a1", "uid-a2"]
        assert await uids(store, "tenant-b", LocateQuery(names=("shared",))) == ["uid-b1", "uid-b2"]
        assert await uids(store, "tenant-a", LocateQuery(names=("shared", "only-a"))) == ["uid-a1"]
        assert await uids(store, "tenant-c", LocateQuery(names=("shared",))) == []
        assert await uids(store, "tenant-c", LocateQuery()) == []

    run(kind, tmp_path, scenario)


# Compare-and-set -----------------------------------------------------------------------------


def test_replace_is_compare_and_set_on_revision(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        original = record("uid-1", names=("before",))
        await store.insert(original)
        first = await store.replace(
            dataclasses.replace(original, state=State.DEACTIVATED), expected_revision=0
        )
        assert first.revision == 1
        assert first.state is State.DEACTIVATED
        with pytest.raises(ConcurrentUpdate):
            await store.replace(dataclasses.replace(original, state=State.COMPROMISED), expected_revision=0)
        with pytest.raises(ConcurrentUpdate):
            await store.replace(dataclasses.replace(original, state=State.COMPROMISED), expected_revision=2)
        assert await store.get("tenant-a", "uid-1") == first
        # The revision carried by the record handed in does not matter, expected_revision does.
        renamed = dataclasses.replace(first, attributes=(name("after"),), revision=999, service="billing")
        second = await store.replace(renamed, expected_revision=1)
        assert second == dataclasses.replace(renamed, revision=2)
        assert await store.get("tenant-a", "uid-1") == second
        assert await uids(store, "tenant-a", LocateQuery(names=("before",))) == []
        assert await uids(store, "tenant-a", LocateQuery(names=("after",), service="billing")) == ["uid-1"]

    run(kind, tmp_path, scenario)


def test_concurrent_replaces_from_one_revision_exactly_one_wins(kind: StoreKind, tmp_path: Path) -> None:
    contenders = 16

    async def scenario(store: ObjectStore) -> None:
        original = record("uid-1", names=("n",))
        await store.insert(original)
        for revision in range(3):  # repeatedly, from each new revision
            attempts = [
                dataclasses.replace(original, attributes=(name(f"r{revision}-c{n}"),))
                for n in range(contenders)
            ]
            results = await asyncio.gather(
                *(store.replace(attempt, expected_revision=revision) for attempt in attempts),
                return_exceptions=True,
            )
            winners = [result for result in results if isinstance(result, ObjectRecord)]
            losers = [result for result in results if isinstance(result, ConcurrentUpdate)]
            assert (len(winners), len(losers)) == (1, contenders - 1)
            assert await store.get("tenant-a", "uid-1") == winners[0]
            assert winners[0].revision == revision + 1
            (winning_name,) = winners[0].names
            assert await uids(store, "tenant-a", LocateQuery(names=(winning_name,))) == ["uid-1"]
            for attempt in attempts:
                if attempt.names != winners[0].names:
                    assert await uids(store, "tenant-a", LocateQuery(names=attempt.names)) == []

    run(kind, tmp_path, scenario)


# Locate --------------------------------------------------------------------------------------


def test_find_narrows_by_type_states_names_and_service_in_creation_order(
    kind: StoreKind, tmp_path: Path
) -> None:
    rows = [
        # uid (inserted in this order, deliberately not sorted), type, state, names, service
        ("k-9", ObjectType.SYMMETRIC_KEY, State.ACTIVE, ("a", "b"), "payments"),
        ("k-1", ObjectType.SYMMETRIC_KEY, State.PRE_ACTIVE, ("a",), "payments"),
        ("k-5", ObjectType.SECRET_DATA, State.ACTIVE, ("a", "b", "c"), "billing"),
        ("k-3", ObjectType.SYMMETRIC_KEY, State.DEACTIVATED, ("b",), "billing"),
        ("k-7", ObjectType.OPAQUE_OBJECT, State.ACTIVE, (), "payments"),
        ("k-2", ObjectType.SYMMETRIC_KEY, State.ACTIVE, ("a", "b"), "billing"),
    ]
    cases: list[tuple[LocateQuery, list[str]]] = [
        (LocateQuery(), ["k-9", "k-1", "k-5", "k-3", "k-7", "k-2"]),
        (LocateQuery(object_type=ObjectType.SYMMETRIC_KEY), ["k-9", "k-1", "k-3", "k-2"]),
        (LocateQuery(object_type=ObjectType.PRIVATE_KEY), []),
        (LocateQuery(states=frozenset({State.ACTIVE})), ["k-9", "k-5", "k-7", "k-2"]),
        (LocateQuery(states=frozenset({State.PRE_ACTIVE, State.DEACTIVATED})), ["k-1", "k-3"]),
        (LocateQuery(states=frozenset()), []),
        (LocateQuery(names=("a",)), ["k-9", "k-1", "k-5", "k-2"]),
        (LocateQuery(names=("a", "b")), ["k-9", "k-5", "k-2"]),
        (LocateQuery(names=("b", "a", "b")), ["k-9", "k-5", "k-2"]),
        (LocateQuery(names=("a", "b", "c")), ["k-5"]),
        (LocateQuery(names=("a", "zz")), []),
        (LocateQuery(service="billing"), ["k-5", "k-3", "k-2"]),
        (LocateQuery(service="nobody"), []),
        (
            LocateQuery(
                object_type=ObjectType.SYMMETRIC_KEY,
                states=frozenset({State.ACTIVE, State.PRE_ACTIVE}),
                names=("a",),
                service="payments",
            ),
            ["k-9", "k-1"],
        ),
    ]

    async def scenario(store: ObjectStore) -> None:
        for uid, object_type, state, names, service in rows:
            await store.insert(
                record(uid, object_type=object_type, state=state, names=names, service=service),
                unique_names=False,  # names repeat: Locate by name finds each object that has one
            )
        await store.insert(record("other-tenant", "tenant-b", names=("a", "b", "c")))
        for query, expected in cases:
            assert await uids(store, "tenant-a", query) == expected, query
        # A replace changes what matches but never the creation order.
        k9 = await store.get("tenant-a", "k-9")
        assert k9 is not None
        # k-9 keeps names other records carry too: a write that keeps them is never refused.
        await store.replace(dataclasses.replace(k9, state=State.DEACTIVATED), expected_revision=0)
        assert await uids(store, "tenant-a", LocateQuery(names=("a",))) == ["k-9", "k-1", "k-5", "k-2"]
        assert await uids(store, "tenant-a", LocateQuery(states=frozenset({State.DEACTIVATED}))) == [
            "k-9",
            "k-3",
        ]
        found = await store.find("tenant-a", LocateQuery(names=("c",)))
        assert list(found) == [await store.get("tenant-a", "k-5")]  # whole records

    run(kind, tmp_path, scenario)


def test_a_name_repeated_on_one_object_locates_it_once(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        twice = record("uid-1", names=("same", "same"))
        await store.insert(twice)
        assert await uids(store, "tenant-a", LocateQuery(names=("same",))) == ["uid-1"]
        assert await store.get("tenant-a", "uid-1") == twice

    run(kind, tmp_path, scenario)


# Concurrency ---------------------------------------------------------------------------------


def test_concurrent_inserts_from_many_coroutines(kind: StoreKind, tmp_path: Path) -> None:
    writers, each = 40, 15

    async def scenario(store: ObjectStore) -> None:
        async def writer(number: int) -> None:
            for sequence in range(each):
                uid = f"w{number:02d}-{sequence:02d}"
                await store.insert(
                    record(uid, f"tenant-{number % 4}", names=(f"writer-{number}", uid)), unique_names=False
                )

        async with asyncio.TaskGroup() as group:
            for number in range(writers):
                group.create_task(writer(number))
        everything: list[str] = []
        for tenant in range(4):
            everything += await uids(store, f"tenant-{tenant}", LocateQuery())
        assert sorted(everything) == sorted(f"w{n:02d}-{s:02d}" for n in range(writers) for s in range(each))
        for number in range(writers):
            mine = await uids(store, f"tenant-{number % 4}", LocateQuery(names=(f"writer-{number}",)))
            assert mine == [f"w{number:02d}-{s:02d}" for s in range(each)]  # each writer's own order

        # Racing inserts of one identifier: exactly one is stored.
        results = await asyncio.gather(
            *(store.insert(record("contested", names=(f"c{n}",))) for n in range(10)), return_exceptions=True
        )
        assert results.count(None) == 1
        assert all(isinstance(result, DuplicateIdentifier) for result in results if result is not None)
        stored = await store.get("tenant-a", "contested")
        assert stored is not None
        assert stored.names == (f"c{results.index(None)}",)

    run(kind, tmp_path, scenario)


# Names: one live holder per tenant -----------------------------------------------------------


def test_a_name_is_held_by_one_live_record_of_a_tenant(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        holder = record("uid-holder", names=("n", "m"))
        await store.insert(holder)
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-second", names=("other", "n")))
        assert await store.get("tenant-a", "uid-second") is None  # nothing of it is stored
        assert await uids(store, "tenant-a", LocateQuery(names=("other",))) == []
        await store.insert(record("uid-other-tenant", "tenant-b", names=("n",)))  # per tenant
        # Gaining a name by a replace is refused the same way, and changes nothing.
        plain = record("uid-plain", names=("p",))
        await store.insert(plain)
        with pytest.raises(DuplicateName):
            await store.replace(
                dataclasses.replace(plain, attributes=(name("p"), name("m"))), expected_revision=0
            )
        assert await store.get("tenant-a", "uid-plain") == plain
        # ... and a write without unique_names may repeat it (ObjectSettings.unique_names off).
        await store.insert(record("uid-repeat", names=("n",)), unique_names=False)
        # The holder's own writes keep its names.
        kept = await store.replace(dataclasses.replace(holder, state=State.DEACTIVATED), expected_revision=0)
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-third", names=("n",)))
        # A name given up is free; a destroyed record gives up every name and is still located.
        kept = await store.replace(dataclasses.replace(kept, attributes=(name("n"),)), expected_revision=1)
        await store.insert(record("uid-m", names=("m",)))
        await store.replace(
            dataclasses.replace(kept, state=State.DESTROYED, material=None), expected_revision=2
        )
        await store.insert(record("uid-successor", names=("n",)))
        assert await uids(store, "tenant-a", LocateQuery(names=("n",))) == [
            "uid-holder",
            "uid-repeat",
            "uid-successor",
        ]
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-fourth", names=("n",)))
        # Deleting the holder frees its names too.
        await store.delete("tenant-a", "uid-successor")
        await store.insert(record("uid-fifth", names=("n",)))

    run(kind, tmp_path, scenario)


def test_a_kept_name_another_record_holds_never_refuses_a_write(kind: StoreKind, tmp_path: Path) -> None:
    """A duplicate stored before names were unique (or with unique_names off), or an object
    brought back from Destroyed by an undo, keeps its name unheld: its other changes go through,
    and it holds the name again once the name is free."""

    async def scenario(store: ObjectStore) -> None:
        first = record("uid-first", names=("n",))
        await store.insert(first)
        duplicate = record("uid-duplicate", names=("n", "d"))
        await store.insert(duplicate, unique_names=False)
        # The duplicate's own changes go through, its "n" unheld ...
        changed = await store.replace(
            dataclasses.replace(duplicate, state=State.DEACTIVATED), expected_revision=0
        )
        # ... until "n" is free: the first holder is destroyed, the duplicate's next write holds it.
        destroyed = await store.replace(
            dataclasses.replace(first, state=State.DESTROYED), expected_revision=0
        )
        await store.replace(dataclasses.replace(changed, state=State.ACTIVE), expected_revision=1)
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-new", names=("n",)))
        # The destroyed record brought back (an undo of the Destroy) keeps its "n", unheld.
        revived = await store.replace(dataclasses.replace(destroyed, state=State.ACTIVE), expected_revision=1)
        assert await store.get("tenant-a", "uid-first") == revived
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-new", names=("n",)))
        assert await uids(store, "tenant-a", LocateQuery(names=("n",))) == ["uid-first", "uid-duplicate"]

    run(kind, tmp_path, scenario)


def test_racing_writers_for_one_name_exactly_one_wins(kind: StoreKind, tmp_path: Path) -> None:
    contenders = 16

    async def scenario(store: ObjectStore) -> None:
        for round_ in range(3):
            contested = f"contested-{round_}"
            inserts = [
                store.insert(record(f"r{round_}-new-{n}", names=(contested,))) for n in range(contenders)
            ]
            # ... against records that gain the name by a replace at the same time.
            renamed = [record(f"r{round_}-old-{n}", names=(f"r{round_}-own-{n}",)) for n in range(4)]
            for each in renamed:
                await store.insert(each)
            replaces = [
                store.replace(dataclasses.replace(each, attributes=(name(contested),)), expected_revision=0)
                for each in renamed
            ]
            results = await asyncio.gather(*inserts, *replaces, return_exceptions=True)
            winners = [n for n, result in enumerate(results) if not isinstance(result, BaseException)]
            assert len(winners) == 1, results
            assert all(
                isinstance(result, DuplicateName) for n, result in enumerate(results) if n not in winners
            )
            assert len(await uids(store, "tenant-a", LocateQuery(names=(contested,)))) == 1
            for each in renamed:  # a loser's replace stored nothing
                stored = await store.get("tenant-a", each.unique_identifier)
                assert stored is not None
                assert stored.revision == 0 or stored.names == (contested,)

    run(kind, tmp_path, scenario)


def test_racing_stores_for_one_name_exactly_one_wins(durable_kind: StoreKind, tmp_path: Path) -> None:
    """Two stores on one database (two Cores, or two worker processes): their writers race for
    one name through separate connections."""
    contenders = 12

    async def main() -> None:
        stores = [await durable_kind.open(tmp_path), await durable_kind.open(tmp_path)]
        try:
            for round_ in range(3):
                results = await asyncio.gather(
                    *(
                        stores[n % 2].insert(record(f"r{round_}-{n}", names=(f"contested-{round_}",)))
                        for n in range(contenders)
                    ),
                    return_exceptions=True,
                )
                assert results.count(None) == 1, results
                assert all(isinstance(result, DuplicateName) for result in results if result is not None)
                for store in stores:
                    found = await uids(store, "tenant-a", LocateQuery(names=(f"contested-{round_}",)))
                    assert found == [f"r{round_}-{results.index(None)}"]
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())


# Several records in one write ----------------------------------------------------------------


def test_write_many_stores_every_record_or_none(kind: StoreKind, tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        old = record("uid-old", names=("moving",))
        other = record("uid-other", names=("other",))
        await store.insert(old)
        await store.insert(other)
        await store.insert(record("uid-taken", names=("taken",)))
        new = record("uid-new", names=("moving",))
        gave_up = dataclasses.replace(old, attributes=(name("kept-by-old"),))
        touched = dataclasses.replace(other, state=State.DEACTIVATED)

        async def nothing_changed() -> None:
            assert await store.get("tenant-a", "uid-old") == old
            assert await store.get("tenant-a", "uid-other") == other
            assert await store.get("tenant-a", "uid-new") is None
            assert await uids(store, "tenant-a", LocateQuery(names=("moving",))) == ["uid-old"]

        # One stale revision: nothing of the write is stored.
        with pytest.raises(ConcurrentUpdate):
            await store.write_many(inserts=(new,), replaces=((gave_up, 0), (touched, 5)))
        await nothing_changed()
        # One name another record holds, on an insert or on a replace: nothing either.
        with pytest.raises(DuplicateName):
            await store.write_many(
                inserts=(new, record("uid-late", names=("taken",))), replaces=((gave_up, 0), (touched, 0))
            )
        await nothing_changed()
        with pytest.raises(DuplicateName):
            await store.write_many(
                inserts=(new,),
                replaces=((gave_up, 0), (dataclasses.replace(touched, attributes=(name("taken"),)), 0)),
            )
        await nothing_changed()
        # Two new records with one name, or an identifier that exists: nothing.
        with pytest.raises(DuplicateName):
            await store.write_many(
                inserts=(record("uid-a", names=("twin",)), record("uid-b", names=("twin",)))
            )
        assert await store.get("tenant-a", "uid-a") is None
        with pytest.raises(DuplicateIdentifier):
            await store.write_many(inserts=(new, record("uid-other")), replaces=((gave_up, 0),))
        await nothing_changed()
        # Records of two tenants are never one write.
        with pytest.raises(StorageError):
            await store.write_many(inserts=(record("uid-b1", "tenant-b"),), replaces=((gave_up, 0),))
        await nothing_changed()
        assert await store.write_many() == []

        # All of it, the Name moving from the old record to the new one (Re-key).
        stored = await store.write_many(inserts=(new,), replaces=((gave_up, 0), (touched, 0)))
        assert stored == [dataclasses.replace(gave_up, revision=1), dataclasses.replace(touched, revision=1)]
        assert await store.get("tenant-a", "uid-new") == new
        assert await store.get("tenant-a", "uid-old") == stored[0]
        assert await store.get("tenant-a", "uid-other") == stored[1]
        assert await uids(store, "tenant-a", LocateQuery(names=("moving",))) == ["uid-new"]
        assert await uids(store, "tenant-a", LocateQuery(names=("kept-by-old",))) == ["uid-old"]
        with pytest.raises(DuplicateName):
            await store.insert(record("uid-again", names=("moving",)))

    run(kind, tmp_path, scenario)


def test_racing_rekeys_of_one_record_exactly_one_is_stored(kind: StoreKind, tmp_path: Path) -> None:
    contenders = 12

    async def scenario(store: ObjectStore) -> None:
        old = record("uid-old", names=("chain",))
        await store.insert(old)
        without_name = dataclasses.replace(old, attributes=())
        results = await asyncio.gather(
            *(
                store.write_many(
                    inserts=(record(f"uid-new-{n}", names=("chain",)),), replaces=((without_name, 0),)
                )
                for n in range(contenders)
            ),
            return_exceptions=True,
        )
        won = [n for n, result in enumerate(results) if isinstance(result, list)]
        assert len(won) == 1, results
        assert all(isinstance(result, ConcurrentUpdate) for result in results if not isinstance(result, list))
        assert await uids(store, "tenant-a", LocateQuery()) == ["uid-old", f"uid-new-{won[0]}"]
        assert await uids(store, "tenant-a", LocateQuery(names=("chain",))) == [f"uid-new-{won[0]}"]

    run(kind, tmp_path, scenario)


# Durability ----------------------------------------------------------------------------------


def test_everything_is_there_after_a_restart(durable_kind: StoreKind, tmp_path: Path) -> None:
    created = [record_for_uid(f"uid-{n:06d}") for n in range(30)]

    async def first_life(store: ObjectStore) -> None:
        for one in created:
            await store.insert(one)
        await store.replace(
            dataclasses.replace(created[0], state=State.DESTROYED, material=None), expected_revision=0
        )
        await store.delete(created[1].tenant_id, created[1].unique_identifier)

    async def second_life(store: ObjectStore) -> None:
        expected = [
            dataclasses.replace(created[0], state=State.DESTROYED, material=None, revision=1),
            *created[2:],
        ]
        for one in expected:
            assert await store.get(one.tenant_id, one.unique_identifier) == one
        assert await store.get(created[1].tenant_id, created[1].unique_identifier) is None
        for tenant in ("tenant-0", "tenant-1", "tenant-2"):
            assert await uids(store, tenant, LocateQuery()) == [
                one.unique_identifier for one in expected if one.tenant_id == tenant
            ]
        assert await uids(store, "tenant-2", LocateQuery(names=("name-uid-000005",))) == ["uid-000005"]
        # ... and it keeps working: identifiers stay taken, new records come last.
        with pytest.raises(DuplicateIdentifier):
            await store.insert(created[5])
        await store.insert(record_for_uid("uid-000030"))
        assert (await uids(store, "tenant-0", LocateQuery()))[-1] == "uid-000030"

    run(durable_kind, tmp_path, first_life)
    run(durable_kind, tmp_path, second_life)


def test_every_acknowledged_insert_survives_sigkill(durable_kind: StoreKind, tmp_path: Path) -> None:
    total, kill_after = 5000, 300
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.storage.insert_until_killed",
            durable_kind.name,
            str(tmp_path),
            str(total),
            "8",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) == kill_after:
                child.send_signal(signal.SIGKILL)
                break
        # Whatever the child printed before it died was acknowledged too.
        acknowledged += [line.strip() for line in child.stdout if line.strip()]
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL  # killed mid-way, not finished
    assert kill_after <= len(acknowledged) < total

    async def after_the_crash(store: ObjectStore) -> None:
        for uid in acknowledged:
            expected = record_for_uid(uid)
            assert await store.get(expected.tenant_id, uid) == expected, uid
        stored: list[str] = []
        for tenant in ("tenant-0", "tenant-1", "tenant-2"):
            stored += await uids(store, tenant, LocateQuery())
        assert set(acknowledged) <= set(stored)
        # Unacknowledged inserts may or may not have landed, but only whole ones.
        for uid in set(stored) - set(acknowledged):
            expected = record_for_uid(uid)
            assert await store.get(expected.tenant_id, uid) == expected

    run(durable_kind, tmp_path, after_the_crash)
