"""The TTLV examples of KMIP 1.4 section 9.1.2, from vectors/ttlv/spec-examples.json.

Each example must decode to the Item the spec describes and re-encode byte for byte.
When the specification itself is at hand (the project's shared reference folder), the test
also checks that every vector is copied faithfully from it. Every test runs with each decode
loop, Python and C (tests/support/ttlv_decoders.py).
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from ttlv import Item, ItemType, decode, encode

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ttlv" / "spec-examples.json"
SPEC = Path("/work/shared/kmip-1.4/spec/kmip-spec-v1.4-os.html")
TYPES = {
    "Structure": ItemType.STRUCTURE,
    "Integer": ItemType.INTEGER,
    "Long Integer": ItemType.LONG_INTEGER,
    "Big Integer": ItemType.BIG_INTEGER,
    "Enumeration": ItemType.ENUMERATION,
    "Boolean": ItemType.BOOLEAN,
    "Text String": ItemType.TEXT_STRING,
    "Byte String": ItemType.BYTE_STRING,
    "Date-Time": ItemType.DATE_TIME,
    "Interval": ItemType.INTERVAL,
}


def load() -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = json.loads(VECTORS.read_text())["examples"]
    return examples


def to_item(entry: dict[str, Any]) -> Item:
    itype = TYPES[entry["type"]]
    value = entry["value"]
    if itype is ItemType.STRUCTURE:
        value = tuple(to_item(member) for member in value)
    elif itype is ItemType.BYTE_STRING:
        value = bytes.fromhex(value["hex"])
    return Item(int(entry["tag"], 16), itype, value)


def test_all_ten_examples_are_there() -> None:
    examples = load()
    assert [example["type"] for example in examples] == [*list(TYPES)[1:], "Structure"]
    assert all(example["section"].startswith("KMIP 1.4 section 9.1.2") for example in examples)


@pytest.mark.parametrize("example", load(), ids=lambda example: example["type"])
def test_example_decodes_and_reencodes(example: dict[str, Any]) -> None:
    wire = bytes.fromhex(example["hex"])
    assert re.sub(r"[ |]", "", example["spec_bytes"]) == example["hex"]
    expected = to_item(example)
    assert decode(wire) == expected
    assert encode(expected) == wire


def test_date_time_example_is_the_moment_the_spec_names() -> None:
    (example,) = (example for example in load() if example["type"] == "Date-Time")
    moment = datetime(2008, 3, 14, 11, 56, 40, tzinfo=UTC)  # "Friday, March 14, 2008, 11:56:40 GMT"
    assert example["value"] == int(moment.timestamp())
    assert moment.strftime("%A") == "Friday"


def test_interval_example_is_ten_days() -> None:
    (example,) = (example for example in load() if example["type"] == "Interval")
    assert example["value"] == 10 * 24 * 3600


@pytest.mark.skipif(not SPEC.exists(), reason="the KMIP 1.4 specification is not at hand")
def test_vectors_are_copied_faithfully_from_the_spec() -> None:
    text = html.unescape(re.sub(r"<[^>]+>", " ", SPEC.read_text(encoding="utf-8", errors="replace")))
    text = re.sub(r"\s+", " ", text)
    section = text[text.rindex("9.1.2 Examples") : text.rindex("9.1.3 Defined Values")]
    for example in load():
        assert f"{example['description']}: {example['spec_bytes']}" in section or (
            f"{example['description']} : {example['spec_bytes']}" in section
        ), example["description"]
