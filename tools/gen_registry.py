"""Generate ``src/ttlv/kmip14.py`` (KMIP 1.4 tags, enumerations and masks) from the registry data file.

Usage:
    python tools/gen_registry.py           # rewrite the module
    python tools/gen_registry.py --check   # exit 1 if the module is stale

The data file is ``vectors/kmip-1.4/registry/kmip_1_4.json`` (see ``vectors/kmip-1.4/PROVENANCE.md``).
Where it disagrees with the KMIP 1.4 specification, ``CORRECTIONS`` below applies the spec's value,
each entry citing the section it comes from. ``tools/diff_registry_spec.py`` re-checks the corrected
tables against the specification's HTML.

Besides the Python names, the module carries each tag's and each value's normalized name (the
spelling of the KMIP XML and JSON encodings, ``ttlv.names.normalize``), so that nothing is
computed when it is imported.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from ttlv.names import normalize

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "vectors" / "kmip-1.4" / "registry" / "kmip_1_4.json"
OUTPUT = ROOT / "src" / "ttlv" / "kmip14.py"

# Python identifiers that the mechanical rule cannot produce (a name may not start with a digit).
PY_NAME_OVERRIDES = {"3DES": "TRIPLE_DES"}


@dataclass(frozen=True)
class Fix:
    """One spec-over-data correction: the entry's spec name maps to ``value``.

    ``replaces`` names the data file's misspelled entry that the spec name replaces (that entry
    is removed, and its Python name is kept as an alias so existing code keeps working).
    """

    value: int
    section: str
    replaces: str | None = None


class Corrections(TypedDict):
    tags: dict[str, Fix]  # spec tag name -> fix
    enums: dict[str, dict[str, Fix]]  # enumeration name -> value name -> fix
    masks: dict[str, dict[str, Fix]]  # mask name -> bit name -> fix
    citations: dict[str, str]  # enumeration or mask name -> "section Table N" as the spec captions it


_PKCS1_V15 = "with RSA Encryption (PKCS#1 v1.5)"
_DSA = "9.1.3.2.7, Table 295"

CORRECTIONS: Corrections = {
    "tags": {
        # The data file spells it with two spaces.
        "Compromise Date": Fix(0x420020, "9.1.3.1, Table 288", replaces="Compromise  Date"),
    },
    "enums": {
        # The spec names carry the PKCS#1 version in brackets.
        "Digital Signature Algorithm": {
            f"MD2 {_PKCS1_V15}": Fix(0x01, _DSA, replaces="MD2 with RSA Encryption"),
            f"MD5 {_PKCS1_V15}": Fix(0x02, _DSA, replaces="MD5 with RSA Encryption"),
            f"SHA-1 {_PKCS1_V15}": Fix(0x03, _DSA, replaces="SHA-1 with RSA Encryption"),
            f"SHA-224 {_PKCS1_V15}": Fix(0x04, _DSA, replaces="SHA-224 with RSA Encryption"),
            f"SHA-256 {_PKCS1_V15}": Fix(0x05, _DSA, replaces="SHA-256 with RSA Encryption"),
            f"SHA-384 {_PKCS1_V15}": Fix(0x06, _DSA, replaces="SHA-384 with RSA Encryption"),
            f"SHA-512 {_PKCS1_V15}": Fix(0x07, _DSA, replaces="SHA-512 with RSA Encryption"),
            "RSASSA-PSS (PKCS#1 v2.1)": Fix(0x08, _DSA, replaces="RSASSA-PSS"),
        },
        # The data file has spaces around the hyphens.
        "Derivation Method": {
            "NIST800-108-C": Fix(0x05, "9.1.3.2.21, Table 309", replaces="NIST800 - 108 - C"),
            "NIST800-108-F": Fix(0x06, "9.1.3.2.21, Table 309", replaces="NIST800 - 108 - F"),
            "NIST800-108-DPI": Fix(0x07, "9.1.3.2.21, Table 309", replaces="NIST800 - 108 - DPI"),
        },
        "DRBG Algorithm": {
            "Dual-EC": Fix(0x02, "9.1.3.2.38", replaces="Dual - EC"),
        },
    },
    "masks": {
        "Cryptographic Usage Mask": {
            "Content Commitment (Non Repudiation)": Fix(
                0x400, "9.1.3.3.1, Table 325", replaces="Content Commitment"
            ),
        },
    },
    # Table numbers: wrong ("Table 9"), missing, or dangling ("Table " where the spec has no caption).
    "citations": {
        "Secret Data Type": "9.1.3.2.9 Table 297",
        "RNG Algorithm": "9.1.3.2.37",
        "Cryptographic Usage Mask": "9.1.3.3.1 Table 325",
        "Storage Status Mask": "9.1.3.3.2 Table 326",
    },
}


def py_name(spec_name: str) -> str:
    if spec_name in PY_NAME_OVERRIDES:
        return PY_NAME_OVERRIDES[spec_name]
    return re.sub(r"[^A-Za-z0-9]+", "_", spec_name).strip("_").upper()


def class_name(spec_name: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", spec_name) if word)


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else value


def _apply(table: dict[str, int], fixes: dict[str, Fix], where: str) -> None:
    """Apply ``fixes`` to ``table`` in place; a fix that changes nothing is an error (stale)."""
    for name, fix in fixes.items():
        if fix.replaces is not None:
            if fix.replaces not in table:
                raise SystemExit(f"correction for {where} {name!r}: {fix.replaces!r} is not in the data")
            del table[fix.replaces]
        elif table.get(name) == fix.value:
            raise SystemExit(f"correction for {where} {name!r} is already in the data: remove it")
        table[name] = fix.value


def load() -> dict[str, Any]:
    """The data file with ``CORRECTIONS`` applied."""
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    tags = {name: _int(value) for name, value in data["tags"].items()}
    _apply(tags, CORRECTIONS["tags"], "tag")
    data["tags"] = tags
    renamed_tags = {fix.replaces: name for name, fix in CORRECTIONS["tags"].items() if fix.replaces}
    known = {entry["name"] for entry in data["enums"] + data["masks"]}
    for name in [*CORRECTIONS["enums"], *CORRECTIONS["masks"], *CORRECTIONS["citations"]]:
        if name not in known:
            raise SystemExit(f"correction for unknown enumeration or mask {name!r}")
    for kind in ("enums", "masks"):
        for entry in data[kind]:
            entry["comment"] = CORRECTIONS["citations"].get(entry["name"], entry["comment"])
            values = {value_name: _int(value) for value_name, value in entry["values"].items()}
            _apply(values, _value_fixes(entry["name"]), entry["name"])
            entry["values"] = values
            entry["tags"] = [renamed_tags.get(tag, tag) for tag in entry["tags"]]
    return data


def _value_fixes(entry_name: str) -> dict[str, Fix]:
    """The value corrections of one enumeration or mask (their names never collide)."""
    return CORRECTIONS["enums"].get(entry_name) or CORRECTIONS["masks"].get(entry_name) or {}


def _aliases(entry_name: str, values: dict[str, int]) -> dict[str, int]:
    """Python names of replaced entries that differ from their replacement's: kept as aliases."""
    out: dict[str, int] = {}
    for name, fix in _value_fixes(entry_name).items():
        if fix.replaces is not None and py_name(fix.replaces) != py_name(name):
            out[py_name(fix.replaces)] = values[name]
    return out


def render(data: dict[str, Any]) -> str:
    out: list[str] = [
        '"""KMIP 1.4 tags, enumerations and masks, with their spec names and normalized (XML) names.',
        "",
        "GENERATED by tools/gen_registry.py from vectors/kmip-1.4/registry/kmip_1_4.json. DO NOT EDIT.",
        "Each class cites its table in the KMIP 1.4 specification, section 9.1.3. Spec names are those of",
        "the specification's tables; XML names are their normalized spelling (ttlv.names.normalize) used",
        "by the KMIP XML and JSON encodings.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum, IntFlag",
        "",
        "",
        "class KmipEnum(IntEnum):",
        '    """Base of the generated enumerations (section 9.1.3.2)."""',
        "",
        "    @classmethod",
        "    def spec_names(cls) -> dict[int, str]:",
        '        """Value -> name as the specification spells it."""',
        "        raise NotImplementedError",
        "",
        "    @classmethod",
        "    def xml_names(cls) -> dict[int, str]:",
        '        """Value -> normalized name (KMIP XML / JSON encodings)."""',
        "        raise NotImplementedError",
        "",
        "",
        "class KmipMask(IntFlag):",
        '    """Base of the generated bit masks (section 9.1.3.3)."""',
        "",
        "    @classmethod",
        "    def spec_names(cls) -> dict[int, str]:",
        '        """Bit -> name as the specification spells it."""',
        "        raise NotImplementedError",
        "",
        "    @classmethod",
        "    def xml_names(cls) -> dict[int, str]:",
        '        """Bit -> normalized name (KMIP XML / JSON encodings)."""',
        "        raise NotImplementedError",
        "",
        "",
        "class Tag(IntEnum):",
        '    """KMIP 1.4 section 9.1.3.1, Table 288 (Tag Values)."""',
        "",
    ]
    tags = sorted(data["tags"].items(), key=lambda item: item[1])
    out += [f"    {py_name(name)} = 0x{value:06X}" for name, value in tags]
    out += ["", "", "TAG_NAMES: dict[int, str] = {"]
    out += [f"    0x{value:06X}: {name!r}," for name, value in tags]
    out += ["}", "", "TAG_XML_NAMES: dict[int, str] = {"]
    out += [f"    0x{value:06X}: {normalize(name)!r}," for name, value in tags]
    out += ["}"]

    for_tag: dict[str, list[tuple[str, str]]] = {"enums": [], "masks": []}
    for kind, base in (("enums", "KmipEnum"), ("masks", "KmipMask")):
        for entry in sorted(data[kind], key=lambda e: e["name"]):
            cls = class_name(entry["name"])
            for_tag[kind] += [(tag, cls) for tag in entry["tags"]]
            doc = f"KMIP 1.4 section {entry['comment'].strip()}" if entry["comment"].strip() else "KMIP 1.4"
            out += ["", "", f"class {cls}({base}):", f'    """{entry["name"]}: {doc}."""', ""]
            values = sorted(entry["values"].items(), key=lambda item: item[1])
            aliases = _aliases(entry["name"], entry["values"])
            for name, value in values:
                out.append(f"    {py_name(name)} = 0x{value:08X}")
                out += [
                    f"    {alias} = 0x{value:08X}  # alias: the registry's name before the spec correction"
                    for alias, alias_value in aliases.items()
                    if alias_value == value
                ]
            for method, spell in (("spec_names", str), ("xml_names", normalize)):
                out += [
                    "",
                    "    @classmethod",
                    f"    def {method}(cls) -> dict[int, str]:",
                    "        return {",
                ]
                out += [f"            0x{value:08X}: {spell(name)!r}," for name, value in values]
                out += ["        }"]

    out += ["", "", "ENUM_FOR_TAG: dict[int, type[KmipEnum]] = {"]
    out += [f"    Tag.{py_name(tag)}: {cls}," for tag, cls in for_tag["enums"]]
    out += ["}", "", "MASK_FOR_TAG: dict[int, type[KmipMask]] = {"]
    out += [f"    Tag.{py_name(tag)}: {cls}," for tag, cls in for_tag["masks"]]
    out += ["}", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the generated module is stale")
    args = parser.parse_args()
    text = render(load())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python tools/gen_registry.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
