"""The attribute policy's tables and its pure changes (no engine): every conditional rule has
its condition, indices never move, derived attributes follow, limits hold."""

from __future__ import annotations

import dataclasses

import pytest

from kmip_server.attribute_policy import (
    CONDITIONS,
    DERIVED,
    SHAPERS,
    AttributeLimits,
    Change,
    added,
    appended,
    deleted,
    index_of,
    modified,
    presented,
)
from kmip_server.errors import (
    IllegalOperation,
    IndexOutOfBounds,
    InvalidField,
    ItemNotFound,
    PermissionDenied,
)
from kmip_server.model import ATTRIBUTES, Attribute, Name, Rule
from kmip_server.storage.objects import ObjectRecord
from ttlv.kmip14 import NameType, ObjectType, State

NOW = 1_700_000_000


def record(*attributes: Attribute, state: State = State.PRE_ACTIVE) -> ObjectRecord:
    base = (
        Attribute(name="Initial Date", value=NOW),
        Attribute(name="Last Change Date", value=NOW),
        Attribute(name="Sensitive", value=True),
        Attribute(name="Always Sensitive", value=True),
    )
    return ObjectRecord(
        unique_identifier="u",
        tenant_id="t",
        service="s",
        object_type=ObjectType.SYMMETRIC_KEY,
        state=state,
        attributes=(*base, *attributes),
    )


def group(value: str) -> Attribute:
    return Attribute(name="Object Group", value=value)


def test_every_conditional_rule_has_its_condition() -> None:
    for name, rule in ATTRIBUTES.items():
        if rule.client_may_modify is Rule.CONDITIONAL:
            assert (name, Change.MODIFY) in CONDITIONS, name
        if rule.client_may_delete is Rule.CONDITIONAL:
            assert (name, Change.DELETE) in CONDITIONS, name
    for name, change in CONDITIONS:
        assert name in ATTRIBUTES
        rule = ATTRIBUTES[name]
        allowed = {
            Change.ADD: rule.client_may_set,
            Change.MODIFY: rule.client_may_modify is not Rule.NO,
            Change.DELETE: rule.client_may_delete is not Rule.NO,
        }[change]
        assert allowed, (name, change)  # a condition on something never allowed would be dead
    assert set(DERIVED) | set(SHAPERS) <= set(ATTRIBUTES)


def test_index_of_positions_and_stored_indices() -> None:
    attributes = (
        group("a"),
        Attribute(name="Name", value="n"),
        group("b"),
        Attribute(name="Object Group", index=7, value="c"),
    )
    assert index_of(attributes) == [0, 0, 1, 7]


def test_appended_never_moves_an_index() -> None:
    attributes, index = appended((group("a"), group("b")), "Object Group", "c")
    assert index == 2
    assert [a.index for a in attributes] == [0, 1, 2]
    attributes, index = appended((Attribute(name="Object Group", index=5, value="x"),), "Object Group", "y")
    assert index == 6
    attributes, index = appended((), "Object Group", "first")
    assert (index, attributes[0].index) == (0, None)


def test_presented_shows_stored_indices() -> None:
    shown = presented(record(group("a"), Attribute(name="Object Group", index=3, value="b")))
    groups = [a for a in shown if a.name == "Object Group"]
    assert [(a.index, a.value) for a in groups] == [(None, "a"), (3, "b")]
    assert [a.name for a in shown[:3]] == ["Unique Identifier", "Object Type", "State"]


def test_add_modify_delete_round_trip_with_last_change_date() -> None:
    before = record(group("a"))
    after, answer = added(before, group("b"), version=(1, 4), now=NOW + 1)
    assert answer == Attribute(name="Object Group", index=1, value="b")
    after, answer = modified(after, dataclasses.replace(group("B"), index=1), version=(1, 4), now=NOW + 2)
    assert answer.value == "B"
    after, answer = deleted(after, "Object Group", 0, version=(1, 4), now=NOW + 3)
    assert answer == group("a")
    values = {a.name: a for a in after.attributes}
    assert values["Last Change Date"].value == NOW + 3
    assert values["Object Group"] == Attribute(name="Object Group", index=1, value="B")
    assert before.attributes[-1] == group("a")  # pure: the input is untouched


def test_refusals_by_table() -> None:
    base = record(Attribute(name="Contact Information", value="c"))
    with pytest.raises(IllegalOperation):
        added(base, Attribute(name="Contact Information", value="d"), version=(1, 4), now=NOW)
    with pytest.raises(PermissionDenied):
        added(base, Attribute(name="Digest", value=b""), version=(1, 4), now=NOW)
    with pytest.raises(InvalidField):
        added(base, Attribute(name="Description", value="d"), version=(1, 3), now=NOW)  # a 1.4 attribute
    with pytest.raises(InvalidField):
        modified(base, Attribute(name="Comment", value="c"), version=(1, 4), now=NOW)
    with pytest.raises(ItemNotFound):
        modified(base, Attribute(name="Contact Information", index=1, value="c"), version=(1, 4), now=NOW)
    with pytest.raises(PermissionDenied):
        deleted(base, "Sensitive", None, version=(1, 4), now=NOW)
    with pytest.raises(ItemNotFound):
        deleted(base, "Comment", None, version=(1, 4), now=NOW)


def test_sensitive_false_clears_always_sensitive() -> None:
    after, _answer = modified(record(), Attribute(name="Sensitive", value=False), version=(1, 4), now=NOW)
    assert {a.name: a.value for a in after.attributes}["Always Sensitive"] is False


def test_dates_move_the_state() -> None:
    after, _answer = added(record(), Attribute(name="Activation Date", value=NOW), version=(1, 4), now=NOW)
    assert after.state is State.ACTIVE
    after, _answer = added(after, Attribute(name="Deactivation Date", value=NOW + 5), version=(1, 4), now=NOW)
    assert after.state is State.ACTIVE
    later, _answer = modified(
        after, Attribute(name="Deactivation Date", value=NOW), version=(1, 4), now=NOW + 1
    )
    assert later.state is State.DEACTIVATED


def test_limits() -> None:
    limits = AttributeLimits(max_instances=2, max_attributes=7, max_encoded_bytes=1 << 20)
    base = record()
    once, _ = added(base, group("1"), version=(1, 4), now=NOW, limits=limits)
    twice, _ = added(once, group("2"), version=(1, 4), now=NOW, limits=limits)
    with pytest.raises(IndexOutOfBounds):
        added(twice, group("3"), version=(1, 4), now=NOW, limits=limits)
    name = Name(name_value="n", name_type=NameType.UNINTERPRETED_TEXT_STRING)
    seven, _ = added(twice, Attribute(name="Name", value=name), version=(1, 4), now=NOW, limits=limits)
    with pytest.raises(IndexOutOfBounds):
        added(seven, Attribute(name="Comment", value="c"), version=(1, 4), now=NOW, limits=limits)
    small = AttributeLimits(max_encoded_bytes=200)
    with pytest.raises(IndexOutOfBounds):
        added(base, Attribute(name="Comment", value="c" * 200), version=(1, 4), now=NOW, limits=small)
