"""The C decode loop (ttlv/_speedups.c): present where required, switchable, careful at load.

Its agreement with the Python loop is tested by running the decoding tests of this folder with
each (tests/support/ttlv_decoders.py) and by tests/property/test_ttlv_differential.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ttlv.item
from ttlv import DEFAULT_LIMITS, Item, ItemType, Limits, codec

REQUIRED = os.environ.get("OPENKCM_REQUIRE_SPEEDUPS") == "1"
PURE = os.environ.get("OPENKCM_TTLV_PURE") == "1"
needs_speedups = pytest.mark.skipif(
    codec._decode_span_c is None, reason="ttlv._speedups is not built (or OPENKCM_TTLV_PURE=1)"
)

SAMPLE = Item(
    0x420078,
    ItemType.STRUCTURE,
    (
        Item(0x420004, ItemType.INTEGER, -5),
        Item(0x420005, ItemType.TEXT_STRING, "abc"),
        Item(0x420006, ItemType.BOOLEAN, True),
    ),
)
WIRE = codec.encode(SAMPLE)


def test_the_accelerator_is_built_where_it_is_required() -> None:
    """scripts/test sets OPENKCM_REQUIRE_SPEEDUPS=1: a compiler-less fallback must not pass CI."""
    if REQUIRED:
        importlib.import_module("ttlv._speedups")  # its ImportError, if any, is the failure
        assert codec.ACCELERATED or PURE
    assert (codec._decode_span_c is not None) == codec.ACCELERATED


def accelerated_in_a_fresh_interpreter(pure: str | None) -> str:
    env = {key: value for key, value in os.environ.items() if key != "OPENKCM_TTLV_PURE"}
    if pure is not None:
        env["OPENKCM_TTLV_PURE"] = pure
    command = "import ttlv.codec as c; print(c.ACCELERATED, c._decode_span is c._decode_span_py)"
    done = subprocess.run(
        [sys.executable, "-c", command], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_pure_environment_variable_forces_the_python_loop() -> None:
    assert accelerated_in_a_fresh_interpreter("1") == "False True"


@needs_speedups
def test_the_c_loop_is_the_default() -> None:
    assert accelerated_in_a_fresh_interpreter(None) == "True False"
    assert accelerated_in_a_fresh_interpreter("0") == "True False"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_source_is_warning_free_c99(tmp_path: Path) -> None:
    source = Path(codec.__file__).with_name("_speedups.c")
    include = sysconfig.get_paths()["include"]
    command = ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", f"-I{include}"]
    done = subprocess.run(
        [*command, "-c", str(source), "-o", str(tmp_path / "speedups.o")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# Loading: the C loop writes Item's slots itself, so it checks Item's shape first


def load_speedups_again() -> ModuleType:
    """A new instance of the extension module (its set-up runs again, against ttlv.item now)."""
    import ttlv._speedups  # noqa: PLC0415 -- only when built

    spec = importlib.util.spec_from_file_location("ttlv._speedups", ttlv._speedups.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class WithDict:
    tag: int
    type: ItemType
    value: object


@dataclasses.dataclass(frozen=True, slots=True)
class WithExtraSlot:
    tag: int
    type: ItemType
    value: object
    note: object = None


@dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
class WithWeakref:
    tag: int
    type: ItemType
    value: object


class WithProperties:
    __slots__ = ("_tag", "_type", "value")

    @property
    def tag(self) -> int:
        return 0

    @property
    def type(self) -> int:
        return 0


@needs_speedups
@pytest.mark.parametrize("shape", [WithDict, WithExtraSlot, WithWeakref, WithProperties, 42])
def test_refuses_to_load_when_item_changes_shape(monkeypatch: pytest.MonkeyPatch, shape: object) -> None:
    monkeypatch.setattr(ttlv.item, "Item", shape)
    with pytest.raises(ImportError, match=r"ttlv\._speedups: .*Item"):
        load_speedups_again()


@needs_speedups
def test_finds_the_slots_wherever_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Reordered:
        value: Any
        type: ItemType
        tag: int

    monkeypatch.setattr(ttlv.item, "Item", Reordered)
    decoded = load_speedups_again().decode_span(WIRE, 0, len(WIRE), DEFAULT_LIMITS)
    assert type(decoded) is Reordered
    assert (decoded.tag, decoded.type) == (0x420078, ItemType.STRUCTURE)
    assert [(c.tag, c.type, c.value) for c in decoded.value] == [
        (0x420004, ItemType.INTEGER, -5),
        (0x420005, ItemType.TEXT_STRING, "abc"),
        (0x420006, ItemType.BOOLEAN, True),
    ]


# --------------------------------------------------------------------------------------------
# Calls outside the contract of codec's callers go to the Python loop, so they agree too


def outcome(call: object, *args: object, **kwargs: object) -> tuple[object, ...]:
    assert callable(call)
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as exc:  # whatever escapes is the outcome
        return ("error", type(exc), str(exc))


@needs_speedups
@pytest.mark.parametrize(
    ("data", "start", "end", "limits"),
    [
        (WIRE, 0, len(WIRE), DEFAULT_LIMITS),  # within the contract
        (WIRE, 0, 0, DEFAULT_LIMITS),  # empty span: IndexError in Python
        (WIRE, 8, 8, DEFAULT_LIMITS),
        (WIRE, 0, 12, DEFAULT_LIMITS),  # not whole 8-byte blocks
        (WIRE, 0, 4, DEFAULT_LIMITS),
        (WIRE, 4, len(WIRE), DEFAULT_LIMITS),
        (WIRE, 0, len(WIRE) + 8, DEFAULT_LIMITS),  # beyond the data
        (WIRE, -8, len(WIRE), DEFAULT_LIMITS),
        (WIRE, 8, 24, DEFAULT_LIMITS),  # one member alone
        (WIRE[8:], 0, len(WIRE) - 8, DEFAULT_LIMITS),  # three top-level items: the first
        (WIRE[8:], 0, len(WIRE) - 8, Limits(max_items=2)),
        (bytearray(WIRE), 0, len(WIRE), DEFAULT_LIMITS),
        (memoryview(WIRE), 0, len(WIRE), DEFAULT_LIMITS),
        ("text", 0, 8, DEFAULT_LIMITS),
        (WIRE, 0.0, len(WIRE), DEFAULT_LIMITS),
        (WIRE, True, len(WIRE), DEFAULT_LIMITS),
        (WIRE, 0, 2**70, DEFAULT_LIMITS),
        (WIRE, 0, len(WIRE), None),
        (WIRE, 0, len(WIRE), Limits(max_items=None)),  # type: ignore[arg-type]
        (WIRE, 0, len(WIRE), Limits(max_depth="1")),  # type: ignore[arg-type]
        (WIRE, 0, len(WIRE), Limits(max_items=1.5)),  # type: ignore[arg-type]
    ],
)
def test_other_calls_behave_as_the_python_loop(
    data: object, start: object, end: object, limits: object
) -> None:
    c_loop = codec._decode_span_c
    assert outcome(c_loop, data, start, end, limits) == outcome(
        codec._decode_span_py, data, start, end, limits
    )


@needs_speedups
def test_keyword_and_wrong_count_calls_behave_as_the_python_loop() -> None:
    c_loop, py_loop = codec._decode_span_c, codec._decode_span_py
    keywords = {"data": WIRE, "start": 0, "end": len(WIRE), "limits": DEFAULT_LIMITS}
    assert outcome(c_loop, **keywords) == outcome(py_loop, **keywords)
    assert outcome(c_loop, WIRE, 0, len(WIRE))[:2] == outcome(py_loop, WIRE, 0, len(WIRE))[:2]
    assert outcome(c_loop)[:2] == outcome(py_loop)[:2]
