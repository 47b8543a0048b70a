"""``openkcm dev`` end to end: a fresh data directory, PyKMIP through the generated ``pykmip.conf``,
a clean SIGTERM exit, and a second start on the same directory that reuses everything.

The Core runs as a real subprocess (``python -m kmip_server.cli dev``); the client is PyKMIP's own
``ProxyKmipClient``, configured only by the file ``openkcm dev`` wrote.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

from kmip_server.transport.tls import build_client_context

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPENKCM = [sys.executable, "-m", "kmip_server.cli"]
START_TIMEOUT = 90.0  # seconds: a loaded 2-core machine, a fresh PKI and database
STOP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DevCore:
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    stdout: Path
    stderr: Path

    @property
    def pykmip_conf(self) -> Path:
        return self.data_dir / "pykmip.conf"

    def output(self) -> str:
        return self.stdout.read_text() + "\n--- stderr ---\n" + self.stderr.read_text()

    def client(self, section: str = "client") -> ProxyKmipClient:
        return ProxyKmipClient(config_file=str(self.pykmip_conf), config=section)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)


def _tls_accepts(data_dir: Path, port: int) -> bool:
    pki = data_dir / "pki"
    if not (pki / "acme.key").exists():
        return False
    context = build_client_context(pki / "ca.pem", pki / "acme.pem", pki / "acme.key")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def start_dev(data_dir: Path, run: int, started: list[subprocess.Popen[bytes]]) -> DevCore:
    port = _free_port()
    stdout, stderr = data_dir.parent / f"dev-{run}.out", data_dir.parent / f"dev-{run}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*OPENKCM, "dev", "--data-dir", str(data_dir), "--kmip-port", str(port)],
            stdout=out,
            stderr=err,
        )
    started.append(process)
    core = DevCore(process, data_dir, port, stdout, stderr)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"openkcm dev exited with {process.returncode}:\n{core.output()}")
        if _tls_accepts(data_dir, port) and "Connect with PyKMIP" in stdout.read_text():
            return core
        time.sleep(0.2)
    process.kill()
    process.wait()
    pytest.fail(f"openkcm dev did not accept TLS on port {port}:\n{core.output()}")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every Core a test starts; whatever is still running at teardown is killed."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _openkcm(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPENKCM, *args], input=stdin, capture_output=True, text=True, timeout=90, check=False
    )


def test_dev_from_nothing_then_again(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    dev_dir = tmp_path / "dev"
    # -- first run: a fresh directory -------------------------------------------------------------
    first = start_dev(dev_dir, 1, started)
    try:
        conf = first.pykmip_conf.read_text()
        for section in ("[client]", "[acme]", "[globex]"):
            assert section in conf
        assert f"port = {first.port}" in conf
        assert f"certfile = {dev_dir.resolve() / 'pki' / 'acme.pem'}" in conf
        assert "cert_reqs = CERT_REQUIRED" in conf
        out = first.stdout.read_text()
        assert str(first.pykmip_conf.resolve()) in out
        assert "ProxyKmipClient" in out

        with first.client() as client:
            doomed = client.create(enums.CryptographicAlgorithm.AES, 256)
            key = client.get(doomed)
            assert key.cryptographic_algorithm is enums.CryptographicAlgorithm.AES
            assert len(key.value) == 32
            client.destroy(doomed)
            with pytest.raises(KmipOperationFailure):
                client.get(doomed)

            survivor = client.create(enums.CryptographicAlgorithm.AES, 256)
            survivor_bytes = client.get(survivor).value
            assert len(survivor_bytes) == 32

        # The other example tenant cannot see acme's key: Item Not Found, as if it never existed.
        with first.client("globex") as globex, pytest.raises(KmipOperationFailure) as caught:
            globex.get(survivor)
        assert caught.value.reason is enums.ResultReason.ITEM_NOT_FOUND

        status = _openkcm("status", "--data-dir", str(dev_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "unsealed" in status.stdout
        assert f"KMIP 127.0.0.1:{first.port}" in status.stdout

        ca = (dev_dir / "pki" / "ca.pem").read_bytes()
        recovery = (dev_dir / "dev-recovery-share.txt").read_text()
        keystore = (dev_dir / "keystores" / "dev-l1-keys.json").read_bytes()
        assert (dev_dir / "pki" / "acme.key").stat().st_mode & 0o077 == 0
        assert (dev_dir / "dev-recovery-share.txt").stat().st_mode & 0o077 == 0
    finally:
        code = first.terminate()
    assert code == 0, first.output()
    assert "Traceback" not in first.stderr.read_text()
    assert list((dev_dir / "admin").glob("*.sock")) == []

    # -- second run: same directory, everything reused, the surviving key intact ----------------
    second = start_dev(dev_dir, 2, started)
    try:
        assert (dev_dir / "pki" / "ca.pem").read_bytes() == ca
        assert (dev_dir / "dev-recovery-share.txt").read_text() == recovery
        assert (dev_dir / "keystores" / "dev-l1-keys.json").read_bytes() == keystore
        assert f"port = {second.port}" in second.pykmip_conf.read_text()

        with second.client() as client:
            assert client.get(survivor).value == survivor_bytes
            with pytest.raises(KmipOperationFailure):
                client.get(doomed)

            # Seal through the admin socket: KMIP is refused; the recovery share unseals again.
            sealed = _openkcm("seal", "--data-dir", str(dev_dir))
            assert sealed.returncode == 0, sealed.stderr
            with pytest.raises(KmipOperationFailure) as refused:
                client.get(survivor)
            assert "sealed" in str(refused.value.message)
            assert _openkcm("status", "--data-dir", str(dev_dir)).returncode == 2

            unsealed = _openkcm("unseal", "--data-dir", str(dev_dir), stdin=recovery)
            assert unsealed.returncode == 0, unsealed.stderr
            assert "unsealed" in unsealed.stdout
            assert client.get(survivor).value == survivor_bytes
    finally:
        code = second.terminate()
    assert code == 0, second.output()
    assert "Traceback" not in second.stderr.read_text()
