"""A closed-loop KMIP load generator over persistent mutual-TLS connections.

One generator drives every server the benchmarks compare, with the same request bytes:

- ``create_aes256_request`` / ``get_request`` build KMIP request messages once, before any
  timing (KMIP 1.2 by default: the version PyKMIP's client sends; the Create carries exactly the
  template ``ProxyKmipClient.create(AES, 256)`` sends).
- ``run_load`` opens ``connections`` TLS connections spread over ``processes`` client processes
  (fresh interpreters, ``python -m loadtests.loadgen --client FD``, which import this module
  and ``ttlv`` only; each runs its own uvloop event loop when uvloop is installed). Every
  connection sends its request, waits for the whole response, checks it and sends again at once
  (closed loop), from the "go" signal until the end of the warm-up plus the measured window.
- Only responses that arrive inside the measured window count: throughput is successful
  responses in the window divided by its length; latency is taken per request at the client
  (``time.perf_counter_ns`` from just before the write to the arrival of the last byte).

Two generators run that closed loop, chosen by ``LoadSpec.generator``: ``"python"`` (this
module, the description below) and ``"c"`` (``kmip_loadgen.c`` beside it: the same loop, checks
and statistics in one C process with OpenSSL and epoll, built on first use by
``build_c_generator`` with the machine's C compiler). On a small machine the generator shares
the cores with the server it measures: the Python one costs about 110 us of CPU per request,
the C one about 45 (most of it the kernel's loopback TCP), so more of the machine goes to the
server under test.

The hot path is callbacks only (``asyncio.Protocol``): the response is framed by reading its
8-byte header, then its body, and the next request is written from inside ``data_received``,
with no task switch or future per request. A response is checked by its Operation and Result
Status items (``fast_result``); ``read_response`` decodes a whole message for the one-off
checks made before any timing.

Invariants:
- Every wait is bounded: connecting and the TLS handshake (``connect_timeout``), one response
  (``response_timeout``: a connection still waiting then is aborted and counted as an error),
  the client processes as a whole (they are terminated, then killed, if they overrun).
- A response that is not Success, not the expected operation, malformed, or more than one
  message at once (a closed loop has one request in flight) is an error; errors are counted,
  never silently retried. A connection lost early is an error and stops that connection.
- Statistics (``summarize``) are pure functions of the samples, tested without a network.
- Loopback or not is the caller's choice; the benchmark passes 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hashlib
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import typing
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from ttlv import Item, ItemType, decode, encode
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ObjectType,
    Operation,
    ResultStatus,
    Tag,
)

__all__ = [
    "KMIP_1_2",
    "CellStats",
    "LoadResult",
    "LoadSpec",
    "ResponseSummary",
    "TlsTarget",
    "TlsVersion",
    "build_c_generator",
    "create_aes256_request",
    "discover_versions_request",
    "fast_result",
    "get_request",
    "percentile",
    "read_response",
    "round_trip",
    "run_load",
    "split_connections",
    "summarize",
]

KMIP_1_2 = (1, 2)
HEADER_SIZE = 8  # tag (3) + type (1) + length (4)
MAX_RESPONSE_SIZE = 1 << 20  # bytes; our responses are a few hundred
ERROR_SAMPLES = 5  # distinct error descriptions each process reports
CONNECT_CONCURRENCY = 8  # handshakes in progress at once (PyKMIP's listen backlog is 5)
CONNECT_RETRY_DELAY = 0.05  # seconds between attempts while a server refuses connections
PROCESS_START_TIMEOUT = 60.0  # seconds for the client processes to import and connect
CLIENT_FLAG = "--client"  # python -m loadtests.loadgen --client FD: one client process
PROCESS_EXIT_MARGIN = 15.0  # seconds beyond the run for a client process to report
_ITEM = struct.Struct(">I")
TLS12_CIPHER = "ECDHE-ECDSA-AES256-GCM-SHA384"  # in both servers' lists (the dev PKI's keys are EC)


class TlsVersion(enum.IntEnum):
    """The highest TLS version the client offers (both servers speak TLS 1.2)."""

    TLS1_2 = 2
    TLS1_3 = 3


_SSL_VERSIONS = {TlsVersion.TLS1_2: ssl.TLSVersion.TLSv1_2, TlsVersion.TLS1_3: ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True, slots=True)
class TlsTarget:
    """A KMIP server and the client credentials to reach it (picklable: crosses the spawn)."""

    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    server_hostname: str = "localhost"  # checked against the server certificate
    max_tls: TlsVersion = TlsVersion.TLS1_2
    # The one TLS 1.2 suite offered, so that every server negotiates the same cipher (each would
    # otherwise pick by its own preference: PyKMIP AES-128, ours AES-256).
    tls12_ciphers: str = TLS12_CIPHER

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = _SSL_VERSIONS[self.max_tls]
        context.set_ciphers(self.tls12_ciphers)
        context.load_verify_locations(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


# -- requests ----------------------------------------------------------------------------------


def _structure(tag: int, *children: Item) -> Item:
    return Item(tag, ItemType.STRUCTURE, children)


def _enum(tag: int, value: int) -> Item:
    return Item(tag, ItemType.ENUMERATION, int(value))


def _integer(tag: int, value: int) -> Item:
    return Item(tag, ItemType.INTEGER, int(value))


def _attribute(name: str, value: Item) -> Item:
    return _structure(Tag.ATTRIBUTE, Item(Tag.ATTRIBUTE_NAME, ItemType.TEXT_STRING, name), value)


def _request(operation: Operation, payload: tuple[Item, ...], version: tuple[int, int]) -> bytes:
    header = _structure(
        Tag.REQUEST_HEADER,
        _structure(
            Tag.PROTOCOL_VERSION,
            _integer(Tag.PROTOCOL_VERSION_MAJOR, version[0]),
            _integer(Tag.PROTOCOL_VERSION_MINOR, version[1]),
        ),
        _integer(Tag.BATCH_COUNT, 1),
    )
    batch_item = _structure(
        Tag.BATCH_ITEM, _enum(Tag.OPERATION, operation), _structure(Tag.REQUEST_PAYLOAD, *payload)
    )
    return encode(_structure(Tag.REQUEST_MESSAGE, header, batch_item))


def create_aes256_request(version: tuple[int, int] = KMIP_1_2) -> bytes:
    """Create of a 256-bit AES key for Encrypt and Decrypt, no Name (so every Create succeeds)."""
    usage = CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
    template = _structure(
        Tag.TEMPLATE_ATTRIBUTE,
        _attribute("Cryptographic Algorithm", _enum(Tag.ATTRIBUTE_VALUE, CryptographicAlgorithm.AES)),
        _attribute("Cryptographic Length", _integer(Tag.ATTRIBUTE_VALUE, 256)),
        _attribute("Cryptographic Usage Mask", _integer(Tag.ATTRIBUTE_VALUE, usage)),
    )
    return _request(Operation.CREATE, (_enum(Tag.OBJECT_TYPE, ObjectType.SYMMETRIC_KEY), template), version)


def discover_versions_request(version: tuple[int, int] = KMIP_1_2) -> bytes:
    """Discover Versions with an empty payload: answers without touching any object."""
    return _request(Operation.DISCOVER_VERSIONS, (), version)


def get_request(unique_identifier: str, version: tuple[int, int] = KMIP_1_2) -> bytes:
    """Get of one object in the server's default format."""
    uid = Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, unique_identifier)
    return _request(Operation.GET, (uid,), version)


# -- responses ---------------------------------------------------------------------------------

_OPERATION_HEADER = Tag.OPERATION.to_bytes(3, "big") + bytes([ItemType.ENUMERATION]) + _ITEM.pack(4)
_STATUS_HEADER = Tag.RESULT_STATUS.to_bytes(3, "big") + bytes([ItemType.ENUMERATION]) + _ITEM.pack(4)
_MESSAGE_HEADER = Tag.RESPONSE_MESSAGE.to_bytes(3, "big") + bytes([ItemType.STRUCTURE])


def fast_result(message: bytes, operation: int) -> str | None:
    """None when ``message`` is a response for ``operation`` with Result Status Success, else
    what is wrong. Finds the items by their 8-byte headers: the response header before them
    holds only a version, a time stamp and a count, whose bytes cannot form these headers at
    the 8-byte boundaries every item starts on."""
    if not message.startswith(_MESSAGE_HEADER):
        return "not a Response Message"
    at = message.find(_OPERATION_HEADER)
    while at >= 0 and at % 8:
        at = message.find(_OPERATION_HEADER, at + 1)
    if at < 0:
        return "no Operation in the response"
    if _ITEM.unpack_from(message, at + 8)[0] != operation:
        return "response for another operation"
    at = message.find(_STATUS_HEADER, at + 16)
    if at < 0:
        return "no Result Status in the response"
    status = _ITEM.unpack_from(message, at + 8)[0]
    return None if status == ResultStatus.SUCCESS else _status_words(status)


def _status_words(status: int) -> str:
    """How a failed response's Result Status is named in the error counts."""
    member = ResultStatus._value2member_map_.get(status)
    return "Result Status " + (member.name if isinstance(member, ResultStatus) else str(status))


@dataclass(frozen=True, slots=True)
class ResponseSummary:
    """What the one-off checks need from a whole response with one batch item."""

    protocol_version: tuple[int, int]
    operation: int
    result_status: int
    result_reason: int | None
    result_message: str | None
    unique_identifier: str | None
    key_material_length: int | None  # of a Get's Raw / Transparent key bytes


def _first(item: Item, tag: int) -> Item | None:
    """The first item with ``tag`` anywhere below ``item`` (depth first)."""
    for child in item.children:
        if child.tag == tag:
            return child
        found = _first(child, tag)
        if found is not None:
            return found
    return None


def read_response(message: bytes) -> ResponseSummary:
    """Decode a whole response message (``ttlv.DecodeError`` when it is not TTLV)."""
    root = decode(message)
    if root.tag != Tag.RESPONSE_MESSAGE:
        raise ValueError("not a Response Message")
    header = root.find(Tag.RESPONSE_HEADER)
    version = None if header is None else header.find(Tag.PROTOCOL_VERSION)
    batch = root.find(Tag.BATCH_ITEM)
    if version is None or batch is None:
        raise ValueError("a response without a version or a batch item")

    def value(parent: Item | None, tag: int) -> Any:
        child = None if parent is None else parent.find(tag)
        return None if child is None else child.value

    payload = batch.find(Tag.RESPONSE_PAYLOAD)
    material = None if payload is None else _first(payload, Tag.KEY_MATERIAL)
    material_length = None
    if material is not None:
        if isinstance(material.value, bytes):
            material_length = len(material.value)
        else:  # Transparent Symmetric Key: a structure holding Key
            key = material.find(Tag.KEY)
            material_length = len(key.value) if key is not None and isinstance(key.value, bytes) else None
    return ResponseSummary(
        protocol_version=(
            value(version, Tag.PROTOCOL_VERSION_MAJOR),
            value(version, Tag.PROTOCOL_VERSION_MINOR),
        ),
        operation=value(batch, Tag.OPERATION),
        result_status=value(batch, Tag.RESULT_STATUS),
        result_reason=value(batch, Tag.RESULT_REASON),
        result_message=value(batch, Tag.RESULT_MESSAGE),
        unique_identifier=value(payload, Tag.UNIQUE_IDENTIFIER),
        key_material_length=material_length,
    )


def _read_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the server closed the connection inside a response")
        chunks += chunk
    return bytes(chunks)


def round_trip(target: TlsTarget, request: bytes, timeout: float = 10.0) -> bytes:
    """One request on a fresh blocking TLS connection: the whole response message (the 8-byte
    header, then its body). For set-up and readiness checks, not for load."""
    context = target.context()
    with (
        socket.create_connection((target.host, target.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=target.server_hostname) as sock,
    ):
        sock.sendall(request)
        header = _read_exactly(sock, HEADER_SIZE)
        length = _ITEM.unpack_from(header, 4)[0]
        if length > MAX_RESPONSE_SIZE:
            raise ValueError("response larger than MAX_RESPONSE_SIZE")
        return header + _read_exactly(sock, length)


# -- statistics ------------------------------------------------------------------------------


def percentile(ordered: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending sequence: the smallest value with at least
    ``fraction`` of the samples at or below it."""
    if not ordered:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    rank = -(-len(ordered) * fraction // 1)  # ceil without floats drifting past an exact rank
    return ordered[max(0, int(rank) - 1)]


@dataclass(frozen=True, slots=True)
class CellStats:
    """One measured cell: successful responses in the window and their latency."""

    requests: int  # successful responses that arrived inside the window
    errors: int  # failed responses, lost connections and timeouts (warm-up included)
    seconds: float  # length of the window
    ops_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies_ns: Sequence[int], errors: int, seconds: float) -> CellStats:
    """Throughput and latency percentiles of one window (latencies in nanoseconds)."""
    if seconds <= 0:
        raise ValueError("the window must have a positive length")
    ordered = sorted(latencies_ns)
    if not ordered:
        nan = float("nan")
        return CellStats(0, errors, seconds, 0.0, nan, nan, nan)
    return CellStats(
        requests=len(ordered),
        errors=errors,
        seconds=seconds,
        ops_per_second=len(ordered) / seconds,
        p50_ms=percentile(ordered, 0.50) / 1e6,
        p99_ms=percentile(ordered, 0.99) / 1e6,
        max_ms=ordered[-1] / 1e6,
    )


def split_connections(connections: int, processes: int) -> list[int]:
    """Connections per client process, as even as possible, no process without one."""
    if connections < 1 or processes < 1:
        raise ValueError("need at least one connection and one process")
    processes = min(processes, connections)
    base, extra = divmod(connections, processes)
    return [base + (1 if index < extra else 0) for index in range(processes)]


# -- the closed loop (inside a client process) ---------------------------------------------------


class _Window:
    """What one process's connections share: the clock bounds and the samples."""

    __slots__ = (
        "cpu_marks",
        "done",
        "error_samples",
        "errors",
        "latencies",
        "open",
        "sent",
        "t_end",
        "t_start",
    )

    def __init__(self) -> None:
        self.latencies = array("q")
        self.errors = 0
        self.error_samples: dict[str, int] = {}
        self.sent = 0
        self.t_start = 0
        self.t_end = 0
        self.open = 0  # connections still looping
        self.done: asyncio.Future[None] | None = None
        self.cpu_marks: list[float] = []  # process CPU seconds when the window opened, closed

    def error(self, what: str) -> None:
        self.errors += 1
        if what in self.error_samples or len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples[what] = self.error_samples.get(what, 0) + 1

    def finished_one(self) -> None:
        self.open -= 1
        if self.open == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


class _ClosedLoop(asyncio.Protocol):
    """One connection: send, wait for the whole response, check it, send again."""

    def __init__(self, request: bytes, operation: int, window: _Window) -> None:
        self._request = request
        self._operation = operation
        self._window = window
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._expected = 0  # bytes of the message being read (0: waiting for a header)
        self._sent_at = 0
        self._looping = False
        self.lost: BaseException | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is duck-typed, not an ``asyncio.Transport`` subclass.
        self._transport = typing.cast(asyncio.Transport, transport)

    def start(self) -> None:
        self._looping = True
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._window.sent += 1
        self._sent_at = time.perf_counter_ns()
        self._transport.write(self._request)

    def _stop(self) -> None:
        if self._looping:
            self._looping = False
            self._window.finished_one()

    def abort(self, why: str) -> None:
        """Give up on this connection (no response in time)."""
        if self._looping:
            self._window.error(why)
            self._stop()
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        buffer = self._buffer
        buffer += data
        if self._expected == 0:
            if len(buffer) < HEADER_SIZE:
                return
            length = _ITEM.unpack_from(buffer, 4)[0]
            if length > MAX_RESPONSE_SIZE:
                self._fail("response larger than MAX_RESPONSE_SIZE")
                return
            self._expected = HEADER_SIZE + length
        if len(buffer) < self._expected:
            return
        if len(buffer) > self._expected:
            self._fail("bytes beyond the one response expected")
            return
        message = bytes(buffer)
        buffer.clear()
        self._expected = 0
        if not self._looping:
            return
        window = self._window
        problem = fast_result(message, self._operation)
        if problem is not None:
            window.error(problem)
        elif window.t_start <= now < window.t_end:
            window.latencies.append(now - self._sent_at)
        if now < window.t_end:
            self._send()
        else:
            self._stop()

    def _fail(self, why: str) -> None:
        self._window.error(why)
        self._stop()
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._looping:
            self._window.error(f"connection lost: {type(exc).__name__ if exc else 'closed by the server'}")
            self._stop()


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One cell: where, what, how many connections over how many processes, for how long."""

    target: TlsTarget
    request: bytes = field(repr=False)
    operation: int  # the Operation every response must echo
    connections: int
    processes: int
    warmup: float  # seconds
    duration: float  # seconds of measurement after the warm-up
    connect_timeout: float = 15.0
    response_timeout: float = 10.0  # beyond the window, for the last responses
    generator: str = "python"  # "python" (client processes of this module) or "c" (kmip_loadgen.c)


def _same(protocol: _ClosedLoop) -> _ClosedLoop:
    return protocol


async def _connect(
    loop: asyncio.AbstractEventLoop, spec: LoadSpec, context: ssl.SSLContext, window: _Window
) -> _ClosedLoop:
    deadline = time.monotonic() + spec.connect_timeout
    while True:
        protocol = _ClosedLoop(spec.request, spec.operation, window)
        remaining = deadline - time.monotonic()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    functools.partial(_same, protocol),
                    spec.target.host,
                    spec.target.port,
                    ssl=context,
                    server_hostname=spec.target.server_hostname,
                ),
                timeout=max(remaining, 0.001),
            )
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() + CONNECT_RETRY_DELAY >= deadline:
                raise
            await asyncio.sleep(CONNECT_RETRY_DELAY)
        else:
            return protocol


async def _connect_all(spec: LoadSpec, count: int, window: _Window) -> list[_ClosedLoop]:
    loop = asyncio.get_running_loop()
    context = spec.target.context()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> _ClosedLoop:
        async with gate:
            return await _connect(loop, spec, context, window)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one()) for _ in range(count)]
    return [task.result() for task in tasks]


def _mark_cpu(window: _Window) -> None:
    window.cpu_marks.append(time.process_time())


async def _measure(spec: LoadSpec, connections: list[_ClosedLoop], window: _Window) -> None:
    loop = asyncio.get_running_loop()
    window.done = loop.create_future()
    go = time.perf_counter_ns()
    window.t_start = go + int(spec.warmup * 1e9)
    window.t_end = window.t_start + int(spec.duration * 1e9)
    window.open = len(connections)
    for connection in connections:
        connection.start()
    # CPU time of this process at the window's edges (a timer callback, a few ms late at worst).
    loop.call_later(spec.warmup, _mark_cpu, window)
    loop.call_later(spec.warmup + spec.duration, _mark_cpu, window)
    limit = spec.warmup + spec.duration + spec.response_timeout
    try:
        await asyncio.wait_for(asyncio.shield(window.done), timeout=limit)
    except TimeoutError:
        for connection in connections:
            connection.abort(f"no response within {spec.response_timeout:g} s after the window")


async def _close_all(connections: list[_ClosedLoop]) -> None:
    for connection in connections:
        if connection._transport is not None and not connection.closed:
            connection._transport.close()
    deadline = time.monotonic() + 2.0
    while any(not c.closed for c in connections) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for connection in connections:
        if connection._transport is not None and not connection.closed:
            connection._transport.abort()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # noqa: PLC0415 (optional)
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _client_process(spec: LoadSpec, count: int, pipe: Pipe) -> None:
    """Entry point of a client process: connect, report ready, wait for go, loop, report."""
    loop = _new_loop()
    window = _Window()
    connections: list[_ClosedLoop] = []
    try:
        try:
            connections = loop.run_until_complete(_connect_all(spec, count, window))
        except BaseException as exc:  # reported to the parent, which fails the cell
            pipe.send(("failed", f"connecting: {type(exc).__name__}: {exc}"))
            return
        first = connections[0]._transport
        ssl_object = None if first is None else first.get_extra_info("ssl_object")
        tls = "?" if ssl_object is None else f"{ssl_object.version()} {ssl_object.cipher()[0]}"
        pipe.send(("ready", tls, loop.__class__.__module__.split(".")[0]))
        if pipe.recv() != "go":
            return
        loop.run_until_complete(_measure(spec, connections, window))
        marks = window.cpu_marks
        cpu = marks[1] - marks[0] if len(marks) == 2 else float("nan")
        pipe.send(
            (
                "result",
                window.latencies.tobytes(),
                window.errors,
                dict(window.error_samples),
                window.sent,
                cpu,
            )
        )
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(_close_all(connections))
        loop.close()
        pipe.close()


@dataclass(frozen=True, slots=True)
class LoadResult:
    stats: CellStats
    requests_sent: int  # warm-up and window, every connection
    error_samples: dict[str, int]
    client_cpu_seconds: float  # all client processes, inside the window
    tls: str  # negotiated version and cipher (first connection)
    event_loop: str  # "uvloop" or "asyncio"
    processes: int


def _stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start_client(spec: LoadSpec, count: int) -> tuple[subprocess.Popen[bytes], Pipe]:
    """A fresh interpreter running ``python -m loadtests.loadgen --client FD`` (it imports only
    this module and ``ttlv``, never the caller's ``__main__``), talking over a socket pair."""
    parent_end, child_end = socket.socketpair()
    with parent_end, child_end:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
        process = subprocess.Popen(
            [sys.executable, "-m", "loadtests.loadgen", CLIENT_FLAG, str(child_end.fileno())],
            stdin=subprocess.DEVNULL,
            pass_fds=[child_end.fileno()],
            env=env,
        )
        pipe = Pipe(parent_end.detach())
    pipe.send((spec, count))
    return process, pipe


def _receive(pipe: Pipe) -> Any:
    try:
        return pipe.recv()
    except EOFError:
        raise RuntimeError("a client process died (see its traceback above)") from None


def _mark_window(spec: LoadSpec, on_window: Callable[[], None] | None) -> None:
    """After "go": call ``on_window`` about when the window opens and again when it closes."""
    if on_window is not None:
        time.sleep(spec.warmup)
        on_window()
        time.sleep(spec.duration)
        on_window()


def run_load(spec: LoadSpec, on_window: Callable[[], None] | None = None) -> LoadResult:
    """Run one cell in fresh client processes; every process is gone when this returns.

    ``on_window`` is called about when the window opens and again when it closes (the caller
    samples the server's CPU time there)."""
    if spec.generator == "c":
        return _run_c(spec, on_window)
    if spec.generator != "python":
        raise ValueError(f"unknown load generator {spec.generator!r}")
    shares = split_connections(spec.connections, spec.processes)
    processes: list[subprocess.Popen[bytes]] = []
    pipes: list[Pipe] = []
    try:
        for count in shares:
            process, pipe = _start_client(spec, count)
            processes.append(process)
            pipes.append(pipe)
        tls, loop_name = "?", "?"
        start_deadline = time.monotonic() + PROCESS_START_TIMEOUT + spec.connect_timeout
        for pipe in pipes:
            if not pipe.poll(max(0.0, start_deadline - time.monotonic())):
                raise TimeoutError("a client process did not connect in time")
            message = _receive(pipe)
            if message[0] != "ready":
                raise ConnectionError(message[1])
            tls, loop_name = message[1], message[2]
        for pipe in pipes:
            pipe.send("go")
        _mark_window(spec, on_window)
        latencies = array("q")
        errors, sent, cpu = 0, 0, 0.0
        samples: dict[str, int] = {}
        end_deadline = time.monotonic() + spec.warmup + spec.duration + spec.response_timeout
        end_deadline += PROCESS_EXIT_MARGIN
        for pipe in pipes:
            if not pipe.poll(max(0.0, end_deadline - time.monotonic())):
                raise TimeoutError("a client process did not report in time")
            kind, raw, process_errors, process_samples, process_sent, process_cpu = _receive(pipe)
            assert kind == "result"
            latencies.frombytes(raw)
            errors += process_errors
            sent += process_sent
            cpu += process_cpu
            for what, times in process_samples.items():
                samples[what] = samples.get(what, 0) + times
        return LoadResult(
            stats=summarize(latencies, errors, spec.duration),
            requests_sent=sent,
            error_samples=samples,
            client_cpu_seconds=cpu,
            tls=tls,
            event_loop=loop_name,
            processes=len(shares),
        )
    finally:
        for pipe in pipes:
            pipe.close()
        _stop_processes(processes)


# -- the C generator ------------------------------------------------------------------------------

C_SOURCE = Path(__file__).with_name("kmip_loadgen.c")
C_BUILD = ("-O2", "-Wall", "-Wextra", "-Werror", "-std=c11")
C_LIBRARIES = ("-lssl", "-lcrypto")


class GeneratorUnavailable(RuntimeError):
    """The C generator cannot be built here (no compiler or no OpenSSL headers); says why."""


def build_c_generator(cache: Path | None = None) -> Path:
    """The C generator's executable, compiled once per source version into ``cache`` (default: a
    directory in the system's temporary directory named by the source's hash)."""
    source = C_SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(C_BUILD + C_LIBRARIES).encode()).hexdigest()[:16]
    directory = cache if cache is not None else Path(tempfile.gettempdir()) / f"openkcm-loadgen-{digest}"
    binary = directory / "kmip_loadgen"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    directory.mkdir(parents=True, exist_ok=True)
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise GeneratorUnavailable("no C compiler (cc) on PATH")
    partial = directory / f"kmip_loadgen.{os.getpid()}.tmp"
    built = subprocess.run(
        [compiler, *C_BUILD, "-o", str(partial), str(C_SOURCE), *C_LIBRARIES],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        partial.unlink(missing_ok=True)
        raise GeneratorUnavailable(f"compiling {C_SOURCE.name} failed: {built.stderr.strip()[-400:]}")
    partial.replace(binary)  # atomic: a concurrent build finds a whole file or none
    return binary


def _c_arguments(spec: LoadSpec, request_file: Path) -> list[str]:
    target = spec.target
    return [
        target.host,
        str(target.port),
        str(target.ca_file),
        str(target.cert_file),
        str(target.key_file),
        target.server_hostname,
        str(int(target.max_tls)),
        target.tls12_ciphers,
        str(request_file),
        str(int(spec.operation)),
        str(spec.connections),
        repr(spec.warmup),
        repr(spec.duration),
        repr(spec.connect_timeout),
        repr(spec.response_timeout),
    ]


def _c_error_text(what: str) -> str:
    """The C generator's error words, with a Result Status named as ``fast_result`` names it."""
    prefix = "Result Status #"
    if what.startswith(prefix) and what[len(prefix) :].isdigit():
        return _status_words(int(what[len(prefix) :]))
    return what


class _Output:
    """What the C generator writes: lines, then raw bytes, each read within a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def _more(self, timeout: float) -> None:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            raise TimeoutError("the C generator did not answer in time")
        chunk = os.read(self._fd, 1 << 16)
        if not chunk:
            raise RuntimeError("the C generator exited without finishing its report")
        self._buffer += chunk

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            self._more(max(0.0, deadline - time.monotonic()))
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line.decode("utf-8", "replace")

    def exactly(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buffer) < size:
            self._more(max(0.0, deadline - time.monotonic()))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _run_c(spec: LoadSpec, on_window: Callable[[], None] | None) -> LoadResult:
    binary = build_c_generator()
    with tempfile.TemporaryDirectory(prefix="openkcm-loadgen-") as scratch:
        request_file = Path(scratch) / "request.ttlv"
        request_file.write_bytes(spec.request)
        process = subprocess.Popen(
            [str(binary), *_c_arguments(spec, request_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        output = _Output(process.stdout.fileno())
        try:
            ready = output.line(PROCESS_START_TIMEOUT + spec.connect_timeout).split(" ", 2)
            if ready[0] != "ready" or len(ready) != 3:
                raise ConnectionError(" ".join(ready[1:]) or "the C generator stopped before connecting")
            process.stdin.write(b"go\n")
            _mark_window(spec, on_window)
            limit = spec.warmup + spec.duration + spec.response_timeout + PROCESS_EXIT_MARGIN
            kind, errors, sent, cpu = output.line(limit).split(" ")
            if kind != "result":
                raise RuntimeError("the C generator did not report a result")
            samples: dict[str, int] = {}
            line = output.line(PROCESS_EXIT_MARGIN)
            while line.startswith("error "):
                _, times, what = line.split(" ", 2)
                samples[_c_error_text(what)] = int(times)
                line = output.line(PROCESS_EXIT_MARGIN)
            kind, count = line.split(" ")
            if kind != "latencies":
                raise RuntimeError("the C generator did not report its latencies")
            latencies = array("q")
            latencies.frombytes(output.exactly(int(count) * latencies.itemsize, PROCESS_EXIT_MARGIN))
            process.wait(timeout=PROCESS_EXIT_MARGIN)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdin.close()
            process.stdout.close()
    return LoadResult(
        stats=summarize(latencies, int(errors), spec.duration),
        requests_sent=int(sent),
        error_samples=samples,
        client_cpu_seconds=float(cpu),
        tls=f"{ready[1]} {ready[2]}",
        event_loop="C (epoll)",
        processes=1,
    )


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _client_main(argv: Sequence[str]) -> int:
    """``python -m loadtests.loadgen --client FD``: receive (spec, count) on FD, then serve it."""
    if len(argv) != 2 or argv[0] != CLIENT_FLAG:
        print(f"usage: python -m loadtests.loadgen {CLIENT_FLAG} FD (started by run_load)", file=sys.stderr)
        return 2
    pipe = Pipe(int(argv[1]))
    spec, count = pipe.recv()
    _client_process(spec, count, pipe)
    return 0


if __name__ == "__main__":
    # Run from the imported module, so that the classes unpickled from the pipe are this code's.
    from loadtests.loadgen import _client_main as client_main

    sys.exit(client_main(sys.argv[1:]))
