"""Create (4.1): what is generated, which attributes the server sets, and what is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kmip_server.attribute_policy import presented
from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    CreateResponsePayload,
    Digest,
    GetRequestPayload,
    KeyValue,
    Name,
    TemplateAttribute,
)
from kmip_server.model.codec import make_item
from kmip_server.objects import ObjectSettings, first_value
from kmip_server.operations.create import KEY_LENGTHS, key_size_in_bytes
from tests.unit.engine.support import (
    NOW,
    Core,
    aes_template,
    batch_item,
    create_aes,
    create_item,
    payload_of,
    run_core,
    tenant,
    uid_item,
)
from ttlv.item import ItemType
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    KeyFormatType,
    NameType,
    ObjectType,
    Operation,
    ResultReason,
    ResultStatus,
    State,
    Tag,
)

A = CryptographicAlgorithm


def template(*attributes: Attribute) -> TemplateAttribute:
    return TemplateAttribute(attributes=attributes)


def test_attributes_after_create_match_the_oasis_expectations(tmp_path: Path) -> None:
    """SKLC-M-1-14: State, Usage Mask, Unique Identifier, Object Type, Algorithm, Length, Digest,
    Initial Date, Last Change Date; no Activation Date. Plus the 1.2-1.4 attributes SKLC-O-1-14 lists."""

    async def scenario(core: Core) -> None:
        uid = await create_aes(core, name="SKLC-M-1-14")
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert record.state is State.PRE_ACTIVE
        shown = {a.name: a.value for a in presented(record)}
        assert shown["Unique Identifier"] == uid
        assert shown["Object Type"] is ObjectType.SYMMETRIC_KEY
        assert shown["State"] is State.PRE_ACTIVE
        assert shown["Cryptographic Algorithm"] is A.AES
        assert shown["Cryptographic Length"] == 256
        assert (
            shown["Cryptographic Usage Mask"]
            == CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT
        )
        assert shown["Initial Date"] == shown["Last Change Date"] == shown["Original Creation Date"] == NOW
        assert shown["Name"] == Name(name_value="SKLC-M-1-14", name_type=NameType.UNINTERPRETED_TEXT_STRING)
        assert (shown["Fresh"], shown["Sensitive"], shown["Always Sensitive"]) == (True, False, False)
        assert (shown["Extractable"], shown["Never Extractable"]) == (True, False)
        assert "Random Number Generator" in shown
        assert "Activation Date" not in shown
        assert shown["Lease Time"] == 3600  # ObjectSettings.lease_time's default (SKLC-O-1-14)
        # The Digest is SHA-256 of the Raw key (3.17), which Get returns.
        got = await core.ok(batch_item(Operation.GET, GetRequestPayload(unique_identifier=uid)))
        key_value = got.managed_object.key_block.key_value
        assert isinstance(key_value, KeyValue)
        assert isinstance(key_value.key_material, bytes)
        assert len(key_value.key_material) == 32
        assert shown["Digest"] == Digest(
            hashing_algorithm=HashingAlgorithm.SHA_256,
            digest_value=hashlib.sha256(key_value.key_material).digest(),
            key_format_type=KeyFormatType.RAW,
        )
        # Attributes later than the message's version are not shown to it.
        assert "Sensitive" not in {a.name for a in presented(record, (1, 2))}

    run_core(tmp_path, scenario)


@pytest.mark.parametrize("lease_time", [600, 0, None])
def test_lease_time_is_a_setting(tmp_path: Path, lease_time: int | None) -> None:
    async def scenario(core: Core) -> None:
        record = await core.store.get("tenant-a", await create_aes(core))
        assert record is not None
        assert first_value(record.attributes, "Lease Time") == lease_time

    run_core(tmp_path, scenario, object_settings=ObjectSettings(lease_time=lease_time))


@pytest.mark.parametrize("lease_time", [-1, 1 << 32])
def test_a_lease_time_that_is_no_interval_is_refused(lease_time: int) -> None:
    with pytest.raises(ValueError, match="lease_time"):
        ObjectSettings(lease_time=lease_time)


@pytest.mark.parametrize(
    ("algorithm", "length", "size"),
    [
        (A.AES, 128, 16),
        (A.AES, 192, 24),
        (A.AES, 256, 32),
        (A.TRIPLE_DES, 168, 24),
        (A.TRIPLE_DES, 192, 24),
        (A.TRIPLE_DES, 112, 16),
        (A.HMAC_SHA256, 256, 32),
        (A.HMAC_SHA1, 160, 20),
        (A.CHACHA20, 256, 32),
    ],
)
def test_generated_sizes(algorithm: CryptographicAlgorithm, length: int, size: int) -> None:
    assert key_size_in_bytes(algorithm, length) == size


def test_every_generated_algorithm_creates_and_gets(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        for algorithm, lengths in KEY_LENGTHS.items():
            length = min(lengths)
            payload = await core.ok(
                create_item(
                    template(
                        Attribute(name="Cryptographic Algorithm", value=algorithm),
                        Attribute(name="Cryptographic Length", value=length),
                    )
                )
            )
            got = await core.ok(
                batch_item(Operation.GET, GetRequestPayload(unique_identifier=payload.unique_identifier))
            )
            key_block = got.managed_object.key_block
            assert (key_block.cryptographic_algorithm, key_block.cryptographic_length) == (algorithm, length)
            assert len(key_block.key_value.key_material) == key_size_in_bytes(algorithm, length)

    run_core(tmp_path, scenario)


REFUSED = {
    "no algorithm": (template(Attribute(name="Cryptographic Length", value=128)), ResultReason.MISSING_DATA),
    "no length": (
        template(Attribute(name="Cryptographic Algorithm", value=A.AES)),
        ResultReason.MISSING_DATA,
    ),
    "AES-100": (aes_template(length=100), ResultReason.INVALID_FIELD),
    "RSA": (
        template(
            Attribute(name="Cryptographic Algorithm", value=A.RSA),
            Attribute(name="Cryptographic Length", value=2048),
        ),
        ResultReason.INVALID_FIELD,
    ),
    "Blowfish (not generated)": (
        template(
            Attribute(name="Cryptographic Algorithm", value=A.BLOWFISH),
            Attribute(name="Cryptographic Length", value=128),
        ),
        ResultReason.INVALID_FIELD,
    ),
    "server-set State": (
        aes_template(extra=(Attribute(name="State", value=State.ACTIVE),)),
        ResultReason.INVALID_FIELD,
    ),
    "server-set Initial Date": (
        aes_template(extra=(Attribute(name="Initial Date", value=5),)),
        ResultReason.INVALID_FIELD,
    ),
    "server custom attribute": (
        aes_template(
            extra=(Attribute(name="y-mine", value=make_item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "x")),)
        ),
        ResultReason.INVALID_FIELD,
    ),
    "single-instance twice": (
        aes_template(
            extra=(
                Attribute(name="Contact Information", value="a"),
                Attribute(name="Contact Information", value="b"),
            )
        ),
        ResultReason.INVALID_FIELD,
    ),
    "does not apply (Certificate Length)": (
        aes_template(extra=(Attribute(name="Certificate Length", value=3),)),
        ResultReason.INVALID_FIELD,
    ),
    "template name": (
        TemplateAttribute(names=(Name(name_value="t", name_type=NameType.UNINTERPRETED_TEXT_STRING),)),
        ResultReason.ITEM_NOT_FOUND,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals(tmp_path: Path, case: str) -> None:
    request, reason = REFUSED[case]

    async def scenario(core: Core) -> None:
        answer = await core.one(create_item(request))
        assert answer.result_status is ResultStatus.OPERATION_FAILED
        assert answer.result_reason is reason
        assert not core.store._records  # nothing stored

    run_core(tmp_path, scenario)


def test_object_types_other_than_symmetric_key_are_refused(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        for object_type in (ObjectType.SECRET_DATA, ObjectType.PUBLIC_KEY, ObjectType.TEMPLATE):
            answer = await core.one(
                batch_item(
                    Operation.CREATE,
                    CreateRequestPayload(object_type=object_type, template_attribute=aes_template()),
                )
            )
            assert answer.result_reason is ResultReason.INVALID_FIELD

    run_core(tmp_path, scenario)


def test_names_are_unique_among_live_objects(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        first = await create_aes(core, name="shared")
        again = await core.one(create_item(aes_template(name="shared")))
        assert again.result_reason is ResultReason.INVALID_FIELD
        # Another tenant may use the name; a destroyed object no longer holds it.
        other = await core.one(create_item(aes_template(name="shared")), tenant("tenant-b"))
        assert other.result_status is ResultStatus.SUCCESS
        await core.ok(uid_item(Operation.DESTROY, first))
        assert (
            await core.one(create_item(aes_template(name="shared")))
        ).result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario)


def test_activation_date_in_the_past_creates_an_active_key(tmp_path: Path) -> None:
    """AX-M-1-14: Activation Date $NOW-3600 -> Active at once, the date kept as given (3.22)."""

    async def scenario(core: Core) -> None:
        past = aes_template(extra=(Attribute(name="Activation Date", value=NOW - 3600),))
        uid = payload_of(await core.one(create_item(past)), CreateResponsePayload).unique_identifier
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert record.state is State.ACTIVE
        assert first_value(record.attributes, "Activation Date") == NOW - 3600
        future = aes_template(extra=(Attribute(name="Activation Date", value=NOW + 60),))
        later = (await core.ok(create_item(future))).unique_identifier
        record = await core.store.get("tenant-a", later)
        assert record is not None
        assert record.state is State.PRE_ACTIVE
        # Once the date is reached, the next load makes it Active and writes that back.
        core.clock[0] = NOW + 60
        await core.ok(batch_item(Operation.GET, GetRequestPayload(unique_identifier=later)))
        record = await core.store.get("tenant-a", later)
        assert record is not None
        assert record.state is State.ACTIVE
        assert first_value(record.attributes, "Last Change Date") == NOW + 60

    run_core(tmp_path, scenario)


def test_names_may_repeat_when_configured(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_aes(core, name="twice")
        assert (await core.one(create_item(aes_template(name="twice")))).result_status is ResultStatus.SUCCESS

    run_core(tmp_path, scenario, object_settings=ObjectSettings(unique_names=False))
