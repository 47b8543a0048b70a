"""The OASIS test cases of the asymmetric half of the claimed profiles, replayed in process with
the conformance suite's own matcher (``conformance.replay``): AKLC (Create Key Pair and the
asymmetric key lifecycle, mandatory and optional) and CS-AC's Sign, Signature Verify and RSA-OAEP
files. The live replay (tests/integration/conformance) runs the same files over TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cases import DEFAULT_CASES_DIR, discover, family_of
from conformance.replay import format_result
from tests.unit.crypto.replay_support import replay_in_process
from tests.unit.engine.support import Core, run_core

_SYMMETRIC_CS_AC = {"CS-AC-M-4-14", "CS-AC-M-5-14", "CS-AC-M-6-14", "CS-AC-M-7-14"}  # MAC, Hash
FILES = sorted(
    name
    for path in discover(DEFAULT_CASES_DIR)
    if family_of(name := path.name.removesuffix(".xml")) in {"AKLC", "CS-AC"} and name not in _SYMMETRIC_CS_AC
)


def test_the_files_are_all_there() -> None:
    assert len([name for name in FILES if name.startswith("AKLC-")]) == 4
    assert len([name for name in FILES if name.startswith("CS-AC-M-OAEP-")]) == 10
    assert {"CS-AC-M-1-14", "CS-AC-M-2-14", "CS-AC-M-3-14", "CS-AC-M-8-14"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_file_passes(tmp_path: Path, name: str) -> None:
    async def scenario(core: Core) -> None:
        result = await replay_in_process(core, name)
        assert result.passed, format_result(result, verbose=True)

    run_core(tmp_path, scenario)
