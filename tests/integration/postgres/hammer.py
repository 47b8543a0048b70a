"""Child process of the two-Core tests: many clients hammering one PostgreSQL schema through the store.

    python -m tests.integration.postgres.hammer NAME CLIENTS ROUNDS  (settings as JSON on stdin)

Waits for a line ``go`` on stdin (so that both processes start together), then CLIENTS
coroutines each run ROUNDS rounds of:

- an insert of an identifier of its own (``NAME-cC-rR``), in one of five tenants;
- an insert of a contested identifier (``contested-R-K``) that every client of every
  process with the same K tries at once: exactly one may win;
- an insert of an identifier of its own carrying a contested Name (``named-R-K``), tried by
  every client of every process with the same K: exactly one may hold it (``DuplicateName``);
- one compare-and-set increment of a shared counter (``counter-K``, its Cryptographic
  Length), retried on ``ConcurrentUpdate``;
- a lifecycle race on ``race-R-K``: clients try Activate (Pre-Active -> Active) or Destroy
  (Pre-Active -> Destroyed), each through a compare-and-set; an Active object may not be
  destroyed, a Destroyed one not activated, so exactly one of them may win.

Every acknowledged write is printed as one JSON line once the store returned; a failure
prints ``{"error": ...}`` (the faults test expects StorageErrors; the others expect none).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time

from kmip_server.model import Attribute
from kmip_server.storage.errors import StorageError
from kmip_server.storage.objects import ConcurrentUpdate, DuplicateIdentifier, DuplicateName, ObjectRecord
from kmip_server.storage.postgres import PostgresObjectStore, PostgresSettings
from tests.integration.storage.stores import record
from ttlv.kmip14 import State

COUNTERS = 4
RACERS = 4  # objects raced per round
SHARED_TENANT = "shared"


def counter_value(found: ObjectRecord) -> int:
    for attribute in found.attributes:
        if attribute.name == "Cryptographic Length":
            assert isinstance(attribute.value, int)
            return attribute.value
    raise AssertionError("no counter")


def with_counter(found: ObjectRecord, value: int) -> ObjectRecord:
    kept = tuple(a for a in found.attributes if a.name != "Cryptographic Length")
    return dataclasses.replace(found, attributes=(*kept, Attribute(name="Cryptographic Length", value=value)))


def say(event: str, uid: str) -> None:
    sys.stdout.write(json.dumps({event: uid}) + "\n")
    sys.stdout.flush()


async def client(store: PostgresObjectStore, name: str, number: int, rounds: int) -> None:
    for round_number in range(rounds):
        try:
            own = f"{name}-c{number}-r{round_number}"
            await store.insert(
                record(own, f"tenant-{number % 5}", names=(f"name-{own}",), material=own.encode())
            )
            say("insert", own)

            contested = f"contested-{round_number}-{number % 4}"
            try:
                await store.insert(record(contested, SHARED_TENANT, names=(f"by-{own}",)))
                say("contested", contested)
            except DuplicateIdentifier:
                pass

            named = f"named-{round_number}-{number % 4}"
            try:
                await store.insert(record(f"{own}-named", SHARED_TENANT, names=(named,)))
                say("named", named)
            except DuplicateName:
                pass

            counter = f"counter-{(number + round_number) % COUNTERS}"
            while True:
                found = await store.get(SHARED_TENANT, counter)
                assert found is not None
                try:
                    await store.replace(
                        with_counter(found, counter_value(found) + 1), expected_revision=found.revision
                    )
                    break
                except ConcurrentUpdate:
                    continue
            say("increment", counter)

            racer = f"race-{round_number}-{number % RACERS}"
            wants = State.ACTIVE if (number + len(name)) % 2 else State.DESTROYED
            while True:
                found = await store.get(SHARED_TENANT, racer)
                if found is None or found.state is not State.PRE_ACTIVE:
                    break  # someone else moved it first: Activate/Destroy would be refused now
                try:
                    await store.replace(
                        dataclasses.replace(found, state=wants), expected_revision=found.revision
                    )
                    say("activate" if wants is State.ACTIVE else "destroy", racer)
                    break
                except ConcurrentUpdate:
                    continue
        except StorageError as exc:
            sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            sys.stdout.flush()
            await asyncio.sleep(0.05)


async def main(name: str, clients: int, rounds: int) -> None:
    settings = PostgresSettings(**json.loads(sys.stdin.readline()))
    store = await PostgresObjectStore.open(settings)
    try:
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for number in range(clients):
                group.create_task(client(store, name, number, rounds))
        sys.stderr.write(f"{name}: {time.monotonic() - started:.2f} s\n")
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
