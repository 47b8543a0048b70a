"""Worker processes sharing one port, and the supervisor that keeps them running.

The supervisor spawns ``workers`` fresh interpreters (multiprocessing "spawn": no event loop,
lock or key material is inherited through fork); each builds its handler from the picklable
``handler_factory``. How they share the port:
- ``balance_connections`` (the default): the supervisor makes the one listening socket and
  hands it to every worker (and every restarted one) at spawn; each accepts from it only while
  it holds no more connections than the least busy live worker (``transport.balance``: counts in
  shared memory, one slot per worker, ``DEAD`` while the slot's worker is not running).
- otherwise each worker binds its own socket on the port with SO_REUSEPORT and the kernel
  spreads new connections by a hash of their addresses.

Invariants:
- With port 0 every worker, and every restarted worker, serves the same port: the shared socket
  is bound once; for SO_REUSEPORT the supervisor first reserves a free port with a bound,
  never-listening SO_REUSEPORT socket (the kernel routes connections to listening sockets only).
- A worker that dies unexpectedly is restarted after a delay that doubles per death; more than
  ``worker_restart_limit`` deaths of one worker within ``worker_restart_window`` stop the whole
  server with exit status 1 (a worker that cannot start would otherwise spin).
- SIGTERM or SIGINT to the supervisor: SIGTERM to every worker (each drains gracefully), wait up
  to ``drain_timeout`` plus a margin, then SIGKILL what is left. Workers get SIGTERM if the
  supervisor itself dies (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from kmip_server.identity import IdentitySettings
from kmip_server.transport.balance import DEAD, ConnectionBalancer
from kmip_server.transport.handler import HandlerFactory
from kmip_server.transport.metrics import MetricsFactory
from kmip_server.transport.server import listening_socket, run_worker
from kmip_server.transport.settings import TLSSettings, TransportSettings

__all__ = ["Supervisor"]

_log = logging.getLogger("kmip_server.transport.workers")
_PR_SET_PDEATHSIG = 1
_STOP_MARGIN = 5.0  # beyond drain_timeout + tls_shutdown_timeout before SIGKILL


def _die_with_parent(parent_pid: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class _WorkerSpec:
    """Everything a worker process needs, pickled across the spawn."""

    settings: TransportSettings
    tls: TLSSettings
    identity: IdentitySettings
    handler_factory: HandlerFactory
    metrics_factory: MetricsFactory | None
    initializer: Callable[[], None] | None
    sock: socket.socket | None = None  # the shared listening socket (balanced mode)
    counts: Any = None  # the shared connection counts (a multiprocessing RawArray of ints)
    beats: Any = None  # when each count was last written (a RawArray of doubles, time.monotonic)
    index: int = 0  # this worker's slot in ``counts`` and ``beats``
    on_listen: Callable[[int], None] | None = None  # in the worker, with the port it listens on


def _worker_main(spec: _WorkerSpec, ready_pipe: Pipe, parent_pid: int) -> None:
    """Entry point of a worker process (runs in the spawned interpreter)."""
    _die_with_parent(parent_pid)
    if spec.initializer is not None:
        spec.initializer()

    def ready(port: int) -> None:
        if spec.on_listen is not None:
            spec.on_listen(port)
        ready_pipe.send((os.getpid(), port))
        ready_pipe.close()

    balancer = None
    if spec.counts is not None:
        # The reaper publishes every reaper_interval: four missed ticks make a worker's count stale.
        stale_after = 4 * spec.settings.reaper_interval
        balancer = ConnectionBalancer(spec.counts, spec.beats, spec.index, stale_after=stale_after)
    run_worker(
        spec.settings,
        spec.tls,
        spec.identity,
        spec.handler_factory,
        spec.metrics_factory,
        ready=ready,
        sock=spec.sock,
        balancer=balancer,
    )


@dataclass(slots=True)
class _Slot:
    index: int
    process: BaseProcess | None = None
    ready_pipe: Pipe | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None


def _drain_wakeups(wake: socket.socket) -> None:
    """Empty the signal wake-up socket (signal.set_wakeup_fd writes a byte per signal)."""
    while True:
        try:
            if not wake.recv(64):
                return
        except BlockingIOError:
            return


class Supervisor:
    """Runs ``settings.workers`` worker processes until SIGTERM/SIGINT; ``run`` returns the exit status."""

    def __init__(
        self,
        settings: TransportSettings,
        tls: TLSSettings,
        identity: IdentitySettings,
        handler_factory: HandlerFactory,
        metrics_factory: MetricsFactory | None = None,
        *,
        initializer: Callable[[], None] | None = None,
        on_ready: Callable[[int, list[int]], None] | None = None,
        on_worker_ready: Callable[[int], None] | None = None,
        on_listen: Callable[[int], None] | None = None,
    ) -> None:
        """``on_ready(port, pids)``: once, when every worker first listens.
        ``on_worker_ready(pid)``: each time a worker (first start or restart) listens.
        ``on_listen(port)``: in each worker process, once it listens. It is pickled into the
        worker together with ``handler_factory``, so the two may share an object (one copy of
        it per worker)."""
        self._settings = settings
        self._tls = tls
        self._identity = identity
        self._handler_factory = handler_factory
        self._metrics_factory = metrics_factory
        self._initializer = initializer
        self._on_ready = on_ready
        self._on_worker_ready = on_worker_ready
        self._on_listen = on_listen
        self._stop_requested = False
        self._context = multiprocessing.get_context("spawn")
        self._shared: socket.socket | None = None  # balanced mode: the one listening socket
        self._counts: Any = None  # balanced mode: connections per worker slot (DEAD: none running)
        self._beats: Any = None  # balanced mode: when each slot's count was last written

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def run(self) -> int:
        settings = self._settings
        reservation: socket.socket | None = None
        port = settings.port
        if settings.balance_connections:
            self._shared = listening_socket(dataclasses.replace(settings, workers=1, reuse_port=False))
            port = self._shared.getsockname()[1]
            self._counts = self._context.RawArray("i", [DEAD] * settings.workers)
            self._beats = self._context.RawArray("d", [0.0] * settings.workers)
        elif port == 0:
            reservation = self._reserve_port()
            port = reservation.getsockname()[1]
        worker_settings = dataclasses.replace(
            settings, port=port, workers=1, reuse_port=not settings.balance_connections
        )
        wake_reader, wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        wake_writer.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_writer.fileno())
        previous_handlers = {
            signum: signal.signal(signum, self._request_stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        slots = [_Slot(index) for index in range(settings.workers)]
        status = 0
        try:
            for slot in slots:
                self._start(slot, worker_settings)
            status = self._supervise(slots, worker_settings, port, wake_reader)
        finally:
            self._stop_all(slots)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_wakeup)
            wake_reader.close()
            wake_writer.close()
            if reservation is not None:
                reservation.close()
            if self._shared is not None:
                self._shared.close()
                self._shared = None
        return status

    def _reserve_port(self) -> socket.socket:
        host = self._settings.host
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, 0))
        return sock

    def _start(self, slot: _Slot, worker_settings: TransportSettings) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main,
            args=(
                _WorkerSpec(
                    worker_settings,
                    self._tls,
                    self._identity,
                    self._handler_factory,
                    self._metrics_factory,
                    self._initializer,
                    self._shared,
                    self._counts,
                    self._beats,
                    slot.index,
                    self._on_listen,
                ),
                writer,
                os.getpid(),
            ),
            name=f"openkcm-worker-{slot.index}",
        )
        process.start()  # its slot stays DEAD until its accept loop publishes a count
        writer.close()
        slot.process, slot.ready_pipe, slot.restart_at = process, reader, None
        _log.info("worker %d started (pid %s)", slot.index, process.pid)

    def _supervise(
        self, slots: list[_Slot], worker_settings: TransportSettings, port: int, wake: socket.socket
    ) -> int:
        settings = self._settings
        first_ready: dict[int, int] = {}
        announced = False
        while not self._stop_requested:
            now = time.monotonic()
            for slot in slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._start(slot, worker_settings)
            exits = {slot.process.sentinel: slot for slot in slots if slot.process is not None}
            readies = {slot.ready_pipe: slot for slot in slots if slot.ready_pipe is not None}
            due = [slot.restart_at for slot in slots if slot.restart_at is not None]
            timeout = max(0.0, min(due) - now) if due else None
            signalled = multiprocessing.connection.wait([wake, *exits, *readies], timeout=timeout)
            if wake in signalled:
                _drain_wakeups(wake)
            for pipe, slot in readies.items():
                if pipe in signalled:
                    pid = self._read_ready(slot)
                    if pid is None:
                        continue  # died before listening: its sentinel reports it
                    if self._on_worker_ready is not None:
                        self._on_worker_ready(pid)
                    first_ready.setdefault(slot.index, pid)
                    if not announced and len(first_ready) == len(slots):
                        announced = True
                        _log.info("%d workers listening on port %d", len(slots), port)
                        if self._on_ready is not None:
                            self._on_ready(port, [first_ready[s.index] for s in slots])
            for sentinel, slot in exits.items():
                if (
                    sentinel in signalled
                    and not self._stop_requested
                    and not self._worker_died(slot, settings)
                ):
                    return 1
        return 0

    @staticmethod
    def _read_ready(slot: _Slot) -> int | None:
        pipe = slot.ready_pipe
        assert pipe is not None
        slot.ready_pipe = None
        try:
            pid, _ = pipe.recv()
        except (EOFError, OSError):
            return None
        finally:
            pipe.close()
        return int(pid)

    def _worker_died(self, slot: _Slot, settings: TransportSettings) -> bool:
        """Schedule a restart; False when the worker died too often (give up)."""
        process = slot.process
        assert process is not None
        # The sentinel fires as the process closes its descriptors, a moment before it can be reaped.
        process.join(_STOP_MARGIN)
        _log.error("worker %d (pid %s) exited with status %s", slot.index, process.pid, process.exitcode)
        if not process.is_alive():
            process.close()
        slot.process = None
        if self._counts is not None:
            self._counts[slot.index] = DEAD  # its connections are gone; siblings stop waiting on it
        if slot.ready_pipe is not None:
            slot.ready_pipe.close()
            slot.ready_pipe = None
        now = time.monotonic()
        slot.deaths = [t for t in slot.deaths if now - t < settings.worker_restart_window] + [now]
        if len(slot.deaths) > settings.worker_restart_limit:
            _log.critical(
                "worker %d died %d times within %.0f s; stopping the server",
                slot.index,
                len(slot.deaths),
                settings.worker_restart_window,
            )
            return False
        delay = settings.worker_restart_delay * 2 ** (len(slot.deaths) - 1)
        slot.restart_at = now + delay
        return True

    def _stop_all(self, slots: list[_Slot]) -> None:
        settings = self._settings
        running = [slot.process for slot in slots if slot.process is not None]
        for process in running:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + settings.drain_timeout + settings.tls_shutdown_timeout + _STOP_MARGIN
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in running:
            if process.is_alive():
                _log.error("worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join(_STOP_MARGIN)
        for slot in slots:
            if slot.ready_pipe is not None:
                slot.ready_pipe.close()
                slot.ready_pipe = None
            if slot.process is not None and not slot.process.is_alive():
                slot.process.close()
                slot.process = None
