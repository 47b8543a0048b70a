"""Real keystore backends for tests: a moto KMS server, a SoftHSM2 token, and "customer consoles".

Reuse from any conftest.py by importing the fixtures (pytest picks up imported fixtures):

    from tests.support.keystores import keystore_env, moto_kms, softhsm  # noqa: F401

- ``moto_kms`` (session): a moto server process on 127.0.0.1 (see ``moto_kms_server``), as a
  ``MotoKms`` with ``keystore()`` and ``console()``.
- ``softhsm`` (session): one initialized SoftHSM2 token in a temporary directory, as a ``SoftHsm``
  with ``keystore()`` and ``console()``; skipped when libsofthsm2.so is not installed. SoftHSM
  reads its configuration once per process (at C_Initialize), so every test in a process must
  share this one fixture rather than start another token.
- ``keystore_env`` (function, parametrized software / software-file / aws-kms / pkcs11): a
  ``KeystoreEnv`` with a fresh driver and the console that can create, disable, enable and delete
  keys in the same backend, as the customer would in their KMS or HSM.

Consoles are synchronous (they stand for the customer's own tools), drivers are async.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import boto3
import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from keystores.aws_kms import AwsKmsKeystore
from keystores.base import KeyStatus, Keystore
from keystores.executor import DEFAULT_EXECUTOR_SETTINGS, ExecutorSettings
from keystores.pkcs11 import DEFAULT_PKCS11_EXECUTOR_SETTINGS, Pkcs11Keystore, Pkcs11Module
from keystores.software import SoftwareKeystore

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_UTIL = "softhsm2-util"
MOTO_REGION = "eu-central-1"
MOTO_START_TIMEOUT = 30.0  # seconds for the moto process to report its port
MOTO_STOP_TIMEOUT = 10.0
KEYSTORE_KINDS = ("software", "software-file", "aws-kms", "pkcs11")


class KeyConsole(Protocol):
    """The customer's side of a keystore: what they do to their own keys."""

    @property
    def deletion_leaves(self) -> KeyStatus:
        """The status a key reports after ``schedule_deletion`` (PKCS#11 has no pending state)."""
        ...

    def create_key(self) -> str: ...

    def disable_key(self, key_id: str) -> None: ...

    def enable_key(self, key_id: str) -> None: ...

    def schedule_deletion(self, key_id: str) -> None: ...

    def missing_key_id(self) -> str:
        """A well-formed key id that names no key."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class KeystoreEnv:
    name: str
    keystore: Keystore
    console: KeyConsole


# -- software --------------------------------------------------------------------------------


class SoftwareConsole:
    """The dev keystore is its own console."""

    deletion_leaves = KeyStatus.PENDING_DELETION

    def __init__(self, keystore: SoftwareKeystore) -> None:
        self._keystore = keystore

    def create_key(self) -> str:
        return self._keystore.create_key()

    def disable_key(self, key_id: str) -> None:
        self._keystore.disable_key(key_id)

    def enable_key(self, key_id: str) -> None:
        self._keystore.enable_key(key_id)

    def schedule_deletion(self, key_id: str) -> None:
        self._keystore.schedule_deletion(key_id)

    def missing_key_id(self) -> str:
        return f"dev-{uuid.uuid4()}"

    def close(self) -> None:
        pass


# -- AWS KMS (moto server) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MotoKms:
    endpoint_url: str
    region: str = MOTO_REGION
    access_key_id: str = "testing"
    secret_access_key: str = field(default="testing", repr=False)

    def client(self) -> Any:
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def keystore(self, *, executor: ExecutorSettings | None = None) -> Keystore:
        return AwsKmsKeystore(
            region=self.region,
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            executor=executor or DEFAULT_EXECUTOR_SETTINGS,
        )

    def console(self) -> AwsConsole:
        return AwsConsole(self.client())


class AwsConsole:
    deletion_leaves = KeyStatus.PENDING_DELETION

    def __init__(self, client: Any) -> None:
        self._client = client

    def create_key(self) -> str:
        response = self._client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")
        key_id: str = response["KeyMetadata"]["KeyId"]
        return key_id

    def disable_key(self, key_id: str) -> None:
        self._client.disable_key(KeyId=key_id)

    def enable_key(self, key_id: str) -> None:
        self._client.enable_key(KeyId=key_id)

    def schedule_deletion(self, key_id: str) -> None:
        self._client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)

    def missing_key_id(self) -> str:
        return str(uuid.uuid4())

    def close(self) -> None:
        self._client.close()


@contextlib.contextmanager
def running_moto_kms() -> Iterator[MotoKms]:
    """Start ``tests.support.moto_kms_server`` in a child process; stop it on exit."""
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(tempfile.TemporaryFile())  # moto logs every request: kept aside
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_kms_server"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])},
        )
        stack.callback(_stop, process)
        port = _read_port(process, log)
        yield MotoKms(endpoint_url=f"http://127.0.0.1:{port}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the server exits when its stdin closes
    try:
        process.wait(timeout=MOTO_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _read_port(process: subprocess.Popen[bytes], log: IO[bytes]) -> int:
    lines: queue.Queue[bytes] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=MOTO_START_TIMEOUT)
    except queue.Empty:
        line = b""
    if not line.startswith(b"PORT "):
        log.seek(0)
        raise RuntimeError(f"moto server did not start:\n{log.read()[-2000:].decode(errors='replace')}")
    return int(line.split()[1])


# -- PKCS#11 (SoftHSM2) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoftHsm:
    library_path: str
    token_label: str
    user_pin: str = field(repr=False)
    module: Pkcs11Module  # shared by every keystore and console of this token

    def keystore(self, *, executor: ExecutorSettings | None = None) -> Keystore:
        return Pkcs11Keystore(
            module=self.module,
            token_label=self.token_label,
            user_pin=self.user_pin,
            executor=executor or DEFAULT_PKCS11_EXECUTOR_SETTINGS,
        )

    def console(self) -> Pkcs11Console:
        return Pkcs11Console(self.module.open_session(self.token_label, self.user_pin, read_write=True))


class Pkcs11Console:
    deletion_leaves = KeyStatus.NOT_FOUND

    def __init__(self, session: Any) -> None:
        self._session = session

    def create_key(self) -> str:
        label = f"l1-{uuid.uuid4()}"
        template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.MODIFIABLE: True,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
        }
        self._session.call(
            lambda session: session.generate_key(KeyType.AES, 256, label=label, store=True, template=template)
        )
        return label

    def _set_usage(self, key_id: str, allowed: bool) -> None:
        def update(session: Any) -> None:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_id)
            key[Attribute.ENCRYPT] = allowed
            key[Attribute.DECRYPT] = allowed

        self._session.call(update)

    def disable_key(self, key_id: str) -> None:
        self._set_usage(key_id, False)

    def enable_key(self, key_id: str) -> None:
        self._set_usage(key_id, True)

    def schedule_deletion(self, key_id: str) -> None:
        self._session.call(
            lambda session: session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_id).destroy()
        )

    def missing_key_id(self) -> str:
        return f"l1-{uuid.uuid4()}"

    def close(self) -> None:
        self._session.close()


@contextlib.contextmanager
def running_softhsm(directory: Path) -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token stored under ``directory``; SOFTHSM2_CONF restored on exit."""
    tokens = directory / "tokens"
    tokens.mkdir(mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    label, user_pin, so_pin = f"openkcm-{uuid.uuid4().hex[:8]}", "user-pin-1234", "so-pin-5678"
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(
            [SOFTHSM_UTIL, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
            check=True,
            capture_output=True,
        )
        # The library reads SOFTHSM2_CONF at C_Initialize: make sure this process loads it afresh.
        pkcs11.unload(SOFTHSM_LIBRARY)
        yield SoftHsm(
            library_path=SOFTHSM_LIBRARY,
            token_label=label,
            user_pin=user_pin,
            module=Pkcs11Module(SOFTHSM_LIBRARY),
        )
    finally:
        pkcs11.unload(SOFTHSM_LIBRARY)
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


# -- environments ----------------------------------------------------------------------------


@contextlib.contextmanager
def keystore_environment(
    kind: str,
    *,
    moto: MotoKms | None = None,
    hsm: SoftHsm | None = None,
    executor: ExecutorSettings | None = None,
) -> Iterator[KeystoreEnv]:
    """A fresh driver of ``kind`` and its console; the driver is closed on exit."""
    with contextlib.ExitStack() as stack:
        keystore: Keystore
        console: KeyConsole
        if kind in ("software", "software-file"):
            data_dir = stack.enter_context(tempfile.TemporaryDirectory()) if kind == "software-file" else None
            software = SoftwareKeystore(data_dir)
            keystore, console = software, SoftwareConsole(software)
        elif kind == "aws-kms":
            assert moto is not None
            keystore, console = moto.keystore(executor=executor), moto.console()
        elif kind == "pkcs11":
            assert hsm is not None
            keystore, console = hsm.keystore(executor=executor), hsm.console()
        else:
            raise ValueError(f"unknown keystore kind {kind}")
        stack.callback(console.close)
        stack.callback(lambda: asyncio.run(keystore.close()))
        yield KeystoreEnv(kind, keystore, console)


# -- pytest fixtures -------------------------------------------------------------------------


# Several conftest.py files import these fixtures, and pytest would make each import a separate
# session fixture: the backends are therefore kept once per test process in the pytest config's
# stash and stopped when the session ends. (For SoftHSM this is a must: see ``running_softhsm``.)
_MOTO_KMS = pytest.StashKey[MotoKms]()
_SOFTHSM = pytest.StashKey[SoftHsm]()


def _once_per_process(
    config: pytest.Config, key: pytest.StashKey[T], start: Callable[[], ContextManager[T]]
) -> T:
    if key not in config.stash:
        stack = contextlib.ExitStack()
        config.stash[key] = stack.enter_context(start())
        config.add_cleanup(stack.close)
    return config.stash[key]


@pytest.fixture(scope="session")
def moto_kms(request: pytest.FixtureRequest) -> MotoKms:
    return _once_per_process(request.config, _MOTO_KMS, running_moto_kms)


@pytest.fixture(scope="session")
def softhsm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    if not Path(SOFTHSM_LIBRARY).exists():
        pytest.skip(f"SoftHSM2 is not installed ({SOFTHSM_LIBRARY} absent)")
    return _once_per_process(
        request.config, _SOFTHSM, lambda: running_softhsm(tmp_path_factory.mktemp("softhsm"))
    )


@pytest.fixture(params=KEYSTORE_KINDS)
def keystore_env(request: pytest.FixtureRequest) -> Iterator[KeystoreEnv]:
    kind: str = request.param
    moto = request.getfixturevalue("moto_kms") if kind == "aws-kms" else None
    hsm = request.getfixturevalue("softhsm") if kind == "pkcs11" else None
    with keystore_environment(kind, moto=moto, hsm=hsm) as env:
        yield env
