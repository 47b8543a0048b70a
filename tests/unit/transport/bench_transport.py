"""Benchmark: request round trips through the transport, against a bare blocking TLS echo server.

    PYTHONPATH=src:. .venv/bin/python -m tests.unit.transport.bench_transport [--requests 5000]

Both servers run in their own process on 127.0.0.1 with the same certificates and answer each
TTLV request with a small TTLV response (the transport's fake echo handler). The baseline is the
least a Python server can do per request: a thread per connection, blocking ``recv``/``sendall``,
no framing limits, no timeouts (the shape of PyKMIP's server without its codec and lock).

Measured at the client (a blocking TLS socket, one request at a time): latency percentiles over
one persistent connection, then throughput with several connections from several processes.
Prints numbers and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kmip_server.transport.settings import TLSSettings
from kmip_server.transport.tls import build_client_context, build_server_context
from tests.support.tls import TestPKI, make_test_pki
from tests.unit.transport.fakes import ServerProcess, request_message, response_message, response_text


def _recv_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks += chunk
    return bytes(chunks)


def _read_message(sock: ssl.SSLSocket) -> bytes:
    header = _recv_exactly(sock, 8)
    return header + _recv_exactly(sock, int.from_bytes(header[4:8], "big"))


def _baseline_server(pki_dir: str, ready: multiprocessing.SimpleQueue[int]) -> None:
    """A thread per connection, blocking reads, the same TLS policy and certificates."""
    directory = Path(pki_dir)
    context = build_server_context(
        TLSSettings(directory / "server.pem", directory / "server.key", directory / "ca.pem")
    )
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    ready.put(listener.getsockname()[1])

    def serve(raw: socket.socket) -> None:
        with context.wrap_socket(raw, server_side=True) as sock:
            try:
                while True:
                    message = _read_message(sock)
                    sock.sendall(response_message(response_text(message)))
            except (ConnectionError, ssl.SSLError, OSError):
                return

    while True:
        raw, _ = listener.accept()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(raw,), daemon=True).start()


def _client_context(pki_dir: Path) -> ssl.SSLContext:
    return build_client_context(pki_dir / "ca.pem", pki_dir / "tenant.pem", pki_dir / "tenant.key")


def _client(context: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(raw, server_hostname="localhost")


def latencies(pki: TestPKI, port: int, requests: int) -> list[float]:
    message = request_message("bench")
    with _client(_client_context(pki.directory), port) as sock:
        for _ in range(200):  # warm up
            sock.sendall(message)
            _read_message(sock)
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            sock.sendall(message)
            _read_message(sock)
            samples.append(time.perf_counter() - started)
    return samples


def _throughput_worker(
    pki_dir: str, port: int, connections: int, seconds: float, out: multiprocessing.SimpleQueue[int]
) -> None:
    context = _client_context(Path(pki_dir))
    message = request_message("bench")
    done = [0] * connections
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        with _client(context, port) as sock:
            while time.perf_counter() < deadline:
                sock.sendall(message)
                _read_message(sock)
                done[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(sum(done))


def throughput(pki: TestPKI, port: int, processes: int, connections: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    workers = [
        context.Process(target=_throughput_worker, args=(str(pki.directory), port, connections, seconds, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(out.get() for _ in workers) / seconds


def report(label: str, samples: list[float]) -> float:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6

    median = statistics.median(samples) * 1e6
    print(f"{label:<40}{median:>9.0f}{pct(0.99):>9.0f}{pct(0.999):>10.0f}   us")
    return median


Starter = Callable[[], tuple[int, Callable[[], object]]]


def _measure(name: str, start: Starter, pki: TestPKI, args: argparse.Namespace) -> tuple[float, float]:
    port, stop = start()
    try:
        median = report(f"{name} latency", latencies(pki, port, args.requests))
        rate = throughput(pki, port, args.processes, args.connections, args.seconds)
        clients = f"{args.processes}x{args.connections} connections"
        print(f"{name + ' throughput':<40}{rate:>9.0f} requests/s ({clients})")
        return median, rate
    finally:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000, help="latency samples")
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput duration")
    parser.add_argument("--processes", type=int, default=2, help="client processes for throughput")
    parser.add_argument("--connections", type=int, default=4, help="connections per client process")
    parser.add_argument("--workers", type=int, default=2, help="server workers for the last run")
    args = parser.parse_args()
    pki = make_test_pki(Path(tempfile.mkdtemp(prefix="bench-pki-")))

    def baseline() -> tuple[int, Callable[[], object]]:
        context = multiprocessing.get_context("spawn")
        ready: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
        process = context.Process(target=_baseline_server, args=(str(pki.directory), ready), daemon=True)
        process.start()
        return ready.get(), process.kill

    def ours(workers: int) -> Starter:
        def start() -> tuple[int, Callable[[], object]]:
            server = ServerProcess(pki, handler="echo", workers=workers)
            return server.port, server.stop

        return start

    print(f"{'':<40}{'P50':>9}{'P99':>9}{'P99.9':>10}")
    base_median, base_rate = _measure("baseline (thread per connection)", baseline, pki, args)
    one_median, one_rate = _measure("transport, 1 worker (uvloop)", ours(1), pki, args)
    _, many_rate = _measure(f"transport, {args.workers} workers", ours(args.workers), pki, args)
    print(
        f"\nratios vs baseline: P50 latency x{one_median / base_median:.2f} (1 worker); throughput "
        f"x{one_rate / base_rate:.2f} (1 worker), x{many_rate / base_rate:.2f} ({args.workers} workers)"
    )


if __name__ == "__main__":
    main()
