"""Create Key Pair (4.2): what is generated (RSA, EC curves), the two halves' attributes from
the Common / Private / Public templates, the links between them, names, the ID Placeholder,
Get of the halves in every key format, and 11.3's refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kmip_server.model import (
    Attribute,
    CreateKeyPairRequestPayload,
    CreateKeyPairResponsePayload,
    CryptographicDomainParameters,
    GetRequestPayload,
    KeyValue,
    Link,
    TransparentECPrivateKey,
    TransparentECPublicKey,
    TransparentRSAPrivateKey,
    TransparentRSAPublicKey,
    UniqueIdentifierResponsePayload,
)
from kmip_server.operations import create_key_pair
from kmip_server.storage.objects import LocateQuery
from tests.unit.engine.support import NOW, Core, batch_item, payload_of, run_core, uid_item
from tests.unit.operations.attribute_support import custom, failed, name, shown
from tests.unit.operations.keypair_support import (
    create_pair,
    get_key,
    key_pair_item,
    local_private_key,
    local_public_key,
    register_public,
)
from tests.unit.operations.racing import RecordingStore, racing_context
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    RecommendedCurve,
    ResultReason,
    State,
)

_A = CryptographicAlgorithm
_U = CryptographicUsageMask
_F = KeyFormatType


def algorithm(value: CryptographicAlgorithm) -> Attribute:
    return Attribute(name="Cryptographic Algorithm", value=value)


def length(value: int) -> Attribute:
    return Attribute(name="Cryptographic Length", value=value)


def mask(value: CryptographicUsageMask) -> Attribute:
    return Attribute(name="Cryptographic Usage Mask", value=value)


def curve(value: RecommendedCurve) -> Attribute:
    return Attribute(
        name="Cryptographic Domain Parameters", value=CryptographicDomainParameters(recommended_curve=value)
    )


async def values(core: Core, uid: str) -> dict[str, list[Any]]:
    return {n: [a.value for a in instances] for n, instances in (await shown(core, uid)).items()}


def test_an_rsa_pair_is_two_linked_keys_of_one_modulus(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(
            core, private=(name("signer"),), public=(name("signer-public"),)
        )
        mine = await values(core, private_uid)
        theirs = await values(core, public_uid)
        assert mine["Object Type"] == [ObjectType.PRIVATE_KEY]
        assert theirs["Object Type"] == [ObjectType.PUBLIC_KEY]
        for half in (mine, theirs):
            assert half["Cryptographic Algorithm"] == [_A.RSA]
            assert half["Cryptographic Length"] == [2048]
            assert half["State"] == [State.PRE_ACTIVE]
            assert half["Initial Date"] == half["Last Change Date"] == half["Original Creation Date"] == [NOW]
            assert "Random Number Generator" in half
            assert half["Lease Time"] == [3600]
        assert mine["Cryptographic Usage Mask"] == [_U.SIGN | _U.DECRYPT]
        assert theirs["Cryptographic Usage Mask"] == [_U.VERIFY | _U.ENCRYPT]
        assert [n.name_value for n in mine["Name"]] == ["signer"]
        assert [n.name_value for n in theirs["Name"]] == ["signer-public"]
        assert mine["Link"] == [Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier=public_uid)]
        assert theirs["Link"] == [
            Link(link_type=LinkType.PRIVATE_KEY_LINK, linked_object_identifier=private_uid)
        ]

        private_block = await get_key(core, private_uid)
        public_block = await get_key(core, public_uid)
        assert private_block.key_format_type is _F.PKCS_1  # as the OASIS AKLC Digests show
        assert public_block.key_format_type is _F.PKCS_1
        for half, block in ((mine, private_block), (theirs, public_block)):
            assert isinstance(block.key_value, KeyValue)
            material = block.key_value.key_material
            assert isinstance(material, bytes)
            assert half["Digest"][0].digest_value == hashlib.sha256(material).digest()
            assert half["Digest"][0].key_format_type is _F.PKCS_1
        private_key = await local_private_key(core, private_uid)
        public_key = await local_public_key(core, public_uid)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert private_key.key_size == 2048
        assert private_key.public_key().public_numbers() == public_key.public_numbers()
        assert public_key.public_numbers().e == 65537

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("attributes", "expected_curve", "bits"),
    [
        ((algorithm(_A.ECDSA), length(256)), ec.SECP256R1, 256),
        ((algorithm(_A.ECDSA), curve(RecommendedCurve.P_384)), ec.SECP384R1, 384),
        ((algorithm(_A.EC), length(521), curve(RecommendedCurve.P_521)), ec.SECP521R1, 521),
        ((algorithm(_A.ECDH), length(256)), ec.SECP256R1, 256),
    ],
    ids=["P-256 by length", "P-384 by curve", "P-521 by both", "ECDH P-256"],
)
def test_ec_pairs_on_each_curve(
    tmp_path: Path, attributes: tuple[Attribute, ...], expected_curve: type, bits: int
) -> None:
    async def scenario(core: Core) -> None:
        payload = await core.ok(key_pair_item(attributes))
        assert isinstance(payload, CreateKeyPairResponsePayload)
        private_uid, public_uid = payload.private_key_unique_identifier, payload.public_key_unique_identifier
        assert (await get_key(core, private_uid)).key_format_type is _F.PKCS_8
        assert (await get_key(core, public_uid)).key_format_type is _F.X_509
        private_key = await local_private_key(core, private_uid)
        public_key = await local_public_key(core, public_uid)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert isinstance(private_key.curve, expected_curve)
        assert private_key.public_key().public_numbers() == public_key.public_numbers()
        mine = await values(core, private_uid)
        assert mine["Cryptographic Length"] == [bits]
        # No mask in the request: the server's defaults for an EC pair.
        assert mine["Cryptographic Usage Mask"] == [_U.SIGN]
        assert (await values(core, public_uid))["Cryptographic Usage Mask"] == [_U.VERIFY]

    run_core(tmp_path, scenario)


def test_the_key_templates_win_over_the_common_one_and_multi_instance_attributes_add_up(
    tmp_path: Path,
) -> None:
    async def scenario(core: Core) -> None:
        payload = await core.ok(
            key_pair_item(
                (
                    algorithm(_A.ECDSA),
                    length(256),
                    mask(_U.SIGN | _U.VERIFY),
                    custom("x-team", "payments"),
                    Attribute(name="Activation Date", value=NOW - 10),
                ),
                (mask(_U.SIGN), custom("x-team", "signing")),
                (),
            )
        )
        private_uid, public_uid = payload.private_key_unique_identifier, payload.public_key_unique_identifier
        mine, theirs = await values(core, private_uid), await values(core, public_uid)
        assert mine["Cryptographic Usage Mask"] == [_U.SIGN]
        assert theirs["Cryptographic Usage Mask"] == [_U.SIGN | _U.VERIFY]
        assert sorted(v.value for v in mine["x-team"]) == ["payments", "signing"]
        assert [v.value for v in theirs["x-team"]] == ["payments"]
        assert mine["State"] == theirs["State"] == [State.ACTIVE]  # the Common Activation Date has passed

    run_core(tmp_path, scenario)


def test_the_id_placeholder_is_the_private_key(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        response = await core.send(
            key_pair_item((algorithm(_A.ECDSA), length(256))), uid_item(Operation.ACTIVATE)
        )
        created, activated = response.batch_items
        assert isinstance(created.response_payload, CreateKeyPairResponsePayload)
        private_uid = created.response_payload.private_key_unique_identifier
        assert payload_of(activated, UniqueIdentifierResponsePayload).unique_identifier == private_uid
        assert (await values(core, private_uid))["State"] == [State.ACTIVE]
        public_uid = created.response_payload.public_key_unique_identifier
        assert (await values(core, public_uid))["State"] == [State.PRE_ACTIVE]

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("common", "private", "public", "reason"),
    [
        ((length(256),), (), (), ResultReason.MISSING_DATA),  # no algorithm
        ((algorithm(_A.RSA),), (), (), ResultReason.MISSING_DATA),  # RSA without a length
        ((algorithm(_A.RSA), length(1024)), (), (), ResultReason.INVALID_FIELD),  # too short
        ((algorithm(_A.DSA), length(2048)), (), (), ResultReason.INVALID_FIELD),  # not generated
        ((algorithm(_A.AES), length(256)), (), (), ResultReason.INVALID_FIELD),  # not a pair
        ((algorithm(_A.ECDSA), length(255)), (), (), ResultReason.INVALID_FIELD),  # no such curve
        (
            (algorithm(_A.ECDSA), length(256), curve(RecommendedCurve.P_384)),
            (),
            (),
            ResultReason.INVALID_FIELD,
        ),
        ((algorithm(_A.ECDSA), curve(RecommendedCurve.K_163)), (), (), ResultReason.INVALID_FIELD),
        ((algorithm(_A.ECDSA),), (length(256),), (length(384),), ResultReason.INVALID_FIELD),  # Table 168
        ((algorithm(_A.ECDSA), length(256), name("both")), (), (), ResultReason.INVALID_FIELD),  # shared Name
        (
            (algorithm(_A.ECDSA), length(256)),
            (Attribute(name="State", value=State.ACTIVE),),
            (),
            ResultReason.INVALID_FIELD,
        ),
    ],
    ids=[
        "no algorithm",
        "RSA without length",
        "RSA 1024",
        "DSA",
        "AES",
        "EC length of no curve",
        "length contradicts curve",
        "curve not generated",
        "halves of different lengths",
        "one Name for both",
        "server attribute",
    ],
)
def test_refusals(
    tmp_path: Path,
    common: tuple[Attribute, ...],
    private: tuple[Attribute, ...],
    public: tuple[Attribute, ...],
    reason: ResultReason,
) -> None:
    async def scenario(core: Core) -> None:
        await failed(core, key_pair_item(common, private, public), reason)
        assert not await core.store.find("tenant-a", LocateQuery())  # nothing half-created

    run_core(tmp_path, scenario)


def test_a_name_in_use_is_refused(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        await create_pair(core, _A.ECDSA, 256, private=(name("taken"),))
        await failed(
            core,
            key_pair_item((algorithm(_A.ECDSA), length(256)), (), (name("taken"),)),
            ResultReason.INVALID_FIELD,
        )

    run_core(tmp_path, scenario)


# --------------------------------------------------------------------------------------------
# Get in each key format


def test_rsa_halves_in_every_format(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(core)
        private_key = await local_private_key(core, private_uid)  # PKCS#8 Get
        assert isinstance(private_key, rsa.RSAPrivateKey)
        numbers = private_key.private_numbers()
        transparent = (await get_key(core, private_uid, _F.TRANSPARENT_RSA_PRIVATE_KEY)).key_value
        assert isinstance(transparent, KeyValue)
        assert transparent.key_material == TransparentRSAPrivateKey(
            modulus=numbers.public_numbers.n,
            private_exponent=numbers.d,
            public_exponent=numbers.public_numbers.e,
            p=numbers.p,
            q=numbers.q,
            prime_exponent_p=numbers.dmp1,
            prime_exponent_q=numbers.dmq1,
            crt_coefficient=numbers.iqmp,
        )
        public = (await get_key(core, public_uid, _F.TRANSPARENT_RSA_PUBLIC_KEY)).key_value
        assert isinstance(public, KeyValue)
        assert public.key_material == TransparentRSAPublicKey(
            modulus=numbers.public_numbers.n, public_exponent=numbers.public_numbers.e
        )
        spki = await local_public_key(core, public_uid)
        assert spki.public_numbers() == numbers.public_numbers
        for wrong in (_F.ECPRIVATEKEY, _F.TRANSPARENT_EC_PRIVATE_KEY, _F.RAW, _F.X_509):
            await failed(
                core,
                batch_item(Operation.GET, _get(private_uid, wrong)),
                ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
            )
        await failed(
            core,
            batch_item(Operation.GET, _get(public_uid, _F.PKCS_8)),
            ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
        )

    run_core(tmp_path, scenario)


def _get(uid: str, key_format: KeyFormatType) -> GetRequestPayload:
    return GetRequestPayload(unique_identifier=uid, key_format_type=key_format)


def test_ec_halves_in_every_format(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(
            core, _A.ECDSA, 384, private_mask=_U.SIGN, public_mask=_U.VERIFY
        )
        private_key = await local_private_key(core, private_uid)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        sec1 = (await get_key(core, private_uid, _F.ECPRIVATEKEY)).key_value
        assert isinstance(sec1, KeyValue)
        assert isinstance(sec1.key_material, bytes)
        loaded = serialization.load_der_private_key(sec1.key_material, None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        assert loaded.private_numbers() == private_key.private_numbers()
        for key_format in (_F.TRANSPARENT_EC_PRIVATE_KEY, _F.TRANSPARENT_ECDSA_PRIVATE_KEY):
            transparent = (await get_key(core, private_uid, key_format)).key_value
            assert isinstance(transparent, KeyValue)
            assert transparent.key_material == TransparentECPrivateKey(
                recommended_curve=RecommendedCurve.P_384, d=private_key.private_numbers().private_value
            )
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        public = (await get_key(core, public_uid, _F.TRANSPARENT_EC_PUBLIC_KEY)).key_value
        assert isinstance(public, KeyValue)
        assert public.key_material == TransparentECPublicKey(
            recommended_curve=RecommendedCurve.P_384, q_string=point
        )
        for wrong in (_F.PKCS_1, _F.TRANSPARENT_RSA_PRIVATE_KEY):
            await failed(
                core,
                batch_item(Operation.GET, _get(private_uid, wrong)),
                ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
            )
        await failed(
            core,
            batch_item(Operation.GET, _get(public_uid, _F.PKCS_1)),
            ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
        )

    run_core(tmp_path, scenario)


def test_a_registered_public_key_converts_too(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        uid = await register_public(core, key)
        pkcs1 = (await get_key(core, uid, _F.PKCS_1)).key_value
        assert isinstance(pkcs1, KeyValue)
        assert pkcs1.key_material == key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        stored = (await get_key(core, uid)).key_value  # as registered
        assert isinstance(stored, KeyValue)
        assert stored.key_material == key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    run_core(tmp_path, scenario)


@pytest.mark.parametrize("bits", [3072, 4096])
def test_larger_rsa_moduli(tmp_path: Path, bits: int) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(core, _A.RSA, bits)
        private_key = await local_private_key(core, private_uid)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert private_key.key_size == bits
        assert (
            private_key.public_key().public_numbers()
            == (await local_public_key(core, public_uid)).public_numbers()
        )
        assert (await values(core, public_uid))["Cryptographic Length"] == [bits]

    run_core(tmp_path, scenario)


def test_both_halves_are_one_write(tmp_path: Path) -> None:
    """Regression: the halves were three writes (private, public, the private's link), so a
    crash between them left half a pair. One write_many now: both halves, linked, or neither."""

    async def scenario(core: Core) -> None:
        store = RecordingStore(core.store)
        request = key_pair_item((algorithm(_A.ECDSA), length(256)), (name("half"),)).request_payload
        assert isinstance(request, CreateKeyPairRequestPayload)
        answer = await create_key_pair.handle(racing_context(core, store), request)
        new = (answer.private_key_unique_identifier, answer.public_key_unique_identifier)
        assert store.writes == [("write_many", new, ())]
        private = await core.store.get("tenant-a", new[0])
        assert private is not None
        assert Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier=new[1]) in [
            attribute.value for attribute in private.attributes
        ]

    run_core(tmp_path, scenario)
