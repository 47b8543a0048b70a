"""The conformance suites against a Core whose storage is PostgreSQL.

The claimed OASIS families (SKLC, OMOS) are replayed on a fresh Core over a fresh PostgreSQL
schema, as ``tests/integration/conformance`` does on SQLite. The whole PyKMIP suite runs on both
storages by itself (``tests/integration/pykmip/conftest.py`` parametrizes its Core).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cases import DEFAULT_CASES_DIR, discover, family_of, load_case
from conformance.matcher import ReplayState
from conformance.replay import CaseResult, format_result, replay_case
from kmip_server.client import ClientSettings, KmipClient, client_context
from tests.support.postgres import session
from tests.support.server import CoreProcesses, postgres_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


CLAIMED_FAMILIES = frozenset({"SKLC", "OMOS"})
CLAIMED_FILES = [path for path in discover(DEFAULT_CASES_DIR) if family_of(path.name) in CLAIMED_FAMILIES]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CaseResult]]:
    """Every claimed OASIS file replayed, in the replayer's order, on one fresh Core on PostgreSQL."""

    async def new_schema() -> dict[str, str]:
        return postgres_env(await (await session()).new_schema("replay"))

    env = asyncio.run(new_schema())
    with CoreProcesses() as cores:
        core = cores.start(tmp_path_factory.mktemp("replay-pg") / "dev", label="replay-pg", env=env)
        tenant = core.tenant("acme")
        context = client_context(core.ca_file, tenant.certificate, tenant.key)
        settings = ClientSettings(request_timeout=60)

        async def connect() -> KmipClient:
            return await KmipClient.connect(core.host, core.port, context, settings=settings)

        carried = ReplayState()
        results = {}
        for path in CLAIMED_FILES:
            case = load_case(path)
            results[case.name] = asyncio.run(replay_case(case, connect, carried=carried))
        print("\n" + "\n".join(format_result(result) for result in results.values()))
        yield results
        assert core.terminate() == 0, core.output()


def test_the_claimed_families_are_replayed() -> None:
    assert sorted(Path(path).name.removesuffix(".xml") for path in CLAIMED_FILES) == [
        "OMOS-M-1-14",
        "OMOS-O-1-14",
        "SKLC-M-1-14",
        "SKLC-M-2-14",
        "SKLC-M-3-14",
        "SKLC-O-1-14",
    ]


@pytest.mark.parametrize("name", [path.name.removesuffix(".xml") for path in CLAIMED_FILES])
def test_claimed_case_passes_on_postgres(replayed: dict[str, CaseResult], name: str) -> None:
    result = replayed[name]
    assert result.passed, format_result(result, verbose=True)
