"""A live Krypton Core for integration and adversity tests: ``openkcm dev`` as a real subprocess.

What this module gives a test:

- ``start_core(data_dir, label=...)``: runs ``python -m kmip_server.cli dev`` on a free port
  (``--kmip-port 0``: the kernel picks it, the Core prints it; no probe-then-bind race), waits
  until it answers TLS as a tenant, and returns a ``CoreProcess`` (PID, port, PKI paths,
  ``pykmip.conf``, its output, SIGTERM / SIGKILL, resident memory from /proc).
  ``env`` adds ``OPENKCM_<SECTION>__<KEY>`` overrides (e.g. a short read timeout).
- ``CoreProcesses``: every Core a test starts; whatever is still running at the end is killed.
- ``core_server``: a session-scoped fixture, one Core for every test that needs no special
  configuration (tests give their objects unique names, so they can share it). Import it into a
  ``conftest.py`` to share it across a package (``tests/integration/pykmip`` does); a module that
  imports it directly gets its own Core. Modules that need a configured Core (environment
  overrides) or kill it start their own with ``CoreProcesses``.
- Storage: a Core keeps its data in SQLite in its data directory unless ``env`` says otherwise;
  ``postgres_env(settings)`` is the ``env`` of a Core whose storage is a PostgreSQL schema
  (``tests.support.postgres`` makes a fresh one: ``await session().new_schema()``), and
  ``postgres_core_server`` is ``core_server``'s twin on PostgreSQL.
- ``issue_extra_clients(core, directory)``: client certificates the dev PKI does not make:
  ``foreign`` (another CA), ``expired`` (the dev CA, expired yesterday), ``unknown`` (the dev CA,
  a SPIFFE ID in the trust domain that matches no identity pattern), ``stranger`` (the dev CA,
  a tenant SPIFFE ID of another trust domain).
- ``pykmip_client`` / ``pykmip_proxy``: PyKMIP's ``ProxyKmipClient`` and ``KMIPProxy``, configured
  by the ``pykmip.conf`` that ``openkcm dev`` wrote, as a tenant section or an extra certificate,
  at a chosen KMIP version (PyKMIP's default is 1.2).
- ``RawConnection`` and the request builders (``request_message``, ``batch_item``,
  ``parse_response``): a plain blocking TLS socket that sends any bytes and reads one framed
  message back, for what PyKMIP cannot send (Add Attribute, hostile bytes) and for comparing
  answers byte for byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest
from kmip.core import enums as kenums
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from kmip_server.devpki import IssuedCertificate as _Issued
from kmip_server.devpki import (
    create_ca,
    issue_client_certificate,
    load_certificate,
    load_private_key,
    write_certificate,
    write_private_key,
)
from kmip_server.storage.postgres_settings import PostgresSettings
from kmip_server.transport.tls import build_client_context
from ttlv import Item, ItemType, decode, encode
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    NameType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    SecretDataType,
    Tag,
)

__all__ = [
    "KMIP_1_2",
    "KMIP_1_4",
    "OPENKCM",
    "TENANTS",
    "BatchResult",
    "ClientCertificate",
    "CoreProcess",
    "CoreProcesses",
    "RawConnection",
    "attribute_item",
    "batch_item",
    "core_server",
    "create_aes_payload",
    "free_port",
    "issue_extra_clients",
    "key_material",
    "name_value",
    "parse_response",
    "postgres_core_server",
    "postgres_env",
    "pykmip_client",
    "pykmip_proxy",
    "register_secret_payload",
    "request_message",
    "start_core",
    "text",
    "uid_payload",
]

OPENKCM = [sys.executable, "-m", "kmip_server.cli"]
START_TIMEOUT = 90.0  # seconds: a loaded 2-core machine, a fresh PKI and database
STOP_TIMEOUT = 60.0
TENANTS = ("acme", "globex")
TRUST_DOMAIN = "openkcm.local"  # kmip_server.dev.TRUST_DOMAIN
KMIP_1_2 = kenums.KMIPVersion.KMIP_1_2
KMIP_1_4 = kenums.KMIPVersion.KMIP_1_4

_READY_LINE = re.compile(r"KMIP over mutual TLS on (?P<host>[0-9.]+):(?P<port>\d+)")
_CONNECT_HINT = "Connect with PyKMIP"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate and its key (PEM files)."""

    certificate: Path
    key: Path


# -- the Core process --------------------------------------------------------------------------------


def free_port() -> int:
    """A port free right now (racy: prefer ``start_core(port=0)``, which lets the Core bind it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class CoreProcess:
    """One running ``openkcm dev``."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    stdout: Path
    stderr: Path
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pki(self) -> Path:
        return self.data_dir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.pem"

    @property
    def pykmip_conf(self) -> Path:
        return self.data_dir / "pykmip.conf"

    def tenant(self, name: str) -> ClientCertificate:
        """The dev PKI's client certificate of an example tenant (``acme`` or ``globex``)."""
        return ClientCertificate(self.pki / f"{name}.pem", self.pki / f"{name}.key")

    def output(self) -> str:
        return self.stdout.read_text() + "\n--- stderr ---\n" + self.stderr.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> int:
        """SIGTERM, then the exit status (a graceful drain and seal)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> int:
        """SIGKILL: no drain, no seal, no flush; the exit status (-9)."""
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def rss_kib(self) -> int:
        """The server's resident set size (VmRSS, KiB) from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("VmRSS not found")

    def client_context(self, who: str | ClientCertificate = "acme") -> ssl.SSLContext:
        """A TLS client context trusting the dev CA and presenting ``who``'s certificate."""
        files = self.tenant(who) if isinstance(who, str) else who
        return build_client_context(self.ca_file, files.certificate, files.key)


def _tls_accepts(core: CoreProcess) -> bool:
    try:
        context = core.client_context("acme")
        with (
            socket.create_connection((core.host, core.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=core.host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def start_core(
    data_dir: Path,
    *,
    label: str = "core",
    env: Mapping[str, str] | None = None,
    port: int = 0,
) -> CoreProcess:
    """Start ``openkcm dev`` on ``data_dir`` and wait until it serves TLS (``pytest.fail`` if not).

    ``port`` 0 lets the kernel choose; the Core prints the port it bound. Output goes to
    ``<data_dir>/../<label>.out`` and ``.err``. Kill it with ``CoreProcesses`` or ``CoreProcess``."""
    stdout = data_dir.parent / f"{label}.out"
    stderr = data_dir.parent / f"{label}.err"
    environment = dict(os.environ)
    environment.update(env or {})
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*OPENKCM, "dev", "--data-dir", str(data_dir), "--kmip-port", str(port)],
            stdout=out,
            stderr=err,
            env=environment,
        )
    core = CoreProcess(process, data_dir.resolve(), port, stdout, stderr)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"openkcm dev exited with {process.returncode}:\n{core.output()}")
            printed = stdout.read_text()
            found = _READY_LINE.search(printed)
            if found is not None and _CONNECT_HINT in printed:
                core.host, core.port = found["host"], int(found["port"])
                if _tls_accepts(core):
                    return core
            time.sleep(0.1)
        pytest.fail(f"openkcm dev did not serve TLS within {START_TIMEOUT} s:\n{core.output()}")
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise


class CoreProcesses:
    """Every Core started through it; ``close`` kills what still runs (a failed test's leftovers)."""

    def __init__(self) -> None:
        self.started: list[CoreProcess] = []

    def start(
        self, data_dir: Path, *, label: str = "core", env: Mapping[str, str] | None = None, port: int = 0
    ) -> CoreProcess:
        """``start_core`` with the same arguments; the Core is killed at ``close`` if still running."""
        core = start_core(data_dir, label=label, env=env, port=port)
        self.started.append(core)
        return core

    def close(self) -> None:
        for core in self.started:
            if core.alive():
                core.process.kill()
                core.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def shared_core(
    tmp_path_factory: pytest.TempPathFactory, label: str, env: Mapping[str, str] | None = None
) -> Iterator[CoreProcess]:
    """A Core shared by the tests that see it: they never assume it is empty. At the end it must
    still run and stop cleanly on SIGTERM (exit status 0)."""
    with CoreProcesses() as cores:
        core = cores.start(tmp_path_factory.mktemp(label) / "dev", label=label, env=env)
        yield core
        assert core.alive(), core.output()
        code = core.terminate()
        assert code == 0, core.output()


@pytest.fixture(scope="session")
def core_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """One Core on the embedded storage (SQLite), shared (see ``shared_core``)."""
    with shared_core(tmp_path_factory, "shared-core") as core:
        yield core


@pytest.fixture(scope="session")
def sqlite_core_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """``core_server`` under a name a package can still reach after overriding ``core_server``."""
    with shared_core(tmp_path_factory, "sqlite-core") as core:
        yield core


def postgres_env(settings: PostgresSettings) -> dict[str, str]:
    """``start_core(env=...)`` for a Core that keeps everything in that PostgreSQL schema
    (migrated already: ``openkcm db migrate``, or ``tests.support.postgres``)."""
    return {
        "OPENKCM_STORAGE__KIND": "postgres",
        "OPENKCM_STORAGE__POSTGRES__DSN": settings.dsn,
        "OPENKCM_STORAGE__POSTGRES__SCHEMA": settings.schema,
        "OPENKCM_STORAGE__POSTGRES__MAX_CONNECTIONS": str(settings.max_connections),
        "OPENKCM_STORAGE__POSTGRES__TIMEOUT": str(settings.timeout),
    }


@pytest.fixture(scope="session")
def postgres_core_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """``core_server`` on PostgreSQL: one Core whose storage is a fresh schema of the test
    session's database (skipped when PostgreSQL is not reachable)."""
    import asyncio  # noqa: PLC0415

    from tests.support.postgres import session  # noqa: PLC0415 (PostgreSQL only for who asks)

    async def new_schema() -> PostgresSettings:
        return await (await session()).new_schema("core")

    settings = asyncio.run(new_schema())
    with shared_core(tmp_path_factory, "shared-pg-core", postgres_env(settings)) as core:
        yield core


# -- extra client certificates --------------------------------------------------------------------


def issue_extra_clients(core: CoreProcess, directory: Path) -> dict[str, ClientCertificate]:
    """Client certificates beside the dev PKI's own, written under ``directory``:

    - ``foreign``: acme's SPIFFE ID, from a CA the server does not trust;
    - ``expired``: acme's SPIFFE ID from the dev CA, expired yesterday;
    - ``unknown``: the dev CA, a SPIFFE ID in the trust domain matching no identity pattern;
    - ``stranger``: the dev CA, a tenant SPIFFE ID of another trust domain."""
    directory.mkdir(parents=True, exist_ok=True)
    dev_ca = _Issued(load_certificate(core.pki / "ca.pem"), load_private_key(core.pki / "ca.key"))
    acme = f"spiffe://{TRUST_DOMAIN}/tenant/acme/service/payments"
    now = dt.datetime.now(dt.UTC)
    issued = {
        "foreign": issue_client_certificate(create_ca("Not The Dev CA"), spiffe_id=acme),
        "expired": issue_client_certificate(
            dev_ca,
            spiffe_id=acme,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
        "unknown": issue_client_certificate(dev_ca, spiffe_id=f"spiffe://{TRUST_DOMAIN}/robot/r2d2"),
        "stranger": issue_client_certificate(
            dev_ca, spiffe_id="spiffe://elsewhere.example/tenant/acme/service/payments"
        ),
    }
    clients: dict[str, ClientCertificate] = {}
    for name, pair in issued.items():
        files = ClientCertificate(directory / f"{name}.pem", directory / f"{name}.key")
        write_certificate(files.certificate, pair.certificate)
        write_private_key(files.key, pair.private_key)
        clients[name] = files
    return clients


# -- PyKMIP ------------------------------------------------------------------------------------------


def _section_and_files(who: str | ClientCertificate) -> tuple[str, str | None, str | None]:
    if isinstance(who, str):
        return who, None, None
    return "acme", str(who.certificate), str(who.key)


def pykmip_client(
    core: CoreProcess,
    who: str | ClientCertificate = "acme",
    version: kenums.KMIPVersion = KMIP_1_2,
) -> ProxyKmipClient:
    """An unopened ``ProxyKmipClient``: a tenant section of ``pykmip.conf``, or another certificate."""
    section, cert, key = _section_and_files(who)
    return ProxyKmipClient(
        cert=cert,
        key=key,
        config=section,
        config_file=str(core.pykmip_conf),
        kmip_version=version,
    )


def pykmip_proxy(
    core: CoreProcess,
    who: str | ClientCertificate = "acme",
    version: kenums.KMIPVersion = KMIP_1_2,
) -> KMIPProxy:
    """An unopened ``KMIPProxy`` (PyKMIP's lower-level client), configured like ``pykmip_client``."""
    section, cert, key = _section_and_files(who)
    return KMIPProxy(
        certfile=cert,
        keyfile=key,
        config=section,
        config_file=str(core.pykmip_conf),
        kmip_version=version,
    )


# -- raw requests ------------------------------------------------------------------------------------


def text(tag: Tag, value: str) -> Item:
    return Item(tag, ItemType.TEXT_STRING, value)


def uid_payload(unique_identifier: str) -> tuple[Item, ...]:
    return (text(Tag.UNIQUE_IDENTIFIER, unique_identifier),)


def attribute_item(name: str, value: Item) -> Item:
    """An Attribute structure; ``value`` is the Attribute Value (its tag is set here)."""
    return Item(
        Tag.ATTRIBUTE,
        ItemType.STRUCTURE,
        (text(Tag.ATTRIBUTE_NAME, name), Item(Tag.ATTRIBUTE_VALUE, value.type, value.value)),
    )


def name_value(name: str) -> Item:
    """A Name attribute value (Uninterpreted Text String)."""
    return Item(
        Tag.ATTRIBUTE_VALUE,
        ItemType.STRUCTURE,
        (
            text(Tag.NAME_VALUE, name),
            Item(Tag.NAME_TYPE, ItemType.ENUMERATION, int(NameType.UNINTERPRETED_TEXT_STRING)),
        ),
    )


def create_aes_payload(length: int = 256, name: str | None = None) -> list[Item]:
    """Create: an AES key of ``length`` bits for Encrypt and Decrypt (KMIP 1.x Template-Attribute)."""
    attributes = [
        attribute_item(
            "Cryptographic Algorithm",
            Item(Tag.ATTRIBUTE_VALUE, ItemType.ENUMERATION, int(CryptographicAlgorithm.AES)),
        ),
        attribute_item("Cryptographic Length", Item(Tag.ATTRIBUTE_VALUE, ItemType.INTEGER, length)),
        attribute_item(
            "Cryptographic Usage Mask",
            Item(
                Tag.ATTRIBUTE_VALUE,
                ItemType.INTEGER,
                int(CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT),
            ),
        ),
    ]
    if name is not None:
        attributes.append(attribute_item("Name", name_value(name)))
    return [
        Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, int(ObjectType.SYMMETRIC_KEY)),
        Item(Tag.TEMPLATE_ATTRIBUTE, ItemType.STRUCTURE, tuple(attributes)),
    ]


def register_secret_payload(secret: bytes, name: str | None = None) -> list[Item]:
    """Register: Secret Data (a password) holding ``secret``."""
    attributes = (attribute_item("Name", name_value(name)),) if name is not None else ()
    key_block = Item(
        Tag.KEY_BLOCK,
        ItemType.STRUCTURE,
        (
            Item(Tag.KEY_FORMAT_TYPE, ItemType.ENUMERATION, int(KeyFormatType.OPAQUE)),
            Item(Tag.KEY_VALUE, ItemType.STRUCTURE, (Item(Tag.KEY_MATERIAL, ItemType.BYTE_STRING, secret),)),
        ),
    )
    return [
        Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, int(ObjectType.SECRET_DATA)),
        Item(Tag.TEMPLATE_ATTRIBUTE, ItemType.STRUCTURE, attributes),
        Item(
            Tag.SECRET_DATA,
            ItemType.STRUCTURE,
            (Item(Tag.SECRET_DATA_TYPE, ItemType.ENUMERATION, int(SecretDataType.PASSWORD)), key_block),
        ),
    ]


def key_material(payload: Item) -> bytes:
    """The Key Material of a Get response payload (any object type with a Key Block)."""
    for child in payload.children:
        block = child.find(Tag.KEY_BLOCK)
        if block is None:
            continue
        value = block.find(Tag.KEY_VALUE)
        material = value.find(Tag.KEY_MATERIAL) if value is not None else None
        assert material is not None
        assert isinstance(material.value, bytes)
        return material.value
    raise AssertionError("no Key Block in the payload")


def batch_item(operation: Operation, payload: Sequence[Item] = ()) -> Item:
    """One request Batch Item: the operation and its Request Payload's children."""
    return Item(
        Tag.BATCH_ITEM,
        ItemType.STRUCTURE,
        (
            Item(Tag.OPERATION, ItemType.ENUMERATION, int(operation)),
            Item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, tuple(payload)),
        ),
    )


def request_message(items: Sequence[Item], version: tuple[int, int] = (1, 4)) -> bytes:
    """A whole encoded Request Message around ``items`` (Batch Items)."""
    header = Item(
        Tag.REQUEST_HEADER,
        ItemType.STRUCTURE,
        (
            Item(
                Tag.PROTOCOL_VERSION,
                ItemType.STRUCTURE,
                (
                    Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, version[0]),
                    Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, version[1]),
                ),
            ),
            Item(Tag.BATCH_COUNT, ItemType.INTEGER, len(items)),
        ),
    )
    return encode(Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, (header, *items)))


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One response Batch Item, decoded just enough to compare answers."""

    operation: Operation | None
    status: ResultStatus
    reason: ResultReason | None
    message: str | None
    payload: Item | None
    encoded: bytes = field(repr=False)  # the whole Batch Item as the server encoded it

    def outcome(self) -> tuple[ResultStatus, ResultReason | None, str | None]:
        return self.status, self.reason, self.message


def parse_response(message: bytes) -> list[BatchResult]:
    """The Batch Items of a Response Message (asserting it is one)."""
    root = decode(message)
    assert root.tag == Tag.RESPONSE_MESSAGE, f"not a Response Message: tag {root.tag:#x}"
    results = []
    for item in root.find_all(Tag.BATCH_ITEM):
        operation = item.find(Tag.OPERATION)
        status = item.find(Tag.RESULT_STATUS)
        reason = item.find(Tag.RESULT_REASON)
        note = item.find(Tag.RESULT_MESSAGE)
        assert status is not None
        assert isinstance(status.value, int)
        results.append(
            BatchResult(
                operation=Operation(operation.value) if operation is not None else None,  # type: ignore[arg-type]
                status=ResultStatus(status.value),
                reason=ResultReason(reason.value) if reason is not None else None,  # type: ignore[arg-type]
                message=note.value if note is not None else None,  # type: ignore[arg-type]
                payload=item.find(Tag.RESPONSE_PAYLOAD),
                encoded=encode(item),
            )
        )
    return results


class RawConnection:
    """A blocking mutual-TLS socket to the Core: send any bytes, read one framed message back."""

    def __init__(self, core: CoreProcess, who: str | ClientCertificate = "acme", timeout: float = 30.0):
        raw = socket.create_connection((core.host, core.port), timeout=timeout)
        try:
            self.sock = core.client_context(who).wrap_socket(raw, server_hostname=core.host)
        except BaseException:
            raw.close()
            raise

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            chunks += chunk
        return bytes(chunks)

    def read_message(self) -> bytes:
        header = self._exactly(8)
        return header + self._exactly(int.from_bytes(header[4:8], "big"))

    def exchange(self, data: bytes) -> bytes:
        self.send(data)
        return self.read_message()

    def call(
        self, operation: Operation, payload: Sequence[Item] = (), version: tuple[int, int] = (1, 4)
    ) -> BatchResult:
        """One operation in a one-item batch; its result."""
        (result,) = parse_response(self.exchange(request_message([batch_item(operation, payload)], version)))
        return result

    def closed_by_server(self, timeout: float = 30.0) -> bool:
        """True when the server ends the stream (EOF, reset, TLS alert) within ``timeout``; bytes
        it sends before that (an error response) are read and dropped."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
