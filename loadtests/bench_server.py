"""Server benchmark: our Core beside PyKMIP's own server, one machine, one run, one load generator.

Run from the repository root::

    .venv/bin/python -m loadtests.bench_server                 # 12 cells, about 4 minutes
    .venv/bin/python -m loadtests.bench_server --quick         # a smoke run, under a minute
    .venv/bin/python -m loadtests.bench_server --connections 1,8,64 --duration 10 --workers 2
    .venv/bin/python -m loadtests.bench_server --profile get,create   # + cProfile of our Core

What runs, all on 127.0.0.1, in a fresh temporary directory removed at the end:
- ours: ``openkcm dev --data-dir TMP/core --kmip-port P`` (creates the dev PKI, initializes,
  unseals, links the example tenants). With ``--workers N`` > 1 that dev Core is stopped once it
  is set up and ``openkcm serve core --config TMP/core/openkcm.toml`` serves the same data with
  ``OPENKCM_SERVER__WORKERS=N`` (worker processes on one shared, balanced listening socket;
  auto-unseal in each).
- PyKMIP: ``pykmip-server`` (``loadtests.pykmip_server``): TLS 1.2 suite, client certificate
  required (clientAuth usage checked), a fresh SQLite database.
- Both servers use the same dev CA and server certificate; the load generator uses one client
  certificate for both, with a SPIFFE ID (ours maps it to tenant ``acme``) and a Subject CN
  (PyKMIP's identity, which owns the objects it creates).
- ``loadtests.loadgen`` drives each server in turn over persistent mutual-TLS connections
  (TLS 1.2 for both unless ``--tls 1.3``, which only ours then gets), closed loop, with the
  same KMIP 1.2 request bytes: Create of an AES-256 key, and Get of one AES-256 key created
  once per server before any timing. For each (operation, connections) cell, the two servers
  run one after the other, so slow drifts of a shared machine fall on both alike.
- ``--generator``: by default the C generator (``loadtests/kmip_loadgen.c``, one process, about
  45 us of CPU per request, most of it the kernel's loopback TCP), so that the cores go to the
  servers under test; ``--generator python`` is the uvloop one (about 110 us per request).

The machine's cores are shared: the client processes and the servers compete for them, and
the table shows the CPU each side used (in cores: CPU seconds per second of window) so the
numbers can be read with that in mind. Targets (the issue's): at 64 connections ours serves at
least 30x PyKMIP's Get and 10x its Create throughput; our Get P99 at 8 connections < 2 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import functools
import io
import math
import os
import platform
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Self

from kmip_server.admin import AdminError, AdminUnavailable, admin_sockets, call
from kmip_server.dev import DEV_TENANTS, TRUST_DOMAIN
from kmip_server.devpki import DevClient, DevPKI, ensure_dev_pki
from loadtests.common import add_generator_argument, choose_generator, comma_names, comma_positive_ints
from loadtests.loadgen import (
    KMIP_1_2,
    LoadResult,
    LoadSpec,
    TlsTarget,
    TlsVersion,
    cpu_count,
    create_aes256_request,
    discover_versions_request,
    fast_result,
    get_request,
    read_response,
    round_trip,
    run_load,
)
from loadtests.pykmip_server import PyKmipServer, PyKmipServerSettings, die_with_parent, stop_process_group
from ttlv.kmip14 import Operation, ResultStatus

HOST = "127.0.0.1"
BENCH_CLIENT = "bench"
BENCH_COMMON_NAME = "openkcm-bench"  # PyKMIP's client identity (it reads only the Subject CN)
OURS, PYKMIP = "openkcm", "pykmip"
SERVERS = (OURS, PYKMIP)
OPERATIONS = {"get": Operation.GET, "create": Operation.CREATE}
GET_RATIO_TARGET = 30.0  # ours / PyKMIP Get throughput at TARGET_CONNECTIONS
CREATE_RATIO_TARGET = 10.0
TARGET_CONNECTIONS = 64
GET_P99_TARGET_MS = 2.0  # ours, at P99_TARGET_CONNECTIONS
P99_TARGET_CONNECTIONS = 8
CORE_START_TIMEOUT = 90.0  # seconds: dev PKI, init, unseal, link tenants, listen
CORE_STOP_TIMEOUT = 40.0  # drain_timeout (30 s) plus margin before SIGKILL
READY_POLL = 0.2
PROFILE_TOP = 25
CLIENT_SATURATED = 0.85  # cores per client process beyond which the generator may be the limit
QUICK = {"duration": 2.0, "warmup": 0.5, "repeats": 1}
FULL = {"duration": 6.0, "warmup": 1.5, "repeats": 3}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _stat_fields(path: str) -> list[str]:
    """Fields 3 onwards of a proc(5) stat file (after the parenthesized command name)."""
    with open(path, encoding="ascii", errors="replace") as file:
        stat = file.read()
    return stat[stat.rindex(")") + 2 :].split()


def _group_pids(pgid: int) -> list[int]:
    pids = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError):
                    if int(_stat_fields(f"/proc/{entry.name}/stat")[2]) == pgid:  # field 5: pgrp
                        pids.append(int(entry.name))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in process group ``pgid`` (Linux /proc)."""
    ticks = 0
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError, ValueError):
            fields = _stat_fields(f"/proc/{pid}/stat")
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def _python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


# -- our Core ----------------------------------------------------------------------------------


class OurCore:
    """Our Core in a subprocess of its own session: ``openkcm dev``, then (``workers`` > 1)
    ``openkcm serve core`` on the same data directory. ``profile_out`` runs the dev Core
    in-process under cProfile instead (one process) and writes the stats there on exit."""

    def __init__(
        self, data_dir: Path, port: int, target: TlsTarget, workers: int, profile_out: Path | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.target = target
        self.workers = workers
        self.profile_out = profile_out
        self.process: subprocess.Popen[bytes] | None = None
        self.mode = ""

    def _spawn(self, command: list[str], log_name: str, extra_env: dict[str, str]) -> None:
        env = {**os.environ, **extra_env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path.cwd()), env.get("PYTHONPATH", "")) if p)
        with (self.data_dir.parent / log_name).open("wb") as output:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads run at that point)
            )

    def _dev_command(self) -> list[str]:
        args = ["dev", "--data-dir", str(self.data_dir), "--kmip-port", str(self.port)]
        if self.profile_out is not None:
            return _python_command("loadtests.bench_server", "--serve-profiled", str(self.profile_out), *args)
        return _python_command("kmip_server.cli", *args)

    def start(self) -> None:
        quiet = {"OPENKCM_LOGGING__LEVEL": "WARNING"}
        try:
            self._spawn(self._dev_command(), "core-dev.log", quiet)
            self._wait_kmip()
            self.mode = "openkcm dev (1 process)"
            if self.workers > 1 and self.profile_out is None:
                self.stop()
                self._spawn(
                    _python_command(
                        "kmip_server.cli", "serve", "core", "--config", str(self.data_dir / "openkcm.toml")
                    ),
                    "core-serve.log",
                    {
                        **quiet,
                        "OPENKCM_SERVER__WORKERS": str(self.workers),
                        "OPENKCM_SERVER__PORT": str(self.port),
                    },
                )
                self._wait_workers_unsealed()
                self._wait_kmip()
                self.mode = (
                    f"openkcm serve core, {self.workers} worker processes (one balanced listening socket)"
                )
        except BaseException:
            self.stop()
            raise

    def _alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"our Core exited with status {self.process.returncode}; "
                f"see the logs in {self.data_dir.parent}"
            )

    def _wait_kmip(self) -> None:
        """Until a Create succeeds: listening, unsealed, and the bench tenant linked."""
        deadline = time.monotonic() + CORE_START_TIMEOUT
        request = create_aes256_request()
        last = "no answer"
        while time.monotonic() < deadline:
            self._alive()
            try:
                response = round_trip(self.target, request, timeout=5.0)
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(READY_POLL)
                continue
            problem = fast_result(response, Operation.CREATE)
            if problem is None:
                return
            last = problem
            time.sleep(READY_POLL)
        raise TimeoutError(f"our Core did not serve a Create within {CORE_START_TIMEOUT:g} s (last: {last})")

    def _wait_workers_unsealed(self) -> None:
        deadline = time.monotonic() + CORE_START_TIMEOUT
        while time.monotonic() < deadline:
            self._alive()
            unsealed = 0
            for path in admin_sockets(self.data_dir / "admin"):
                with contextlib.suppress(AdminUnavailable, AdminError, OSError):
                    if call(path, {"op": "status"}, timeout=2.0)["status"].get("state") == "unsealed":
                        unsealed += 1
            if unsealed >= self.workers:
                return
            time.sleep(READY_POLL)
        raise TimeoutError(f"{self.workers} worker processes were not all unsealed in time")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, timeout=CORE_STOP_TIMEOUT)
            self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def serve_profiled(out: Path, cli_args: Sequence[str]) -> int:
    """(In the Core's subprocess) ``openkcm`` under cProfile; the stats go to ``out`` on exit."""
    from kmip_server.cli import main  # noqa: PLC0415

    # CPU time of the event-loop thread: waiting (epoll, other processes on the shared cores)
    # is not charged to whatever function happened to be running.
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return main(list(cli_args))
    finally:
        profiler.disable()
        profiler.dump_stats(str(out))


# -- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Servers:
    targets: dict[str, TlsTarget]
    get_requests: dict[str, bytes]  # the Get of each server's own pre-created key
    pgids: dict[str, int]
    descriptions: dict[str, str]


def make_pki(directory: Path) -> DevPKI:
    """The dev PKI ``openkcm dev`` will reuse, plus the benchmark's client certificate."""
    tenant = DEV_TENANTS[0]
    return ensure_dev_pki(
        directory,
        trust_domain=TRUST_DOMAIN,
        clients=[DevClient(BENCH_CLIENT, spiffe_id=tenant.spiffe_id, common_name=BENCH_COMMON_NAME)],
    )


def make_target(pki: DevPKI, port: int, tls: TlsVersion) -> TlsTarget:
    return TlsTarget(
        host=HOST,
        port=port,
        ca_file=pki.ca_certificate,
        cert_file=pki.client_certificates[BENCH_CLIENT],
        key_file=pki.client_keys[BENCH_CLIENT],
        max_tls=tls,
    )


def prepare_get(name: str, target: TlsTarget) -> bytes:
    """Create the key the Get cells read; check that a Get returns its 32 bytes."""
    created = read_response(round_trip(target, create_aes256_request()))
    if created.result_status != ResultStatus.SUCCESS or not created.unique_identifier:
        raise RuntimeError(f"{name}: Create failed: {created.result_reason} {created.result_message}")
    request = get_request(created.unique_identifier)
    got = read_response(round_trip(target, request))
    if got.result_status != ResultStatus.SUCCESS or got.key_material_length != 32:
        raise RuntimeError(f"{name}: Get of the new key failed or returned no 256-bit key: {got}")
    if got.protocol_version != KMIP_1_2:
        raise RuntimeError(f"{name}: answered KMIP {got.protocol_version}, not the request's 1.2")
    for other in (discover_versions_request(),):
        if fast_result(round_trip(target, other), Operation.DISCOVER_VERSIONS) is not None:
            raise RuntimeError(f"{name}: Discover Versions failed")
    return request


# -- running cells -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    server: str
    operation: str
    connections: int
    result: LoadResult  # the repeat with the median throughput
    server_cpu_seconds: float
    window: float  # seconds
    repeats: tuple[float, ...] = ()  # ops/s of every repeat
    errors: int = 0  # over every repeat

    @property
    def spread(self) -> float:
        """(max - min) / median of the repeats' throughput."""
        median = self.result.stats.ops_per_second
        if len(self.repeats) < 2 or median <= 0:
            return 0.0
        return (max(self.repeats) - min(self.repeats)) / median

    @property
    def server_cores(self) -> float:
        return self.server_cpu_seconds / self.window

    @property
    def server_us_per_request(self) -> float:
        """Server CPU per successful request, in microseconds."""
        requests = self.result.stats.requests
        return self.server_cpu_seconds / requests * 1e6 if requests else math.nan

    @property
    def client_cores(self) -> float:
        return self.result.client_cpu_seconds / self.window


def median_cell(runs: Sequence[Cell]) -> Cell:
    """The run with the median throughput (the lower middle one of an even count), carrying
    every run's throughput and the errors of all of them."""
    ordered = sorted(runs, key=lambda cell: cell.result.stats.ops_per_second)
    middle = ordered[(len(ordered) - 1) // 2]
    return dataclasses.replace(
        middle,
        repeats=tuple(cell.result.stats.ops_per_second for cell in runs),
        errors=sum(cell.result.stats.errors for cell in runs),
    )


def client_processes(setting: str, connections: int) -> int:
    if setting != "auto":
        return max(1, int(setting))
    # One uvloop process drives about 20,000 requests/s on one core; the second one at 64
    # connections only spreads the handshakes and the reads (see the client CPU column).
    return 1 if connections < 64 else 2


def cell_spec(
    args: argparse.Namespace, servers: Servers, server: str, operation: str, connections: int
) -> LoadSpec:
    return LoadSpec(
        target=servers.targets[server],
        request=servers.get_requests[server] if operation == "get" else create_aes256_request(),
        operation=OPERATIONS[operation],
        connections=connections,
        processes=client_processes(args.client_processes, connections),
        warmup=args.warmup,
        duration=args.duration,
        generator=args.generator,
    )


def run_cell(
    args: argparse.Namespace, servers: Servers, server: str, operation: str, connections: int
) -> Cell:
    spec = cell_spec(args, servers, server, operation, connections)
    pgid = servers.pgids[server]
    samples: list[float] = []
    result = run_load(spec, on_window=lambda: samples.append(group_cpu_seconds(pgid)))
    server_cpu = samples[1] - samples[0] if len(samples) == 2 else math.nan
    return Cell(server, operation, connections, result, server_cpu, args.duration, errors=result.stats.errors)


# -- reporting ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "     -" if math.isnan(value) else f"{value:8.2f}" if value >= 100 else f"{value:8.3f}"


def print_table(cells: Sequence[Cell], out: Callable[[str], None]) -> None:
    out(
        f"{'server':<8} {'operation':<9} {'conns':>5} {'ops/s':>10} {'P50 ms':>8} {'P99 ms':>8}"
        f" {'errors':>6} {'spread':>6} {'server CPU':>10} {'us/op':>6} {'client CPU':>10}"
    )
    for cell in cells:
        stats = cell.result.stats
        out(
            f"{cell.server:<8} {cell.operation:<9} {cell.connections:>5} {stats.ops_per_second:>10.0f}"
            f" {_ms(stats.p50_ms)} {_ms(stats.p99_ms)} {cell.errors:>6} {cell.spread:>6.0%}"
            f" {cell.server_cores:>9.2f}c {cell.server_us_per_request:>6.0f} {cell.client_cores:>9.2f}c"
        )
    for cell in cells:
        for what, times in cell.result.error_samples.items():
            out(f"  errors of {cell.server} {cell.operation} x{cell.connections}: {times} x {what}")


def _find(cells: Sequence[Cell], server: str, operation: str, connections: int) -> Cell | None:
    for cell in cells:
        if (cell.server, cell.operation, cell.connections) == (server, operation, connections):
            return cell
    return None


def ratio(cells: Sequence[Cell], operation: str, connections: int) -> float | None:
    ours, theirs = _find(cells, OURS, operation, connections), _find(cells, PYKMIP, operation, connections)
    if ours is None or theirs is None or theirs.result.stats.ops_per_second <= 0:
        return None
    return ours.result.stats.ops_per_second / theirs.result.stats.ops_per_second


def print_ratios(cells: Sequence[Cell], out: Callable[[str], None]) -> None:
    out(
        f"{'operation':<9} {'conns':>5} {'ops/s ours/PyKMIP':>18}"
        f" {'P50 PyKMIP/ours':>16} {'P99 PyKMIP/ours':>16}"
    )
    seen = []
    for cell in cells:
        key = (cell.operation, cell.connections)
        if key in seen:
            continue
        seen.append(key)
        ours, theirs = _find(cells, OURS, *key), _find(cells, PYKMIP, *key)
        if ours is None or theirs is None:
            continue
        value = ratio(cells, *key)
        a, b = ours.result.stats, theirs.result.stats
        out(
            f"{key[0]:<9} {key[1]:>5} {('-' if value is None else f'{value:.1f}x'):>18}"
            f" {b.p50_ms / a.p50_ms:>15.1f}x {b.p99_ms / a.p99_ms:>15.1f}x"
        )


def targets(cells: Sequence[Cell]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the issue's three targets; met is None when not measured."""
    rows: list[tuple[str, str, bool | None]] = []
    for operation, goal in (("get", GET_RATIO_TARGET), ("create", CREATE_RATIO_TARGET)):
        value = ratio(cells, operation, TARGET_CONNECTIONS)
        rows.append(
            (
                f"{operation.capitalize()} throughput at {TARGET_CONNECTIONS} connections"
                f" >= {goal:g}x PyKMIP",
                "not measured" if value is None else f"{value:.1f}x",
                None if value is None else value >= goal,
            )
        )
    cell = _find(cells, OURS, "get", P99_TARGET_CONNECTIONS)
    p99 = None if cell is None else cell.result.stats.p99_ms
    rows.append(
        (
            f"Get P99 at {P99_TARGET_CONNECTIONS} connections < {GET_P99_TARGET_MS:g} ms",
            "not measured" if p99 is None else f"{p99:.3f} ms",
            None if p99 is None or math.isnan(p99) else p99 < GET_P99_TARGET_MS,
        )
    )
    return rows


def print_targets(cells: Sequence[Cell], out: Callable[[str], None]) -> bool:
    all_met = True
    for name, measured, met in targets(cells):
        verdict = "not measured" if met is None else "met" if met else "MISSED"
        all_met = all_met and met is not False
        out(f"  {name:<52} {measured:>14}  {verdict}")
    return all_met


# -- profiling ---------------------------------------------------------------------------------


def thread_cpu_seconds(pgid: int) -> dict[tuple[int, int], float]:
    """CPU seconds of every thread of every process in group ``pgid``, by (pid, tid)."""
    threads: dict[tuple[int, int], float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError):
                    fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
                    threads[(pid, int(tid))] = (int(fields[11]) + int(fields[12])) / tick
    return threads


def _append_threads(marks: list[dict[tuple[int, int], float]], pgid: int) -> None:
    marks.append(thread_cpu_seconds(pgid))


def profile_ours(
    args: argparse.Namespace, work: Path, pki: DevPKI, port: int, operations: Sequence[str]
) -> None:
    """Our dev Core (one process), per operation: the CPU per request of its event-loop thread
    and of its other threads (SQLite), then the same load under cProfile (event-loop thread)."""
    target = make_target(pki, port, args.tls)
    connections = args.profile_connections
    for operation in operations:
        with OurCore(work / "core", port, target, 1) as core:
            get = prepare_get(OURS, target)
            servers = Servers({OURS: target}, {OURS: get}, {OURS: core.pid}, {OURS: core.mode})
            marks: list[dict[tuple[int, int], float]] = []
            spec = cell_spec(args, servers, OURS, operation, connections)
            sample = functools.partial(_append_threads, marks, core.pid)
            result = run_load(spec, on_window=sample)
        before, after = marks
        used = {key: after[key] - before.get(key, 0.0) for key in after}
        requests = max(1, result.stats.requests)
        loop_thread = sum(value for (pid, tid), value in used.items() if pid == tid)
        others = sum(value for (pid, tid), value in used.items() if pid != tid)
        print(
            f"\n== our Core, 1 process, {operation} x {connections} connections, no profiler: "
            f"{result.stats.ops_per_second:.0f} ops/s; CPU per request: event-loop thread "
            f"{loop_thread / requests * 1e6:.0f} us, other threads (SQLite) {others / requests * 1e6:.0f} us"
        )
        out = work / f"profile-{operation}.pstats"
        with OurCore(work / "core", port, target, 1, profile_out=out) as core:
            get = prepare_get(OURS, target)
            servers = Servers({OURS: target}, {OURS: get}, {OURS: core.pid}, {OURS: core.mode})
            cell = run_cell(args, servers, OURS, operation, connections)
        stats = cell.result.stats
        print(
            f"== cProfile of that Core's event-loop thread (CPU time; profiler on, so slower): {operation} x "
            f"{connections}: {stats.ops_per_second:.0f} ops/s, errors {stats.errors}; "
            f"top {PROFILE_TOP} by own time, then by cumulative time"
        )
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            report = pstats.Stats(str(out), stream=text)
            report.strip_dirs().sort_stats(order).print_stats(PROFILE_TOP)
            lines = text.getvalue().splitlines()
            start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
            print("\n".join(lines[start:]))


# -- main ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_server", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="short cells: a smoke run")
    parser.add_argument("--connections", type=comma_positive_ints, default=[1, 8, 64], help="default 1,8,64")
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 6; quick 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 1.5; quick 0.5)")
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of each cell, servers alternating; the median is shown (default 3; quick 1)",
    )
    parser.add_argument("--workers", type=int, default=2, help="our Core's worker processes (default 2)")
    parser.add_argument(
        "--client-processes",
        default="auto",
        help="load generator processes (default auto: 1 below 64 connections, else 2)",
    )
    parser.add_argument("--operations", type=comma_names(tuple(OPERATIONS)), default=list(OPERATIONS))
    parser.add_argument("--servers", type=comma_names(SERVERS), default=list(SERVERS))
    add_generator_argument(parser)
    parser.add_argument(
        "--tls",
        type=lambda s: TlsVersion.TLS1_3 if s == "1.3" else TlsVersion.TLS1_2,
        default=TlsVersion.TLS1_2,
        help="highest TLS version the client offers: 1.2 (default, both servers) or 1.3 (ours only)",
    )
    parser.add_argument(
        "--profile", type=comma_names(tuple(OPERATIONS)), help="also cProfile our Core for these"
    )
    parser.add_argument("--profile-connections", type=int, default=8, help="connections while profiling")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    return parser


@contextlib.contextmanager
def _work_directory(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="openkcm-bench-"))
        print(f"keeping {path}")
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="openkcm-bench-") as name:
            yield Path(name)


def _generator_words(args: argparse.Namespace) -> str:
    if args.generator == "c":
        return "C (loadtests/kmip_loadgen.c: one process, OpenSSL, epoll)"
    return f"Python (uvloop), client processes: {args.client_processes}"


def _sigterm_as_interrupt() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve-profiled"]:
        return serve_profiled(Path(argv[1]), argv[2:])
    args = build_parser().parse_args(argv)
    defaults = QUICK if args.quick else FULL
    args.duration = defaults["duration"] if args.duration is None else args.duration
    args.warmup = defaults["warmup"] if args.warmup is None else args.warmup
    args.repeats = int(defaults["repeats"]) if args.repeats is None else args.repeats
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1 or args.repeats < 1:
        print(
            "duration must be positive, warm-up not negative, workers and repeats at least 1", file=sys.stderr
        )
        return 2
    _sigterm_as_interrupt()
    args.generator = choose_generator(args.generator)
    cells: list[Cell] = []
    with _work_directory(args.keep) as work, contextlib.ExitStack() as stack:
        pki = make_pki(work / "core" / "pki")
        ports = {server: free_port() for server in SERVERS}
        targets_by_server = {server: make_target(pki, ports[server], args.tls) for server in SERVERS}
        pykmip_target = dataclasses.replace(targets_by_server[PYKMIP], max_tls=TlsVersion.TLS1_2)
        targets_by_server[PYKMIP] = pykmip_target
        servers = Servers({}, {}, {}, {})
        started = time.monotonic()
        if PYKMIP in args.servers:
            pykmip = stack.enter_context(
                PyKmipServer(
                    PyKmipServerSettings(
                        work / "pykmip",
                        HOST,
                        ports[PYKMIP],
                        pki.server_certificate,
                        pki.server_key,
                        pki.ca_certificate,
                    ),
                    pykmip_target,
                )
            )
            servers.pgids[PYKMIP] = pykmip.pid
            servers.descriptions[PYKMIP] = (
                f"pykmip-server {metadata.version('pykmip')} (auth_suite TLS1.2, client auth, "
                "SQLite, thread per connection, logging WARNING)"
            )
        if OURS in args.servers:
            core = stack.enter_context(
                OurCore(work / "core", ports[OURS], targets_by_server[OURS], args.workers)
            )
            servers.pgids[OURS] = core.pid
            servers.descriptions[OURS] = core.mode
        for server in args.servers:
            servers.targets[server] = targets_by_server[server]
            servers.get_requests[server] = prepare_get(server, targets_by_server[server])
        cores = cpu_count()
        load_before = os.getloadavg()
        print(
            f"Server benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
            f"servers up in {time.monotonic() - started:.1f} s"
        )
        print(
            f"  machine: {cores} CPU(s) ({platform.machine()}, Linux {platform.release()}), Python "
            f"{platform.python_version()}; the load generator and the servers SHARE these {cores} CPUs"
        )
        for server in args.servers:
            print(f"  {server}: {servers.descriptions[server]} on {HOST}:{ports[server]}")
        print(
            f"  load: closed loop, persistent mutual-TLS connections, KMIP 1.2 requests pre-encoded "
            f"(Create AES-256; Get of one AES-256 key), warm-up {args.warmup:g} s + {args.duration:g} s "
            f"measured per cell; load generator: {_generator_words(args)}"
        )
        for operation in args.operations:
            for connections in args.connections:
                runs: dict[str, list[Cell]] = {server: [] for server in args.servers}
                for repeat in range(args.repeats):
                    # Alternate which server goes first, so drifts of a shared machine even out.
                    order = args.servers if repeat % 2 == 0 else list(reversed(args.servers))
                    for server in order:
                        cell = run_cell(args, servers, server, operation, connections)
                        runs[server].append(cell)
                        stats = cell.result.stats
                        print(
                            f"  .. {server} {operation} x{connections} #{repeat + 1}: "
                            f"{stats.ops_per_second:.0f} ops/s, P99 {stats.p99_ms:.3f} ms "
                            f"[{cell.result.tls}, {cell.result.event_loop}, "
                            f"{cell.result.processes} client process(es)]",
                            flush=True,
                        )
                cells.extend(median_cell(runs[server]) for server in args.servers)
        print()
        print_table(cells, print)
        print(
            f"  (median of {args.repeats} run(s) by ops/s, with that run's P50/P99;"
            " spread = (max - min) / median ops/s; errors summed over the runs;"
            " CPU in cores = CPU seconds per second of window,"
            " server = all its processes, client = all load generator processes;"
            " us/op = server CPU microseconds per request)"
        )
        print()
        print_ratios(cells, print)
        busy = [cell for cell in cells if cell.client_cores / cell.result.processes > CLIENT_SATURATED]
        for cell in busy:
            print(
                f"  WARNING: {cell.server} {cell.operation} x{cell.connections}: the load generator used "
                f"{cell.client_cores:.2f} cores in {cell.result.processes} process(es): maybe the bottleneck"
            )
        load_after = os.getloadavg()
        print(
            f"  machine load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
            f"on {cores} CPUs: other work on the machine shares them too"
        )
        print()
        print("Targets (issue 4):")
        all_met = print_targets(cells, print)
        if args.profile:
            stack.close()  # stop both servers, then profile ours alone
            profile_ours(args, work, pki, free_port(), args.profile)
    return 1 if args.require_targets and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
