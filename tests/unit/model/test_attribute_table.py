"""The attribute table (kmip_server.model.attribute_table) against KMIP 1.4 section 3."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from kmip_server.model import (
    ATTRIBUTES,
    CUSTOM_ATTRIBUTE,
    Rule,
    Setter,
    attribute_rule,
    attribute_value_codec,
    is_custom_attribute_name,
)
from kmip_server.model.attribute_table import ALL_CRYPTOGRAPHIC_OBJECTS, ALL_OBJECTS
from kmip_server.model.codec import tag_since
from ttlv.kmip14 import TAG_NAMES, ObjectType, Operation, Tag

SPEC = Path(os.environ.get("KMIP_SPEC_HTML", "/work/shared/kmip-1.4/spec/kmip-spec-v1.4-os.html"))


def spec_section_3_attributes() -> dict[str, str]:
    """Section number -> attribute name, from the headings of section 3 of the spec HTML."""
    text = SPEC.read_text(encoding="utf-8", errors="replace")
    found: dict[str, str] = {}
    for match in re.finditer(r"<h2[^>]*>(.*?)</h2>", text, re.S):
        heading = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))).strip()
        number = re.match(r"(3\.\d+) (.+)", heading)
        if number:
            found[number.group(1)] = number.group(2)
    return found


@pytest.mark.skipif(not SPEC.exists(), reason=f"the KMIP 1.4 spec HTML is not at {SPEC} (set KMIP_SPEC_HTML)")
def test_every_attribute_of_section_3_is_in_the_table() -> None:
    spec = spec_section_3_attributes()
    assert len(spec) == 51
    by_section = {rule.section: rule.name for rule in ATTRIBUTES.values()}
    by_section[CUSTOM_ATTRIBUTE.section] = CUSTOM_ATTRIBUTE.name
    assert by_section == spec


def test_sections_are_3_1_to_3_51_in_order() -> None:
    sections = [rule.section for rule in ATTRIBUTES.values()]
    expected = [f"3.{n}" for n in range(1, 52) if n != 39]  # 3.39: custom attributes, by prefix
    assert sections == expected
    assert CUSTOM_ATTRIBUTE.section == "3.39"


def test_each_attribute_has_the_tag_of_its_name() -> None:
    for name, rule in ATTRIBUTES.items():
        assert TAG_NAMES[rule.tag] == name


def test_versions_are_those_of_the_tags() -> None:
    for rule in ATTRIBUTES.values():
        assert rule.since == tag_since(rule.tag), rule.name


def test_every_value_type_has_a_codec() -> None:
    for name in ATTRIBUTES:
        assert attribute_value_codec(name) is not None
    assert attribute_value_codec("x-anything") is None


@pytest.mark.parametrize(
    ("name", "client_set", "client_modify", "client_delete", "multi"),
    [
        ("Unique Identifier", False, Rule.NO, Rule.NO, Rule.NO),
        ("Name", True, Rule.YES, Rule.YES, Rule.YES),
        ("Cryptographic Usage Mask", True, Rule.NO, Rule.NO, Rule.NO),
        ("Cryptographic Parameters", True, Rule.YES, Rule.YES, Rule.YES),
        ("Cryptographic Domain Parameters", True, Rule.NO, Rule.NO, Rule.NO),
        ("State", False, Rule.NO, Rule.NO, Rule.NO),
        ("Activation Date", True, Rule.CONDITIONAL, Rule.NO, Rule.NO),
        ("Usage Limits", True, Rule.CONDITIONAL, Rule.CONDITIONAL, Rule.NO),
        ("Object Group", True, Rule.YES, Rule.YES, Rule.YES),
        ("Link", True, Rule.YES, Rule.YES, Rule.YES),
        ("Contact Information", True, Rule.YES, Rule.YES, Rule.NO),
        ("Last Change Date", False, Rule.NO, Rule.NO, Rule.NO),
        ("Digital Signature Algorithm", False, Rule.NO, Rule.NO, Rule.CONDITIONAL),
        ("Key Value Present", False, Rule.NO, Rule.NO, Rule.NO),
        ("Key Value Location", True, Rule.YES, Rule.YES, Rule.YES),
        ("Sensitive", True, Rule.YES, Rule.NO, Rule.NO),
        ("Always Sensitive", False, Rule.NO, Rule.NO, Rule.NO),
        ("Description", True, Rule.YES, Rule.YES, Rule.NO),
    ],
)
def test_rules_as_the_spec_tables_give_them(
    name: str, client_set: bool, client_modify: Rule, client_delete: Rule, multi: Rule
) -> None:
    rule = ATTRIBUTES[name]
    assert rule.client_may_set is client_set
    assert (rule.client_may_modify, rule.client_may_delete, rule.multi_instance) == (
        client_modify,
        client_delete,
        multi,
    )


def test_conditional_rules_say_their_condition() -> None:
    for rule in ATTRIBUTES.values():
        conditional = Rule.CONDITIONAL in (
            rule.always_has_value,
            rule.server_may_modify,
            rule.client_may_modify,
            rule.client_may_delete,
            rule.multi_instance,
        )
        if conditional:
            assert rule.conditions, rule.name


def test_object_type_groups() -> None:
    assert ATTRIBUTES["Name"].applies_to == ALL_OBJECTS
    assert ATTRIBUTES["State"].applies_to == ALL_CRYPTOGRAPHIC_OBJECTS
    assert ObjectType.TEMPLATE not in ALL_CRYPTOGRAPHIC_OBJECTS
    assert ObjectType.OPAQUE_OBJECT not in ALL_CRYPTOGRAPHIC_OBJECTS
    assert ATTRIBUTES["Certificate Type"].applies_to == {ObjectType.CERTIFICATE}
    assert ObjectType.OPAQUE_OBJECT in ATTRIBUTES["Destroy Date"].applies_to


def test_implicit_setting_operations() -> None:
    assert Operation.DESTROY in ATTRIBUTES["Destroy Date"].implicitly_set_by
    assert ATTRIBUTES["Archive Date"].implicitly_set_by == {Operation.ARCHIVE}
    assert Operation.GET_USAGE_ALLOCATION in ATTRIBUTES["Last Change Date"].implicitly_set_by
    assert ATTRIBUTES["Key Value Location"].implicitly_set_by == frozenset()


def test_custom_attribute_names() -> None:
    assert is_custom_attribute_name("x-ID")
    assert is_custom_attribute_name("y-server")
    assert not is_custom_attribute_name("X-upper")
    assert not is_custom_attribute_name("Name")
    assert attribute_rule("x-ID") is CUSTOM_ATTRIBUTE
    assert attribute_rule("Name") is ATTRIBUTES["Name"]
    assert attribute_rule("Nope") is None
    assert CUSTOM_ATTRIBUTE.initially_set_by == Setter.SERVER | Setter.CLIENT
    assert CUSTOM_ATTRIBUTE.tag == Tag.CUSTOM_ATTRIBUTE
