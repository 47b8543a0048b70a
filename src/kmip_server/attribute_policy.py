"""What a client may do to the attributes of an existing object (Add, Modify and Delete
Attribute, KMIP 1.4 sections 4.14-4.16) and which it may give a new one (the templates of
Create, Register and Re-key: ``check_client_attributes``), by the rules tables of section 3,
and how stored attributes are shown with their Attribute Index (``presented``, the one
presentation Get Attributes, Get Attribute List and Get's key wrapping use).

Pure and synchronous: a record and a request in, the changed record and the attribute to answer
out, or a ``KmipError`` with the Result Reason of section 11 (Tables 341-343). The operations
add what needs the store (a Name carried by another object, the write itself).

Invariants:
- Who may do what comes from ``model.ATTRIBUTES`` (one row per attribute). A "Yes, only ..."
  rule (``Rule.CONDITIONAL``) is answered by ``CONDITIONS``, keyed by (attribute, change): each
  entry returns why the change is refused now, or None. Every conditional rule has its entry
  (a test checks it). Attributes the server derives from another one (Always Sensitive from
  Sensitive, 3.49; Never Extractable from Extractable, 3.51) follow it through ``DERIVED``.
- A client's value is stored as ``SHAPERS`` make it, whether it comes with Add, Modify or a
  new object's template: Usage Limits Count set to the Total (3.21), Application Specific
  Information without Application Data refused (3.36: the server generates none), and a custom
  attribute structure may not nest structures.
- Refusals of a change, as section 11 names them: an attribute the client may not set, change
  or delete (read-only, server-only, "y-" custom, or a condition not met) or one that does not
  apply to the object type is Permission Denied (in a new object's template: Invalid Field);
  adding a second instance of a single-instance attribute is Illegal Operation; an Attribute
  Index in Add is Invalid Field; Modify of an attribute the object lacks is Invalid Field, of an
  index it lacks Item Not Found; Delete of an attribute or index the object lacks is Item Not
  Found; a server limit on instances is Index Out Of Bounds.
- Attribute Indices never change when other instances come or go (section 2.1.1). Objects are
  created with their instances stored in index order and no index (the n-th instance has index
  n); once an instance of a multi-instance attribute is added or deleted, every instance of
  that attribute is stored with its index, and a new instance takes the highest index plus one.
  ``presented`` shows what is stored accordingly.
- Every change sets Last Change Date (3.38) to the request's time, and a change of Activation
  or Deactivation Date applies the state transitions it causes (3.22 transitions 4 and 6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

import ttlv
from kmip_server.errors import (
    ApplicationNamespaceNotSupported,
    IllegalOperation,
    IndexOutOfBounds,
    InvalidField,
    ItemNotFound,
    PermissionDenied,
)
from kmip_server.lifecycle import date_driven_state
from kmip_server.model import (
    ATTRIBUTES,
    ApplicationSpecificInformation,
    Attribute,
    AttributeRule,
    AttributeValue,
    Rule,
    TemplateAttribute,
    UsageLimits,
    attribute_rule,
)
from kmip_server.model.codec import Version, encode_struct
from kmip_server.objects import RECORD_FIELDS, first_value, replace_attribute
from kmip_server.storage.objects import ObjectRecord
from ttlv.item import Item, ItemType
from ttlv.kmip14 import ObjectType, Operation, State, Tag

__all__ = [
    "CONDITIONS",
    "DEFAULT_ATTRIBUTE_LIMITS",
    "DERIVED",
    "RECORD_FIELDS",
    "SHAPERS",
    "AttributeLimits",
    "Change",
    "added",
    "appended",
    "check_client_attributes",
    "deleted",
    "effective_state",
    "index_of",
    "modified",
    "presented",
]


@dataclass(frozen=True, slots=True)
class AttributeLimits:
    """How many attributes a client can pile onto one object (Add Attribute). Exceeding any is
    Index Out Of Bounds (11.15: "the server limit on instances has been reached")."""

    max_instances: int = 64
    """Instances of one multi-instance attribute (Name, Link, a custom attribute...)."""
    max_attributes: int = 1024
    """Attribute instances of one object, all names together."""
    max_encoded_bytes: int = 1 << 20
    """The TTLV encoding of all the attributes of one object (the store's own limit is higher)."""


DEFAULT_ATTRIBUTE_LIMITS = AttributeLimits()


class Change(IntEnum):
    """What a client does to an attribute."""

    ADD = 1  # Add Attribute (4.14): a first or further instance
    MODIFY = 2  # Modify Attribute (4.15)
    DELETE = 3  # Delete Attribute (4.16)


# --------------------------------------------------------------------------------------------
# Conditions of the "Yes, only ..." rules

Condition = Callable[[ObjectRecord, AttributeValue | None, int], str | None]
"""(record, the instance's current value or None, now) -> why the change is refused, or None."""

_LIVE = frozenset({State.PRE_ACTIVE, State.ACTIVE})


def _only_pre_active(record: ObjectRecord, _current: AttributeValue | None, _now: int) -> str | None:
    if record.state is State.PRE_ACTIVE:
        return None
    return "changeable only while the object is Pre-Active"


def _only_live(record: ObjectRecord, _current: AttributeValue | None, _now: int) -> str | None:
    if record.state in _LIVE:
        return None
    return "changeable only while the object is Pre-Active or Active"


def _live_and_not_reached(record: ObjectRecord, current: AttributeValue | None, now: int) -> str | None:
    refusal = _only_live(record, current, now)
    if refusal is None and isinstance(current, int) and current <= now:
        return "changeable only until the date is reached"
    return refusal


def _usage_not_allocated(_record: ObjectRecord, current: AttributeValue | None, _now: int) -> str | None:
    if not isinstance(current, UsageLimits):
        return None
    total, count = current.usage_limits_total, current.usage_limits_count
    if total is None or count is None or count == total:
        return None
    return "changeable only until usage has been allocated"


_C = Change
CONDITIONS: dict[tuple[str, Change], Condition] = {
    # 3.24: modifiable only while Pre-Active. Adding one later would change the past as well.
    ("Activation Date", _C.ADD): _only_pre_active,
    ("Activation Date", _C.MODIFY): _only_pre_active,
    # 3.25, 3.26: only while Pre-Active or Active, and as long as the date has not been reached.
    ("Process Start Date", _C.ADD): _only_live,
    ("Process Start Date", _C.MODIFY): _live_and_not_reached,
    ("Protect Stop Date", _C.ADD): _only_live,
    ("Protect Stop Date", _C.MODIFY): _live_and_not_reached,
    # 3.27: only while Pre-Active or Active.
    ("Deactivation Date", _C.ADD): _only_live,
    ("Deactivation Date", _C.MODIFY): _only_live,
    # 3.21: Total and Unit may change, and the attribute go, until Get Usage Allocation ran.
    ("Usage Limits", _C.MODIFY): _usage_not_allocated,
    ("Usage Limits", _C.DELETE): _usage_not_allocated,
}
"""(attribute, change) -> the condition its rules table puts on a client's change."""


# --------------------------------------------------------------------------------------------
# Values the server shapes, and attributes that follow others

Shaper = Callable[[AttributeValue, AttributeValue | None], AttributeValue]
"""(the client's value, the instance's current value or None) -> the value to store."""


def _usage_limits(value: AttributeValue, current: AttributeValue | None) -> AttributeValue:
    # 3.21: the client sets Total and/or Unit, never Count (a Count given is ignored); Count
    # starts at Total (nothing has been allocated, or the change would have been refused). A
    # first setting needs the Total: this server has no policy to choose one.
    if not isinstance(value, UsageLimits):
        raise InvalidField("Usage Limits: not a Usage Limits structure")
    before = current if isinstance(current, UsageLimits) else UsageLimits()
    total = value.usage_limits_total if value.usage_limits_total is not None else before.usage_limits_total
    unit = value.usage_limits_unit if value.usage_limits_unit is not None else before.usage_limits_unit
    if total is None:
        raise InvalidField("Usage Limits: Usage Limits Total is required")
    if total < 0:
        raise InvalidField("Usage Limits: Usage Limits Total is negative")
    return UsageLimits(usage_limits_total=total, usage_limits_count=total, usage_limits_unit=unit)


def _application_data_given(value: AttributeValue, _current: AttributeValue | None) -> AttributeValue:
    if isinstance(value, ApplicationSpecificInformation) and value.application_data is None:
        raise ApplicationNamespaceNotSupported
    return value


SHAPERS: dict[str, Shaper] = {
    "Usage Limits": _usage_limits,
    "Application Specific Information": _application_data_given,
}
"""Attribute -> how the server turns a client's value into the stored one (Add, Modify, and the
templates of the creating operations)."""

Derivation = Callable[[tuple[Attribute, ...], AttributeValue], tuple[Attribute, ...]]


def _always_sensitive(attributes: tuple[Attribute, ...], sensitive: AttributeValue) -> tuple[Attribute, ...]:
    # 3.49: False once Sensitive has ever been False.
    if sensitive is False and first_value(attributes, "Always Sensitive") is True:
        return replace_attribute(attributes, "Always Sensitive", False)
    return attributes


def _never_extractable(
    attributes: tuple[Attribute, ...], extractable: AttributeValue
) -> tuple[Attribute, ...]:
    # 3.51: False once Extractable has ever been True.
    if extractable is True and first_value(attributes, "Never Extractable") is True:
        return replace_attribute(attributes, "Never Extractable", False)
    return attributes


DERIVED: dict[str, Derivation] = {
    "Sensitive": _always_sensitive,
    "Extractable": _never_extractable,
}
"""Attribute -> how the attributes the server derives from it follow a change of its value."""


# --------------------------------------------------------------------------------------------
# Indices


def index_of(attributes: Iterable[Attribute]) -> list[int]:
    """The Attribute Index of each stored attribute, in order: its stored index, or its position
    among the instances of its name."""
    seen: dict[str, int] = {}
    result: list[int] = []
    for attribute in attributes:
        position = seen.get(attribute.name, 0)
        seen[attribute.name] = position + 1
        result.append(attribute.index if attribute.index is not None else position)
    return result


def presented(record: ObjectRecord, version: Version = (1, 4)) -> tuple[Attribute, ...]:
    """Every attribute of ``record`` as a client of protocol ``version`` sees it: Unique
    Identifier, Object Type and State (for the object types that have one) first, then the
    stored attributes the version defines, each with its Attribute Index (omitted when 0)."""
    result = [
        Attribute(name="Unique Identifier", value=record.unique_identifier),
        Attribute(name="Object Type", value=record.object_type),
    ]
    if record.object_type in ATTRIBUTES["State"].applies_to:
        result.append(Attribute(name="State", value=record.state))
    for attribute, index in zip(record.attributes, index_of(record.attributes), strict=True):
        rule = attribute_rule(attribute.name)
        if rule is None or rule.since > version:
            continue
        wanted = index or None
        result.append(
            attribute if attribute.index == wanted else dataclasses.replace(attribute, index=wanted)
        )
    return tuple(result)


def _with_explicit_indices(attributes: tuple[Attribute, ...], name: str) -> list[Attribute]:
    """``attributes`` with every instance of ``name`` carrying its index (before a change of the
    instances of ``name``, so that no other instance's index moves)."""
    return [
        dataclasses.replace(attribute, index=index) if attribute.name == name else attribute
        for attribute, index in zip(attributes, index_of(attributes), strict=True)
    ]


def appended(
    attributes: tuple[Attribute, ...], name: str, value: AttributeValue
) -> tuple[tuple[Attribute, ...], int]:
    """``attributes`` with a new instance of ``name`` holding ``value``, and its Attribute Index
    (0 for the first instance, else the highest so far plus one; no other index moves)."""
    indices = [index for a, index in zip(attributes, index_of(attributes), strict=True) if a.name == name]
    if not indices:
        return (*attributes, Attribute(name=name, value=value)), 0
    index = max(indices) + 1
    return (*_with_explicit_indices(attributes, name), Attribute(name=name, index=index, value=value)), index


def _answer(name: str, index: int, value: AttributeValue) -> Attribute:
    return Attribute(name=name, index=index or None, value=value)


# --------------------------------------------------------------------------------------------
# The changes


def _client_rule(name: str, record: ObjectRecord, version: Version, change: Change) -> AttributeRule:
    """The rule of attribute ``name`` once a client may make ``change`` to it on ``record``
    (conditions aside)."""
    rule = attribute_rule(name)
    if rule is None or rule.since > version:
        if change is Change.DELETE:
            raise ItemNotFound("the object has no attribute of this name")
        raise InvalidField(f"{name[:64]}: not an attribute of this protocol version")
    if name.startswith("y-"):
        raise PermissionDenied(f"{name[:64]}: a server custom attribute is read-only for clients")
    allowed = {
        Change.ADD: rule.client_may_set,
        Change.MODIFY: rule.client_may_modify is not Rule.NO,
        Change.DELETE: rule.client_may_delete is not Rule.NO,
    }[change]
    if name in RECORD_FIELDS or not allowed:
        raise PermissionDenied(f"{name}: read-only for clients")
    if record.object_type not in rule.applies_to:
        raise PermissionDenied(f"{name}: does not apply to this object type")
    return rule


def _check_condition(
    name: str, change: Change, record: ObjectRecord, current: AttributeValue | None, now: int
) -> None:
    condition = CONDITIONS.get((name, change))
    if condition is None:
        return
    refusal = condition(record, current, now)
    if refusal is not None:
        raise PermissionDenied(f"{name}: {refusal}")


def _shaped(name: str, value: AttributeValue, current: AttributeValue | None) -> AttributeValue:
    if (
        isinstance(value, Item)
        and value.type is ItemType.STRUCTURE
        and any(child.type is ItemType.STRUCTURE for child in value.children)
    ):
        raise InvalidField(f"{name[:64]}: a custom attribute structure cannot hold structures")
    shaper = SHAPERS.get(name)
    return value if shaper is None else shaper(value, current)


_OPERATION_PARAMETERS: dict[Operation, frozenset[str]] = {
    Operation.CREATE: frozenset({"Cryptographic Algorithm", "Cryptographic Length"}),
    Operation.REGISTER: frozenset({"Cryptographic Algorithm", "Cryptographic Length"}),
    Operation.CREATE_KEY_PAIR: frozenset({"Cryptographic Algorithm", "Cryptographic Length"}),
}
"""Attributes the rules table says the server sets, but which these operations take from the
client's template as parameters (section 4.1 Table 165, 4.2 Table 168, 4.3 Table 171): the
server checks them and sets them itself."""


def check_client_attributes(
    object_type: ObjectType, template: TemplateAttribute | None, operation: Operation
) -> tuple[Attribute, ...]:
    """The attributes a client gave for a new object (Create, Register, Re-key), checked against
    section 3's rules and shaped as Add Attribute shapes them (``SHAPERS``: Usage Limits Count
    set to the Total, 3.21; Application Data required, 3.36; custom structures flat).

    Raises ``ItemNotFound`` for template names (Template objects are not supported, so none
    exists: 11.2 "Templates that do not exist"); ``InvalidField`` for an attribute the client
    may not set, one that does not apply to the object type, a single-instance attribute given
    twice, or a value the shaping refuses (11.2 "Incorrect attribute value(s) specified");
    ``ApplicationNamespaceNotSupported`` for Application Specific Information without
    Application Data."""
    if template is None:
        return ()
    if template.names:
        raise ItemNotFound("template not found")
    parameters = _OPERATION_PARAMETERS.get(operation, frozenset())
    seen: set[str] = set()
    result: list[Attribute] = []
    for attribute in template.attributes:
        name = attribute.name
        rule = attribute_rule(name)
        if rule is None:
            raise InvalidField(f"{name[:64]}: not an attribute this server understands")
        if name.startswith("y-"):
            raise InvalidField(f"{name[:64]}: a server custom attribute cannot be set by a client")
        if name in RECORD_FIELDS or not (rule.client_may_set or name in parameters):
            raise InvalidField(f"{name}: set by the server, not by a client")
        if object_type not in rule.applies_to:
            raise InvalidField(f"{name}: does not apply to this object type")
        if attribute.value is None:
            raise InvalidField(f"{name[:64]}: attribute value missing")
        if name in seen and not rule.multi_instance:
            raise InvalidField(f"{name}: given more than once")
        seen.add(name)
        result.append(Attribute(name=name, value=_shaped(name, attribute.value, None)))
    return tuple(result)


def _changed(
    record: ObjectRecord, attributes: tuple[Attribute, ...], name: str, value: AttributeValue | None, now: int
) -> ObjectRecord:
    """``record`` with ``attributes``, after the attributes that follow ``name``, the state
    changes its dates cause, and Last Change Date."""
    derive = DERIVED.get(name)
    if derive is not None and value is not None:
        attributes = derive(attributes, value)
    state = effective_state(record.state, attributes, now)
    attributes = replace_attribute(attributes, "Last Change Date", now)
    return dataclasses.replace(record, state=state, attributes=attributes)


def effective_state(state: State, attributes: tuple[Attribute, ...], now: int) -> State:
    """The state once the Activation and Deactivation Dates that have passed by ``now`` took
    effect (3.22 transitions 4 and 6)."""
    activation = first_value(attributes, "Activation Date")
    deactivation = first_value(attributes, "Deactivation Date")
    if activation is None and deactivation is None:
        return state
    result, _applied = date_driven_state(
        state,
        activation if isinstance(activation, int) else None,
        deactivation if isinstance(deactivation, int) else None,
        now,
    )
    return result


def _within_limits(attributes: tuple[Attribute, ...], name: str, limits: AttributeLimits) -> None:
    if sum(1 for attribute in attributes if attribute.name == name) > limits.max_instances:
        raise IndexOutOfBounds(f"{name[:64]}: the server's limit on instances is reached")
    if len(attributes) > limits.max_attributes:
        raise IndexOutOfBounds("the server's limit on attributes per object is reached")
    _within_size(attributes, limits)


def _within_size(attributes: tuple[Attribute, ...], limits: AttributeLimits) -> None:
    encoded = ttlv.encode(encode_struct(TemplateAttribute(attributes=attributes), Tag.TEMPLATE_ATTRIBUTE))
    if len(encoded) > limits.max_encoded_bytes:
        raise IndexOutOfBounds("the server's limit on the size of an object's attributes is reached")


def added(
    record: ObjectRecord,
    attribute: Attribute,
    *,
    version: Version,
    now: int,
    limits: AttributeLimits = DEFAULT_ATTRIBUTE_LIMITS,
) -> tuple[ObjectRecord, Attribute]:
    """``record`` with a new instance of ``attribute`` (Add Attribute), and the instance as the
    response shows it (with its new Attribute Index)."""
    name = attribute.name
    if attribute.index is not None:
        raise InvalidField("Attribute Index: the server assigns it (4.14)")
    rule = _client_rule(name, record, version, Change.ADD)
    indices = [
        index
        for a, index in zip(record.attributes, index_of(record.attributes), strict=True)
        if a.name == name
    ]
    if indices and rule.multi_instance is Rule.NO:
        raise IllegalOperation(f"{name}: the object already has this attribute")
    _check_condition(name, Change.ADD, record, None, now)
    if attribute.value is None:
        raise InvalidField(f"{name[:64]}: attribute value missing")
    value = _shaped(name, attribute.value, None)
    if not indices:
        index = 0
        attributes = (*record.attributes, Attribute(name=name, value=value))
    else:
        index = max(indices) + 1
        explicit = _with_explicit_indices(record.attributes, name)
        attributes = (*explicit, Attribute(name=name, index=index, value=value))
    _within_limits(attributes, name, limits)
    return _changed(record, attributes, name, value, now), _answer(name, index, value)


def _instance(record: ObjectRecord, name: str, index: int) -> int | None:
    """The position in ``record.attributes`` of instance ``index`` of ``name``, or None."""
    for position, (attribute, at) in enumerate(
        zip(record.attributes, index_of(record.attributes), strict=True)
    ):
        if attribute.name == name and at == index:
            return position
    return None


def modified(
    record: ObjectRecord,
    attribute: Attribute,
    *,
    version: Version,
    now: int,
    limits: AttributeLimits = DEFAULT_ATTRIBUTE_LIMITS,
) -> tuple[ObjectRecord, Attribute]:
    """``record`` with instance ``attribute.index`` (0 when absent) of ``attribute.name`` set to
    ``attribute.value`` (Modify Attribute), and the instance as the response shows it."""
    name = attribute.name
    _client_rule(name, record, version, Change.MODIFY)
    index = attribute.index or 0
    if first_value(record.attributes, name) is None:
        raise InvalidField(f"{name}: the object has no such attribute (add it first)")
    position = _instance(record, name, index)
    if position is None:
        raise ItemNotFound(f"{name}: the object has no instance with this Attribute Index")
    current = record.attributes[position].value
    _check_condition(name, Change.MODIFY, record, current, now)
    if attribute.value is None:
        raise InvalidField(f"{name[:64]}: attribute value missing")
    value = _shaped(name, attribute.value, current)
    attributes = list(record.attributes)
    attributes[position] = dataclasses.replace(attributes[position], value=value)
    _within_size(tuple(attributes), limits)
    return _changed(record, tuple(attributes), name, value, now), _answer(name, index, value)


def deleted(
    record: ObjectRecord, name: str, index: int | None, *, version: Version, now: int
) -> tuple[ObjectRecord, Attribute]:
    """``record`` without instance ``index`` (0 when None) of attribute ``name`` (Delete
    Attribute), and the deleted instance as the response shows it."""
    _client_rule(name, record, version, Change.DELETE)
    wanted = index or 0
    position = _instance(record, name, wanted)
    if position is None:
        raise ItemNotFound(f"{name[:64]}: the object has no such attribute instance")
    current = record.attributes[position].value
    _check_condition(name, Change.DELETE, record, current, now)
    explicit = _with_explicit_indices(record.attributes, name)
    del explicit[position]
    return _changed(record, tuple(explicit), name, None, now), _answer(name, wanted, current)
