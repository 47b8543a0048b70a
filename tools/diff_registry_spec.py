"""Compare the registry data file with the tables of the KMIP 1.4 specification (HTML).

Usage:
    python tools/diff_registry_spec.py [path/to/kmip-spec-v1.4-os.html]

Reads section 9.1.3 of the specification (9.1.3.1 tag values, 9.1.3.2.x enumerations, 9.1.3.3.x
masks) and prints every disagreement with ``vectors/kmip-1.4/registry/kmip_1_4.json`` AFTER the
corrections of ``tools/gen_registry.py`` are applied. An empty report (exit 0) means the generated
tables match the specification. The specification is not in the repository (see
``vectors/kmip-1.4/PROVENANCE.md``), so this is a maintenance tool, not a test.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.gen_registry import load

DEFAULT_SPEC = Path("/work/shared/kmip-1.4/spec/kmip-spec-v1.4-os.html")
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SECTION = re.compile(r"^([0-9]+(?:\.[0-9]+)*)\s+(.*)$")


@dataclass
class SpecTable:
    section: str  # "9.1.3.2.1"
    title: str  # "Credential Type Enumeration"
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""  # "Table 289: Credential Type Enumeration" (the caption follows its table)


class _TableCollector(HTMLParser):
    """Collects every table under a 9.1.3.x heading, keyed by that heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[SpecTable] = []
        self._heading: tuple[str, str] | None = None
        self._heading_text: list[str] | None = None
        self._depth = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HEADINGS:
            self._heading_text = []
        elif tag == "sup" and self._cell is not None:
            self._cell.append("^")  # "GF (2<sup>16</sup>)" is GF (2^16)
        elif tag == "p" and ("class", "MsoCaption") in attrs:
            self._caption = []
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append(SpecTable(*(self._heading or ("", ""))))
        elif tag == "tr" and self._depth == 1:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in HEADINGS and self._heading_text is not None:
            text = " ".join("".join(self._heading_text).split())
            self._heading_text = None
            match = SECTION.match(text)
            self._heading = (match.group(1), match.group(2)) if match else ("", text)
        elif tag == "p" and self._caption is not None:
            text = " ".join("".join(self._caption).split())
            self._caption = None
            if self.tables and not self.tables[-1].caption and text.startswith("Table"):
                self.tables[-1].caption = text
        elif tag == "table":
            self._depth -= 1
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self.tables and self._depth == 1:
                self.tables[-1].rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._heading_text is not None:
            self._heading_text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)


def spec_tables(path: Path) -> list[SpecTable]:
    collector = _TableCollector()
    collector.feed(path.read_text(encoding="windows-1252"))
    return [
        t
        for t in collector.tables
        if t.section.startswith(("9.1.3.1", "9.1.3.2.", "9.1.3.3."))
        and len(t.rows) > 1
        and t.rows[1] in (["Name", "Value"], ["Object", "Tag Value"])
    ]


HEX = re.compile(r"^(?:0x)?([0-9A-Fa-f]{1,8})$")


def _pairs(table: SpecTable) -> dict[str, int]:
    """Name -> value for each data row (header, "Extensions" and reserved ranges skipped)."""
    out: dict[str, int] = {}
    for row in table.rows:
        if len(row) < 2:
            continue
        name, value = row[0], (row[1].split() or [""])[0]  # "420014 (deprecated as of version 1.1)"
        match = HEX.match(value)
        if not match or name == "Extensions" or name.startswith("("):
            continue
        out[name] = int(match.group(1), 16)
    return out


def diff(path: Path) -> list[str]:
    data = load()
    problems: list[str] = []
    tables = spec_tables(path)
    spec_tags: dict[str, int] = {}
    for table in tables:
        if table.section == "9.1.3.1":
            spec_tags.update(_pairs(table))
    for name, value in sorted(spec_tags.items()):
        if name not in data["tags"]:
            problems.append(f"tag missing: {name!r} = 0x{value:06X} (9.1.3.1)")
        elif data["tags"][name] != value:
            problems.append(f"tag {name!r}: data 0x{data['tags'][name]:06X}, spec 0x{value:06X} (9.1.3.1)")
    for name in sorted(set(data["tags"]) - set(spec_tags)):
        problems.append(f"tag not in spec: {name!r} = 0x{data['tags'][name]:06X}")

    by_section = {entry["comment"].split()[0]: entry for entry in data["enums"] + data["masks"]}
    seen: set[str] = set()
    for table in tables:
        if table.section == "9.1.3.1":
            continue
        values = _pairs(table)
        entry = by_section.get(table.section)
        if entry is None:
            problems.append(f"{table.section} {table.title!r}: no registry entry ({len(values)} values)")
            continue
        seen.add(table.section)
        cited = re.search(r"Table (\d+)", entry["comment"])
        captioned = re.match(r"Table (\d+)", table.caption)
        if (cited and cited.group(1)) != (captioned and captioned.group(1)):
            problems.append(
                f"{table.section} {entry['name']}: cites {entry['comment']!r}, spec {table.caption!r}"
            )
        registry = entry["values"]
        for name, value in sorted(values.items()):
            if name not in registry:
                problems.append(f"{table.section} {entry['name']}: missing {name!r} = 0x{value:08X}")
            elif registry[name] != value:
                where = f"{table.section} {entry['name']}: {name!r}"
                problems.append(f"{where} data 0x{registry[name]:08X}, spec 0x{value:08X}")
        for name in sorted(set(registry) - set(values)):
            problems.append(
                f"{table.section} {entry['name']}: {name!r} = 0x{registry[name]:08X} not in spec table"
            )
        for tag in entry["tags"]:
            if tag not in spec_tags:
                problems.append(f"{table.section} {entry['name']}: listed tag {tag!r} is not a spec tag")
    for section in sorted(set(by_section) - seen):
        problems.append(f"registry entry {by_section[section]['name']!r} ({section}): no spec table found")
    return problems


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    problems = diff(path)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
