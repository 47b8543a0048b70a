"""The conformance matcher over hand-built expected/actual pairs: each permitted variation is
accepted, each real difference is reported with its path, nothing secret is printed."""

from __future__ import annotations

import pytest

from conformance.matcher import CaseRun, Difference, ReplayState, TimeWindow, describe, match_response
from ttlv.item import Item, ItemType
from ttlv.kmip14 import Tag
from ttlv.xml import PlaceholderError, Placeholders, from_xml

NOW = 1_700_000_000
WINDOW = TimeWindow(NOW - 10, NOW + 10)

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
OTHER_KEY = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"


def header(version: int = 4, count: int = 1, stamp: str = "$NOW") -> str:
    return f"""
  <ResponseHeader>
    <ProtocolVersion>
      <ProtocolVersionMajor type="Integer" value="1"/>
      <ProtocolVersionMinor type="Integer" value="{version}"/>
    </ProtocolVersion>
    <TimeStamp type="DateTime" value="{stamp}"/>
    <BatchCount type="Integer" value="{count}"/>
  </ResponseHeader>"""


def response(*batch_items: str, version: int = 4, stamp: str = "$NOW") -> str:
    return (
        f"<ResponseMessage>{header(version, len(batch_items), stamp)}{''.join(batch_items)}</ResponseMessage>"
    )


def request(*batch_items: str) -> str:
    return f"""<RequestMessage>
  <RequestHeader>
    <ProtocolVersion>
      <ProtocolVersionMajor type="Integer" value="1"/>
      <ProtocolVersionMinor type="Integer" value="4"/>
    </ProtocolVersion>
    <BatchCount type="Integer" value="{len(batch_items)}"/>
  </RequestHeader>{"".join(batch_items)}</RequestMessage>"""


def item(operation: str, payload: str = "", *, status: str = "Success", extra: str = "") -> str:
    body = f"<ResponsePayload>{payload}</ResponsePayload>" if payload else ""
    return f"""<BatchItem><Operation type="Enumeration" value="{operation}"/>
<ResultStatus type="Enumeration" value="{status}"/>{extra}{body}</BatchItem>"""


def request_item(operation: str, payload: str = "") -> str:
    return f"""<BatchItem><Operation type="Enumeration" value="{operation}"/>
<RequestPayload>{payload}</RequestPayload></BatchItem>"""


def uid(value: str) -> str:
    return f'<UniqueIdentifier type="TextString" value="{value}"/>'


def attribute(name: str, value_type: str, value: str) -> str:
    return f"""<Attribute><AttributeName type="TextString" value="{name}"/>
<AttributeValue type="{value_type}" value="{value}"/></Attribute>"""


def digest(value: str) -> str:
    return f"""<Attribute><AttributeName type="TextString" value="Digest"/><AttributeValue>
<HashingAlgorithm type="Enumeration" value="SHA_256"/>
<DigestValue type="ByteString" value="{value}"/>
<KeyFormatType type="Enumeration" value="Raw"/></AttributeValue></Attribute>"""


class Fixture:
    """One file's placeholder table and capture state, and a way to compare XML texts."""

    def __init__(self) -> None:
        self.placeholders = Placeholders()
        self.state = ReplayState()

    def expected(self, xml: str) -> Item:
        return from_xml(xml, placeholders=self.placeholders)

    def compare(
        self, expected: str, actual: str, sent: str | None = None, window: TimeWindow = WINDOW
    ) -> Difference | None:
        actual_item = from_xml(actual.replace("$NOW", "2023-11-14T22:13:20+00:00"))
        return match_response(
            self.expected(expected),
            actual_item,
            placeholders=self.placeholders,
            state=self.state,
            window=window,
            request=from_xml(sent) if sent is not None else None,
        )


@pytest.fixture
def fx() -> Fixture:
    return Fixture()


def test_now_literal_is_inside_the_test_window() -> None:
    # The fixture writes actual $NOW as this literal: make sure it is NOW.
    assert from_xml('<TimeStamp type="DateTime" value="2023-11-14T22:13:20+00:00"/>').value == NOW


# --------------------------------------------------------------------------------------------
# Identical and strict differences


def test_identical_responses_match(fx: Fixture) -> None:
    text = response(item("Destroy", uid("abc")))
    assert fx.compare(text, text) is None


def test_a_different_enumeration_is_reported_with_its_path_and_names(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Destroy", uid("abc"))), response(item("Destroy", uid("abc"), status="OperationFailed"))
    )
    assert difference is not None
    assert difference.path == "ResponseMessage/BatchItem/ResultStatus"
    assert difference.reason == "value differs"
    assert (difference.expected, difference.actual) == ("Success", "OperationFailed")


def test_a_different_type_is_a_difference(fx: Fixture) -> None:
    expected = response(item("Get", uid("a") + '<ObjectType type="Enumeration" value="SymmetricKey"/>'))
    actual = response(item("Get", uid("a") + '<ObjectType type="Integer" value="2"/>'))
    difference = fx.compare(expected, actual)
    assert difference is not None
    assert difference.reason == "type differs"
    assert difference.path.endswith("ResponsePayload/ObjectType")


def test_a_missing_field_is_reported(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("a"))),
        response(item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>')),
    )
    assert difference is not None
    assert difference.reason == "missing"
    assert difference.path == "ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier"


def test_an_extra_field_is_reported(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Destroy", uid("a"))),
        response(item("Destroy", uid("a") + '<ObjectType type="Enumeration" value="SymmetricKey"/>')),
    )
    assert difference is not None
    assert difference.reason == "unexpected item"
    assert difference.path == "ResponseMessage/BatchItem/ResponsePayload/ObjectType"


def test_fields_out_of_order_are_a_difference(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("a"))),
        response(item("Create", uid("a") + '<ObjectType type="Enumeration" value="SymmetricKey"/>')),
    )
    assert difference is not None
    assert difference.reason == "different item"


def test_batch_items_must_keep_their_order(fx: Fixture) -> None:
    first, second = item("Activate", uid("a")), item("Destroy", uid("a"))
    difference = fx.compare(response(first, second), response(second, first))
    assert difference is not None
    assert difference.path == "ResponseMessage/BatchItem[0]/Operation"
    assert (difference.expected, difference.actual) == ("Activate", "Destroy")


def test_a_different_protocol_version_is_a_difference(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Destroy", uid("a"))), response(item("Destroy", uid("a")), version=3)
    )
    assert difference is not None
    assert difference.path == "ResponseMessage/ResponseHeader/ProtocolVersion/ProtocolVersionMinor"


def test_a_wrong_result_reason_is_a_difference(fx: Fixture) -> None:
    reason = '<ResultReason type="Enumeration" value="{}"/>'
    difference = fx.compare(
        response(item("Destroy", status="OperationFailed", extra=reason.format("PermissionDenied"))),
        response(item("Destroy", status="OperationFailed", extra=reason.format("ItemNotFound"))),
    )
    assert difference is not None
    assert (difference.expected, difference.actual) == ("PermissionDenied", "ItemNotFound")


# --------------------------------------------------------------------------------------------
# Placeholders


def test_an_identifier_placeholder_is_captured_then_must_stay_the_same() -> None:
    fx = Fixture()
    assert (
        fx.compare(
            response(item("Create", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Create", uid("k-1")))
        )
        is None
    )
    assert fx.state.values["UNIQUE_IDENTIFIER_0"] == "k-1"
    assert (
        fx.compare(
            response(item("Destroy", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Destroy", uid("k-1")))
        )
        is None
    )
    difference = fx.compare(
        response(item("Destroy", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Destroy", uid("k-2")))
    )
    assert difference is not None
    assert difference.reason == "not the value captured earlier"
    assert difference.path == "ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier"
    assert "$UNIQUE_IDENTIFIER_0" in difference.expected


def test_two_identifier_placeholders_cannot_share_a_value(fx: Fixture) -> None:
    assert (
        fx.compare(
            response(item("Create", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Create", uid("k-1")))
        )
        is None
    )
    difference = fx.compare(
        response(item("Create", uid("$UNIQUE_IDENTIFIER_1"))), response(item("Create", uid("k-1")))
    )
    assert difference is not None
    assert difference.reason == "value already stands for another placeholder"


def test_an_empty_identifier_is_refused(fx: Fixture) -> None:
    difference = fx.compare(
        response(item("Create", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Create", uid("")))
    )
    assert difference is not None
    assert difference.reason == "empty value"


def test_now_matches_inside_the_window_only(fx: Fixture) -> None:
    text = response(item("Destroy", uid("a")))
    assert fx.compare(text, text) is None
    late = TimeWindow(NOW + 100, NOW + 200)
    difference = fx.compare(text, text, window=late)
    assert difference is not None
    assert difference.reason == "time outside the window"
    assert difference.path == "ResponseMessage/ResponseHeader/TimeStamp"


def test_now_with_an_offset_is_relative(fx: Fixture) -> None:
    expected = response(
        item("GetAttributes", uid("a") + attribute("Activation Date", "DateTime", "$NOW-3600"))
    )
    an_hour_ago = response(
        item(
            "GetAttributes", uid("a") + attribute("Activation Date", "DateTime", "2023-11-14T21:13:20+00:00")
        )
    )
    sent = request(
        request_item("GetAttributes", uid("a") + '<AttributeName type="TextString" value="Activation Date"/>')
    )
    assert fx.compare(expected, an_hour_ago, sent) is None
    difference = fx.compare(
        expected,
        response(item("GetAttributes", uid("a") + attribute("Activation Date", "DateTime", "$NOW"))),
        sent,
    )
    assert difference is not None
    assert difference.reason == "time outside the window"
    assert difference.path.endswith("Attribute(Activation Date)/AttributeValue")


def test_a_byte_placeholder_takes_any_value_then_keeps_it() -> None:
    fx = Fixture()
    sent = request(request_item("Encrypt", uid("a")))
    data = '<Data type="ByteString" value="{}"/>'
    assert (
        fx.compare(
            response(item("Encrypt", uid("a") + data.format("$DATA_0"))),
            response(item("Encrypt", uid("a") + data.format("0102"))),
            sent,
        )
        is None
    )
    assert fx.state.values["DATA_0"] == b"\x01\x02"
    difference = fx.compare(
        response(item("Encrypt", uid("a") + data.format("$DATA_0"))),
        response(item("Encrypt", uid("a") + data.format("0103"))),
        sent,
    )
    assert difference is not None
    assert difference.reason == "not the value captured earlier"


# --------------------------------------------------------------------------------------------
# Generated values


def _created(fx: Fixture, identifier: str = "k-1") -> None:
    sent = request(request_item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>'))
    created = item(
        "Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("$UNIQUE_IDENTIFIER_0")
    )
    actual = item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid(identifier))
    assert fx.compare(response(created), response(actual), sent) is None


def _get_digest(fx: Fixture, expected: str, actual: str, identifier: str = "k-1") -> Difference | None:
    sent = request(
        request_item("GetAttributes", uid(identifier) + '<AttributeName type="TextString" value="Digest"/>')
    )
    return fx.compare(
        response(item("GetAttributes", uid("$UNIQUE_IDENTIFIER_0") + digest(expected))),
        response(item("GetAttributes", uid(identifier) + digest(actual))),
        sent,
    )


def test_the_digest_of_a_generated_key_may_differ(fx: Fixture) -> None:
    _created(fx)
    assert _get_digest(fx, KEY, OTHER_KEY) is None


def test_the_digest_of_a_generated_key_must_have_the_expected_length(fx: Fixture) -> None:
    _created(fx)
    difference = _get_digest(fx, KEY, OTHER_KEY[:32])
    assert difference is not None
    assert difference.reason == "generated value of another length"


def test_the_digest_of_a_registered_key_must_match() -> None:
    fx = Fixture()
    sent = request(request_item("Register", '<ObjectType type="Enumeration" value="SymmetricKey"/>'))
    assert (
        fx.compare(
            response(item("Register", uid("$UNIQUE_IDENTIFIER_0"))),
            response(item("Register", uid("k-1"))),
            sent,
        )
        is None
    )
    difference = _get_digest(fx, KEY, OTHER_KEY)
    assert difference is not None
    assert difference.reason == "value differs"
    assert difference.path.endswith("Attribute(Digest)/AttributeValue/DigestValue")


def test_generated_key_material_is_captured_and_replaces_the_expected_value_in_later_requests() -> None:
    placeholders = Placeholders()
    get_expected = from_xml(
        response(
            item(
                "Get",
                '<ObjectType type="Enumeration" value="SymmetricKey"/>'
                + uid("$UNIQUE_IDENTIFIER_0")
                + f'<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue>'
                f'<KeyMaterial type="ByteString" value="{KEY}"/></KeyValue></KeyBlock></SymmetricKey>',
            )
        ),
        placeholders=placeholders,
    )
    create_request = from_xml(
        request(request_item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>'))
    )
    get_request = from_xml(
        request(request_item("Get", uid("$UNIQUE_IDENTIFIER_0"))), placeholders=placeholders
    )
    register_request = from_xml(
        request(
            request_item(
                "Register",
                f'<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue>'
                f'<KeyMaterial type="ByteString" value="{KEY}"/></KeyValue></KeyBlock></SymmetricKey>',
            )
        )
    )
    create_expected = from_xml(
        response(
            item(
                "Create",
                '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("$UNIQUE_IDENTIFIER_0"),
            )
        ),
        placeholders=placeholders,
    )
    # The file's requests (create, get) never carry the key: the server generated it.
    run = CaseRun(placeholders, [create_request, get_request], started_at=NOW)
    sent = run.request(create_request, NOW)
    actual_create = from_xml(
        response(
            item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("k-9"))
        ).replace("$NOW", "2023-11-14T22:13:20+00:00")
    )
    assert run.check(create_expected, actual_create, sent, NOW) is None
    sent = run.request(get_request, NOW)
    assert sent.find(Tag.BATCH_ITEM).find(Tag.REQUEST_PAYLOAD).find(Tag.UNIQUE_IDENTIFIER).value == "k-9"  # type: ignore[union-attr]
    actual_get = from_xml(
        response(
            item(
                "Get",
                '<ObjectType type="Enumeration" value="SymmetricKey"/>'
                + uid("k-9")
                + f'<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue>'
                f'<KeyMaterial type="ByteString" value="{OTHER_KEY}"/></KeyValue></KeyBlock></SymmetricKey>',
            )
        ).replace("$NOW", "2023-11-14T22:13:20+00:00")
    )
    assert run.check(get_expected, actual_get, sent, NOW) is None
    resent = run.request(register_request, NOW)
    material = [leaf for leaf in _leaves(resent) if leaf.tag == Tag.KEY_MATERIAL]
    assert [leaf.value for leaf in material] == [bytes.fromhex(OTHER_KEY)]


def _leaves(node: Item) -> list[Item]:
    if node.type is ItemType.STRUCTURE:
        return [leaf for child in node.children for leaf in _leaves(child)]
    return [node]


def test_key_material_the_client_registered_must_come_back_unchanged(fx: Fixture) -> None:
    block = (
        '<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue>'
        '<KeyMaterial type="ByteString" value="{}"/></KeyValue></KeyBlock></SymmetricKey>'
    )
    sent = request(request_item("Get", uid("k-1")))
    difference = fx.compare(
        response(
            item(
                "Get",
                '<ObjectType type="Enumeration" value="SymmetricKey"/>' + uid("k-1") + block.format(KEY),
            )
        ),
        response(
            item(
                "Get",
                '<ObjectType type="Enumeration" value="SymmetricKey"/>'
                + uid("k-1")
                + block.format(OTHER_KEY),
            )
        ),
        sent,
    )
    assert difference is not None
    assert difference.path.endswith("KeyBlock/KeyValue/KeyMaterial")
    # Never the key bytes: a length and a short fingerprint only.
    assert KEY not in str(difference)
    assert OTHER_KEY not in str(difference)
    assert KEY[:16] not in str(difference)
    assert "32 secret bytes" in difference.expected


def test_a_server_chosen_iv_may_differ_but_an_echoed_one_may_not(fx: Fixture) -> None:
    iv = '<IVCounterNonce type="ByteString" value="{}"/>'
    expected = response(item("Encrypt", uid("k-1") + iv.format("01020304")))
    actual = response(item("Encrypt", uid("k-1") + iv.format("0a0b0c0d")))
    assert fx.compare(expected, actual, request(request_item("Encrypt", uid("k-1")))) is None
    other = Fixture()
    difference = other.compare(
        expected, actual, request(request_item("Encrypt", uid("k-1") + iv.format("01020304")))
    )
    assert difference is not None


def test_rng_retrieve_data_may_differ(fx: Fixture) -> None:
    data = '<Data type="ByteString" value="{}"/>'
    sent = request(request_item("RNGRetrieve", '<DataLength type="Integer" value="4"/>'))
    assert (
        fx.compare(
            response(item("RNGRetrieve", data.format("01020304"))),
            response(item("RNGRetrieve", data.format("99887766"))),
            sent,
        )
        is None
    )


def test_a_request_placeholder_no_response_defined_takes_the_latest_value_of_its_field() -> None:
    placeholders = Placeholders()
    encrypt_expected = from_xml(
        response(item("Encrypt", uid("k-1") + '<Data type="ByteString" value="0102"/>')),
        placeholders=placeholders,
    )
    encrypt_request = from_xml(request(request_item("Encrypt", uid("k-1"))), placeholders=placeholders)
    decrypt_request = from_xml(
        request(request_item("Decrypt", uid("k-1") + '<Data type="ByteString" value="$DATA_0"/>')),
        placeholders=placeholders,
    )
    run = CaseRun(placeholders, [encrypt_request, decrypt_request], started_at=NOW)
    sent = run.request(encrypt_request, NOW)
    actual = from_xml(
        response(item("Encrypt", uid("k-1") + '<Data type="ByteString" value="0102"/>')).replace(
            "$NOW", "2023-11-14T22:13:20+00:00"
        )
    )
    assert run.check(encrypt_expected, actual, sent, NOW) is None
    decrypt = run.request(decrypt_request, NOW)
    data = [leaf.value for leaf in _leaves(decrypt) if leaf.tag == Tag.DATA]
    assert data == [b"\x01\x02"]


def test_a_request_placeholder_without_any_value_is_an_error() -> None:
    placeholders = Placeholders()
    template = from_xml(
        request(request_item("Destroy", uid("$UNIQUE_IDENTIFIER_3"))), placeholders=placeholders
    )
    run = CaseRun(placeholders, [template], started_at=NOW)
    with pytest.raises(PlaceholderError, match="UNIQUE_IDENTIFIER_3"):
        run.request(template, NOW)


# --------------------------------------------------------------------------------------------
# Result Message, vendor extensions, Attribute Index


def test_result_message_text_may_differ_be_absent_or_be_added(fx: Fixture) -> None:
    failed = '<ResultReason type="Enumeration" value="PermissionDenied"/>'
    message = '<ResultMessage type="TextString" value="{}"/>'
    expected = response(item("Destroy", status="OperationFailed", extra=failed + message.format("DENIED")))
    assert (
        fx.compare(
            expected,
            response(
                item("Destroy", status="OperationFailed", extra=failed + message.format("object is active"))
            ),
        )
        is None
    )
    assert fx.compare(expected, response(item("Destroy", status="OperationFailed", extra=failed))) is None
    plain = response(item("Destroy", status="OperationFailed", extra=failed))
    assert fx.compare(plain, expected) is None


def test_vendor_message_extensions_and_extension_tags_may_be_added(fx: Fixture) -> None:
    extension = """<MessageExtension><VendorIdentification type="TextString" value="openkcm"/>
<CriticalityIndicator type="Boolean" value="false"/><VendorExtension/></MessageExtension>"""
    vendor_item = '<TTLV tag="0x540001" type="TextString" value="trace-17"/>'
    expected = response(item("Destroy", uid("a")))
    assert fx.compare(expected, response(item("Destroy", uid("a"), extra=extension))) is None
    assert fx.compare(expected, response(item("Destroy", uid("a") + vendor_item))) is None


def test_attribute_index_zero_may_be_present_but_not_another_index(fx: Fixture) -> None:
    sent = request(
        request_item("GetAttributes", uid("a") + '<AttributeName type="TextString" value="State"/>')
    )
    expected = response(item("GetAttributes", uid("a") + attribute("State", "Enumeration", "Active")))
    index = """<Attribute><AttributeName type="TextString" value="State"/>
<AttributeIndex type="Integer" value="{}"/><AttributeValue type="Enumeration" value="Active"/></Attribute>"""
    assert fx.compare(expected, response(item("GetAttributes", uid("a") + index.format(0))), sent) is None
    difference = fx.compare(expected, response(item("GetAttributes", uid("a") + index.format(1))), sent)
    assert difference is not None


# --------------------------------------------------------------------------------------------
# Get Attributes, Get Attribute List, Locate


def _get_attributes(names: list[str]) -> str:
    return request(
        request_item(
            "GetAttributes",
            uid("a") + "".join(f'<AttributeName type="TextString" value="{n}"/>' for n in names),
        )
    )


STATE = attribute("State", "Enumeration", "PreActive")
MASK = attribute("Cryptographic Usage Mask", "Integer", "Decrypt Encrypt")
LENGTH = attribute("Cryptographic Length", "Integer", "256")


def test_get_attributes_in_another_order_match(fx: Fixture) -> None:
    sent = _get_attributes(["State", "Cryptographic Usage Mask", "Cryptographic Length"])
    expected = response(item("GetAttributes", uid("a") + STATE + MASK + LENGTH))
    assert (
        fx.compare(expected, response(item("GetAttributes", uid("a") + LENGTH + STATE + MASK)), sent) is None
    )


def test_a_mask_in_another_spelling_is_the_same_value(fx: Fixture) -> None:
    sent = _get_attributes(["Cryptographic Usage Mask"])
    expected = response(item("GetAttributes", uid("a") + MASK))
    actual = response(
        item("GetAttributes", uid("a") + attribute("Cryptographic Usage Mask", "Integer", "Encrypt Decrypt"))
    )
    assert fx.compare(expected, actual, sent) is None


def test_a_wrong_attribute_value_names_the_attribute_and_its_enumeration(fx: Fixture) -> None:
    sent = _get_attributes(["State", "Cryptographic Length"])
    expected = response(item("GetAttributes", uid("a") + STATE + LENGTH))
    actual = response(item("GetAttributes", uid("a") + LENGTH + attribute("State", "Enumeration", "Active")))
    difference = fx.compare(expected, actual, sent)
    assert difference is not None
    assert difference.path == "ResponseMessage/BatchItem/ResponsePayload/Attribute(State)/AttributeValue"
    assert (difference.expected, difference.actual) == ("PreActive", "Active")


def test_a_missing_attribute_is_reported_by_name(fx: Fixture) -> None:
    sent = _get_attributes(["State", "Cryptographic Length"])
    difference = fx.compare(
        response(item("GetAttributes", uid("a") + STATE + LENGTH)),
        response(item("GetAttributes", uid("a") + STATE)),
        sent,
    )
    assert difference is not None
    assert difference.reason == "missing"
    assert difference.path.endswith("Attribute(Cryptographic Length)")


def test_an_extra_attribute_is_a_difference(fx: Fixture) -> None:
    sent = _get_attributes([])
    difference = fx.compare(
        response(item("GetAttributes", uid("a") + STATE)),
        response(item("GetAttributes", uid("a") + STATE + LENGTH)),
        sent,
    )
    assert difference is not None
    assert difference.reason == "unexpected item"
    assert difference.path.endswith("Attribute(Cryptographic Length)")


def test_a_vendor_attribute_may_be_added_only_when_all_attributes_are_asked_for(fx: Fixture) -> None:
    vendor = attribute("x-openkcm-tenant", "TextString", "acme")
    expected = response(item("GetAttributes", uid("a") + STATE))
    actual = response(item("GetAttributes", uid("a") + STATE + vendor))
    assert fx.compare(expected, actual, _get_attributes([])) is None
    assert fx.compare(expected, actual, _get_attributes(["State"])) is not None


def test_get_attribute_list_names_in_any_order(fx: Fixture) -> None:
    names = ["State", "Unique Identifier", "Object Type"]
    listed = "".join(f'<AttributeName type="TextString" value="{n}"/>' for n in names)
    reversed_listed = "".join(f'<AttributeName type="TextString" value="{n}"/>' for n in reversed(names))
    sent = request(request_item("GetAttributeList", uid("a")))
    assert (
        fx.compare(
            response(item("GetAttributeList", uid("a") + listed)),
            response(item("GetAttributeList", uid("a") + reversed_listed)),
            sent,
        )
        is None
    )
    difference = fx.compare(
        response(item("GetAttributeList", uid("a") + listed)),
        response(item("GetAttributeList", uid("a") + listed.replace("Object Type", "Name"))),
        sent,
    )
    assert difference is not None


def test_locate_identifiers_in_any_order(fx: Fixture) -> None:
    sent = request(request_item("Locate", attribute("Object Type", "Enumeration", "SymmetricKey")))
    assert (
        fx.compare(
            response(item("Create", uid("$UNIQUE_IDENTIFIER_0"))), response(item("Create", uid("k-1")))
        )
        is None
    )
    assert (
        fx.compare(
            response(item("Create", uid("$UNIQUE_IDENTIFIER_1"))), response(item("Create", uid("k-2")))
        )
        is None
    )
    expected = response(item("Locate", uid("$UNIQUE_IDENTIFIER_0") + uid("$UNIQUE_IDENTIFIER_1")))
    assert fx.compare(expected, response(item("Locate", uid("k-2") + uid("k-1"))), sent) is None
    difference = fx.compare(expected, response(item("Locate", uid("k-2") + uid("k-3"))), sent)
    assert difference is not None


# --------------------------------------------------------------------------------------------
# Query


def _query_request(*functions: str) -> str:
    return request(
        request_item("Query", "".join(f'<QueryFunction type="Enumeration" value="{f}"/>' for f in functions))
    )


def _ops(*names: str) -> str:
    return "".join(f'<Operation type="Enumeration" value="{n}"/>' for n in names)


def _objects(*names: str) -> str:
    return "".join(f'<ObjectType type="Enumeration" value="{n}"/>' for n in names)


SERVER_INFO = """<VendorIdentification type="TextString" value="server-vendor.com"/>
<ServerInformation></ServerInformation>"""


def test_query_may_list_more_operations_in_any_order(fx: Fixture) -> None:
    sent = _query_request("QueryOperations", "QueryObjects")
    expected = response(item("Query", _ops("Query", "Locate", "Get") + _objects("SymmetricKey")))
    actual = response(
        item(
            "Query",
            _ops("Get", "Create", "Query", "Locate", "Destroy") + _objects("OpaqueObject", "SymmetricKey"),
        )
    )
    assert fx.compare(expected, actual, sent) is None


def test_query_must_list_every_expected_operation(fx: Fixture) -> None:
    sent = _query_request("QueryOperations")
    difference = fx.compare(
        response(item("Query", _ops("Query", "Check"))), response(item("Query", _ops("Query", "Get"))), sent
    )
    assert difference is not None
    assert difference.reason == "missing"
    assert difference.expected == "Check"


def test_query_must_not_answer_what_was_not_asked(fx: Fixture) -> None:
    sent = _query_request("QueryOperations")
    difference = fx.compare(
        response(item("Query", _ops("Query"))),
        response(item("Query", _ops("Query") + _objects("SymmetricKey"))),
        sent,
    )
    assert difference is not None
    assert difference.reason == "unexpected item"


def test_query_server_information_and_vendor_identification_are_free(fx: Fixture) -> None:
    sent = _query_request("QueryOperations", "QueryServerInformation")
    expected = response(item("Query", _ops("Query") + SERVER_INFO))
    ours = """<VendorIdentification type="TextString" value="OpenKCM"/><ServerInformation>
<TTLV tag="0x540010" type="TextString" value="0.1.0"/></ServerInformation>"""
    assert fx.compare(expected, response(item("Query", _ops("Query") + ours)), sent) is None
    without_information = '<VendorIdentification type="TextString" value="OpenKCM"/>'
    assert fx.compare(expected, response(item("Query", _ops("Query") + without_information)), sent) is None
    difference = fx.compare(expected, response(item("Query", _ops("Query"))), sent)
    assert difference is not None
    assert difference.path.endswith("VendorIdentification")


# --------------------------------------------------------------------------------------------
# Rendering


def test_describe_cuts_long_byte_strings_and_hides_secret_ones() -> None:
    data = Item(Tag.DATA, ItemType.BYTE_STRING, bytes(range(40)))
    assert describe(data) == "0x0001020304050607... (40 bytes)"
    key = Item(Tag.KEY_MATERIAL, ItemType.BYTE_STRING, bytes(range(32)))
    shown = describe(key)
    assert shown.startswith("<32 secret bytes, sha256 ")
    assert bytes(range(32)).hex()[:8] not in shown


def test_describe_names_enumerations_masks_and_times() -> None:
    assert describe(Item(Tag.STATE, ItemType.ENUMERATION, 2)) == "Active"
    assert describe(Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, ItemType.INTEGER, 12)) == "12 (Encrypt Decrypt)"
    assert describe(Item(Tag.TIME_STAMP, ItemType.DATE_TIME, NOW)) == "2023-11-14T22:13:20+00:00"
    assert describe(Item(Tag.NAME_VALUE, ItemType.TEXT_STRING, "x" * 200)) == repr("x" * 80 + "...")


# --------------------------------------------------------------------------------------------
# Found against the live Core


def test_a_server_correlation_value_may_be_added(fx: Fixture) -> None:
    expected = response(item("Destroy", uid("a")))
    actual = expected.replace(
        '<BatchCount type="Integer" value="1"/>',
        '<ServerCorrelationValue type="TextString" value="req-42"/><BatchCount type="Integer" value="1"/>',
    )
    assert fx.compare(expected, actual) is None


def test_a_status_difference_shows_the_servers_reason_and_message(fx: Fixture) -> None:
    failed = (
        '<ResultReason type="Enumeration" value="InvalidField"/>'
        '<ResultMessage type="TextString" value="Name: already exists"/>'
    )
    difference = fx.compare(
        response(item("Create", uid("a"))), response(item("Create", status="OperationFailed", extra=failed))
    )
    assert difference is not None
    assert difference.actual == "OperationFailed (InvalidField, 'Name: already exists')"


def test_an_object_created_earlier_in_the_same_batch_is_generated(fx: Fixture) -> None:
    # TL-M-2: Create and Get (through the ID Placeholder) in one message.
    block = (
        '<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue>'
        '<KeyMaterial type="ByteString" value="{}"/></KeyValue></KeyBlock></SymmetricKey>'
    )
    sent = request(
        request_item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>'), request_item("Get")
    )
    created = '<ObjectType type="Enumeration" value="SymmetricKey"/>'
    expected = response(
        item("Create", created + uid("$UNIQUE_IDENTIFIER_0")),
        item("Get", created + uid("$UNIQUE_IDENTIFIER_0") + block.format(KEY)),
    )
    actual = response(
        item("Create", created + uid("k-1")), item("Get", created + uid("k-1") + block.format(OTHER_KEY))
    )
    assert fx.compare(expected, actual, sent) is None


def _one_file(
    carried: ReplayState, xml_expected: str, xml_actual: str, xml_request: str
) -> Difference | None:
    placeholders = Placeholders()
    expected = from_xml(xml_expected, placeholders=placeholders)
    template = from_xml(xml_request, placeholders=placeholders)
    run = CaseRun(placeholders, [template], started_at=NOW, carried=carried)
    sent = run.request(template, NOW)
    difference = run.check(
        expected, from_xml(xml_actual.replace("$NOW", "2023-11-14T22:13:20+00:00")), sent, NOW
    )
    run.carry(carried)
    return difference


def test_generated_values_carry_across_files_per_object() -> None:
    carried = ReplayState()
    create_sent = request(request_item("Create", '<ObjectType type="Enumeration" value="SymmetricKey"/>'))
    created = '<ObjectType type="Enumeration" value="SymmetricKey"/>'
    for identifier in ("k-1", "k-2"):
        assert (
            _one_file(
                carried,
                response(item("Create", created + uid("$UNIQUE_IDENTIFIER_0"))),
                response(item("Create", created + uid(identifier))),
                create_sent,
            )
            is None
        )
    digest_sent = request(request_item("GetAttributes", uid("$UNIQUE_IDENTIFIER_0")))
    locate_then_digest = response(item("GetAttributes", uid("$UNIQUE_IDENTIFIER_0") + digest(KEY)))

    def read(identifier: str, value: str) -> Difference | None:
        # Each "file" binds its own $UNIQUE_IDENTIFIER_0.
        return _one_file(
            carried,
            locate_then_digest,
            response(item("GetAttributes", uid(identifier) + digest(value))),
            digest_sent.replace("$UNIQUE_IDENTIFIER_0", identifier),
        )

    # The published files reuse one Digest value for different keys: each object has its own.
    assert read("k-1", OTHER_KEY) is None
    assert read("k-2", KEY[:-2] + "00") is None
    # The same object must keep its value in a later file.
    assert read("k-1", OTHER_KEY) is None
    difference = read("k-1", KEY)
    assert difference is not None
    assert difference.reason == "not the value captured earlier"


def test_the_random_number_generator_attribute_must_be_present_with_any_value(fx: Fixture) -> None:
    def rng(algorithm: str) -> str:
        return f"""<Attribute><AttributeName type="TextString" value="Random Number Generator"/>
<AttributeValue><RNGAlgorithm type="Enumeration" value="{algorithm}"/></AttributeValue></Attribute>"""

    sent = _get_attributes([])
    expected = response(item("GetAttributes", uid("a") + STATE + rng("ANSIX9_31")))
    assert (
        fx.compare(expected, response(item("GetAttributes", uid("a") + STATE + rng("Unspecified"))), sent)
        is None
    )
    difference = fx.compare(expected, response(item("GetAttributes", uid("a") + STATE)), sent)
    assert difference is not None
    assert difference.path.endswith("Attribute(Random Number Generator)")
