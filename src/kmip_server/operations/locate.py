"""Locate (KMIP 1.4 section 4.9): the tenant's objects that match every attribute of the request.

Matching, attribute by attribute (every one must hold; several instances of one attribute must
each hold, except dates):
- Object Type, State and Name narrow the store's query (``LocateQuery``: indexed); the rest is
  evaluated here, on records (key material is never unwrapped). The State compared is the one
  the object's dates give now (an Activation Date that has passed makes a Pre-Active object
  Active), as Get would see it; the store is asked for every state that can lead there.
- A structure matches when every field the request gives matches (4.9: "all of the structure
  fields are not REQUIRED"): a Link with only a Linked Object Identifier matches any Link Type.
  Text and byte strings match exactly (no wild-cards). Custom attributes match by type and value.
- Dates: one instance matches that exact time; two instances are a range, limits included.
  The largest Date-Time stands for an undefined attribute (4.9): a single largest value matches
  objects without the attribute, and a range up to it includes them. More than two instances of
  a date is Invalid Field.
- Cryptographic Usage Mask: the object's mask has every requested bit (it may have more).
- Usage Limits: the object's Count and Total are at least the requested ones (Unit, if given,
  equal).
- An attribute given without a value matches objects that have the attribute at all.
- An attribute this protocol version does not define is Invalid Field (11.10); Attribute
  Index is ignored (4.9).

Judgement calls:
- Destroyed objects keep their attributes, but a live object may take the name of a destroyed
  one (the name rule, ``objects`` module docstring); so that "Locate by name, then Get" finds
  the live key, destroyed objects are located only when the request asks for a State (KMIP 2.0
  made the same choice explicit with its Destroyed Storage mask bit).
- Storage Status Mask: this server archives nothing, so only on-line storage has objects; a
  mask without On-line Storage locates nothing.
- Object Group Member: Group Member Fresh keeps the Fresh objects (3.34) among the matches;
  Group Member Default is, by this server's policy, the most recently created Active match.
- Order: creation order (oldest first), so that Offset Items pages stably.
- Located Items (1.3+) is returned when the client pages (Offset or Maximum Items given) or
  when ``MAX_LOCATED`` cut the answer short, so that it learns how many matched.
- ID Placeholder: the identifier when exactly one is returned; otherwise emptied, so that the
  operations batched after a Locate that did not single out one object fail (4.9).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kmip_server.attribute_policy import effective_state
from kmip_server.errors import InvalidField
from kmip_server.identity import Role
from kmip_server.model import (
    ATTRIBUTES,
    Attribute,
    AttributeValue,
    LocateRequestPayload,
    LocateResponsePayload,
    Name,
    UsageLimits,
    attribute_rule,
)
from kmip_server.model.codec import DateTime, Version
from kmip_server.objects import DESTROYED_STATES
from kmip_server.operations.context import HandlerSpec, OperationContext
from kmip_server.storage.objects import LocateQuery, ObjectRecord
from ttlv.item import Item
from ttlv.kmip14 import ObjectGroupMember, ObjectType, Operation, State, StorageStatusMask

__all__ = ["LARGEST_DATE_TIME", "MAX_LOCATED", "SPEC", "STATES_LEADING_TO", "handle", "value_matches"]

MAX_LOCATED = 10_000
"""Most Unique Identifiers one Locate returns when the request sets no smaller Maximum Items
(4.9: the server MAY impose an internal maximum)."""

LARGEST_DATE_TIME = (1 << 63) - 1
"""The largest Date-Time (a signed 64-bit count of seconds): an undefined date in Locate (4.9)."""

_DATES = frozenset(name for name, rule in ATTRIBUTES.items() if rule.value_type == DateTime)
_LIVE_STATES = frozenset(State) - DESTROYED_STATES

STATES_LEADING_TO: dict[State, frozenset[State]] = {
    State.PRE_ACTIVE: frozenset({State.PRE_ACTIVE}),
    State.ACTIVE: frozenset({State.PRE_ACTIVE, State.ACTIVE}),  # Activation Date reached
    State.DEACTIVATED: frozenset({State.PRE_ACTIVE, State.ACTIVE, State.DEACTIVATED}),
    State.COMPROMISED: frozenset({State.COMPROMISED}),
    State.DESTROYED: frozenset({State.DESTROYED}),
    State.DESTROYED_COMPROMISED: frozenset({State.DESTROYED_COMPROMISED}),
}
"""State -> the stored states of objects that may be in it now, their dates applied (3.22
transitions 4 and 6): what the store is asked for."""

_HAS_STATE = ATTRIBUTES["State"].applies_to


# --------------------------------------------------------------------------------------------
# Matching values


def value_matches(wanted: object, have: object) -> bool:
    """Whether an object's attribute value ``have`` matches the request's ``wanted``: equal, or
    for a structure, every field ``wanted`` gives matches (absent fields match anything)."""
    if wanted is None:
        return True
    if isinstance(wanted, Item):
        return isinstance(have, Item) and wanted.type == have.type and wanted.value == have.value
    if dataclasses.is_dataclass(wanted) and not isinstance(wanted, type):
        if type(have) is not type(wanted):
            return False
        for f in dataclasses.fields(wanted):
            part = getattr(wanted, f.name)
            if part is None:
                continue
            theirs = getattr(have, f.name)
            if isinstance(part, tuple):
                if not isinstance(theirs, tuple) or not all(
                    any(value_matches(p, t) for t in theirs) for p in part
                ):
                    return False
            elif not value_matches(part, theirs):
                return False
        return True
    return bool(wanted == have)


Values = dict[str, list[AttributeValue]]
Test = Callable[[Values], bool]


def _instance_test(name: str, wanted: AttributeValue | None) -> Test:
    if wanted is None:
        return lambda values: name in values
    return lambda values: any(value_matches(wanted, have) for have in values.get(name, ()))


def _date_test(name: str, wanted: list[int]) -> Test:
    low, high = min(wanted), max(wanted)
    if len(wanted) == 1:
        low = high = wanted[0]

    def test(values: Values) -> bool:
        have = values.get(name)
        date = have[0] if have and isinstance(have[0], int) else LARGEST_DATE_TIME
        return low <= date <= high

    return test


def _mask_test(wanted: int) -> Test:
    def test(values: Values) -> bool:
        have = next(iter(values.get("Cryptographic Usage Mask", ())), None)
        return isinstance(have, int) and (have & wanted) == wanted

    return test


def _usage_limits_test(wanted: UsageLimits) -> Test:
    def test(values: Values) -> bool:
        for have in values.get("Usage Limits", ()):
            if not isinstance(have, UsageLimits):
                continue
            count = have.usage_limits_count
            if count is None:  # nothing allocated yet: all of the Total remains (3.21)
                count = have.usage_limits_total
            if not _at_least(wanted.usage_limits_count, count):
                continue
            if not _at_least(wanted.usage_limits_total, have.usage_limits_total):
                continue
            if wanted.usage_limits_unit is None or wanted.usage_limits_unit == have.usage_limits_unit:
                return True
        return False

    return test


def _at_least(wanted: int | None, have: int | None) -> bool:
    return wanted is None or (have is not None and have >= wanted)


# --------------------------------------------------------------------------------------------
# The request, compiled


@dataclass(slots=True)
class _Criteria:
    query: LocateQuery
    nothing: bool = False  # contradictory criteria (two Object Types...): no object can match
    state: State | None = None
    tests: list[Test] = field(default_factory=list)
    names: frozenset[str] = frozenset()  # the attributes the tests read


def _criteria(attributes: Sequence[Attribute], version: Version) -> _Criteria:
    object_types: set[ObjectType] = set()
    states: set[State] = set()
    names: list[str] = []
    dates: dict[str, list[int]] = {}
    mask: int | None = None
    tests: list[Test] = []
    for attribute in attributes:
        name, value = attribute.name, attribute.value
        rule = attribute_rule(name)
        if rule is None or rule.since > version:
            raise InvalidField(f"{name[:64]}: not an attribute of this protocol version")
        if value is None:
            tests.append(_instance_test(name, None))
        elif name == "Object Type" and isinstance(value, ObjectType):
            object_types.add(value)
        elif name == "State" and isinstance(value, State):
            states.add(value)
        elif name in _DATES and isinstance(value, int):
            dates.setdefault(name, []).append(value)
        elif name == "Cryptographic Usage Mask" and isinstance(value, int):
            mask = value if mask is None else mask | value
        elif name == "Usage Limits" and isinstance(value, UsageLimits):
            tests.append(_usage_limits_test(value))
        else:
            if name == "Name" and isinstance(value, Name) and value.name_value is not None:
                names.append(value.name_value)
            tests.append(_instance_test(name, value))
    for name, values in dates.items():
        if len(values) > 2:
            raise InvalidField(f"{name}: a date is matched by one instance, or a range of two")
        tests.append(_date_test(name, values))
    if mask is not None:
        tests.append(_mask_test(mask))

    criteria = _Criteria(query=LocateQuery())
    if len(object_types) > 1 or len(states) > 1:
        criteria.nothing = True
        return criteria
    object_type = next(iter(object_types), None)
    criteria.state = next(iter(states), None)
    stored = _LIVE_STATES if criteria.state is None else STATES_LEADING_TO[criteria.state]
    criteria.query = LocateQuery(object_type=object_type, states=stored, names=tuple(names))
    criteria.tests = tests
    criteria.names = frozenset(attribute.name for attribute in attributes)
    return criteria


def _values(record: ObjectRecord, names: frozenset[str]) -> Values:
    """The values of the attributes ``names`` that ``record`` has (record fields included)."""
    values: Values = {}
    for attribute in record.attributes:
        if attribute.name in names:
            values.setdefault(attribute.name, []).append(attribute.value)
    if "Unique Identifier" in names:
        values["Unique Identifier"] = [record.unique_identifier]
    if "Object Type" in names:
        values["Object Type"] = [record.object_type]
    if "State" in names and record.object_type in _HAS_STATE:
        values["State"] = [record.state]
    return values


def _matching(records: Sequence[ObjectRecord], criteria: _Criteria, now: int) -> list[ObjectRecord]:
    result: list[ObjectRecord] = []
    for stored in records:
        state = effective_state(stored.state, stored.attributes, now)
        record = stored if state is stored.state else dataclasses.replace(stored, state=state)
        if criteria.state is not None and (
            state is not criteria.state or record.object_type not in _HAS_STATE
        ):
            continue
        if criteria.tests:
            values = _values(record, criteria.names)
            if not all(test(values) for test in criteria.tests):
                continue
        result.append(record)
    return result


def _group_member(records: list[ObjectRecord], member: ObjectGroupMember | int | None) -> list[ObjectRecord]:
    if member is ObjectGroupMember.GROUP_MEMBER_FRESH:
        return [r for r in records if any(a.name == "Fresh" and a.value is True for a in r.attributes)]
    if member is ObjectGroupMember.GROUP_MEMBER_DEFAULT:
        active = [r for r in records if r.state is State.ACTIVE]
        return active[-1:]
    return records


def _count(value: int | None, what: str) -> int:
    if value is None:
        return 0
    if value < 0:
        raise InvalidField(f"{what}: must not be negative")
    return value


async def handle(ctx: OperationContext, payload: LocateRequestPayload) -> LocateResponsePayload:
    objects = ctx.objects
    offset = _count(payload.offset_items, "Offset Items")
    limit = MAX_LOCATED if payload.maximum_items is None else _count(payload.maximum_items, "Maximum Items")
    criteria = _criteria(payload.attributes, ctx.version)
    mask = payload.storage_status_mask
    on_line = mask is None or bool(mask & StorageStatusMask.ON_LINE_STORAGE)
    matched: list[ObjectRecord] = []
    if on_line and not criteria.nothing:
        found = await objects.find(criteria.query)
        matched = _group_member(_matching(found, criteria, ctx.now), payload.object_group_member)
    returned = tuple(
        record.unique_identifier for record in matched[offset : offset + min(limit, MAX_LOCATED)]
    )
    ctx.id_placeholder = returned[0] if len(returned) == 1 else None
    paging = payload.offset_items is not None or payload.maximum_items is not None
    cut = len(matched) - offset > MAX_LOCATED
    return LocateResponsePayload(
        located_items=len(matched) if paging or cut else None, unique_identifiers=returned
    )


SPEC = HandlerSpec(
    operation=Operation.LOCATE,
    handler=handle,
    roles=frozenset({Role.TENANT_CLIENT}),
    mutates=False,
)
