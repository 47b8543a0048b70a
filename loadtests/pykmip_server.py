"""PyKMIP's own server (``pykmip-server``, PyKMIP 0.11) as the benchmark's baseline, in a subprocess.

Configured as a KMIP server would be deployed for comparison with ours:
- ``auth_suite = TLS1.2`` (PyKMIP's TLS 1.2 suite: its context is ``PROTOCOL_TLSv1_2`` with a
  list of ECDHE AES-GCM/CBC ciphers), ``enable_tls_client_auth = True`` (a client certificate is
  required, verified against ``ca_path``, and must carry the clientAuth extended key usage);
- the client identity is the certificate's Subject CN (PyKMIP reads nothing else), and objects
  belong to the identity that created them;
- a fresh SQLite database and an empty operation-policy directory (the built-in policies) in the
  given directory; ``logging_level = WARNING`` so that its per-request INFO lines (a file write
  per request) do not count against it.

Invariants:
- The server runs in its own session (``start_new_session``), so ``stop`` reaches every process
  it starts (it forks a ``multiprocessing.Manager`` for its policies) with one ``killpg``.
- ``start`` returns only once a real TLS round trip has succeeded, or raises after stopping what
  it started; ``stop`` is idempotent and ends with SIGKILL if SIGTERM is not enough.
- Loopback only: the server binds the host it is given (the benchmark passes 127.0.0.1).
"""

from __future__ import annotations

import configparser
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from loadtests.loadgen import TlsTarget, discover_versions_request, fast_result, round_trip
from ttlv.kmip14 import Operation

__all__ = [
    "PYKMIP_CIPHER_SUITES",
    "PyKmipServer",
    "PyKmipServerSettings",
    "die_with_parent",
    "pykmip_server_command",
    "stop_process_group",
    "write_server_conf",
]

START_TIMEOUT = 60.0  # seconds until the first round trip must succeed
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL
READY_POLL = 0.2  # seconds between readiness attempts
_PR_SET_PDEATHSIG = 1
# The ECDSA suites of PyKMIP's TLS 1.2 list, strongest first (the dev PKI's keys are EC P-256);
# written in PyKMIP's IANA spelling, which it maps to OpenSSL names.
PYKMIP_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
)


@dataclass(frozen=True, slots=True)
class PyKmipServerSettings:
    directory: Path  # conf, database, policy directory and log go here
    host: str
    port: int
    certificate: Path
    key: Path
    ca: Path
    logging_level: str = "WARNING"

    @property
    def conf_file(self) -> Path:
        return self.directory / "server.conf"

    @property
    def database(self) -> Path:
        return self.directory / "pykmip.db"

    @property
    def policy_dir(self) -> Path:
        return self.directory / "policies"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"


def write_server_conf(settings: PyKmipServerSettings) -> Path:
    """The ``[server]`` section ``pykmip-server -f`` reads; returns its path."""
    settings.directory.mkdir(parents=True, exist_ok=True)
    settings.policy_dir.mkdir(exist_ok=True)
    parser = configparser.ConfigParser(interpolation=None)
    parser["server"] = {
        "hostname": settings.host,
        "port": str(settings.port),
        "certificate_path": str(settings.certificate),
        "key_path": str(settings.key),
        "ca_path": str(settings.ca),
        "auth_suite": "TLS1.2",
        "policy_path": str(settings.policy_dir),
        "enable_tls_client_auth": "True",
        "tls_cipher_suites": " ".join(PYKMIP_CIPHER_SUITES),
        "logging_level": settings.logging_level,
        "database_path": str(settings.database),
    }
    with settings.conf_file.open("w", encoding="utf-8") as file:
        parser.write(file)
    return settings.conf_file


def pykmip_server_command(settings: PyKmipServerSettings) -> list[str]:
    """``pykmip-server`` of this interpreter's environment (its console script when present)."""
    script = Path(sys.executable).parent / "pykmip-server"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "kmip.services.server.server"]
    return [*base, "-f", str(settings.conf_file), "-l", str(settings.log_file)]


def die_with_parent() -> None:
    """(``preexec_fn``, in the child) SIGTERM this process when the benchmark dies, even by
    SIGKILL: Linux ``PR_SET_PDEATHSIG``; nothing elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_process_group(
    process: subprocess.Popen[bytes],
    timeout: float = STOP_TIMEOUT,
    *,
    first: signal.Signals = signal.SIGTERM,
    leader_only: bool = False,
) -> None:
    """``first`` to the process's group (its own session), or to the leader only; then, after
    ``timeout`` or once the leader is gone, SIGKILL to whatever is left of the group."""
    if process.poll() is None:
        if leader_only:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(first)
        else:
            _kill_group(process.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    _kill_group(process.pid, signal.SIGKILL)  # what is left, leader or not
    process.wait()


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class PyKmipServer:
    """``with PyKmipServer(settings, target) as server:`` starts it, waits until it answers,
    and stops its whole process group on exit."""

    def __init__(self, settings: PyKmipServerSettings, target: TlsTarget) -> None:
        self.settings = settings
        self.target = target
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.settings.database.exists():
            raise FileExistsError("the benchmark wants a fresh PyKMIP database")
        write_server_conf(self.settings)
        log = self.settings.directory / "stdout.log"
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                pykmip_server_command(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.settings.directory,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads run at that point)
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        request = discover_versions_request()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"pykmip-server exited with status {self.process.returncode}; "
                    f"see {self.settings.directory / 'stdout.log'} and {self.settings.log_file}"
                )
            try:
                response = round_trip(self.target, request, timeout=5.0)
            except (OSError, ValueError) as exc:
                last = exc
                time.sleep(READY_POLL)
                continue
            problem = fast_result(response, Operation.DISCOVER_VERSIONS)
            if problem is not None:
                raise RuntimeError(f"pykmip-server answered Discover Versions with: {problem}")
            return
        raise TimeoutError(f"pykmip-server did not answer within {START_TIMEOUT:g} s (last: {last!r})")

    def stop(self) -> None:
        # SIGINT interrupts its accept() at once (SIGTERM waits for the 10 s socket timeout);
        # its policy Manager process goes with the SIGKILL to the group.
        if self.process is not None:
            stop_process_group(self.process, first=signal.SIGINT, leader_only=True)

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
