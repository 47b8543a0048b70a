"""Hostile Item trees: the model decodes them or raises its own error, never anything else.

Two sources of trees: random ones (KMIP, extension and reserved tags, every item type, values of
the right Python type or not), and valid messages with random mutations (a child replaced,
dropped, doubled, retyped or retagged), which reach deep into payloads. Whatever decodes must
also encode (or refuse with ModelEncodeError) and decode again to the same model.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmip_server.model import (
    ModelEncodeError,
    ModelError,
    RequestMessage,
    ResponseMessage,
    decode_request,
    decode_request_batch,
    decode_response,
    encode_request,
    encode_response,
)
from tests.unit.model.samples import model_classes, sample
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Tag

KMIP_TAGS = [int(t) for t in Tag]
TAGS = st.one_of(
    st.sampled_from(KMIP_TAGS),
    st.integers(0x540000, 0x5400FF),
    st.integers(0x420125, 0x420130),
    st.integers(0, 0xFFFFFF),
)
TYPES = st.sampled_from(list(ItemType))
INTS = st.one_of(
    st.integers(-3, 300),
    st.integers(-(1 << 70), 1 << 70),
    st.sampled_from([0x80000001, 0x7FFFFFFF, -(1 << 31), (1 << 31) - 1, (1 << 63) - 1, 1 << 63]),
)
RIGHT_VALUES: dict[ItemType, st.SearchStrategy[Any]] = {
    ItemType.INTEGER: INTS,
    ItemType.LONG_INTEGER: INTS,
    ItemType.BIG_INTEGER: INTS,
    ItemType.ENUMERATION: INTS,
    ItemType.DATE_TIME: INTS,
    ItemType.INTERVAL: INTS,
    ItemType.BOOLEAN: st.booleans(),
    ItemType.TEXT_STRING: st.sampled_from(["", "Name", "x-ID", "Cryptographic Algorithm", "State", "Link"])
    | st.text(max_size=8),
    ItemType.BYTE_STRING: st.binary(max_size=8),
}
ANY_VALUE = st.one_of(INTS, st.booleans(), st.text(max_size=4), st.binary(max_size=4), st.none(), st.just(()))


def leaves() -> st.SearchStrategy[Item]:
    right = TYPES.filter(lambda t: t is not ItemType.STRUCTURE).flatmap(
        lambda t: st.builds(Item, TAGS, st.just(t), RIGHT_VALUES[t])
    )
    wrong = st.builds(Item, TAGS, TYPES.filter(lambda t: t is not ItemType.STRUCTURE), ANY_VALUE)
    return st.one_of(right, right, right, wrong)


def trees(max_leaves: int = 25) -> st.SearchStrategy[Item]:
    return st.recursive(
        leaves(),
        lambda children: st.builds(
            Item, TAGS, st.just(ItemType.STRUCTURE), st.lists(children, max_size=6).map(tuple)
        ),
        max_leaves=max_leaves,
    )


def messages(tag: int, header_tag: int) -> st.SearchStrategy[Item]:
    """Random trees shaped like a message: a header with a Protocol Version, batch items."""
    version = st.builds(
        lambda major, minor: Item(
            Tag.PROTOCOL_VERSION,
            ItemType.STRUCTURE,
            (
                Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, major),
                Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, minor),
            ),
        ),
        st.sampled_from([1, 1, 1, 2]),
        st.integers(0, 6),
    )
    header = st.builds(
        lambda v, count, rest: Item(
            header_tag, ItemType.STRUCTURE, (v, *rest, Item(Tag.BATCH_COUNT, ItemType.INTEGER, count))
        ),
        version,
        st.integers(0, 3),
        st.lists(trees(6), max_size=2),
    )
    operation = st.builds(
        Item, st.just(int(Tag.OPERATION)), st.just(ItemType.ENUMERATION), st.integers(0, 0x2C)
    )
    batch_item = st.builds(
        lambda op, rest: Item(Tag.BATCH_ITEM, ItemType.STRUCTURE, (op, *rest)),
        operation,
        st.lists(trees(6), max_size=4),
    )
    return st.builds(
        lambda h, items: Item(tag, ItemType.STRUCTURE, (h, *items)),
        header,
        st.lists(batch_item, min_size=1, max_size=3),
    )


# Valid messages to mutate: every payload class inside a message of its operation.
def _valid_messages() -> list[Item]:
    from kmip_server.model import (  # noqa: PLC0415
        OPERATIONS,
        ProtocolVersion,
        RequestBatchItem,
        RequestHeader,
        ResponseBatchItem,
        ResponseHeader,
    )
    from ttlv.kmip14 import ResultStatus  # noqa: PLC0415

    found: list[Item] = []
    classes = set(model_classes())
    for spec in OPERATIONS.values():
        if spec.request in classes:
            found.append(
                encode_request(
                    RequestMessage(
                        request_header=RequestHeader(
                            protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1
                        ),
                        batch_items=(
                            RequestBatchItem(operation=spec.operation, request_payload=sample(spec.request)),
                        ),
                    )
                )
            )
        if spec.response is not None and spec.response in classes:
            found.append(
                encode_response(
                    ResponseMessage(
                        response_header=ResponseHeader(
                            protocol_version=ProtocolVersion(major=1, minor=4), time_stamp=0, batch_count=1
                        ),
                        batch_items=(
                            ResponseBatchItem(
                                operation=spec.operation,
                                result_status=ResultStatus.SUCCESS,
                                response_payload=sample(spec.response),
                            ),
                        ),
                    )
                )
            )
    return found


VALID = _valid_messages()


def _paths(item: Item, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    paths = [prefix]
    for index, child in enumerate(item.children):
        paths += _paths(child, (*prefix, index))
    return paths


def _at(item: Item, path: tuple[int, ...]) -> Item:
    for index in path:
        item = item.children[index]
    return item


def _replace(item: Item, path: tuple[int, ...], make: Any) -> Item:
    if not path:
        return make(item)  # type: ignore[no-any-return]
    children = list(item.children)
    children[path[0]] = _replace(children[path[0]], path[1:], make)
    return Item(item.tag, item.type, tuple(children))


@st.composite
def mutated(draw: st.DrawFn) -> Item:
    message = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(message)
        path = draw(st.sampled_from(paths[1:])) if len(paths) > 1 else ()
        kind = draw(st.sampled_from(["replace", "drop", "double", "retype", "retag", "revalue"]))
        target = _at(message, path)
        if kind == "replace":
            new = draw(trees())
            message = _replace(message, path, lambda _old, new=new: new)
        elif kind in ("drop", "double") and path:
            parent_path, index = path[:-1], path[-1]

            def edit(parent: Item, index: int = index, kind: str = kind) -> Item:
                children = list(parent.children)
                if kind == "drop":
                    del children[index]
                else:
                    children.insert(index, children[index])
                return Item(parent.tag, parent.type, tuple(children))

            message = _replace(message, parent_path, edit)
        elif kind == "retype":
            new_type = draw(TYPES)
            message = _replace(message, path, lambda old, t=new_type: Item(old.tag, t, old.value))
        elif kind == "retag":
            new_tag = draw(TAGS)
            message = _replace(message, path, lambda old, t=new_tag: Item(t, old.type, old.value))
        elif target.type is not ItemType.STRUCTURE:
            new_value = draw(RIGHT_VALUES[target.type])
            message = _replace(message, path, lambda old, v=new_value: Item(old.tag, old.type, v))
    return message


def check(item: Item) -> None:
    """Decode ``item`` every way; only ModelError may escape; what decodes round-trips.

    Decoding accepts every 1.4 field whatever the header's version while encoding omits fields
    newer than it (see ``messages``), so a 1.0 message carrying a 1.2 field loses it on the first
    encode. The property is therefore that one encode reaches a fixed point: what it produced
    decodes and encodes to the very same Item; a 1.4 message, with nothing to omit, round-trips whole."""
    with contextlib.suppress(ModelError):
        decode_request_batch(item)
    directions: tuple[tuple[Any, Any], ...] = (
        (decode_request, encode_request),
        (decode_response, encode_response),
    )
    for decode, encode in directions:
        try:
            message: Any = decode(item)
        except ModelError:
            continue
        try:
            again = encode(message)
        except ModelEncodeError:
            continue
        assert encode(decode(again)) == again
        header = getattr(message, "request_header", None) or message.response_header
        version = header.protocol_version
        if (version.major, version.minor) == (1, 4):
            assert decode(again) == message  # nothing to omit: a 1.4 message round-trips whole


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(trees())
def test_random_trees(item: Item) -> None:
    check(item)


@SETTINGS
@given(
    messages(Tag.REQUEST_MESSAGE, Tag.REQUEST_HEADER) | messages(Tag.RESPONSE_MESSAGE, Tag.RESPONSE_HEADER)
)
def test_random_message_shaped_trees(item: Item) -> None:
    check(item)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_messages(item: Item) -> None:
    check(item)


def test_the_valid_messages_decode() -> None:
    assert len(VALID) > 80
    for item in VALID:
        check(item)
        if item.tag == Tag.REQUEST_MESSAGE:
            assert encode_request(decode_request(item)) == item
        else:
            assert encode_response(decode_response(item)) == item
