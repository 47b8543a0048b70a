"""``openkcm dev`` end to end: a fresh data directory, PyKMIP through the generated ``pykmip.conf``,
a clean SIGTERM exit, and a second start on the same directory that reuses everything.

The Core runs as a real subprocess (``python -m kmip_server.cli dev``); the client is PyKMIP's own
``ProxyKmipClient``, configured only by the file ``openkcm dev`` wrote.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

from tests.support.server import OPENKCM, CoreProcess, CoreProcesses

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def cores() -> Iterator[CoreProcesses]:
    """Every Core a test starts; whatever is still running at teardown is killed."""
    with CoreProcesses() as started:
        yield started


def start_dev(cores: CoreProcesses, data_dir: Path, run: int) -> CoreProcess:
    # Port 0: the kernel chooses, and both pykmip.conf and ``openkcm status`` report the bound port.
    return cores.start(data_dir, label=f"dev-{run}", port=0)


def client_of(core: CoreProcess, section: str = "client") -> ProxyKmipClient:
    """PyKMIP configured only by the file ``openkcm dev`` wrote."""
    return ProxyKmipClient(config_file=str(core.pykmip_conf), config=section)


def _openkcm(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPENKCM, *args], input=stdin, capture_output=True, text=True, timeout=90, check=False
    )


def test_dev_from_nothing_then_again(tmp_path: Path, cores: CoreProcesses) -> None:
    dev_dir = tmp_path / "dev"
    # -- first run: a fresh directory -------------------------------------------------------------
    first = start_dev(cores, dev_dir, 1)
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

        with client_of(first) as client:
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
        with client_of(first, "globex") as globex, pytest.raises(KmipOperationFailure) as caught:
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
    second = start_dev(cores, dev_dir, 2)
    try:
        assert (dev_dir / "pki" / "ca.pem").read_bytes() == ca
        assert (dev_dir / "dev-recovery-share.txt").read_text() == recovery
        assert (dev_dir / "keystores" / "dev-l1-keys.json").read_bytes() == keystore
        assert f"port = {second.port}" in second.pykmip_conf.read_text()

        with client_of(second) as client:
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
