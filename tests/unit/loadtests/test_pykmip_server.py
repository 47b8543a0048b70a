"""The PyKMIP baseline launcher: its configuration as PyKMIP itself reads it, process-group
clean-up, and (integration) a real ``pykmip-server`` driven by the load generator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kmip.services.server.config import KmipServerConfig

from kmip_server.devpki import DevClient, DevPKI, ensure_dev_pki
from loadtests.loadgen import (
    TLS12_CIPHER,
    LoadSpec,
    TlsTarget,
    create_aes256_request,
    get_request,
    read_response,
    round_trip,
    run_load,
)
from loadtests.pykmip_server import (
    PYKMIP_CIPHER_SUITES,
    PyKmipServer,
    PyKmipServerSettings,
    stop_process_group,
    write_server_conf,
)
from ttlv.kmip14 import Operation, ResultReason, ResultStatus

SPIFFE = "spiffe://openkcm.local/tenant/acme/service/payments"


def _settings(directory: Path, pki: DevPKI, port: int) -> PyKmipServerSettings:
    return PyKmipServerSettings(
        directory, "127.0.0.1", port, pki.server_certificate, pki.server_key, pki.ca_certificate
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    return ensure_dev_pki(
        tmp_path_factory.mktemp("pki"),
        clients=[
            DevClient("alice", spiffe_id=SPIFFE, common_name="alice"),
            DevClient("bob", common_name="bob"),
            DevClient("nameless", spiffe_id=SPIFFE),  # no Subject CN: no PyKMIP identity
        ],
    )


def _target(pki: DevPKI, port: int, client: str) -> TlsTarget:
    return TlsTarget(
        "127.0.0.1",
        port,
        pki.ca_certificate,
        pki.client_certificates[client],
        pki.client_keys[client],
    )


def test_pykmip_reads_the_configuration_as_intended(tmp_path: Path, pki: DevPKI) -> None:
    settings = _settings(tmp_path, pki, 5697)
    config = KmipServerConfig()
    config.load_settings(str(write_server_conf(settings)))
    loaded = config.settings
    assert loaded["hostname"] == "127.0.0.1"
    assert loaded["port"] == 5697
    assert loaded["auth_suite"] == "TLS1.2"
    assert loaded["enable_tls_client_auth"] is True
    assert sorted(loaded["tls_cipher_suites"]) == sorted(PYKMIP_CIPHER_SUITES)
    assert loaded["certificate_path"] == str(pki.server_certificate)
    assert loaded["ca_path"] == str(pki.ca_certificate)
    assert loaded["database_path"] == str(settings.database)
    assert loaded["policy_path"] == str(settings.policy_dir)
    assert settings.policy_dir.is_dir()


def test_stop_process_group_ends_the_leader_and_its_children() -> None:
    # A leader that ignores SIGTERM, with a child: both must be gone afterwards.
    script = "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    script += "subprocess.Popen(['sleep', '60']); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(_group_members(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_group_members(process.pid)) == 2
        stop_process_group(process, timeout=0.5)
        assert process.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while _group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(process.pid) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


@pytest.fixture(scope="module")
def pykmip(tmp_path_factory: pytest.TempPathFactory, pki: DevPKI) -> Iterator[tuple[PyKmipServer, int]]:
    port = _free_port()
    server = PyKmipServer(
        _settings(tmp_path_factory.mktemp("pykmip"), pki, port), _target(pki, port, "alice")
    )
    with server:
        yield server, port
    assert _group_members(server.pid) == []


@pytest.mark.integration
def test_pykmip_server_requires_a_common_name_and_keeps_objects_to_their_owner(
    pki: DevPKI, pykmip: tuple[PyKmipServer, int]
) -> None:
    _, port = pykmip
    nameless = read_response(round_trip(_target(pki, port, "nameless"), create_aes256_request()))
    assert nameless.result_status == ResultStatus.OPERATION_FAILED
    assert nameless.result_reason == ResultReason.AUTHENTICATION_NOT_SUCCESSFUL

    created = read_response(round_trip(_target(pki, port, "alice"), create_aes256_request()))
    assert created.result_status == ResultStatus.SUCCESS
    assert created.unique_identifier
    request = get_request(created.unique_identifier)
    assert read_response(round_trip(_target(pki, port, "alice"), request)).key_material_length == 32
    theirs = read_response(round_trip(_target(pki, port, "bob"), request))
    assert theirs.result_status == ResultStatus.OPERATION_FAILED


@pytest.mark.integration
@pytest.mark.parametrize("generator", ["python", "c"])
def test_load_generator_measures_a_real_server_and_counts_its_failures(
    pki: DevPKI, pykmip: tuple[PyKmipServer, int], generator: str
) -> None:
    _, port = pykmip
    target = _target(pki, port, "alice")
    created = read_response(round_trip(target, create_aes256_request()))
    assert created.unique_identifier is not None

    request = get_request(created.unique_identifier)
    good = run_load(LoadSpec(target, request, Operation.GET, 3, 2, 0.2, 0.6, generator=generator))
    assert good.processes == (2 if generator == "python" else 1)
    assert good.stats.errors == 0
    assert good.error_samples == {}
    assert good.stats.requests > 0
    assert good.requests_sent >= good.stats.requests + 3  # the warm-up's requests are not counted
    assert good.stats.ops_per_second == good.stats.requests / 0.6
    assert 0 < good.stats.p50_ms <= good.stats.p99_ms <= good.stats.max_ms
    assert good.tls == f"TLSv1.2 {TLS12_CIPHER}"  # the one suite offered, whatever the server prefers

    # Every response to a Get of nothing is a failure: counted, none measured as a success.
    bad = run_load(
        LoadSpec(target, get_request("no-such-object"), Operation.GET, 2, 1, 0.1, 0.3, generator=generator)
    )
    assert bad.stats.requests == 0
    assert bad.stats.errors == bad.requests_sent > 0
    assert bad.error_samples == {"Result Status OPERATION_FAILED": bad.stats.errors}

    # A response for another operation than expected is an error too.
    wrong = run_load(
        LoadSpec(target, create_aes256_request(), Operation.GET, 1, 1, 0.0, 0.3, generator=generator)
    )
    assert wrong.stats.requests == 0
    assert wrong.error_samples == {"response for another operation": wrong.stats.errors}
