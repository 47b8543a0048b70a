"""Re-key Key Pair (4.5): the replacement pair's keys, attributes and links (Tables 176, 177), the
names moving, Offset, the ID Placeholder, and 11.6's refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kmip_server.model import (
    Attribute,
    Link,
    ReKeyKeyPairRequestPayload,
    ReKeyKeyPairResponsePayload,
    RequestBatchItem,
    TemplateAttribute,
    UniqueIdentifierResponsePayload,
    UsageLimits,
)
from kmip_server.operations import rekey_key_pair
from kmip_server.storage.objects import ObjectRecord
from tests.unit.engine.support import NOW, Core, batch_item, create_aes, payload_of, run_core, uid_item
from tests.unit.operations.attribute_support import custom, failed, locate, name, shown
from tests.unit.operations.keypair_support import (
    create_pair,
    key_pair_item,
    local_private_key,
    local_public_key,
    register_private,
)
from tests.unit.operations.racing import RecordingStore, racing_context
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    State,
)

_A = CryptographicAlgorithm
_U = CryptographicUsageMask


def rekey_pair(
    uid: str | None,
    offset: int | None = None,
    *,
    common: tuple[Attribute, ...] = (),
    private: tuple[Attribute, ...] = (),
    public: tuple[Attribute, ...] = (),
) -> RequestBatchItem:
    def template(attributes: tuple[Attribute, ...]) -> TemplateAttribute | None:
        return TemplateAttribute(attributes=attributes) if attributes else None

    return batch_item(
        Operation.RE_KEY_KEY_PAIR,
        ReKeyKeyPairRequestPayload(
            private_key_unique_identifier=uid,
            offset=offset,
            common_template_attribute=template(common),
            private_key_template_attribute=template(private),
            public_key_template_attribute=template(public),
        ),
    )


async def values(core: Core, uid: str) -> dict[str, list[Any]]:
    return {n: [a.value for a in instances] for n, instances in (await shown(core, uid)).items()}


def link(kind: LinkType, uid: str) -> Link:
    return Link(link_type=kind, linked_object_identifier=uid)


def test_the_replacement_pair_takes_over(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old_private, old_public = await create_pair(
            core,
            _A.ECDSA,
            256,
            private_mask=_U.SIGN,
            public_mask=_U.VERIFY,
            common=(
                Attribute(name="Activation Date", value=NOW),
                Attribute(name="Usage Limits", value=UsageLimits(usage_limits_total=100)),
                custom("x-owner", "team-7"),
            ),
            private=(name("signer"),),
            public=(name("signer-public"),),
        )
        old_key = await local_private_key(core, old_private)
        core.clock[0] = NOW + 60
        payload = payload_of(await core.one(rekey_pair(old_private)), ReKeyKeyPairResponsePayload)
        new_private, new_public = payload.private_key_unique_identifier, payload.public_key_unique_identifier
        assert len({old_private, old_public, new_private, new_public}) == 4

        new_key = await local_private_key(core, new_private)
        assert isinstance(new_key, ec.EllipticCurvePrivateKey)
        assert isinstance(new_key.curve, ec.SECP256R1)
        assert new_key.private_numbers() != old_key.private_numbers()
        assert (
            new_key.public_key().public_numbers()
            == (await local_public_key(core, new_public)).public_numbers()
        )

        mine, theirs = await values(core, new_private), await values(core, new_public)
        assert mine["Object Type"] == [ObjectType.PRIVATE_KEY]
        assert theirs["Object Type"] == [ObjectType.PUBLIC_KEY]
        for half in (mine, theirs):
            assert half["State"] == [State.ACTIVE]  # Activation Date copied, passed
            assert half["Activation Date"] == [NOW]
            assert half["Initial Date"] == half["Last Change Date"] == [NOW + 60]
            assert half["Cryptographic Algorithm"] == [_A.ECDSA]
            assert half["Cryptographic Length"] == [256]
            assert half["Usage Limits"] == [UsageLimits(usage_limits_total=100, usage_limits_count=100)]
            assert half["x-owner"][0].value == "team-7"
            assert "Random Number Generator" in half
        assert mine["Cryptographic Usage Mask"] == [_U.SIGN]
        assert theirs["Cryptographic Usage Mask"] == [_U.VERIFY]
        assert [n.name_value for n in mine["Name"]] == ["signer"]
        assert [n.name_value for n in theirs["Name"]] == ["signer-public"]
        assert sorted(mine["Link"], key=lambda x: x.link_type) == sorted(
            [link(LinkType.PUBLIC_KEY_LINK, new_public), link(LinkType.REPLACED_OBJECT_LINK, old_private)],
            key=lambda x: x.link_type,
        )
        assert sorted(theirs["Link"], key=lambda x: x.link_type) == sorted(
            [link(LinkType.PRIVATE_KEY_LINK, new_private), link(LinkType.REPLACED_OBJECT_LINK, old_public)],
            key=lambda x: x.link_type,
        )
        assert mine["Digest"] != (await values(core, old_private))["Digest"]

        old_mine, old_theirs = await values(core, old_private), await values(core, old_public)
        assert "Name" not in old_mine
        assert "Name" not in old_theirs
        assert link(LinkType.REPLACEMENT_OBJECT_LINK, new_private) in old_mine["Link"]
        assert link(LinkType.REPLACEMENT_OBJECT_LINK, new_public) in old_theirs["Link"]
        assert link(LinkType.PUBLIC_KEY_LINK, old_public) in old_mine["Link"]
        assert old_mine["State"] == [State.ACTIVE]  # the existing keys keep their states
        assert old_mine["Last Change Date"] == [NOW + 60]
        assert (await core.ok(locate(name("signer")))).unique_identifiers == (new_private,)

    run_core(tmp_path, scenario)


def test_offset_computes_the_dates_and_a_pair_is_replaced_once(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old_private, _old_public = await create_pair(
            core,
            _A.ECDSA,
            384,
            private_mask=_U.SIGN,
            public_mask=_U.VERIFY,
            common=(
                Attribute(name="Activation Date", value=NOW + 100),
                Attribute(name="Deactivation Date", value=NOW + 1000),
            ),
        )
        replaced = payload_of(await core.one(rekey_pair(old_private, 3600)), ReKeyKeyPairResponsePayload)
        for uid in (replaced.private_key_unique_identifier, replaced.public_key_unique_identifier):
            mine = await values(core, uid)
            assert mine["Activation Date"] == [NOW + 3600]
            assert mine["Deactivation Date"] == [NOW + 3600 + 900]  # the same distance to activation
            assert mine["State"] == [State.PRE_ACTIVE]
        await failed(core, rekey_pair(old_private), ResultReason.PERMISSION_DENIED)  # already replaced

    run_core(tmp_path, scenario)


def test_the_id_placeholder_names_the_new_private_key(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            key_pair_item(
                (
                    Attribute(name="Cryptographic Algorithm", value=_A.ECDSA),
                    Attribute(name="Cryptographic Length", value=256),
                )
            ),
            rekey_pair(None),
            uid_item(Operation.ACTIVATE),
        )
        replaced = payload_of(response.batch_items[1], ReKeyKeyPairResponsePayload)
        activated = payload_of(response.batch_items[2], UniqueIdentifierResponsePayload)
        assert activated.unique_identifier == replaced.private_key_unique_identifier

    run_core(tmp_path, scenario)


def test_template_names_leave_the_existing_pair_its_own(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old_private, old_public = await create_pair(
            core, _A.ECDSA, 256, private=(name("v1"),), public=(name("v1-public"),)
        )
        payload = payload_of(
            await core.one(rekey_pair(old_private, private=(name("v2"),))), ReKeyKeyPairResponsePayload
        )
        assert [
            n.name_value for n in (await values(core, payload.private_key_unique_identifier))["Name"]
        ] == ["v2"]
        assert [n.name_value for n in (await values(core, old_private))["Name"]] == ["v1"]
        # The public half had no template Name: its names moved.
        assert [n.name_value for n in (await values(core, payload.public_key_unique_identifier))["Name"]] == [
            "v1-public"
        ]
        assert "Name" not in await values(core, old_public)
        await failed(
            core,
            rekey_pair(payload.private_key_unique_identifier, public=(name("v2"),)),
            ResultReason.INVALID_FIELD,
        )

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    "case",
    [
        "public key",
        "symmetric key",
        "unlinked private key",
        "destroyed",
        "offset with dates",
        "algorithm in template",
    ],
)
def test_refusals(tmp_path: Path, case: str) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(core, _A.ECDSA, 256)
        if case == "public key":
            await failed(core, rekey_pair(public_uid), ResultReason.PERMISSION_DENIED)
        elif case == "symmetric key":
            await failed(core, rekey_pair(await create_aes(core)), ResultReason.PERMISSION_DENIED)
        elif case == "unlinked private key":
            lonely = await register_private(core, ec.generate_private_key(ec.SECP256R1()), mask=_U.SIGN)
            await failed(core, rekey_pair(lonely), ResultReason.PERMISSION_DENIED)
        elif case == "destroyed":
            await core.ok(uid_item(Operation.DESTROY, private_uid))
            await failed(core, rekey_pair(private_uid), ResultReason.KEY_VALUE_NOT_PRESENT)
        elif case == "offset with dates":
            dated = (Attribute(name="Activation Date", value=NOW + 5),)
            await failed(core, rekey_pair(private_uid, 60, common=dated), ResultReason.INVALID_MESSAGE)
        else:
            given = (Attribute(name="Cryptographic Length", value=384),)
            await failed(core, rekey_pair(private_uid, common=given), ResultReason.INVALID_FIELD)
        await failed(core, rekey_pair("no-such-key"), ResultReason.ITEM_NOT_FOUND)

    run_core(tmp_path, scenario)


def test_an_rsa_pair_is_rekeyed_as_rsa(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        old_private, _old_public = await create_pair(core)  # RSA 2048
        payload = payload_of(await core.one(rekey_pair(old_private)), ReKeyKeyPairResponsePayload)
        new_key = await local_private_key(core, payload.private_key_unique_identifier)
        assert new_key.key_size == 2048
        assert (await values(core, payload.public_key_unique_identifier))["Cryptographic Algorithm"] == [
            _A.RSA
        ]

    run_core(tmp_path, scenario)


def test_the_new_pair_and_the_existing_pairs_updates_are_one_write(tmp_path: Path) -> None:
    """Regression: the new halves, the existing Private Key and the existing Public Key were
    written in four transactions (a crash between them left a Name on an old and a new half, or
    a link one way only). One write_many now: all of it or nothing."""

    async def scenario(core: Core) -> None:
        old_private, old_public = await create_pair(
            core, _A.ECDSA, 256, private_mask=_U.SIGN, public_mask=_U.VERIFY, private=(name("pair"),)
        )
        store = RecordingStore(core.store)
        request = rekey_pair(old_private).request_payload
        assert isinstance(request, ReKeyKeyPairRequestPayload)
        answer = await rekey_key_pair.handle(racing_context(core, store), request)
        new = (answer.private_key_unique_identifier, answer.public_key_unique_identifier)
        assert store.writes == [("write_many", new, (old_private, old_public))]
        assert (await core.ok(locate(name("pair")))).unique_identifiers == (new[0],)

    run_core(tmp_path, scenario)


def test_a_concurrent_change_of_the_existing_public_key_starts_over(tmp_path: Path) -> None:
    """The new Public Key is derived from the existing one: when that changed since it was
    read, nothing is stored and the whole Re-key Key Pair starts over from what is stored now."""

    async def scenario(core: Core) -> None:
        old_private, old_public = await create_pair(
            core, _A.ECDSA, 256, private_mask=_U.SIGN, public_mask=_U.VERIFY
        )
        inner = core.store
        raced = False

        class ChangesThePublicKeyOnce(RecordingStore):
            async def write_many(self, **kwargs: Any) -> list[ObjectRecord]:
                nonlocal raced
                if not raced:
                    raced = True
                    current = await inner.get("tenant-a", old_public)
                    assert current is not None
                    changed = dataclasses.replace(
                        current, attributes=(*current.attributes, custom("x-raced", "yes"))
                    )
                    await inner.replace(changed, expected_revision=current.revision)
                return await super().write_many(**kwargs)

        store = ChangesThePublicKeyOnce(inner)
        request = rekey_pair(old_private).request_payload
        assert isinstance(request, ReKeyKeyPairRequestPayload)
        answer = await rekey_key_pair.handle(racing_context(core, store), request)
        assert len(store.writes) == 2  # the first lost, nothing of it stored
        assert len(inner._records) == 4
        new_public = await values(core, answer.public_key_unique_identifier)
        assert "x-raced" in new_public  # derived from the Public Key as it is now
        assert (
            link(LinkType.REPLACEMENT_OBJECT_LINK, answer.public_key_unique_identifier)
            in (await values(core, old_public))["Link"]
        )

    run_core(tmp_path, scenario)
