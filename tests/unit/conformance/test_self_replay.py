"""Self-replay over all 75 OASIS files: each expected response, with concrete values in place of
its placeholders, is accepted as the actual one (the matcher is not trivially failing); the same
with the permitted variations applied; and one strict value changed is caught (the matcher is
not trivially passing)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.cases import DEFAULT_CASES_DIR, TestCase, discover, load_case
from conformance.matcher import CaseRun, Difference
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Operation, QueryFunction, ResultStatus, Tag

CASE_FILES = discover(DEFAULT_CASES_DIR)
NOW = 1_700_000_000


Transform = Callable[[int, Item], Item]  # (exchange index, concrete expected response) -> actual


def _concrete_values(case: TestCase) -> dict[str, str | bytes | int]:
    """What a server might have chosen for each placeholder of ``case``."""
    values: dict[str, str | bytes | int] = {}
    for placeholder in case.placeholders:
        if placeholder.type is ItemType.TEXT_STRING:
            values[placeholder.name] = f"srv-{placeholder.name.lower()}-{os.urandom(4).hex()}"
        elif placeholder.type is ItemType.BYTE_STRING:
            values[placeholder.name] = os.urandom(24)
        else:
            values[placeholder.name] = NOW
    return values


def _replay(case: TestCase, transform: Transform | None = None) -> tuple[Difference | None, int]:
    """Run ``case`` with each expected response (made concrete, then transformed) as the actual."""
    values = _concrete_values(case)
    run = CaseRun(case.placeholders, [exchange.request for exchange in case.exchanges], started_at=NOW)
    for exchange in case.exchanges:
        sent = run.request(exchange.request, NOW)
        actual = case.placeholders.substitute(exchange.expected, values)
        if transform is not None:
            actual = transform(exchange.index, actual)
        difference = run.check(exchange.expected, actual, sent, NOW)
        if difference is not None:
            return difference, exchange.index
    return None, -1


def _ids(path: Path) -> str:
    return path.name.removesuffix(".xml")


def test_all_75_files_are_present() -> None:
    assert len(CASE_FILES) == 75
    assert sum(path.parent.name == "optional" for path in CASE_FILES) == 7


@pytest.mark.parametrize("path", CASE_FILES, ids=_ids)
def test_the_expected_responses_match_themselves(path: Path) -> None:
    difference, index = _replay(load_case(path))
    assert difference is None, f"exchange {index}: {difference}"


# --------------------------------------------------------------------------------------------
# Permitted variations applied to every file


def _rebuild(item: Item, children: list[Item]) -> Item:
    return Item(item.tag, ItemType.STRUCTURE, tuple(children))


def _edit(item: Item, tag: int, change: Callable[[Item], Item], *, first_only: bool = False) -> Item:
    """``item`` with ``change`` applied to its children of ``tag`` (or only the first of them)."""
    children, done = [], False
    for child in item.children:
        hit = child.tag == tag and not (first_only and done)
        children.append(change(child) if hit else child)
        done = done or hit
    return _rebuild(item, children)


def _operation(batch_item: Item) -> int | None:
    found = batch_item.find(Tag.OPERATION)
    return found.value if found is not None and isinstance(found.value, int) else None


_UNORDERED: dict[int, int] = {
    Operation.GET_ATTRIBUTES: Tag.ATTRIBUTE,
    Operation.GET_ATTRIBUTE_LIST: Tag.ATTRIBUTE_NAME,
    Operation.LOCATE: Tag.UNIQUE_IDENTIFIER,
}


def _vary_payload(operation: int | None, payload: Item) -> Item:
    children = list(payload.children)
    repeated = _UNORDERED.get(operation or 0)
    if repeated is not None:
        fixed = [child for child in children if child.tag != repeated]
        instances = [child for child in children if child.tag == repeated]
        return _rebuild(payload, fixed + instances[::-1])
    if operation == Operation.QUERY:
        if any(child.tag == Tag.OPERATION for child in children):
            # One more operation, and the list in another order.
            children.insert(0, Item(Tag.OPERATION, ItemType.ENUMERATION, Operation.POLL))
        return _edit(
            _rebuild(payload, children),
            Tag.VENDOR_IDENTIFICATION,
            lambda field: Item(field.tag, field.type, "another vendor"),
        )
    return payload


def _vary_batch_item(batch_item: Item) -> Item:
    operation = _operation(batch_item)
    batch_item = _edit(
        batch_item, Tag.RESULT_MESSAGE, lambda field: Item(field.tag, field.type, "a different explanation")
    )
    return _edit(batch_item, Tag.RESPONSE_PAYLOAD, lambda payload: _vary_payload(operation, payload))


def _vary(_: int, response: Item) -> Item:
    """Result Message text changed, repeated fields reversed, Query lists extended."""
    return _edit(response, Tag.BATCH_ITEM, _vary_batch_item)


@pytest.mark.parametrize("path", CASE_FILES, ids=_ids)
def test_the_permitted_variations_are_accepted(path: Path) -> None:
    difference, index = _replay(load_case(path), _vary)
    assert difference is None, f"exchange {index}: {difference}"


def test_the_variation_helper_really_varies_something() -> None:
    changed = 0
    for path in CASE_FILES:
        case = load_case(path)
        values = _concrete_values(case)
        for exchange in case.exchanges:
            concrete = case.placeholders.substitute(exchange.expected, values)
            changed += _vary(exchange.index, concrete) != concrete
    assert changed > 50


def test_query_requests_ask_for_operations_somewhere() -> None:
    # The Query variation above adds an Operation; it only means something if files query them.
    asked = 0
    for path in CASE_FILES:
        for exchange in load_case(path).exchanges:
            for batch_item in exchange.request.find_all(Tag.BATCH_ITEM):
                payload = batch_item.find(Tag.REQUEST_PAYLOAD)
                functions = payload.find_all(Tag.QUERY_FUNCTION) if payload is not None else []
                asked += any(function.value == QueryFunction.QUERY_OPERATIONS for function in functions)
    assert asked >= 5


# --------------------------------------------------------------------------------------------
# One strict value changed in each file


def _at(target: int, change: Callable[[Item], Item]) -> Transform:
    def transform(index: int, response: Item) -> Item:
        return change(response) if index == target else response

    return transform


def _flipped(status: Item) -> Item:
    success = status.value == ResultStatus.SUCCESS
    return Item(status.tag, status.type, ResultStatus.OPERATION_FAILED if success else ResultStatus.SUCCESS)


def _flip_status(target: int) -> Transform:
    """The Result Status of the first batch item of response ``target`` turned around."""
    return _at(
        target,
        lambda response: _edit(
            response,
            Tag.BATCH_ITEM,
            lambda batch_item: _edit(batch_item, Tag.RESULT_STATUS, _flipped),
            first_only=True,
        ),
    )


def _plus_one(count: Item) -> Item:
    assert isinstance(count.value, int)
    return Item(count.tag, count.type, count.value + 1)


def _bump_batch_count(target: int) -> Transform:
    return _at(
        target,
        lambda response: _edit(
            response, Tag.RESPONSE_HEADER, lambda header: _edit(header, Tag.BATCH_COUNT, _plus_one)
        ),
    )


def _drop_first_payload_field(target: int) -> Transform:
    def drop(payload: Item) -> Item:
        return _rebuild(payload, list(payload.children[1:]))

    return _at(
        target,
        lambda response: _edit(
            response,
            Tag.BATCH_ITEM,
            lambda batch_item: _edit(batch_item, Tag.RESPONSE_PAYLOAD, drop),
        ),
    )


@pytest.mark.parametrize("path", CASE_FILES, ids=_ids)
def test_a_flipped_result_status_in_the_last_exchange_fails(path: Path) -> None:
    case = load_case(path)
    last = len(case.exchanges) - 1
    difference, index = _replay(case, _flip_status(last))
    assert difference is not None
    assert index == last
    assert difference.path.endswith("ResultStatus")


@pytest.mark.parametrize("path", CASE_FILES, ids=_ids)
def test_a_wrong_batch_count_in_the_first_exchange_fails(path: Path) -> None:
    difference, index = _replay(load_case(path), _bump_batch_count(0))
    assert difference is not None
    assert index == 0
    assert difference.path == "ResponseMessage/ResponseHeader/BatchCount"


@pytest.mark.parametrize("path", CASE_FILES, ids=_ids)
def test_a_dropped_payload_field_fails(path: Path) -> None:
    case = load_case(path)
    # The first exchange whose response has a payload with fields.
    target = next(
        (
            exchange.index
            for exchange in case.exchanges
            if any(
                (payload := batch_item.find(Tag.RESPONSE_PAYLOAD)) is not None and payload.children
                for batch_item in exchange.expected.find_all(Tag.BATCH_ITEM)
            )
        ),
        None,
    )
    if target is None:
        pytest.skip("no response payload with fields")
    difference, index = _replay(case, _drop_first_payload_field(target))
    assert difference is not None
    assert index == target
    assert difference.reason in {"missing", "different item"}
