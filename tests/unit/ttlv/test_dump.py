"""Unit tests of ttlv.dump: names, redaction by default, log safety."""

from __future__ import annotations

from tests.support.ttlv_decoders import ttlv_decoder  # noqa: F401 -- autouse: Python and C
from ttlv import Item, ItemType, dump, dump_bytes, encode
from ttlv.kmip14 import CryptographicAlgorithm, CryptographicUsageMask, Operation, Tag

T = ItemType
KEY = bytes(range(32))


def key_block() -> Item:
    return Item(
        Tag.KEY_BLOCK,
        T.STRUCTURE,
        (
            Item(Tag.CRYPTOGRAPHIC_ALGORITHM, T.ENUMERATION, CryptographicAlgorithm.AES),
            Item(Tag.KEY_VALUE, T.STRUCTURE, (Item(Tag.KEY_MATERIAL, T.BYTE_STRING, KEY),)),
            Item(Tag.CRYPTOGRAPHIC_LENGTH, T.INTEGER, 256),
        ),
    )


def test_tree_with_names_and_indentation() -> None:
    assert dump(key_block()).splitlines() == [
        "Key Block (Structure)",
        "  Cryptographic Algorithm (Enumeration): AES (0x00000003)",
        "  Key Value (Structure)",
        "    Key Material (Byte String): <32 bytes>",
        "  Cryptographic Length (Integer): 256",
    ]


def test_byte_strings_are_redacted_by_default() -> None:
    text = dump(key_block())
    assert KEY.hex() not in text
    assert KEY.hex()[:8] not in text
    assert KEY.hex() in dump(key_block(), redact=False)


def test_big_integers_and_passwords_are_redacted_by_default() -> None:
    private_exponent = 0xC0FFEE_DEADBEEF_0123456789
    item = Item(
        Tag.CREDENTIAL_VALUE,
        T.STRUCTURE,
        (
            Item(Tag.USERNAME, T.TEXT_STRING, "alice"),
            Item(Tag.PASSWORD, T.TEXT_STRING, "hunter2-correct-horse"),
            Item(Tag.PRIVATE_EXPONENT, T.BIG_INTEGER, private_exponent),
        ),
    )
    text = dump(item)
    assert "'alice'" in text
    assert "hunter2" not in text
    assert "Password (Text String): <21 characters>" in text
    assert "deadbeef" not in text.lower()
    assert str(private_exponent) not in text
    assert "Private Exponent (Big Integer): <13 bytes>" in text
    shown = dump(item, redact=False)
    assert "hunter2-correct-horse" in shown
    assert hex(private_exponent) in shown


def test_text_cannot_forge_log_lines() -> None:
    text = dump(Item(Tag.NAME_VALUE, T.TEXT_STRING, "ok\nERROR forged line\x1b[31m"))
    assert len(text.splitlines()) == 1
    assert "\\n" in text
    assert "\x1b" not in text


def test_long_text_is_cut() -> None:
    text = dump(Item(Tag.NAME_VALUE, T.TEXT_STRING, "x" * 1000), max_text=10)
    assert "'xxxxxxxxxx'... (1000 characters)" in text


def test_unknown_tags_and_enumeration_values_in_hex() -> None:
    item = Item(
        0x540001,
        T.STRUCTURE,
        (
            Item(Tag.OPERATION, T.ENUMERATION, 0x0000FFFF),
            Item(Tag.OPERATION, T.ENUMERATION, 0x80000001),
            Item(0x420124, T.ENUMERATION, Operation.GET),
            Item(0x42FFFF, T.INTEGER, -5),
        ),
    )
    assert dump(item).splitlines() == [
        "0x540001 (Structure)",
        "  Operation (Enumeration): 0x0000FFFF",
        "  Operation (Enumeration): extension 0x80000001",
        "  Replace Existing (Enumeration): 0x0000000A",
        "  0x42FFFF (Integer): -5",
    ]


def test_masks_and_attribute_values_are_named() -> None:
    mask = CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
    item = Item(
        Tag.TEMPLATE_ATTRIBUTE,
        T.STRUCTURE,
        (
            Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, T.INTEGER, mask | 0x10000000),
            Item(
                Tag.ATTRIBUTE,
                T.STRUCTURE,
                (
                    Item(Tag.ATTRIBUTE_NAME, T.TEXT_STRING, "Cryptographic Algorithm"),
                    Item(Tag.ATTRIBUTE_VALUE, T.ENUMERATION, CryptographicAlgorithm.RSA),
                ),
            ),
            Item(
                Tag.ATTRIBUTE,
                T.STRUCTURE,
                (
                    Item(Tag.ATTRIBUTE_NAME, T.TEXT_STRING, "Cryptographic Usage Mask"),
                    Item(Tag.ATTRIBUTE_VALUE, T.INTEGER, mask),
                ),
            ),
        ),
    )
    lines = dump(item).splitlines()
    assert lines[1] == "  Cryptographic Usage Mask (Integer): Encrypt | Decrypt | 0x10000000 (0x1000000C)"
    assert lines[4] == "    Attribute Value (Enumeration): RSA (0x00000004)"
    assert lines[7] == "    Attribute Value (Integer): Encrypt | Decrypt (0x0000000C)"


def test_date_time_interval_boolean_and_empty_structure() -> None:
    item = Item(
        Tag.RESPONSE_HEADER,
        T.STRUCTURE,
        (
            Item(Tag.TIME_STAMP, T.DATE_TIME, 1205495800),
            Item(Tag.TIME_STAMP, T.DATE_TIME, 2**62),
            Item(Tag.LEASE_TIME, T.INTERVAL, 864000),
            Item(Tag.ASYNCHRONOUS_INDICATOR, T.BOOLEAN, False),
            Item(Tag.REQUEST_PAYLOAD, T.STRUCTURE, ()),
        ),
    )
    assert dump(item).splitlines()[1:] == [
        "  Time Stamp (Date-Time): 2008-03-14T11:56:40Z (1205495800)",
        f"  Time Stamp (Date-Time): {2**62}",
        "  Lease Time (Interval): 864000 s",
        "  Asynchronous Indicator (Boolean): False",
        "  Request Payload (Structure): 0 items",
    ]


def test_huge_big_integer_renders() -> None:
    value = -(2**70_000) + 1
    assert "<8751 bytes>" in dump(Item(Tag.MODULUS, T.BIG_INTEGER, value))
    assert dump(Item(Tag.MODULUS, T.BIG_INTEGER, value), redact=False).endswith(hex(value))


def test_dump_bytes() -> None:
    wire = encode(key_block())
    assert dump_bytes(wire) == dump(key_block())
    broken = dump_bytes(wire[:-8])
    assert broken.startswith(f"<undecodable TTLV, {len(wire) - 8} bytes: ")
    assert "at offset 4" in broken
