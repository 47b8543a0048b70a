"""PostgreSQL restarted under load: in-flight calls fail clearly, the store reconnects by itself,
nothing acknowledged is lost.

The restart is real (``pg_ctlcluster ... restart``) but of a throwaway cluster made for this
module (``pg_createcluster`` on a free port, dropped at the end), so tests running beside it on
the machine's main cluster are not disturbed. It needs root and the Debian cluster tools, as on
this kind of machine; elsewhere it is skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from kmip_server.storage.errors import StorageError
from kmip_server.storage.postgres import PostgresObjectStore, PostgresSettings
from rls import Roles, migrate
from tests.integration.storage.stores import record
from tests.support.server import (
    CoreProcesses,
    RawConnection,
    create_aes_payload,
    free_port,
    postgres_env,
    uid_payload,
)
from ttlv.kmip14 import Operation, ResultReason, ResultStatus, Tag

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLUSTER_PREFIX = "okt_"
TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters")
LOAD_BEFORE_RESTART = 1.0  # seconds of load before the restart, and after it is back
STORE_MESSAGES = (
    "the database is unreachable",
    "storage timed out",
    "the database connection failed while committing: the write may not be stored",
)


@dataclass(frozen=True, slots=True)
class Cluster:
    version: str
    name: str
    port: int

    def dsn(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def ctl(self, action: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action],
            check=True,
            capture_output=True,
            timeout=120,
        )


def _drop_orphan_clusters() -> None:
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        version, name = line.split()[:2]
        found = re.fullmatch(rf"{CLUSTER_PREFIX}(\d+)_[0-9a-f]+", name)
        if found and not Path(f"/proc/{found[1]}").exists():
            subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in TOOLS):
        pytest.skip("restarting PostgreSQL needs root and pg_createcluster/pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        pytest.skip("no PostgreSQL version installed under /etc/postgresql")
    _drop_orphan_clusters()
    made = Cluster(versions[-1], f"{CLUSTER_PREFIX}{os.getpid()}_{secrets.token_hex(3)}", free_port())
    subprocess.run(
        ["pg_createcluster", made.version, made.name, "--port", str(made.port), "--",
         "--auth-local=trust", "--auth-host=trust"],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    try:
        made.ctl("start")
        yield made
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", made.version, made.name], capture_output=True, check=False
        )


async def migrated(cluster: Cluster) -> PostgresSettings:
    """A fresh schema on the cluster, and the settings of a store over it (short timeouts)."""
    roles = Roles(owner="okt_owner", app="okt_app")
    schema = f"f_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(cluster.dsn(), timeout=30)
    try:
        await migrate(connection, roles, schema=schema)
    finally:
        await connection.close()
    return PostgresSettings(dsn=cluster.dsn(roles.app), schema=schema, max_connections=4, timeout=5.0)


def restart_in_background(cluster: Cluster) -> threading.Thread:
    thread = threading.Thread(target=cluster.ctl, args=("restart",))
    thread.start()
    return thread


def test_a_restart_under_load_fails_in_flight_calls_clearly_and_the_store_reconnects(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        store = await PostgresObjectStore.open(await migrated(cluster))
        acknowledged: list[str] = []
        failures: list[StorageError] = []
        stop = asyncio.Event()

        async def writer(number: int) -> None:
            sequence = 0
            while not stop.is_set():
                uid = f"w{number}-{sequence}"
                sequence += 1
                try:
                    await store.insert(record(uid, f"tenant-{number % 3}", material=uid.encode()))
                    acknowledged.append(uid)
                    assert await store.get(f"tenant-{number % 3}", uid) is not None
                except StorageError as exc:  # anything else fails the test
                    failures.append(exc)
                    await asyncio.sleep(0.02)

        try:
            async with asyncio.TaskGroup() as group:
                for number in range(8):
                    group.create_task(writer(number))
                await asyncio.sleep(LOAD_BEFORE_RESTART)
                before = len(acknowledged)
                restart = restart_in_background(cluster)
                await asyncio.to_thread(restart.join)
                after_restart = len(acknowledged)
                await asyncio.sleep(LOAD_BEFORE_RESTART)
                stop.set()
            assert before > 0
            assert len(acknowledged) > after_restart  # it serves again, without anyone reopening it
            for failure in failures:
                assert str(failure) in STORE_MESSAGES, repr(failure)
            print(f"\n{len(acknowledged)} inserts acknowledged, {len(failures)} failed during the restart")
            # The very next call succeeds: the store found a new connection by itself.
            await store.insert(record("after-the-restart"))
            for number in range(8):
                for uid in [u for u in acknowledged if u.startswith(f"w{number}-")]:
                    expected = record(uid, f"tenant-{number % 3}", material=uid.encode())
                    assert await store.get(expected.tenant_id, uid) == expected, uid
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_core_answers_general_failure_during_a_restart_and_serves_again(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = postgres_env(asyncio.run(migrated(cluster)))
    outcomes: list[tuple[ResultStatus, ResultReason | None]] = []
    acknowledged: list[str] = []
    problems: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    with CoreProcesses() as cores:
        core = cores.start(tmp_path / "dev", label="restart-core", env=env)

        def client() -> None:
            try:
                with RawConnection(core, timeout=60) as connection:
                    while not stop.is_set():
                        created = connection.call(Operation.CREATE, create_aes_payload())
                        with lock:
                            outcomes.append((created.status, created.reason))
                            if created.status is ResultStatus.SUCCESS:
                                assert created.payload is not None
                                acknowledged.append(str(created.payload.find(Tag.UNIQUE_IDENTIFIER).value))  # type: ignore[union-attr]
                        if created.status is not ResultStatus.SUCCESS:
                            time.sleep(0.02)
            except BaseException as exc:  # reported by the main thread
                problems.append(exc)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(LOAD_BEFORE_RESTART)
        began = time.monotonic()
        restart_in_background(cluster).join()
        print(f"\nrestart took {time.monotonic() - began:.2f} s")
        served_before_back = len(acknowledged)
        time.sleep(LOAD_BEFORE_RESTART * 2)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert problems == []  # no connection dropped, no malformed answer
        assert core.alive(), core.output()
        # Every answer was a success or a General Failure: nothing else, nothing vaguer.
        assert set(outcomes) <= {
            (ResultStatus.SUCCESS, None),
            (ResultStatus.OPERATION_FAILED, ResultReason.GENERAL_FAILURE),
        }, outcome_counts(outcomes)
        assert len(acknowledged) > served_before_back  # served again after the restart
        with RawConnection(core) as connection:
            for uid in acknowledged:
                got = connection.call(Operation.GET, uid_payload(uid))
                assert got.status is ResultStatus.SUCCESS, (uid, got.outcome())
        print(
            f"\n{len(acknowledged)} Creates acknowledged,"
            f" {len(outcomes) - len(acknowledged)} General Failures"
        )
        assert core.terminate() == 0, core.output()


def outcome_counts(outcomes: list[tuple[ResultStatus, ResultReason | None]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status, reason in outcomes:
        key = f"{status.name}/{reason.name if reason else '-'}"
        counts[key] = counts.get(key, 0) + 1
    return counts
