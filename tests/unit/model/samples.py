"""Sample values for every model class, derived from the classes' own field declarations.

``sample(cls, full=True)`` fills every field (optional ones too, repeated ones twice);
``full=False`` fills the REQUIRED fields only. Polymorphic fields get a value of one of their
types, chosen per class in ``_POLYMORPHIC``. Used to round-trip every class without writing an
instance of each by hand (a class added later is covered automatically).
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, IntFlag
from typing import Any

from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    CreateResponsePayload,
    Credential,
    KeyBlock,
    KeyValue,
    Name,
    RequestBatchItem,
    ResponseBatchItem,
    SymmetricKey,
    UsernamePasswordCredential,
)
from kmip_server.model.codec import (
    Custom,
    DependsOn,
    OneOf,
    _Enum,
    _Field,
    _fields_of,
    _Mask,
    _Prim,
    _Raw,
    _Struct,
)
from ttlv.item import Item, ItemType
from ttlv.kmip14 import KeyFormatType, NameType, Operation

PRIMITIVES: dict[ItemType, Any] = {
    ItemType.INTEGER: 7,
    ItemType.LONG_INTEGER: 1 << 40,
    ItemType.BIG_INTEGER: (1 << 130) + 5,
    ItemType.DATE_TIME: 1_700_000_000,
    ItemType.INTERVAL: 3600,
    ItemType.BOOLEAN: True,
    ItemType.TEXT_STRING: "text",
    ItemType.BYTE_STRING: b"\x01\x02\x03",
}


def _enum_member(cls: type[IntEnum]) -> int:
    members = list(cls)
    return members[-1] if members else 0x80000001  # no defined value (Opaque Data Type): an extension


def _mask_value(cls: type[IntFlag]) -> IntFlag:
    members = list(cls)
    return members[0] | members[-1]


def _polymorphic(owner: type, f: _Field) -> Any:
    if owner is Attribute:
        return Name(name_value="a name", name_type=NameType.URI)
    if owner is Credential:
        return UsernamePasswordCredential(username="user", password="pw")
    if owner is KeyBlock:
        return KeyValue(key_material=b"\x11" * 32, attributes=(sample(Attribute),))
    if owner is KeyValue:
        return b"\x22" * 16
    if owner is RequestBatchItem:
        return sample(CreateRequestPayload)
    if owner is ResponseBatchItem:
        return sample(CreateResponsePayload)
    if isinstance(f.kind, OneOf):  # a managed object
        return SymmetricKey(key_block=sample(KeyBlock))
    raise AssertionError(f"no sample for {owner.__qualname__}.{f.name}")


# Fields whose selector decides the polymorphic value's type, set to agree with _polymorphic.
_SELECTORS: dict[tuple[type, str], Any] = {
    (Attribute, "name"): "Name",
    (Credential, "credential_type"): 1,  # Username and Password
    (KeyBlock, "key_format_type"): KeyFormatType.RAW,
    (RequestBatchItem, "operation"): Operation.CREATE,
    (ResponseBatchItem, "operation"): Operation.CREATE,
}


def _value(owner: type, f: _Field, full: bool) -> Any:
    selector = _SELECTORS.get((owner, f.name))
    if selector is not None:
        return selector
    kind = f.kind
    if isinstance(kind, _Prim):
        return PRIMITIVES[kind.itype]
    if isinstance(kind, _Enum):
        return _enum_member(kind.cls)
    if isinstance(kind, _Mask):
        return _mask_value(kind.cls)
    if isinstance(kind, _Struct):
        return sample(kind.cls, full=full)
    if isinstance(kind, _Raw):
        return Item(f.tags[0], ItemType.STRUCTURE, (Item(0x540001, ItemType.TEXT_STRING, "vendor"),))
    if isinstance(kind, DependsOn | OneOf | Custom):
        return _polymorphic(owner, f)
    raise AssertionError(kind)


def sample(cls: type, *, full: bool = True) -> Any:
    """An instance of model class ``cls`` (see the module docstring)."""
    values: dict[str, Any] = {}
    for f in _fields_of(cls):
        if (f.optional or (f.repeated and not f.non_empty)) and not full:
            continue
        value = _value(cls, f, full)
        values[f.name] = (value, value) if f.repeated else value
    return cls(**values)


def model_classes() -> list[type]:
    """Every model class of the package (those with a codec), by module."""
    from kmip_server.model import attributes, base, messages, objects, payloads  # noqa: PLC0415

    found: list[type] = []
    for module in (base, attributes, objects, payloads, messages):
        for name in sorted(vars(module)):
            value = vars(module)[name]
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
                and value.__name__ == name
                and value.__name__ not in ("OperationSpec", "DecodedRequest")
            ):
                found.append(value)
    return found


def operation_of_payload(cls: type) -> Operation | None:
    from kmip_server.model import OPERATIONS  # noqa: PLC0415

    for spec in OPERATIONS.values():
        if cls in (spec.request, spec.response):
            return spec.operation
    return None
