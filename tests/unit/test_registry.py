"""The generated KMIP 1.4 tables (src/ttlv/kmip14.py): fresh, corrected, self-consistent."""

from __future__ import annotations

import subprocess
import sys
from enum import IntEnum, IntFlag

import pytest

from tools import gen_registry
from ttlv import kmip14
from ttlv.names import normalize

ENUM_CLASSES: list[type[kmip14.KmipEnum]] = sorted(
    set(kmip14.ENUM_FOR_TAG.values()), key=lambda c: c.__name__
)
MASK_CLASSES: list[type[kmip14.KmipMask]] = sorted(
    set(kmip14.MASK_FOR_TAG.values()), key=lambda c: c.__name__
)
ALL_CLASSES: list[type[kmip14.KmipEnum] | type[kmip14.KmipMask]] = [*ENUM_CLASSES, *MASK_CLASSES]


def test_generated_module_matches_the_generator() -> None:
    """Fails when kmip14.py was hand-edited or the data/corrections changed without regenerating."""
    expected = gen_registry.render(gen_registry.load())
    assert gen_registry.OUTPUT.read_text(encoding="utf-8") == expected, (
        "src/ttlv/kmip14.py is stale: run python tools/gen_registry.py"
    )


def test_check_flag_reports_fresh_module() -> None:
    result = subprocess.run(
        [sys.executable, str(gen_registry.ROOT / "tools" / "gen_registry.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- corrections -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fix"), sorted(gen_registry.CORRECTIONS["tags"].items()))
def test_tag_correction_applied(name: str, fix: gen_registry.Fix) -> None:
    assert kmip14.TAG_NAMES[fix.value] == name
    assert kmip14.Tag(fix.value).name == gen_registry.py_name(name)
    if fix.replaces is not None:
        assert fix.replaces not in kmip14.TAG_NAMES.values()
    assert fix.section.startswith("9.1.3.1")


def _value_corrections() -> list[tuple[str, str, gen_registry.Fix]]:
    out = []
    for kind in ("enums", "masks"):
        fixes: dict[str, dict[str, gen_registry.Fix]] = gen_registry.CORRECTIONS[kind]
        for entry, values in fixes.items():
            out += [(entry, name, fix) for name, fix in values.items()]
    return sorted(out, key=lambda t: (t[0], t[1]))


@pytest.mark.parametrize(("entry", "name", "fix"), _value_corrections())
def test_value_correction_applied(entry: str, name: str, fix: gen_registry.Fix) -> None:
    cls = getattr(kmip14, gen_registry.class_name(entry))
    assert cls.spec_names()[fix.value] == name
    assert cls.xml_names()[fix.value] == normalize(name)
    assert cls[gen_registry.py_name(name)] == fix.value
    if fix.replaces is not None:
        assert fix.replaces not in cls.spec_names().values()
        # The registry's former Python name still resolves (an alias of the same member).
        assert cls[gen_registry.py_name(fix.replaces)] is cls(fix.value)
    assert fix.section.startswith(("9.1.3.2.", "9.1.3.3."))


def test_spelled_out_corrections() -> None:
    """The corrections found against the spec, asserted by value so that a bad CORRECTIONS edit fails."""
    assert kmip14.TAG_NAMES[0x420020] == "Compromise Date"
    assert kmip14.TAG_XML_NAMES[0x420020] == "CompromiseDate"
    dsa = kmip14.DigitalSignatureAlgorithm
    assert dsa.spec_names()[5] == "SHA-256 with RSA Encryption (PKCS#1 v1.5)"
    assert dsa.xml_names()[5] == "SHA_256WithRSAEncryptionPKCS_1V1_5"
    assert dsa.spec_names()[8] == "RSASSA-PSS (PKCS#1 v2.1)"
    assert kmip14.DerivationMethod.spec_names()[7] == "NIST800-108-DPI"
    assert kmip14.DRBGAlgorithm.spec_names()[2] == "Dual-EC"
    usage = kmip14.CryptographicUsageMask
    assert usage.spec_names()[0x400] == "Content Commitment (Non Repudiation)"
    assert usage["CONTENT_COMMITMENT"] is usage.CONTENT_COMMITMENT_NON_REPUDIATION
    assert "Table 297" in (kmip14.SecretDataType.__doc__ or "")


def test_a_correction_the_data_already_has_is_refused() -> None:
    table = {"A": 1}
    with pytest.raises(SystemExit, match="already in the data"):
        gen_registry._apply(table, {"A": gen_registry.Fix(1, "9.1.3.1")}, "tag")


def test_a_correction_replacing_a_missing_name_is_refused() -> None:
    table = {"A": 1}
    with pytest.raises(SystemExit, match="not in the data"):
        gen_registry._apply(table, {"B": gen_registry.Fix(1, "9.1.3.1", replaces="C")}, "tag")


def test_a_replacing_correction_removes_the_old_name() -> None:
    table = {"A  B": 1, "C": 2}
    gen_registry._apply(table, {"A B": gen_registry.Fix(1, "9.1.3.1", replaces="A  B")}, "tag")
    assert table == {"A B": 1, "C": 2}


# --- consistency -------------------------------------------------------------------------------


def test_tag_tables_agree() -> None:
    assert {int(tag) for tag in kmip14.Tag} == set(kmip14.TAG_NAMES) == set(kmip14.TAG_XML_NAMES)
    assert len(set(kmip14.TAG_NAMES.values())) == len(kmip14.TAG_NAMES)
    assert len(set(kmip14.TAG_XML_NAMES.values())) == len(kmip14.TAG_XML_NAMES)
    for value, name in kmip14.TAG_NAMES.items():
        assert 0x420001 <= value <= 0x42FFFF
        assert kmip14.TAG_XML_NAMES[value] == normalize(name)
        assert name == " ".join(name.split()), f"stray white space in {name!r}"


def test_every_tag_of_an_enumeration_or_mask_is_a_tag() -> None:
    assert set(kmip14.ENUM_FOR_TAG) <= set(kmip14.TAG_NAMES)
    assert set(kmip14.MASK_FOR_TAG) <= set(kmip14.TAG_NAMES)
    assert not set(kmip14.ENUM_FOR_TAG) & set(kmip14.MASK_FOR_TAG)
    for cls in ENUM_CLASSES:
        assert issubclass(cls, IntEnum)
    for mask in MASK_CLASSES:
        assert issubclass(mask, IntFlag)


def test_known_tag_enumerations() -> None:
    assert kmip14.ENUM_FOR_TAG[kmip14.Tag.STATE] is kmip14.State
    assert kmip14.ENUM_FOR_TAG[kmip14.Tag.OPERATION] is kmip14.Operation
    assert kmip14.MASK_FOR_TAG[kmip14.Tag.CRYPTOGRAPHIC_USAGE_MASK] is kmip14.CryptographicUsageMask
    assert kmip14.MASK_FOR_TAG[kmip14.Tag.STORAGE_STATUS_MASK] is kmip14.StorageStatusMask


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_values_and_names_unique_and_consistent(cls: type[kmip14.KmipEnum] | type[kmip14.KmipMask]) -> None:
    spec = cls.spec_names()
    xml = cls.xml_names()
    assert set(spec) == set(xml) == {int(member) for member in cls}
    assert len(set(spec.values())) == len(spec), "duplicate spec name"
    assert len(set(xml.values())) == len(xml), "duplicate XML name"
    for value, name in spec.items():
        assert xml[value] == normalize(name)
        assert 0 <= value < 0x80000000, "0x8XXXXXXX is the extension range"
        assert cls(value).name == gen_registry.py_name(name)


@pytest.mark.parametrize("mask", MASK_CLASSES, ids=lambda c: c.__name__)
def test_mask_values_are_single_bits(mask: type[kmip14.KmipMask]) -> None:
    for value in mask.spec_names():
        assert value & (value - 1) == 0


def test_every_class_cites_its_section() -> None:
    for cls in ALL_CLASSES:
        assert "section 9.1.3." in (cls.__doc__ or ""), cls.__name__
