"""Durability of a live Core: what it acknowledged survives SIGKILL (no drain, no seal, no flush).

``openkcm dev`` runs as a subprocess; keys are made through PyKMIP; the process is killed with
SIGKILL; ``openkcm dev`` starts again on the same data directory (it auto-unseals, and finds the
killed process's stale admin socket), and every acknowledged object is there with the same bytes
and the same state. The second test kills the Core while several clients stream Creates and
Registers: only what was acknowledged must survive, and all of it must.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import pytest
from kmip.core import enums
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient

from tests.support.server import KMIP_1_4, CoreProcess, CoreProcesses, RawConnection, pykmip_client, text
from ttlv.kmip14 import LinkType, Operation, ResultStatus, Tag

pytestmark = pytest.mark.integration

KEYS = 40
ACKNOWLEDGED_BEFORE_KILL = 120  # objects acknowledged across the streams before the SIGKILL


@pytest.fixture
def cores() -> Iterator[CoreProcesses]:
    with CoreProcesses() as started:
        yield started


def _kill(core: CoreProcess) -> None:
    assert core.alive(), core.output()
    assert core.kill() == -signal.SIGKILL


def _state(client: ProxyKmipClient, uid: str) -> enums.State:
    _, attributes = client.get_attributes(uid, ["State"])
    state: enums.State = attributes[0].attribute_value.value
    return state


def test_acknowledged_objects_survive_sigkill(cores: CoreProcesses, tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    first = cores.start(data_dir, label="durable-1")
    keys: dict[str, bytes] = {}
    with pykmip_client(first, "acme") as acme:
        for _ in range(KEYS):
            uid = acme.create(enums.CryptographicAlgorithm.AES, 256)
            keys[uid] = acme.get(uid).value
        secret = os.urandom(48)
        registered = acme.register(objects.SecretData(secret, enums.SecretDataType.SEED, name="durable-seed"))
        uids = list(keys)
        acme.activate(uids[0])
        acme.destroy(uids[1])
        renamed = acme.attribute_factory.create_attribute(enums.AttributeType.NAME, "durable-seed-renamed")
        acme.modify_attribute(registered, attribute=renamed)
    with pykmip_client(first, "globex", KMIP_1_4) as globex:
        theirs = globex.create(enums.CryptographicAlgorithm.AES, 128)
        their_bytes = globex.get(theirs).value
    _kill(first)

    second = cores.start(data_dir, label="durable-2")
    assert second.pid != first.pid
    with pykmip_client(second, "acme") as acme:
        for uid, material in keys.items():
            if uid != uids[1]:
                assert acme.get(uid).value == material, uid
        assert acme.get(registered).value == secret
        assert _state(acme, uids[0]) is enums.State.ACTIVE
        assert _state(acme, uids[1]) is enums.State.DESTROYED
        assert _state(acme, uids[2]) is enums.State.PRE_ACTIVE
        assert acme.locate(attributes=[renamed]) == [registered]
        assert set(acme.locate()) >= set(keys) - {uids[1]} | {registered}
    with pykmip_client(second, "globex", KMIP_1_4) as globex:
        assert globex.get(theirs).value == their_bytes
    # New work after the restart is durable too.
    with pykmip_client(second, "acme") as acme:
        later = acme.create(enums.CryptographicAlgorithm.AES, 128)
        later_bytes = acme.get(later).value
    _kill(second)
    third = cores.start(data_dir, label="durable-3")
    with pykmip_client(third, "acme") as acme:
        assert acme.get(later).value == later_bytes
        assert acme.get(uids[2]).value == keys[uids[2]]
    assert third.terminate() == 0, third.output()


class Kind(IntEnum):
    CREATE = 1  # Create, then Get: the bytes are known once the Get answers
    REGISTER = 2  # Register of bytes chosen here: known as soon as it is acknowledged
    REKEY = 3  # a chain of Re-keys of one named key: each moves the Name and links two objects


@dataclass
class Stream:
    """One client's stream of requests and what the server acknowledged of it."""

    tenant: str
    kind: Kind
    acknowledged: dict[str, bytes | None] = field(default_factory=dict)  # uid -> bytes, once known
    name: str = field(default_factory=lambda: f"chain-{os.urandom(6).hex()}")
    error: BaseException | None = None

    def run(self, core: CoreProcess, stop: threading.Event, progress: threading.Semaphore) -> None:
        try:
            with pykmip_client(core, self.tenant) as client:
                latest = ""
                if self.kind is Kind.REKEY:
                    latest = client.create(enums.CryptographicAlgorithm.AES, 128, name=self.name)
                    self.acknowledged[latest] = None
                while not stop.is_set():
                    if self.kind is Kind.REGISTER:
                        material = os.urandom(32)
                        key = objects.SymmetricKey(
                            enums.CryptographicAlgorithm.AES, 256, material, name=os.urandom(8).hex()
                        )
                        self.acknowledged[client.register(key)] = material
                    elif self.kind is Kind.CREATE:
                        uid = client.create(enums.CryptographicAlgorithm.AES, 256)
                        self.acknowledged[uid] = None
                        self.acknowledged[uid] = client.get(uid).value
                    else:
                        latest = client.rekey(uid=latest)
                        self.acknowledged[latest] = None
                    progress.release()
        except Exception as exc:  # the kill breaks the connection: any error ends the stream
            self.error = exc


def _links(core: CoreProcess, tenant: str, uid: str) -> set[tuple[int, str]]:
    with RawConnection(core, tenant) as raw:
        result = raw.call(
            Operation.GET_ATTRIBUTES, [text(Tag.UNIQUE_IDENTIFIER, uid), text(Tag.ATTRIBUTE_NAME, "Link")]
        )
    assert result.status is ResultStatus.SUCCESS, result.outcome()
    assert result.payload is not None
    links = set()
    for found in result.payload.find_all(Tag.ATTRIBUTE):
        value = found.find(Tag.ATTRIBUTE_VALUE)
        assert value is not None
        kind, target = value.find(Tag.LINK_TYPE), value.find(Tag.LINKED_OBJECT_IDENTIFIER)
        assert kind is not None
        assert target is not None
        assert isinstance(kind.value, int)
        assert isinstance(target.value, str)
        links.add((kind.value, target.value))
    return links


def _check_chain(core: CoreProcess, stream: Stream) -> None:
    """The acknowledged Re-keys are all there, linked both ways, and the Name moved with each;
    exactly one key holds the Name: the last acknowledged one, or the one Re-key that committed
    before the kill without being acknowledged (then linked both ways with it, which lost the
    Name in the same transaction). Re-key writes both keys at once: never the Name on both."""
    chain = list(stream.acknowledged)
    for older, newer in itertools.pairwise(chain):
        assert (LinkType.REPLACEMENT_OBJECT_LINK, newer) in _links(core, stream.tenant, older)
        assert (LinkType.REPLACED_OBJECT_LINK, older) in _links(core, stream.tenant, newer)
    with pykmip_client(core, stream.tenant) as client:
        by_name = client.attribute_factory.create_attribute(enums.AttributeType.NAME, stream.name)
        holders = client.locate(attributes=[by_name])
        for uid in chain[:-1]:
            _, names = client.get_attributes(uid, ["Name"])
            assert names == [], uid
        _, last_names = client.get_attributes(chain[-1], ["Name"])
    assert len(holders) == 1, holders
    (holder,) = holders
    last_links = _links(core, stream.tenant, chain[-1])
    if holder == chain[-1]:  # no Re-key after the last acknowledged one committed
        assert not any(kind == LinkType.REPLACEMENT_OBJECT_LINK for kind, _target in last_links)
    else:  # one committed, unacknowledged: all of it
        assert _links(core, stream.tenant, holder) == {(LinkType.REPLACED_OBJECT_LINK, chain[-1])}
        assert (LinkType.REPLACEMENT_OBJECT_LINK, holder) in last_links
        assert last_names == []


def test_sigkill_during_streams_of_writes(cores: CoreProcesses, tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    core = cores.start(data_dir, label="stream-1")
    stop = threading.Event()
    progress = threading.Semaphore(0)
    streams = [
        Stream("acme", Kind.CREATE),
        Stream("globex", Kind.CREATE),
        Stream("acme", Kind.REGISTER),
        Stream("globex", Kind.REKEY),
    ]
    threads = [threading.Thread(target=s.run, args=(core, stop, progress), daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    try:
        for _ in range(ACKNOWLEDGED_BEFORE_KILL):
            assert progress.acquire(timeout=60), [s.error for s in streams]
        # A stream the machine starved may still be short of two: the others keep sending.
        deadline = time.monotonic() + 60
        while not all(len(stream.acknowledged) > 1 for stream in streams):
            assert time.monotonic() < deadline, [len(stream.acknowledged) for stream in streams]
            assert progress.acquire(timeout=60), [s.error for s in streams]
        _kill(core)  # the streams are still sending: some requests are in flight
        for thread in threads:  # each stream's next request fails: that ends it, not ``stop``
            thread.join(timeout=60)
    finally:
        stop.set()  # only if something above failed first
        for thread in threads:
            thread.join(timeout=60)
    assert all(not thread.is_alive() for thread in threads)
    assert all(stream.error is not None for stream in streams), "every stream saw the kill"

    restarted = cores.start(data_dir, label="stream-2")
    for stream in streams:
        with pykmip_client(restarted, stream.tenant) as client:
            for uid, material in stream.acknowledged.items():
                got = client.get(uid).value
                assert len(got) * 8 == (128 if stream.kind is Kind.REKEY else 256)
                if material is not None:
                    assert got == material, uid
        if stream.kind is Kind.REKEY:
            _check_chain(restarted, stream)
    assert restarted.terminate() == 0, restarted.output()
