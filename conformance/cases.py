"""The OASIS KMIP Profiles v1.4 test-case files: where they are, their families, their exchanges.

A test-case file (``<KMIP>`` document) is a sequence of RequestMessage / ResponseMessage pairs,
read with ``ttlv.xml.from_xml_document`` and one ``Placeholders`` table per file, so the same
``$NAME`` maps to the same sentinel throughout the file.

Invariants:
- ``load_case`` refuses a file whose messages do not alternate request, response (starting with
  a request), so an exchange is always one request and its expected response.
- The family of a file is the longest known prefix of its name (``CS-BC-M-GCM-1-14`` is CS-BC,
  ``MSGENC-HTTPS-M-1-14`` is MSGENC); a file of no known family is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

from ttlv.errors import TTLVError
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Tag
from ttlv.xml import Placeholders, from_xml_document

__all__ = [
    "DEFAULT_CASES_DIR",
    "FAMILIES",
    "ERRATA",
    "CaseError",
    "Erratum",
    "Exchange",
    "Requirement",
    "TestCase",
    "discover",
    "family_of",
    "load_case",
    "select",
    "with_name_suffix",
]

DEFAULT_CASES_DIR: Final = Path(__file__).resolve().parent.parent / "vectors" / "kmip-1.4" / "test-cases"
"""The repository's copy of the OASIS test cases (mandatory/ and optional/; provenance in
``vectors/kmip-1.4/PROVENANCE.md``), so a fresh clone replays them with nothing beside it."""

FAMILIES: Final = (
    "SKLC",
    "OMOS",
    "CS-BC",
    "CS-AC",
    "CS-RNG",
    "AKLC",
    "SKFF",
    "SUITEB_128",
    "SUITEB_192",
    "SASED",
    "AX",
    "TL",
    "MSGENC",
)
"""Test-case families by file-name prefix (KMIP Profiles v1.4, one or more profiles each)."""


class CaseError(Exception):
    """A test-case file cannot be used (unreadable, not KMIP XML, unpaired messages)."""


class Requirement(IntEnum):
    MANDATORY = 1
    OPTIONAL = 2


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and the response it should get; ``index`` counts from 0 within the file."""

    index: int
    request: Item
    expected: Item


@dataclass(frozen=True, slots=True)
class TestCase:
    __test__ = False  # not a pytest class

    path: Path
    name: str  # file name without ".xml": "SKLC-M-1-14"
    family: str
    requirement: Requirement
    exchanges: tuple[Exchange, ...]
    placeholders: Placeholders
    errata: tuple[str, ...] = ()  # notes of the errata applied to this file's expectations


@dataclass(frozen=True, slots=True)
class Erratum:
    """A known mistake in a published test case, and the corrected expected response."""

    case: str  # file name without ".xml"
    exchange: int
    note: str
    fix: Callable[[Exchange], Item]


def _answer_in_request_version(exchange: Exchange) -> Item:
    """The expected response with its header's Protocol Version replaced by the request's."""
    request_header = exchange.request.find(Tag.REQUEST_HEADER)
    version = request_header.find(Tag.PROTOCOL_VERSION) if request_header is not None else None
    if version is None:
        return exchange.expected
    children = []
    for part in exchange.expected.children:
        if part.tag == Tag.RESPONSE_HEADER:
            fields = tuple(version if field.tag == Tag.PROTOCOL_VERSION else field for field in part.children)
            children.append(Item(part.tag, ItemType.STRUCTURE, fields))
        else:
            children.append(part)
    return Item(exchange.expected.tag, ItemType.STRUCTURE, tuple(children))


ERRATA: Final = (
    Erratum(
        "OMOS-O-1-14",
        1,
        "the published Destroy response says protocol 1.3 to a 1.4 request; every other exchange "
        "of the 75 files answers in the request's version, as the Core must: expecting 1.4",
        _answer_in_request_version,
    ),
)
"""Corrections applied when a file is loaded, each reported with the file's result."""


def family_of(name: str) -> str | None:
    """The family whose prefix (followed by ``-``) starts ``name``; the longest wins."""
    matches = [family for family in FAMILIES if name.startswith(family + "-")]
    return max(matches, key=len) if matches else None


def _requirement(path: Path, name: str) -> Requirement:
    if path.parent.name == "optional" or "-O-" in name:
        return Requirement.OPTIONAL
    return Requirement.MANDATORY


def load_case(path: Path) -> TestCase:
    """Read one test-case file."""
    name = path.name.removesuffix(".xml")
    family = family_of(name)
    if family is None:
        raise CaseError(f"{path.name}: no known test-case family")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise CaseError(f"{path}: cannot read: {exc.strerror}") from None
    placeholders = Placeholders()
    try:
        items = from_xml_document(source, placeholders=placeholders)
    except TTLVError as exc:  # XMLError and its limits
        raise CaseError(f"{path.name}: {exc}") from None
    if len(items) % 2:
        raise CaseError(f"{path.name}: a request without its response")
    exchanges = []
    for number in range(0, len(items), 2):
        request, expected = items[number], items[number + 1]
        if request.tag != Tag.REQUEST_MESSAGE or expected.tag != Tag.RESPONSE_MESSAGE:
            raise CaseError(
                f"{path.name}: message {number} and {number + 1} are not a request and a response"
            )
        exchanges.append(Exchange(number // 2, request, expected))
    notes = []
    for erratum in ERRATA:
        if erratum.case == name and erratum.exchange < len(exchanges):
            exchange = exchanges[erratum.exchange]
            exchanges[erratum.exchange] = Exchange(exchange.index, exchange.request, erratum.fix(exchange))
            notes.append(f"exchange {erratum.exchange}: {erratum.note}")
    return TestCase(
        path, name, family, _requirement(path, name), tuple(exchanges), placeholders, tuple(notes)
    )


def _suffix_names(item: Item, suffix: str) -> Item:
    if item.tag == Tag.NAME_VALUE and isinstance(item.value, str):
        return Item(item.tag, item.type, item.value + suffix)
    if item.type is ItemType.STRUCTURE:
        return Item(item.tag, item.type, tuple(_suffix_names(child, suffix) for child in item.children))
    return item


def with_name_suffix(case: TestCase, suffix: str) -> TestCase:
    """``case`` with ``suffix`` appended to every Name Value, in requests and expected responses.

    For replaying against a server that already holds the objects of an earlier run (names are
    unique per server, and destroyed objects keep theirs). The replay is then no longer the
    published one byte for byte; the report says so.
    """
    exchanges = tuple(
        Exchange(
            exchange.index, _suffix_names(exchange.request, suffix), _suffix_names(exchange.expected, suffix)
        )
        for exchange in case.exchanges
    )
    note = f"every Name Value suffixed with {suffix!r} (--unique-names)"
    return dataclasses.replace(case, exchanges=exchanges, errata=(*case.errata, note))


def discover(root: Path = DEFAULT_CASES_DIR) -> list[Path]:
    """Every ``*.xml`` test-case file under ``root`` (mandatory/ then optional/), sorted by name."""
    return sorted(root.rglob("*.xml"), key=lambda path: (path.parent.name != "mandatory", path.name))


def select(paths: Iterable[Path], families: Sequence[str] | None = None) -> list[Path]:
    """The paths whose family is one of ``families`` (all when None), in the given order."""
    if families is None:
        return list(paths)
    wanted = {family.upper() for family in families}
    unknown = wanted - set(FAMILIES)
    if unknown:
        raise CaseError(f"unknown families: {', '.join(sorted(unknown))} (known: {', '.join(FAMILIES)})")
    return [path for path in paths if family_of(path.name.removesuffix(".xml")) in wanted]
