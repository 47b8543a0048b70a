"""TTLV items: the ten KMIP item types and the Python value each one carries.

Invariants:
- An ``Item`` is immutable and hashable; a Structure's value is a tuple of Items.
- The Python value of each type is fixed (see ``VALUE_TYPES``):
  Structure -> tuple[Item, ...]; Integer, Long Integer, Big Integer, Enumeration,
  Date-Time (seconds since the POSIX epoch) and Interval (seconds) -> int;
  Boolean -> bool; Text String -> str; Byte String -> bytes.
- Range checks (a 32-bit Integer, an unsigned Interval, ...) are made by the encoder and
  the decoder, not here, so that building an Item costs nothing.
- This module knows tags only as integers; names live in the generated ``kmip14`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias


class ItemType(IntEnum):
    """KMIP 1.4 section 9.1.1.2, Table 280 (Allowed Item Type Values)."""

    STRUCTURE = 0x01
    INTEGER = 0x02
    LONG_INTEGER = 0x03
    BIG_INTEGER = 0x04
    ENUMERATION = 0x05
    BOOLEAN = 0x06
    TEXT_STRING = 0x07
    BYTE_STRING = 0x08
    DATE_TIME = 0x09
    INTERVAL = 0x0A


ItemValue: TypeAlias = "tuple[Item, ...] | int | bool | str | bytes"


@dataclass(frozen=True, slots=True)
class Item:
    """One TTLV item: a 3-byte tag, a type, and a value of the Python type its type dictates."""

    tag: int
    type: ItemType
    value: ItemValue

    @property
    def children(self) -> tuple[Item, ...]:
        """The items of a Structure (empty for any other type)."""
        value = self.value
        return value if isinstance(value, tuple) else ()

    def find(self, tag: int) -> Item | None:
        """The first child with ``tag``, or None."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def find_all(self, tag: int) -> list[Item]:
        """Every child with ``tag``, in order."""
        return [child for child in self.children if child.tag == tag]


VALUE_TYPES: dict[ItemType, type | tuple[type, ...]] = {
    ItemType.STRUCTURE: tuple,
    ItemType.INTEGER: int,
    ItemType.LONG_INTEGER: int,
    ItemType.BIG_INTEGER: int,
    ItemType.ENUMERATION: int,
    ItemType.BOOLEAN: bool,
    ItemType.TEXT_STRING: str,
    ItemType.BYTE_STRING: bytes,
    ItemType.DATE_TIME: int,
    ItemType.INTERVAL: int,
}
