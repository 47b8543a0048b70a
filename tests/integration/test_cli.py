"""The ``openkcm`` command line: parsing, error exits, and init/unseal/seal/status over a real admin socket.

The admin flow runs a real ``SealController`` (SQLite seal records) behind a real ``AdminServer``
on an event loop in a thread, and drives it with the ``openkcm`` program as a subprocess.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure

from keystores.software import SoftwareKeystore
from kmip_server.admin import AdminError, AdminOps, AdminServer, admin_sockets, call
from kmip_server.cli import COMMANDS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, build_parser, main
from kmip_server.dev import DEFAULT_DATA_DIR
from kmip_server.devpki import DevClient, ensure_dev_pki
from kmip_server.storage.sqlite import SqliteStore
from tests.support.server import OPENKCM, free_port
from unseal.controller import SealController

SHARE_WORDS = 33


def openkcm(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPENKCM, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


# -- parsing ---------------------------------------------------------------------------------------


def test_command_table_is_the_parser() -> None:
    names = [command.name for command in COMMANDS]
    assert len(set(names)) == len(names)
    assert set(names) == {"dev", "serve", "init", "unseal", "seal", "status", "tenant", "db"}
    parser = build_parser()
    required = {"serve": ["core"], "tenant": ["status", "acme"], "db": ["status"]}
    for command in COMMANDS:
        args = parser.parse_args([command.name, *required.get(command.name, [])])
        assert args.action is command.run


def test_parsing_defaults_and_options() -> None:
    parser = build_parser()
    dev = parser.parse_args(["dev"])
    assert (dev.data_dir, dev.kmip_port) == (DEFAULT_DATA_DIR, 5696)
    dev = parser.parse_args(["dev", "--data-dir", "/x", "--kmip-port", "7000"])
    assert (dev.data_dir, dev.kmip_port) == (Path("/x"), 7000)
    serve = parser.parse_args(["serve", "core", "--config", "core.toml"])
    assert (serve.role, serve.config) == ("core", Path("core.toml"))
    init = parser.parse_args(["init", "-m", "2", "-n", "3", "--socket", "/s"])
    assert (init.threshold, init.shares, init.auto, init.socket) == (2, 3, False, Path("/s"))
    assert parser.parse_args(["unseal", "--auto"]).auto is True
    assert parser.parse_args(["status", "--json"]).json is True
    link = parser.parse_args(["tenant", "link", "acme", "--keystore", "kms", "--key-id", "k1"])
    assert (link.tenant_action, link.tenant, link.keystore, link.key_id) == ("link", "acme", "kms", "k1")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve"],
        ["serve", "gateway"],
        ["unseal", "--auto", "--reset"],
        ["dev", "--kmip-port", "x"],
        ["nope"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == EXIT_USAGE


def test_no_running_core(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--data-dir", str(tmp_path)]) == EXIT_FAILED
    assert f"no running Core has an admin socket in {tmp_path / 'admin'}" in capsys.readouterr().err


def test_bad_arguments_and_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--auto", "-m", "2", "--data-dir", str(tmp_path)]) == EXIT_USAGE
    assert "--auto takes the recovery share counts" in capsys.readouterr().err
    assert main(["serve", "core", "--config", str(tmp_path / "missing.toml")]) == EXIT_USAGE
    assert "configuration error" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 99999\n")
    assert main(["status", "--config", str(bad)]) == EXIT_USAGE
    assert "port must be between 0 and 65535" in capsys.readouterr().err
    assert main(["dev", "--data-dir", str(tmp_path), "--kmip-port", "70000"]) == EXIT_USAGE


# -- a live admin socket -----------------------------------------------------------------------------


@dataclass
class LiveAdmin:
    data_dir: Path
    server: AdminServer
    controller: SealController
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: object) -> object:
        future: concurrent.futures.Future[object] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout=30)


@pytest.fixture
def live_admin(tmp_path: Path) -> Iterator[LiveAdmin]:
    admin_dir = tmp_path / "admin"
    admin_dir.mkdir(mode=0o700)
    stale = admin_dir / "core-999999999.sock"  # left by a killed Core: nobody listens
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[AdminServer, SealController, SqliteStore]:
        store = await SqliteStore.open(tmp_path / "seal.db")
        controller = SealController(store, cluster_id="cli-test", region="here")
        server = AdminServer(AdminOps(controller, describe=lambda: {"pid": os.getpid()}), admin_dir)
        await server.start()
        return server, controller, store

    server, controller, store = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield LiveAdmin(tmp_path, server, controller, loop)
    finally:

        async def stop() -> None:
            await server.close()
            await controller.close()
            await store.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    assert not server.path.exists()


def test_socket_is_private_and_stale_sockets_go(live_admin: LiveAdmin) -> None:
    admin_dir = live_admin.data_dir / "admin"
    assert stat.S_IMODE(admin_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(live_admin.server.path.stat().st_mode) == 0o600
    assert admin_sockets(admin_dir) == [live_admin.server.path]


def test_protocol_errors(live_admin: LiveAdmin) -> None:
    path = live_admin.server.path
    with pytest.raises(AdminError) as caught:
        call(path, {"op": "launch"})
    assert caught.value.code == "unknown_op"
    with pytest.raises(AdminError) as caught:
        call(path, {"op": "init", "threshold": "2", "shares": 3})
    assert caught.value.code == "bad_request"
    with pytest.raises(AdminError) as caught:
        call(path, {"op": "init", "threshold": 4, "shares": 3})
    assert caught.value.code == "invalid_share_parameters"
    # An oversized line is refused and the connection closed.
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(10)
        raw.connect(str(path))
        raw.sendall(b'{"op": "' + b"x" * 70000 + b'"}\n')
        reply = raw.recv(4096)
    assert b"too long" in reply
    assert call(path, {"op": "status"})["status"]["state"] == "uninitialized"


def test_init_unseal_seal_status(live_admin: LiveAdmin) -> None:
    target = ["--data-dir", str(live_admin.data_dir)]

    status = openkcm("status", *target)
    assert status.returncode == EXIT_USAGE
    assert "uninitialized" in status.stdout

    init = openkcm("init", "--threshold", "2", "--shares", "3", *target)
    assert init.returncode == EXIT_OK, init.stderr
    assert "WARNING: these 3 unseal shares are shown ONCE" in init.stdout
    shares = [line.strip() for line in init.stdout.splitlines() if len(line.split()) == SHARE_WORDS]
    assert len(shares) == 3
    assert len(set(shares)) == 3

    again = openkcm("init", "-m", "1", "-n", "1", *target)
    assert again.returncode == EXIT_FAILED
    assert "refused (invalid_transition)" in again.stderr

    wrong = openkcm("unseal", *target, stdin="alpha beta gamma\n")
    assert wrong.returncode == EXIT_FAILED
    assert "refused (corrupted_share)" in wrong.stderr
    assert "alpha" not in wrong.stderr + wrong.stdout

    first = openkcm("unseal", *target, stdin=f"# a comment line\n\n{shares[2]}\n")
    assert first.returncode == EXIT_OK, first.stderr
    assert "1 of 2" in first.stdout
    assert openkcm("status", *target).stdout.count("unsealing (1 of 2 shares)") == 1

    second = openkcm("unseal", *target, stdin=shares[0] + "\n")
    assert second.returncode == EXIT_OK, second.stderr
    assert "unsealed" in second.stdout
    assert live_admin.controller.unsealed

    status = openkcm("status", "--json", *target)
    assert status.returncode == EXIT_OK
    assert '"state": "unsealed"' in status.stdout
    assert '"threshold": 2' in status.stdout

    sealed = openkcm("seal", "--socket", str(live_admin.server.path))
    assert sealed.returncode == EXIT_OK
    assert "sealed" in sealed.stdout
    assert not live_admin.controller.unsealed

    # Both shares in one go, from stdin.
    both = openkcm("unseal", *target, stdin=f"{shares[1]}\n{shares[2]}\n")
    assert both.returncode == EXIT_OK, both.stderr
    assert live_admin.controller.unsealed

    auto = openkcm("unseal", "--auto", *target)
    assert auto.returncode == EXIT_FAILED
    assert "invalid_transition" in auto.stderr


def test_reset_discards_submitted_shares(live_admin: LiveAdmin) -> None:
    path = live_admin.server.path
    shares = call(path, {"op": "init", "threshold": 2, "shares": 2})["shares"]
    progress = call(path, {"op": "unseal", "share": shares[0]})["progress"]
    assert progress == {"submitted": 1, "threshold": 2, "unsealed": False}
    reset = openkcm("unseal", "--reset", "--socket", str(path))
    assert reset.returncode == EXIT_OK
    assert call(path, {"op": "status"})["status"]["submitted"] == 0
    with pytest.raises(AdminError) as caught:
        call(path, {"op": "init", "auto": True})
    assert caught.value.code == "auto_unseal_not_configured"


def test_tenant_operations_need_a_hierarchy(live_admin: LiveAdmin) -> None:
    with pytest.raises(AdminError) as caught:
        call(live_admin.server.path, {"op": "tenant_status", "tenant": "acme"})
    assert caught.value.code == "unsupported"


# -- serve core: uninitialized -> init -> unseal -> link -> KMIP -> kill-switch -> relink --------------


CORE_TOML = """
[server]
port = {port}

[tls]
ca_file = "pki/ca.pem"
cert_file = "pki/server.pem"
key_file = "pki/server.key"

[identity]
trust_domain = "it.openkcm"

[unseal]
cluster_id = "it-core"

[keystores.customer]
kind = "software"
data_dir = "customer-kms"
"""


@pytest.mark.integration
@pytest.mark.slow
def test_serve_core_with_shamir_shares(tmp_path: Path) -> None:
    pki = ensure_dev_pki(
        tmp_path / "pki",
        trust_domain="it.openkcm",
        clients=[DevClient("acme", spiffe_id="spiffe://it.openkcm/tenant/acme/service/web")],
    )
    customer_kms = SoftwareKeystore(tmp_path / "customer-kms")  # the customer's own "KMS", made first
    customer_kms.create_key("acme-root")
    asyncio.run(customer_kms.close())
    port = free_port()
    config = tmp_path / "core.toml"
    config.write_text(CORE_TOML.format(port=port))
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    target = ["--config", str(config)]

    def client() -> ProxyKmipClient:
        return ProxyKmipClient(
            hostname="127.0.0.1",
            port=port,
            cert=str(pki.client_certificates["acme"]),
            key=str(pki.client_keys["acme"]),
            ca=str(pki.ca_certificate),
            ssl_version="PROTOCOL_TLS",
            config_file=str(empty),
        )

    log = (tmp_path / "core.err").open("wb")
    core = subprocess.Popen([*OPENKCM, "serve", "core", *target], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while "uninitialized" not in openkcm("status", *target).stdout:
            assert core.poll() is None, (tmp_path / "core.err").read_text()
            assert time.monotonic() < deadline, "the Core did not open its admin socket"
            time.sleep(0.3)

        with client() as kmip, pytest.raises(KmipOperationFailure) as refused:
            kmip.create(enums.CryptographicAlgorithm.AES, 128)
        assert "sealed" in str(refused.value.message)

        init = openkcm("init", "-m", "2", "-n", "3", *target)
        assert init.returncode == EXIT_OK, init.stderr
        shares = [line.strip() for line in init.stdout.splitlines() if len(line.split()) == SHARE_WORDS]
        unseal = openkcm("unseal", *target, stdin=f"{shares[0]}\n{shares[2]}\n")
        assert unseal.returncode == EXIT_OK, unseal.stderr
        assert openkcm("status", *target).returncode == EXIT_OK

        with client() as kmip:
            with pytest.raises(KmipOperationFailure) as unlinked:
                kmip.create(enums.CryptographicAlgorithm.AES, 128)
            assert "sealed" not in str(unlinked.value.message)

            link = openkcm(
                "tenant", "link", "acme", "--keystore", "customer", "--key-id", "acme-root", *target
            )
            assert link.returncode == EXIT_OK, link.stderr
            assert "tenant acme: linked, usable" in link.stdout
            uid = kmip.create(enums.CryptographicAlgorithm.AES, 128)
            material = kmip.get(uid).value
            assert len(material) == 16

            unlink = openkcm("tenant", "unlink", "acme", *target)
            assert unlink.returncode == EXIT_OK, unlink.stderr
            assert "tenant acme: unlinked, not usable" in unlink.stdout
            with pytest.raises(KmipOperationFailure):
                kmip.get(uid)

            relink = openkcm(
                "tenant", "link", "acme", "--keystore", "customer", "--key-id", "acme-root", *target
            )
            assert relink.returncode == EXIT_OK, relink.stderr
            assert kmip.get(uid).value == material

            wrong = openkcm("tenant", "link", "acme", "--keystore", "customer", "--key-id", "other", *target)
            assert wrong.returncode == EXIT_FAILED
            assert "refused (link_conflict)" in wrong.stderr
    finally:
        core.send_signal(signal.SIGTERM)
        code = core.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "core.err").read_text()


@pytest.mark.integration
@pytest.mark.slow
def test_serve_core_workers_each_unsealed(tmp_path: Path) -> None:
    """Two worker processes on one port: each holds its own seal state and its own admin socket;
    the command line reaches both (the handler factory and the Config pickle into each worker),
    and each reports the port the kernel chose for configured port 0."""
    ensure_dev_pki(tmp_path / "pki", trust_domain="it.openkcm", clients=[])
    config = tmp_path / "core.toml"
    config.write_text(CORE_TOML.format(port=0))
    target = ["--config", str(config)]
    log = (tmp_path / "core.err").open("wb")
    core = subprocess.Popen(
        [*OPENKCM, "serve", "core", *target],
        stdout=log,
        stderr=log,
        env={**os.environ, "OPENKCM_SERVER__WORKERS": "2"},
    )
    try:
        deadline = time.monotonic() + 90
        while openkcm("status", *target).stdout.count("uninitialized") < 2:
            assert core.poll() is None, (tmp_path / "core.err").read_text()
            assert time.monotonic() < deadline, "two workers did not open their admin sockets"
            time.sleep(0.3)
        init = openkcm("init", "-m", "1", "-n", "2", *target)
        assert init.returncode == EXIT_OK, init.stderr
        share = next(line.strip() for line in init.stdout.splitlines() if len(line.split()) == SHARE_WORDS)
        unseal = openkcm("unseal", *target, stdin=share + "\n")
        assert unseal.returncode == EXIT_OK, unseal.stderr
        assert unseal.stdout.count("unsealed") == 2
        status = openkcm("status", *target)
        assert status.returncode == EXIT_OK
        assert status.stdout.count(": unsealed;") == 2
        ports = set(re.findall(r"KMIP 127\.0\.0\.1:(\d+)", status.stdout))
        assert len(ports) == 1, status.stdout
        assert ports != {"0"}
        sealed = openkcm("seal", *target)
        assert sealed.stdout.count(": sealed;") == 2
    finally:
        core.send_signal(signal.SIGTERM)
        code = core.wait(timeout=90)
        log.close()
    assert code == 0, (tmp_path / "core.err").read_text()
