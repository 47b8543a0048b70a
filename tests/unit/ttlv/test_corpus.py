"""The fuzz corpus: seed messages and every saved regression input.

Every file in vectors/ttlv/regressions/ is replayed through the fuzzer's oracle (decode
returns or raises a TTLVError; an accepted input re-encodes identically; dump and the
Framer behave), so an input that once broke the codec stays a test forever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from tools.fuzz_ttlv import REGRESSION_DIR, SEED_DIR, check_input, seed_messages, walk_headers
from ttlv import decode, encode
from ttlv.errors import TTLVError

REGRESSIONS = sorted(REGRESSION_DIR.glob("*.bin"))
SEEDS = seed_messages()


def test_there_are_regression_inputs() -> None:
    assert REGRESSIONS, "vectors/ttlv/regressions/ must not be empty (hand-made inputs live there)"


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda path: path.name)
def test_regression_input_passes_the_oracle(path: Path) -> None:
    data = path.read_bytes()
    check_input(data, pieces=[1, 7, 8, 13])
    if path.name.startswith("hand-"):  # the hand-made ones are each invalid in one way
        with pytest.raises(TTLVError):
            decode(data)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_file_matches_its_builder(name: str) -> None:
    data = (SEED_DIR / f"{name}.ttlv").read_bytes()
    assert data == encode(SEEDS[name]), "rebuild with: python -m tools.fuzz_ttlv --write-seeds"
    assert decode(data) == SEEDS[name]
    assert check_input(data)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_header_walk_finds_every_item(name: str) -> None:
    data = encode(SEEDS[name])
    headers = walk_headers(data)
    count = 0
    stack = [SEEDS[name]]
    while stack:
        item = stack.pop()
        count += 1
        stack.extend(item.children)
    assert len(headers) == count
    assert headers[0].offset == 0
    assert headers[0].span == len(data)
    assert all(not header.ancestors or header.ancestors[0] == 0 for header in headers[1:])
