"""The OASIS test cases of the families this issue claims, replayed in process with the
conformance suite's own matcher (``conformance.replay``): CS-BC (with GCM), CS-RNG, SKFF, and
the MAC and Hash files of CS-AC. The live replay (tests/integration/conformance) runs the same
files over TLS against ``openkcm dev``; this one runs in seconds and under any server setting:
the four optional RNG Seed files are the four answers 4.36 allows, each passed by the policy
that gives it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conformance.cases import DEFAULT_CASES_DIR, discover, family_of
from conformance.replay import format_result
from kmip_server.crypto.rng import RngSettings, SeedPolicy
from kmip_server.crypto.services import CryptoServices, CryptoSettings
from kmip_server.engine import RequestEngine
from tests.unit.crypto.replay_support import replay_in_process
from tests.unit.engine.support import Core, run_core

CLAIMED = ("CS-BC", "CS-RNG", "SKFF")
SEED_ALTERNATIVES = {"CS-RNG-O-1-14", "CS-RNG-O-2-14", "CS-RNG-O-4-14"}  # need another policy
_CLAIMED_FILES = sorted(
    name
    for path in discover(DEFAULT_CASES_DIR)
    if family_of(name := path.name.removesuffix(".xml")) in CLAIMED and name not in SEED_ALTERNATIVES
)
FILES = [*_CLAIMED_FILES, "CS-AC-M-4-14", "CS-AC-M-5-14", "CS-AC-M-6-14", "CS-AC-M-7-14"]


def test_the_claimed_files_are_all_there() -> None:
    assert len([f for f in FILES if f.startswith("CS-BC-")]) == 17
    assert len([f for f in FILES if f.startswith("SKFF-")]) == 12
    assert {"CS-RNG-M-1-14", "CS-RNG-O-3-14"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_file_passes(tmp_path: Path, name: str) -> None:
    async def scenario(core: Core) -> None:
        result = await replay_in_process(core, name)
        assert result.passed, format_result(result, verbose=True)

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("name", "rng"),
    [
        ("CS-RNG-O-1-14", RngSettings(seed_policy=SeedPolicy.MIX)),  # all 32 bytes used
        ("CS-RNG-O-2-14", RngSettings(seed_policy=SeedPolicy.MIX, max_seed_length=16)),  # part used
        ("CS-RNG-O-3-14", RngSettings(seed_policy=SeedPolicy.IGNORE)),  # none used (the default)
        ("CS-RNG-O-4-14", RngSettings(seed_policy=SeedPolicy.REFUSE)),  # refused
    ],
)
def test_each_rng_seed_answer_under_its_policy(tmp_path: Path, name: str, rng: RngSettings) -> None:
    async def scenario(core: Core) -> None:
        engine = RequestEngine(
            objects=core.objects,
            seal=core.seal,
            clock=lambda: core.clock[0],
            crypto=CryptoServices(CryptoSettings(rng=rng)),
        )
        result = await replay_in_process(dataclasses.replace(core, engine=engine), name)
        assert result.passed, format_result(result, verbose=True)

    run_core(tmp_path, scenario)
