"""Two Cores on one PostgreSQL database under concurrent load from many clients.

First at the store level: two OS processes (``hammer``), each with its own pool and many
coroutines, race on inserts, on contested identifiers, on compare-and-set counters and on
Activate-versus-Destroy. Then end to end: two ``openkcm dev`` Cores sharing one schema (and the
dev keystore, so both unseal), many KMIP clients on both at once.

What must hold: no lost update, no duplicate identifier, every acknowledged write present.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from kmip_server.model import Attribute
from kmip_server.storage.objects import LocateQuery
from kmip_server.storage.postgres import PostgresObjectStore, PostgresSettings
from tests.integration.postgres.hammer import COUNTERS, RACERS, SHARED_TENANT, counter_value
from tests.integration.storage.stores import record
from tests.support.postgres import session
from tests.support.server import (
    CoreProcess,
    CoreProcesses,
    RawConnection,
    create_aes_payload,
    postgres_env,
    text,
    uid_payload,
)
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Operation, ResultStatus, State, Tag

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
CLIENTS, ROUNDS = 12, 20
PROCESSES = ("core-a", "core-b")
INITIAL = 1000  # the counters' first value


async def prepare(settings: PostgresSettings) -> None:
    store = await PostgresObjectStore.open(settings)
    try:
        for number in range(COUNTERS):
            await store.insert(
                record(
                    f"counter-{number}",
                    SHARED_TENANT,
                    attributes=(Attribute(name="Cryptographic Length", value=INITIAL),),
                )
            )
        for round_number in range(ROUNDS):
            for number in range(RACERS):
                await store.insert(
                    record(f"race-{round_number}-{number}", SHARED_TENANT, state=State.PRE_ACTIVE)
                )
    finally:
        await store.close()


def run_hammers(settings: PostgresSettings) -> list[dict[str, str]]:
    """Both processes, started together; every event they printed."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.postgres.hammer", name, str(CLIENTS), str(ROUNDS)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in PROCESSES
    ]
    try:
        for child in children:
            assert child.stdin is not None
            assert child.stdout is not None
            child.stdin.write(json.dumps(asdict(settings)) + "\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        events: list[dict[str, str]] = []
        for child in children:
            out, err = child.communicate(timeout=300)
            assert child.returncode == 0, err
            events += [json.loads(line) for line in out.splitlines() if line.strip()]
        return events
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_two_processes_on_one_database_lose_nothing_and_duplicate_nothing() -> None:
    async def make_schema() -> PostgresSettings:
        settings = await (await session()).new_schema("two")
        await prepare(settings)
        return settings

    settings = asyncio.run(make_schema())
    events = run_hammers(settings)
    assert [event for event in events if "error" in event] == []
    by_kind: dict[str, list[str]] = {}
    for event in events:
        ((kind, uid),) = event.items()
        by_kind.setdefault(kind, []).append(uid)
    inserts, contested = by_kind["insert"], by_kind.get("contested", [])
    assert len(inserts) == len(set(inserts)) == len(PROCESSES) * CLIENTS * ROUNDS
    # Every contested identifier was won exactly once, across both processes; so was every Name.
    assert sorted(contested) == sorted({f"contested-{r}-{k}" for r in range(ROUNDS) for k in range(4)})
    assert sorted(by_kind["named"]) == sorted({f"named-{r}-{k}" for r in range(ROUNDS) for k in range(4)})

    async def check() -> None:
        store = await PostgresObjectStore.open(settings)
        try:
            for uid in inserts:
                expected = record(
                    uid,
                    f"tenant-{int(uid.split('-c')[1].split('-')[0]) % 5}",
                    names=(f"name-{uid}",),
                    material=uid.encode(),
                )
                assert await store.get(expected.tenant_id, uid) == expected, uid
            stored = []
            for tenant in range(5):
                stored += [
                    found.unique_identifier for found in await store.find(f"tenant-{tenant}", LocateQuery())
                ]
            assert sorted(stored) == sorted(inserts)  # nothing more, nothing less
            for named in set(by_kind["named"]):
                assert len(await store.find(SHARED_TENANT, LocateQuery(names=(named,)))) == 1
            # No lost update: each counter moved by exactly its acknowledged increments.
            increments = Counter(by_kind["increment"])
            assert sum(increments.values()) == len(PROCESSES) * CLIENTS * ROUNDS
            for number in range(COUNTERS):
                found = await store.get(SHARED_TENANT, f"counter-{number}")
                assert found is not None
                done = increments[f"counter-{number}"]
                assert (counter_value(found), found.revision) == (INITIAL + done, done)
            # Activate versus Destroy: exactly one won each object, and the object says which.
            winners = Counter(by_kind.get("activate", []) + by_kind.get("destroy", []))
            assert set(winners.values()) == {1}
            assert len(winners) == ROUNDS * RACERS
            for uid in by_kind.get("activate", []):
                assert (await store.get(SHARED_TENANT, uid)).state is State.ACTIVE  # type: ignore[union-attr]
            for uid in by_kind.get("destroy", []):
                assert (await store.get(SHARED_TENANT, uid)).state is State.DESTROYED  # type: ignore[union-attr]
        finally:
            await store.close()

    asyncio.run(check())


# End to end: two `openkcm dev` Cores on one schema -----------------------------------------------


def start_pair(cores: CoreProcesses, tmp_path: Path, env: dict[str, str]) -> tuple[CoreProcess, CoreProcess]:
    """Two Cores on one schema. The second gets a copy of the first's dev PKI and keystore (the
    seal key and the tenants' L1 keys), so it unseals the shared MasterKey and opens the same L2s."""
    (tmp_path / "a").mkdir()
    first = cores.start(tmp_path / "a" / "dev", label="pair-a", env=env)
    second_home = tmp_path / "b" / "dev"
    second_home.mkdir(parents=True, mode=0o700)
    for part in ("pki", "keystores"):
        shutil.copytree(first.data_dir / part, second_home / part)
    second = cores.start(second_home, label="pair-b", env=env)
    return first, second


NOTE = "x-note"


def note_payload(uid: str, note: str) -> list[Item]:
    attribute = Item(
        Tag.ATTRIBUTE, ItemType.STRUCTURE, (text(Tag.ATTRIBUTE_NAME, NOTE), text(Tag.ATTRIBUTE_VALUE, note))
    )
    return [text(Tag.UNIQUE_IDENTIFIER, uid), attribute]


def state_of(connection: RawConnection, uid: str) -> int:
    result = connection.call(
        Operation.GET_ATTRIBUTES, [text(Tag.UNIQUE_IDENTIFIER, uid), text(Tag.ATTRIBUTE_NAME, "State")]
    )
    assert result.status is ResultStatus.SUCCESS, result.outcome()
    assert result.payload is not None
    value = result.payload.find(Tag.ATTRIBUTE).find(Tag.ATTRIBUTE_VALUE)  # type: ignore[union-attr]
    assert value is not None
    assert isinstance(value.value, int)
    return value.value


@pytest.mark.slow
def test_two_core_processes_serve_one_database_under_concurrent_load(tmp_path: Path) -> None:
    env = postgres_env(asyncio.run(_new_schema()))
    threads_per_core, creates_each, races = 4, 15, 12
    with CoreProcesses() as cores:
        pair = start_pair(cores, tmp_path, env)
        with RawConnection(pair[0]) as setup:
            shared = setup.call(Operation.CREATE, create_aes_payload())
            assert shared.status is ResultStatus.SUCCESS, shared.outcome()
            annotated = str(shared.payload.find(Tag.UNIQUE_IDENTIFIER).value)  # type: ignore[union-attr]
            racers = []
            for _ in range(races):
                created = setup.call(Operation.CREATE, create_aes_payload())
                assert created.status is ResultStatus.SUCCESS, created.outcome()
                racers.append(str(created.payload.find(Tag.UNIQUE_IDENTIFIER).value))  # type: ignore[union-attr]
        acknowledged: list[str] = []
        notes: list[str] = []  # Add Attribute on one object from both Cores: each acknowledged one kept
        outcomes: dict[str, list[Operation]] = {uid: [] for uid in racers}
        failures: list[object] = []
        lock = threading.Lock()

        def worker(core: CoreProcess, number: int) -> None:
            try:
                with RawConnection(core) as connection:
                    for index in range(creates_each):
                        created = connection.call(Operation.CREATE, create_aes_payload())
                        assert created.status is ResultStatus.SUCCESS, created.outcome()
                        uid = created.payload.find(Tag.UNIQUE_IDENTIFIER).value  # type: ignore[union-attr]
                        with lock:
                            acknowledged.append(str(uid))
                        # Activate from one Core against Destroy from the other, on one object.
                        racer = racers[(number + index) % races]
                        operation = Operation.ACTIVATE if core is pair[0] else Operation.DESTROY
                        raced = connection.call(operation, uid_payload(racer))
                        if raced.status is ResultStatus.SUCCESS:
                            with lock:
                                outcomes[racer].append(operation)
                        note = f"{'ab'[pair.index(core)]}-{number}-{index}"
                        added = connection.call(Operation.ADD_ATTRIBUTE, note_payload(annotated, note))
                        if added.status is ResultStatus.SUCCESS:
                            with lock:
                                notes.append(note)
            except BaseException as exc:  # reported by the main thread
                with lock:
                    failures.append(exc)

        threads = [
            threading.Thread(target=worker, args=(core, number))
            for core in pair
            for number in range(threads_per_core)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert failures == []
        assert len(acknowledged) == len(set(acknowledged)) == 2 * threads_per_core * creates_each

        for core in pair:  # every acknowledged key, through either Core
            with RawConnection(core) as connection:
                for uid in acknowledged:
                    got = connection.call(Operation.GET, uid_payload(uid))
                    assert got.status is ResultStatus.SUCCESS, (uid, got.outcome())
        with RawConnection(pair[1]) as connection:
            # No lost update: every acknowledged Add Attribute is there, each once.
            stored = connection.call(
                Operation.GET_ATTRIBUTES,
                [text(Tag.UNIQUE_IDENTIFIER, annotated), text(Tag.ATTRIBUTE_NAME, NOTE)],
            )
            assert stored.status is ResultStatus.SUCCESS, stored.outcome()
            assert stored.payload is not None
            values = [str(a.find(Tag.ATTRIBUTE_VALUE).value) for a in stored.payload.find_all(Tag.ATTRIBUTE)]  # type: ignore[union-attr]
            assert sorted(values) == sorted(notes)
            assert len(notes) > threads_per_core * creates_each  # most of them got through, from both
            for uid, won in outcomes.items():
                # Activate after Destroy and Destroy of an Active key are both refused: one winner.
                assert len(won) <= 1, (uid, won)
                state = State(state_of(connection, uid))
                expected = {(): State.PRE_ACTIVE, (Operation.ACTIVATE,): State.ACTIVE}.get(
                    tuple(won), State.DESTROYED
                )
                assert state is expected, (uid, won, state)
        for core in pair:
            assert core.terminate() == 0, core.output()


async def _new_schema() -> PostgresSettings:
    return await (await session()).new_schema("pair")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() <= before
