"""``[crypto]`` and ``[gateways]`` reach a live Core (``openkcm dev`` with environment overrides).

- RNG Seed: each seed policy makes the Core give the answer of its optional OASIS file
  (CS-RNG-O-1: ``mix``, all 32 bytes used; O-2: ``mix`` with ``max_seed_length`` 16, part used;
  O-4: ``refuse``). O-3 (``ignore``, the default) is replayed by tests/integration/conformance.
- Gateways: a gateway identity listed for acme wraps and unwraps with ``l3:acme:payments``; the
  same gateway is refused globex's L3, and acme's own tenant client finds no such object.
One Core per policy, every Core with the same ``[gateways]`` row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.cases import DEFAULT_CASES_DIR, discover, load_case
from conformance.replay import format_result, replay_case
from kmip_server.client import ClientSettings, KmipClient, client_context
from kmip_server.devpki import (
    IssuedCertificate,
    issue_client_certificate,
    load_certificate,
    load_private_key,
    write_certificate,
    write_private_key,
)
from tests.support.server import ClientCertificate, CoreProcess, CoreProcesses, RawConnection, text
from ttlv import Item, ItemType
from ttlv.kmip14 import Operation, ResultReason, ResultStatus, Tag

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATEWAY = "edge"
GATEWAY_ENV = {"OPENKCM_GATEWAYS__EDGE": "acme"}  # edge serves acme only
POLICIES: dict[str, dict[str, str]] = {
    "CS-RNG-O-1-14": {"OPENKCM_CRYPTO__RNG__SEED_POLICY": "mix"},
    "CS-RNG-O-2-14": {
        "OPENKCM_CRYPTO__RNG__SEED_POLICY": "mix",
        "OPENKCM_CRYPTO__RNG__MAX_SEED_LENGTH": "16",
    },
    "CS-RNG-O-4-14": {"OPENKCM_CRYPTO__RNG__SEED_POLICY": "refuse"},
}
L3_ACME = "l3:acme:payments"  # kmip_server.dev.DEV_TENANTS: acme's service is payments
L3_GLOBEX = "l3:globex:billing"
L4_KEY = bytes(range(32))
OBJECT_NAME = b"vault/workload-7/l4"


@pytest.fixture(scope="module")
def core_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], CoreProcess]]:
    """The Core configured for one OASIS file's seed policy (started once, on first use)."""
    started: dict[str, CoreProcess] = {}
    with CoreProcesses() as cores:

        def get(name: str) -> CoreProcess:
            if name not in started:
                home = tmp_path_factory.mktemp(name)
                started[name] = cores.start(home / "dev", label=name, env={**POLICIES[name], **GATEWAY_ENV})
            return started[name]

        yield get


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_each_seed_policy_gives_its_oasis_answer(core_for: Callable[[str], CoreProcess], name: str) -> None:
    core = core_for(name)
    tenant = core.tenant("acme")
    context = client_context(core.ca_file, tenant.certificate, tenant.key)

    async def connect() -> KmipClient:
        return await KmipClient.connect(
            core.host, core.port, context, settings=ClientSettings(request_timeout=60)
        )

    (path,) = [path for path in discover(DEFAULT_CASES_DIR) if path.name == f"{name}.xml"]
    case = load_case(path)
    result = asyncio.run(replay_case(case, connect))
    assert result.passed, format_result(result, verbose=True)


def _gateway_certificate(core: CoreProcess, directory: Path) -> ClientCertificate:
    directory.mkdir(parents=True, exist_ok=True)
    ca = IssuedCertificate(load_certificate(core.pki / "ca.pem"), load_private_key(core.pki / "ca.key"))
    issued = issue_client_certificate(ca, spiffe_id=f"spiffe://openkcm.local/gateway/{GATEWAY}")
    files = ClientCertificate(directory / "gateway.pem", directory / "gateway.key")
    write_certificate(files.certificate, issued.certificate)
    write_private_key(files.key, issued.private_key)
    return files


def _crypt_payload(unique_identifier: str, data: bytes) -> list[Item]:
    return [
        text(Tag.UNIQUE_IDENTIFIER, unique_identifier),
        Item(Tag.DATA, ItemType.BYTE_STRING, data),
        Item(Tag.AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, ItemType.BYTE_STRING, OBJECT_NAME),
    ]


def _data(payload: Item | None) -> bytes:
    assert payload is not None
    data = payload.find(Tag.DATA)
    assert data is not None
    assert isinstance(data.value, bytes)
    return data.value


def test_a_gateway_uses_only_the_l3_of_the_tenants_it_serves(
    core_for: Callable[[str], CoreProcess], tmp_path: Path
) -> None:
    core = core_for("CS-RNG-O-4-14")
    gateway = _gateway_certificate(core, tmp_path / "gateway")
    with RawConnection(core, gateway) as connection:
        wrapped = connection.call(Operation.ENCRYPT, _crypt_payload(L3_ACME, L4_KEY))
        assert wrapped.status is ResultStatus.SUCCESS, wrapped.outcome()
        blob = _data(wrapped.payload)
        assert L4_KEY not in blob
        unwrapped = connection.call(Operation.DECRYPT, _crypt_payload(L3_ACME, blob))
        assert unwrapped.status is ResultStatus.SUCCESS, unwrapped.outcome()
        assert _data(unwrapped.payload) == L4_KEY
        refused = connection.call(Operation.ENCRYPT, _crypt_payload(L3_GLOBEX, L4_KEY))
        assert (refused.status, refused.reason) == (
            ResultStatus.OPERATION_FAILED,
            ResultReason.PERMISSION_DENIED,
        )
    with RawConnection(core, "acme") as tenant:
        for operation, data in ((Operation.ENCRYPT, L4_KEY), (Operation.DECRYPT, blob)):
            answer = tenant.call(operation, _crypt_payload(L3_ACME, data))
            assert (answer.status, answer.reason) == (
                ResultStatus.OPERATION_FAILED,
                ResultReason.ITEM_NOT_FOUND,
            )
        got = tenant.call(Operation.GET, [text(Tag.UNIQUE_IDENTIFIER, L3_ACME)])
        assert got.reason is ResultReason.ITEM_NOT_FOUND
