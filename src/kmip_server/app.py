"""The composition root of a Krypton Core: the one place that builds every component from a ``Config``.

Construction, in order (shutdown runs it backwards):
  message codecs (compiled once, before any request)
  -> storage (``storage.kind``: one SQLite file, or one PostgreSQL pool shared with other Cores;
     either holds the seal records, the hierarchy and the managed objects)
  -> keystores (each ``[keystores.NAME]`` opened once; the seal keystore is one of them)
  -> ``SealController`` (seal records in storage)
  -> ``KeyHierarchy`` (attached with the MasterKey on unseal, detached, every key wiped, on seal)
  -> request engine (the transport's ``RequestHandler``)
  -> admin socket (``kmip_server.admin``) and background duties (hierarchy re-checks and
     maintenance; in auto mode, auto-unseal at start with retries)
  -> transport: mutual TLS on ``server.port`` (``kmip_server.transport``).

Shutdown, on SIGTERM or SIGINT: the transport stops accepting and lets requests already received
finish (``server.drain_timeout``), then the admin socket closes, background duties are
cancelled, the controller seals (MasterKey, IVKs, L2 and L3 wiped), and the engine, stores and
keystores close.

Invariants:
- Nothing here runs at import time; every component is built inside the running event loop of
  the process that serves (each worker process builds its own, so each holds its own seal state
  and is unsealed through its own admin socket).
- The Core starts sealed whatever happens: a failed auto-unseal is retried in the background
  and is logged by error code only; KMIP requests are answered "sealed" until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keystores.base import Keystore
from keystores.factory import open_keystore
from kmip_server.admin import AdminOps, AdminServer
from kmip_server.config import Config, LogFormat, LoggingConfig, SealModeSetting, StorageKind
from kmip_server.crypto.gateway import GatewayAccess
from kmip_server.crypto.services import CryptoServices
from kmip_server.engine import RequestEngine
from kmip_server.hierarchy import KeyHierarchy
from kmip_server.model import prepare_codecs
from kmip_server.objects import ObjectService
from kmip_server.storage.hierarchy import HierarchyStore
from kmip_server.storage.objects import ObjectStore
from kmip_server.storage.sqlite import SqliteStore
from kmip_server.storage.sqlite_database import SqliteDatabase
from kmip_server.storage.sqlite_objects import SqliteObjectStore
from kmip_server.transport import RequestHandler, Supervisor, serve_worker
from unseal.controller import SealController
from unseal.errors import AutoUnsealNotConfigured, UnsealError
from unseal.memory import harden_process
from unseal.state import SealState

if TYPE_CHECKING:
    from kmip_server.storage.postgres import PostgresDatabase

__all__ = ["Bootstrap", "Core", "Listening", "configure_logging", "core_handler", "open_core", "run", "serve"]

_log = logging.getLogger("kmip_server.app")


@dataclass(slots=True)
class Listening:
    """The port this process's KMIP listener bound, once it listens (port 0 lets the kernel
    choose: the configuration then says 0)."""

    port: int | None = None


@dataclass(slots=True)
class Core:
    """Everything one Core process holds, built by ``open_core``."""

    config: Config
    database: SqliteDatabase | PostgresDatabase
    store: HierarchyStore  # seal records and the key hierarchy's records
    objects: ObjectStore  # KMIP managed objects
    keystores: Mapping[str, Keystore]  # by configured name
    controller: SealController
    hierarchy: KeyHierarchy
    engine: RequestHandler
    listening: Listening = field(default_factory=Listening)

    @property
    def seal_keystore(self) -> Keystore | None:
        name = self.config.unseal.seal_keystore
        return self.keystores[name] if name is not None else None

    def describe(self) -> dict[str, Any]:
        """Status fields beside the seal state (nothing secret)."""
        transport = self.config.server.transport
        port = self.listening.port if self.listening.port is not None else transport.port
        return {"pid": os.getpid(), "kmip_host": transport.host, "kmip_port": port}

    def admin_ops(self) -> AdminOps:
        unseal = self.config.unseal
        return AdminOps(
            self.controller,
            seal_keystore=self.seal_keystore,
            seal_key_id=unseal.seal_key_id,
            recovery_threshold=unseal.recovery_threshold,
            recovery_shares=unseal.recovery_shares,
            describe=self.describe,
            hierarchy=self.hierarchy,
        )


Bootstrap = Callable[[Core], Awaitable[None]]
"""Runs once the Core is built, before its admin socket, background duties and KMIP clients
(``openkcm dev`` initializes, unseals and links its example tenants there)."""


def _build_engine(
    *, objects: ObjectStore, hierarchy: KeyHierarchy, controller: SealController, config: Config
) -> RequestEngine:
    # The gateways reach the tenants' L3 through the hierarchy; [gateways] says which tenants each serves.
    crypto = CryptoServices(config.crypto, GatewayAccess(hierarchy, config.gateways))
    return RequestEngine(
        objects=ObjectService(objects, hierarchy, config.objects),
        seal=controller,
        settings=config.engine,
        crypto=crypto,
    )


@dataclass(frozen=True, slots=True)
class _Storage:
    database: SqliteDatabase | PostgresDatabase
    store: HierarchyStore
    objects: ObjectStore


async def _open_sqlite(config: Config, stack: contextlib.AsyncExitStack) -> _Storage:
    storage = config.storage
    storage.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = await SqliteDatabase.open(storage.path, storage.sqlite)
    stack.push_async_callback(database.close)
    store = await SqliteStore.attach(database)
    stack.push_async_callback(store.close)
    objects = await SqliteObjectStore.attach(database)
    stack.push_async_callback(objects.close)
    return _Storage(database, store, objects)


async def _open_postgres(config: Config, stack: contextlib.AsyncExitStack) -> _Storage:
    from kmip_server.storage import postgres  # noqa: PLC0415 (asyncpg only for a Core that uses it)

    database = await postgres.PostgresDatabase.open(config.storage.postgres)
    stack.push_async_callback(database.close)
    store = postgres.PostgresHierarchyStore.attach(database)
    stack.push_async_callback(store.close)
    objects = postgres.PostgresObjectStore.attach(database)
    stack.push_async_callback(objects.close)
    return _Storage(database, store, objects)


_STORAGE: Mapping[StorageKind, Callable[[Config, contextlib.AsyncExitStack], Awaitable[_Storage]]] = {
    StorageKind.SQLITE: _open_sqlite,
    StorageKind.POSTGRES: _open_postgres,
}


@contextlib.asynccontextmanager
async def open_core(config: Config) -> AsyncIterator[Core]:
    """Build every component of a Core in the running loop; close them all on exit (sealing first)."""
    # Compile the message codecs now, so that no client request pays for it.
    codecs = prepare_codecs()
    _log.debug("%d message codecs compiled", codecs)
    async with contextlib.AsyncExitStack() as stack:
        opened = await _STORAGE[config.storage.kind](config, stack)
        store, objects = opened.store, opened.objects

        keystores: dict[str, Keystore] = {}
        for name, entry in config.keystores.items():
            keystore = open_keystore(entry.kind, entry.settings)
            stack.push_async_callback(keystore.close)
            keystores[name] = keystore

        unseal = config.unseal
        controller = SealController(
            store,
            cluster_id=unseal.cluster_id,
            region=unseal.region,
            seal_keystore=keystores[unseal.seal_keystore] if unseal.seal_keystore else None,
        )
        hierarchy = KeyHierarchy(
            store=store, keystores=keystores, cluster_id=unseal.cluster_id, settings=config.hierarchy
        )

        async def attach() -> None:
            await hierarchy.attach(controller.master_key)

        controller.on_unseal(attach)
        controller.on_seal(hierarchy.detach)
        stack.push_async_callback(controller.close)  # seals: wipes the MasterKey and the hierarchy
        await controller.load()

        engine = _build_engine(objects=objects, hierarchy=hierarchy, controller=controller, config=config)
        yield Core(
            config=config,
            database=opened.database,
            store=store,
            objects=objects,
            keystores=keystores,
            controller=controller,
            hierarchy=hierarchy,
            engine=engine,
        )


async def _auto_unseal_at_start(core: Core) -> None:
    """Auto mode: open the seal blob with the seal keystore, retrying while it is unreachable."""
    interval = core.config.unseal.auto_unseal_retry_interval
    controller = core.controller
    while True:
        state = await controller.load()
        if state is SealState.UNINITIALIZED:
            _log.warning("not initialized: run `openkcm init --auto` (it unseals too)")
            return
        if state is not SealState.SEALED:
            return  # unsealed, or an operator is submitting shares: not ours to interfere
        try:
            await controller.auto_unseal()
        except AutoUnsealNotConfigured as exc:
            _log.error("auto-unseal impossible: %s", exc)
            return
        except UnsealError as exc:
            _log.warning("auto-unseal failed (%s); retrying in %.0f s", exc.code, interval)
            await asyncio.sleep(interval)
        else:
            _log.info("unsealed by the seal keystore")
            return


@contextlib.asynccontextmanager
async def _running(core: Core) -> AsyncIterator[None]:
    """The admin socket and the background duties, for as long as the body runs."""
    admin = AdminServer(core.admin_ops(), core.config.server.admin_dir)
    async with asyncio.TaskGroup() as group:
        await admin.start()
        tasks = [group.create_task(core.hierarchy.run(), name="hierarchy-duties")]
        if core.config.unseal.mode is SealModeSetting.AUTO:
            tasks.append(group.create_task(_auto_unseal_at_start(core), name="auto-unseal"))
        try:
            yield
        finally:
            await admin.close()
            for task in tasks:
                task.cancel()


@contextlib.asynccontextmanager
async def core_handler(
    config: Config, bootstrap: Bootstrap | None = None, listening: Listening | None = None
) -> AsyncIterator[RequestHandler]:
    """The transport's handler factory: a whole Core, running, for the life of one server process.
    ``listening`` receives the bound port when the server listens (see ``_listening``).

    Module-level (with ``functools.partial``) so that it pickles into worker processes."""
    async with open_core(config) as core:
        if listening is not None:
            core.listening = listening
        if bootstrap is not None:
            await bootstrap(core)  # before the background duties, so auto-unseal does not race it
        async with _running(core):
            yield core.engine


async def serve(
    config: Config,
    *,
    bootstrap: Bootstrap | None = None,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve one Core in the running loop until ``stop`` is set, or SIGTERM/SIGINT; then drain."""
    listening, on_ready = _listening(ready)
    await serve_worker(
        config.server.transport,
        config.tls.settings(),
        config.identity,
        functools.partial(core_handler, config, bootstrap, listening),
        ready=on_ready,
        stop=stop,
    )


def _listening(ready: Callable[[int], None] | None) -> tuple[Listening, Callable[[int], None]]:
    """A holder of the bound port for the Core's status, and the ``ready`` that fills it first."""
    listening = Listening()

    def on_ready(port: int) -> None:
        _note_port(listening, port)
        if ready is not None:
            ready(port)

    return listening, on_ready


def _note_port(listening: Listening, port: int) -> None:
    listening.port = port


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one failure inside nested single-member groups (the TaskGroup in ``_running`` wraps
    whatever stops the server, e.g. a port already in use), or the group itself."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop  # noqa: PLC0415 (optional, chosen at run time)
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _prepare_process(logging_config: LoggingConfig) -> None:
    """Once per serving process: logging, no core dumps, no ptrace by peers."""
    configure_logging(logging_config)
    harden_process()


def run(
    config: Config,
    *,
    bootstrap: Bootstrap | None = None,
    ready: Callable[[int], None] | None = None,
) -> int:
    """Serve ``config`` in this process (or supervise ``server.workers`` processes); the exit status."""
    transport = config.server.transport
    tls = config.tls.settings()
    if transport.workers == 1:
        listening, on_ready = _listening(ready)
        factory = functools.partial(core_handler, config, bootstrap, listening)
        _prepare_process(config.logging)
        with asyncio.Runner(loop_factory=_loop_factory(transport.use_uvloop)) as runner:
            try:
                runner.run(serve_worker(transport, tls, config.identity, factory, ready=on_ready))
            except BaseExceptionGroup as group:
                raise _sole(group) from None
        return 0
    if bootstrap is not None or ready is not None:
        raise ValueError("bootstrap and ready need a single worker process")
    configure_logging(config.logging)
    # One Listening per worker (pickled with the factory and the hook that fills it), so each
    # worker's status reports the port it listens on (with port 0, the one the kernel chose).
    listening = Listening()
    return Supervisor(
        transport,
        tls,
        config.identity,
        functools.partial(core_handler, config, bootstrap, listening),
        initializer=functools.partial(_prepare_process, config.logging),
        on_listen=functools.partial(_note_port, listening),
    ).run()


# -- logging -------------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(config: LoggingConfig) -> None:
    """Root logging to stderr as configured (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if config.format is LogFormat.JSON:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(config.level.value)
