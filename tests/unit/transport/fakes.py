"""Fake request handlers, a tiny TLS client, and a server subprocess for transport tests.

The handlers stand in for the KMIP engine, which comes later: they echo, report their PID, wait
for the test, raise, or close. The subprocess runner (``python -m tests.unit.transport.fakes``)
lets a test measure a server's memory, or run SO_REUSEPORT workers, in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from kmip_server.identity import Identity, IdentityResolver
from kmip_server.transport import (
    CountingMetrics,
    RequestHandler,
    Supervisor,
    TLSSettings,
    TransportServer,
    TransportSettings,
    build_server_context,
    run_worker,
)
from kmip_server.transport.balance import ConnectionBalancer
from tests.support.tls import IDENTITY_SETTINGS, TestPKI
from ttlv import Item, ItemType, decode, encode
from ttlv.kmip14 import Tag

REPO_ROOT = Path(__file__).resolve().parents[3]
T = TypeVar("T")


def request_message(text: str = "ping") -> bytes:
    """A small, valid top-level TTLV Structure (the transport does not care what it means)."""
    return encode(
        Item(
            Tag.REQUEST_MESSAGE,
            ItemType.STRUCTURE,
            (Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, text),),
        )
    )


def response_text(message: bytes) -> str:
    item = decode(message)
    child = item.find(Tag.UNIQUE_IDENTIFIER)
    assert child is not None
    assert isinstance(child.value, str)
    return child.value


def response_message(text: str) -> bytes:
    return encode(
        Item(
            Tag.RESPONSE_MESSAGE,
            ItemType.STRUCTURE,
            (Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, text),),
        )
    )


# -- handlers ----------------------------------------------------------------------------------


@dataclass
class EchoHandler:
    """Answers each request with a response carrying the request's text; records who called."""

    peers: list[Identity] = field(default_factory=list)
    calls: int = 0

    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        self.calls += 1
        self.peers.append(peer)
        return response_message(response_text(message))


class PidHandler:
    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        return response_message(str(os.getpid()))


@dataclass
class GatedHandler:
    """Signals ``started`` and waits for ``release`` before answering (slow or stuck requests)."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0
    answered: int = 0

    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.answered += 1
        return response_message(response_text(message))


class RaisingHandler:
    """Raises with the request's text in the exception message (which must not reach the log)."""

    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        text = response_text(message)
        if text.startswith("explode"):
            raise RuntimeError(f"cannot handle {text} {message.hex()}")
        return response_message(text)


class ClosingHandler:
    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        return None


@contextlib.asynccontextmanager
async def echo_handler_factory() -> AsyncIterator[RequestHandler]:
    yield EchoHandler()


@contextlib.asynccontextmanager
async def pid_handler_factory() -> AsyncIterator[RequestHandler]:
    yield PidHandler()


# -- in-process server and client --------------------------------------------------------------

Runner = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    """Runs a coroutine to completion on the standard event loop, then on uvloop."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        yield runner.run


def fast_settings(**overrides: Any) -> TransportSettings:
    """Loopback, a free port, and timeouts short enough for tests."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "tls_handshake_timeout": 5.0,
        "tls_shutdown_timeout": 2.0,
        "drain_timeout": 5.0,
    }
    values.update(overrides)
    return TransportSettings(**values)


@contextlib.asynccontextmanager
async def running_server(
    handler: RequestHandler,
    pki: TestPKI,
    settings: TransportSettings | None = None,
    metrics: CountingMetrics | None = None,
    balancer: ConnectionBalancer | None = None,
) -> AsyncIterator[TransportServer]:
    server = TransportServer(
        handler,
        settings=settings if settings is not None else fast_settings(),
        ssl_context=build_server_context(pki.tls_settings),
        resolver=IdentityResolver(IDENTITY_SETTINGS),
        metrics=metrics,
        balancer=balancer,
    )
    async with server:
        yield server


async def connect(
    port: int, context: ssl.SSLContext, timeout: float = 10.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(timeout):
        return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")


async def read_message(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    async with asyncio.timeout(timeout):
        header = await reader.readexactly(8)
        return header + await reader.readexactly(int.from_bytes(header[4:8], "big"))


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes, timeout: float = 10.0
) -> bytes:
    writer.write(message)
    async with asyncio.timeout(timeout):
        await writer.drain()
    return await read_message(reader, timeout)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 10.0) -> bool:
    """True when the server ends the stream (EOF, reset or TLS alert) within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if not await reader.read(65536):
                    return True
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
        async with asyncio.timeout(5):
            await writer.wait_closed()


async def eventually(predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Wait until ``predicate()`` holds (a deadline, not a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


# -- server in a subprocess --------------------------------------------------------------------

_HANDLER_FACTORIES = {"echo": echo_handler_factory, "pid": pid_handler_factory}


class ServerProcess:
    """``python -m tests.unit.transport.fakes``: a server (or supervisor) in its own process."""

    def __init__(self, pki: TestPKI, *, handler: str = "echo", **settings: Any) -> None:
        config = {
            "tls": [str(pki.server_certificate), str(pki.server_key), str(pki.ca_file)],
            "handler": handler,
            "settings": {"host": "127.0.0.1", "port": 0, **settings},
        }
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.transport.fakes", json.dumps(config)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, daemon=True)
        self._reader.start()
        ready = json.loads(self.wait_line("READY ", timeout=60.0))
        self.port: int = ready["port"]
        self.pids: list[int] = ready["pids"]

    def _read_lines(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no {prefix!r} line from the server process") from None
            if line.startswith(prefix):
                return line[len(prefix) :]

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")


@contextlib.contextmanager
def _line_output() -> Iterator[None]:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    yield


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    certificate, key, ca = (Path(p) for p in config["tls"])
    tls = TLSSettings(certificate, key, ca)
    settings = TransportSettings(**config["settings"])
    factory = _HANDLER_FACTORIES[config["handler"]]
    with _line_output():
        if settings.workers == 1:

            def ready(port: int) -> None:
                print("READY " + json.dumps({"port": port, "pids": [os.getpid()]}))

            run_worker(settings, tls, IDENTITY_SETTINGS, factory, ready=ready)
            return 0

        supervisor = Supervisor(
            settings,
            tls,
            IDENTITY_SETTINGS,
            factory,
            on_ready=lambda port, pids: print("READY " + json.dumps({"port": port, "pids": pids})),
            on_worker_ready=lambda pid: print(f"WORKER {pid}"),
        )
        return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
