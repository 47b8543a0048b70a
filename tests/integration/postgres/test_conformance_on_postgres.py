"""The conformance suites against a Core whose storage is PostgreSQL.

The same suites run against the SQLite Core in ``tests/integration/conformance`` and
``tests/integration/pykmip``; here the claimed OASIS families (SKLC, OMOS) are replayed on a
fresh Core over a fresh PostgreSQL schema, and a representative part of the PyKMIP suite
(create and register, get, the lifecycle, locate, attributes, discover and query) runs
unchanged: its tests are imported, and ``core_server`` here is the PostgreSQL twin.
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

# The PyKMIP suite's fixtures (version, client, proxy, raw) and a representative part of its
# tests, collected again in this module, where ``core_server`` is the Core on PostgreSQL.
from tests.integration.pykmip.conftest import client, proxy, raw, version
from tests.integration.pykmip.test_attributes import (
    test_add_modify_delete_attribute,
    test_get_attributes_of_a_new_key,
    test_modify_name_then_locate,
)
from tests.integration.pykmip.test_create_register import (
    test_create_refuses_a_name_in_use,
    test_create_symmetric_key,
    test_create_through_kmip_proxy,
    test_register_opaque_object,
    test_register_secret_data,
    test_register_symmetric_key,
)
from tests.integration.pykmip.test_discover_query import test_discover_versions
from tests.integration.pykmip.test_get import test_get_raw_through_both_clients
from tests.integration.pykmip.test_lifecycle import (
    test_activate_check_revoke_destroy,
    test_compromise_then_destroy,
    test_rekey_copies_name_dates_and_links,
)
from tests.integration.pykmip.test_locate import (
    test_locate_by_name,
    test_locate_by_several_attributes,
    test_locate_offset_items_at_1_4,
    test_locate_skips_destroyed_objects,
)
from tests.support.postgres import session
from tests.support.server import CoreProcess, CoreProcesses, postgres_core_server, postgres_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = [
    "client",
    "core_server",
    "postgres_core_server",
    "proxy",
    "raw",
    "test_activate_check_revoke_destroy",
    "test_add_modify_delete_attribute",
    "test_compromise_then_destroy",
    "test_create_refuses_a_name_in_use",
    "test_create_symmetric_key",
    "test_create_through_kmip_proxy",
    "test_get_attributes_of_a_new_key",
    "test_get_raw_through_both_clients",
    "test_locate_by_name",
    "test_locate_by_several_attributes",
    "test_locate_offset_items_at_1_4",
    "test_locate_skips_destroyed_objects",
    "test_modify_name_then_locate",
    "test_discover_versions",
    "test_register_opaque_object",
    "test_register_secret_data",
    "test_register_symmetric_key",
    "test_rekey_copies_name_dates_and_links",
    "version",
]

CLAIMED_FAMILIES = frozenset({"SKLC", "OMOS"})
CLAIMED_FILES = [path for path in discover(DEFAULT_CASES_DIR) if family_of(path.name) in CLAIMED_FAMILIES]


@pytest.fixture(scope="module")
def core_server(postgres_core_server: CoreProcess) -> CoreProcess:
    """What the imported PyKMIP tests connect to: the Core on PostgreSQL."""
    return postgres_core_server


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
