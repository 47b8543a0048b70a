"""MAC, MAC Verify, Hash, RNG Retrieve, RNG Seed and Derive Key through the engine: RFC 4231
through the wire, verdicts that are never errors, the MAC usage bits, streams, bounds, and the
links and storage of derived objects."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    DerivationParameters,
    DeriveKeyRequestPayload,
    DeriveKeyResponsePayload,
    GetRequestPayload,
    GetResponsePayload,
    HashRequestPayload,
    HashResponsePayload,
    Link,
    MACRequestPayload,
    MACResponsePayload,
    MACVerifyRequestPayload,
    MACVerifyResponsePayload,
    RequestBatchItem,
    RNGRetrieveRequestPayload,
    RNGRetrieveResponsePayload,
    RNGSeedRequestPayload,
    RNGSeedResponsePayload,
    TemplateAttribute,
)
from kmip_server.operations import derive_key
from tests.unit.crypto.support import register_key
from tests.unit.engine.support import Core, batch_item, payload_of, run_core, tenant
from tests.unit.operations.attribute_support import failed, shown
from tests.unit.operations.racing import RecordingStore, racing_context
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DerivationMethod,
    HashingAlgorithm,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    ValidityIndicator,
)

U = CryptographicUsageMask
R = ResultReason
A = CryptographicAlgorithm
RFC4231_KEY = b"\x0b" * 20
HI_THERE = b"Hi There"
RFC4231_SHA256 = bytes.fromhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")


def mac_item(uid: str | None, data: bytes | None, **fields: Any) -> RequestBatchItem:
    return batch_item(Operation.MAC, MACRequestPayload(unique_identifier=uid, data=data, **fields))


def verify_item(uid: str | None, data: bytes | None, mac: bytes | None, **fields: Any) -> RequestBatchItem:
    return batch_item(
        Operation.MAC_VERIFY,
        MACVerifyRequestPayload(unique_identifier=uid, data=data, mac_data=mac, **fields),
    )


def hash_item(algorithm: HashingAlgorithm, data: bytes | None, **fields: Any) -> RequestBatchItem:
    parameters = CryptographicParameters(hashing_algorithm=algorithm)
    return batch_item(
        Operation.HASH, HashRequestPayload(cryptographic_parameters=parameters, data=data, **fields)
    )


def test_hmac_sha256_rfc4231_over_the_wire_and_verify(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, RFC4231_KEY, A.HMAC_SHA256, mask=U.MAC_GENERATE | U.MAC_VERIFY)
        out = payload_of(await core.one(mac_item(uid, HI_THERE)), MACResponsePayload)
        assert out.mac_data == RFC4231_SHA256
        valid = payload_of(
            await core.one(verify_item(uid, HI_THERE, RFC4231_SHA256)), MACVerifyResponsePayload
        )
        assert valid.validity_indicator is ValidityIndicator.VALID
        for wrong in (RFC4231_SHA256[:16], bytes(32), RFC4231_SHA256 + b"\x00"):
            verdict = payload_of(await core.one(verify_item(uid, HI_THERE, wrong)), MACVerifyResponsePayload)
            assert verdict.validity_indicator is ValidityIndicator.INVALID

    run_core(tmp_path, scenario)


def test_cmac_and_the_mac_usage_bits(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
        cmac = CryptographicParameters(block_cipher_mode=BlockCipherMode.CMAC)
        uid = await register_key(core, key, mask=U.MAC_GENERATE, parameters=cmac)
        out = payload_of(await core.one(mac_item(uid, b"")), MACResponsePayload)
        assert out.mac_data == bytes.fromhex("bb1d6929e95937287fa37d129b756746")  # SP 800-38B D.1
        # Generate only: verifying needs MAC Verify in the mask.
        await failed(core, verify_item(uid, b"", out.mac_data), R.PERMISSION_DENIED)
        encrypt_only = await register_key(core, key, mask=U.ENCRYPT, parameters=cmac)
        await failed(core, mac_item(encrypt_only, b"data"), R.PERMISSION_DENIED)
        no_mac_named = await register_key(core, key, mask=U.MAC_GENERATE)  # an AES key, no CMAC mode
        await failed(core, mac_item(no_mac_named, b"data"), R.PERMISSION_DENIED)

    run_core(tmp_path, scenario)


def test_mac_and_verify_by_parts(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, RFC4231_KEY, A.HMAC_SHA256, mask=U.MAC_GENERATE | U.MAC_VERIFY)
        first = payload_of(await core.one(mac_item(uid, b"Hi ", init_indicator=True)), MACResponsePayload)
        assert first.mac_data is None
        assert first.correlation_value is not None
        last = payload_of(
            await core.one(
                mac_item(uid, b"There", correlation_value=first.correlation_value, final_indicator=True)
            ),
            MACResponsePayload,
        )
        assert last.mac_data == RFC4231_SHA256
        start = payload_of(
            await core.one(verify_item(uid, b"Hi", None, init_indicator=True)), MACVerifyResponsePayload
        )
        assert start.validity_indicator is ValidityIndicator.UNKNOWN
        end = payload_of(
            await core.one(
                verify_item(
                    uid,
                    b" There",
                    RFC4231_SHA256,
                    correlation_value=start.correlation_value,
                    final_indicator=True,
                )
            ),
            MACVerifyResponsePayload,
        )
        assert end.validity_indicator is ValidityIndicator.VALID

    run_core(tmp_path, scenario)


def test_hash_single_and_by_parts(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        one = payload_of(await core.one(hash_item(HashingAlgorithm.SHA_384, b"abc")), HashResponsePayload)
        assert one.data == hashlib.sha384(b"abc").digest()
        first = payload_of(
            await core.one(hash_item(HashingAlgorithm.SHA_256, b"a", init_indicator=True)),
            HashResponsePayload,
        )
        assert first.correlation_value is not None
        # Another tenant does not see this stream.
        await failed(
            core,
            hash_item(HashingAlgorithm.SHA_256, b"bc", correlation_value=first.correlation_value),
            R.ITEM_NOT_FOUND,
            tenant("tenant-b"),
        )
        last = payload_of(
            await core.one(
                hash_item(
                    HashingAlgorithm.SHA_256,
                    b"bc",
                    correlation_value=first.correlation_value,
                    final_indicator=True,
                )
            ),
            HashResponsePayload,
        )
        assert last.data == hashlib.sha256(b"abc").digest()
        await failed(core, hash_item(HashingAlgorithm.MD5, b"abc"), R.FEATURE_NOT_SUPPORTED)

    run_core(tmp_path, scenario)


def test_rng_retrieve_and_seed(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        a = payload_of(
            await core.one(batch_item(Operation.RNG_RETRIEVE, RNGRetrieveRequestPayload(data_length=48))),
            RNGRetrieveResponsePayload,
        )
        b = payload_of(
            await core.one(batch_item(Operation.RNG_RETRIEVE, RNGRetrieveRequestPayload(data_length=48))),
            RNGRetrieveResponsePayload,
        )
        assert len(a.data) == len(b.data) == 48
        assert a.data != b.data
        await failed(
            core,
            batch_item(Operation.RNG_RETRIEVE, RNGRetrieveRequestPayload(data_length=1 << 20)),
            R.INVALID_FIELD,
        )
        seeded = payload_of(
            await core.one(batch_item(Operation.RNG_SEED, RNGSeedRequestPayload(data=bytes(32)))),
            RNGSeedResponsePayload,
        )
        assert seeded.data_length == 0  # ignored, as 4.36 allows

    run_core(tmp_path, scenario)


def _derive(
    uids: tuple[str, ...],
    method: DerivationMethod,
    parameters: DerivationParameters,
    *attributes: Attribute,
    object_type: ObjectType = ObjectType.SYMMETRIC_KEY,
) -> RequestBatchItem:
    return batch_item(
        Operation.DERIVE_KEY,
        DeriveKeyRequestPayload(
            object_type=object_type,
            unique_identifiers=uids,
            derivation_method=method,
            derivation_parameters=parameters,
            template_attribute=TemplateAttribute(attributes=attributes),
        ),
    )


def material(got: GetResponsePayload) -> Any:
    managed: Any = got.managed_object
    return managed.key_block.key_value.key_material


AES_128 = (
    Attribute(name="Cryptographic Algorithm", value=A.AES),
    Attribute(name="Cryptographic Length", value=128),
    Attribute(name="Cryptographic Usage Mask", value=U.ENCRYPT | U.DECRYPT),
)


def test_derive_key_pbkdf2_links_and_stores_the_key(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        password = b"correct horse battery staple"
        base = await register_key(core, password, A.HMAC_SHA256, mask=U.DERIVE_KEY)
        parameters = DerivationParameters(
            cryptographic_parameters=CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256),
            salt=b"pepper",
            iteration_count=1000,
        )
        out = payload_of(
            await core.one(_derive((base,), DerivationMethod.PBKDF2, parameters, *AES_128)),
            DeriveKeyResponsePayload,
        )
        derived = out.unique_identifier
        got = payload_of(
            await core.one(batch_item(Operation.GET, GetRequestPayload(unique_identifier=derived))),
            GetResponsePayload,
        )
        key_bytes = material(got)
        expected = PBKDF2HMAC(algorithm=hashes.SHA256(), length=16, salt=b"pepper", iterations=1000).derive(
            password
        )
        assert key_bytes == expected
        new_links = (await shown(core, derived, "Link"))["Link"]
        assert [link.value for link in new_links] == [
            Link(link_type=LinkType.DERIVATION_BASE_OBJECT_LINK, linked_object_identifier=base)
        ]
        base_links = (await shown(core, base, "Link"))["Link"]
        assert [link.value for link in base_links] == [
            Link(link_type=LinkType.DERIVED_KEY_LINK, linked_object_identifier=derived)
        ]
        algorithm = (await shown(core, derived, "Cryptographic Algorithm"))["Cryptographic Algorithm"][
            0
        ].value
        assert algorithm is A.AES

    run_core(tmp_path, scenario)


def test_derive_key_hmac_and_its_refusals(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        base = await register_key(core, RFC4231_KEY, A.HMAC_SHA256, mask=U.DERIVE_KEY)
        parameters = DerivationParameters(derivation_data=HI_THERE)
        out = payload_of(
            await core.one(_derive((base,), DerivationMethod.HMAC, parameters, *AES_128)),
            DeriveKeyResponsePayload,
        )
        got = payload_of(
            await core.one(
                batch_item(Operation.GET, GetRequestPayload(unique_identifier=out.unique_identifier))
            ),
            GetResponsePayload,
        )
        assert material(got) == hmac.digest(RFC4231_KEY, HI_THERE, "sha256")[:16]
        too_long = (AES_128[0], Attribute(name="Cryptographic Length", value=512), AES_128[2])
        await failed(core, _derive((base,), DerivationMethod.HMAC, parameters, *too_long), R.INVALID_FIELD)
        no_derive_bit = await register_key(core, RFC4231_KEY, A.HMAC_SHA256, mask=U.MAC_GENERATE)
        await failed(
            core, _derive((no_derive_bit,), DerivationMethod.HMAC, parameters, *AES_128), R.PERMISSION_DENIED
        )
        await failed(
            core, _derive((base,), DerivationMethod.HMAC, parameters, AES_128[0], AES_128[2]), R.MISSING_DATA
        )
        await failed(
            core, _derive((base,), DerivationMethod.HASH, parameters, *AES_128), R.FEATURE_NOT_SUPPORTED
        )

    run_core(tmp_path, scenario)


def test_derive_key_encrypt_and_sp800_108(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
        base = await register_key(core, key, mask=U.DERIVE_KEY)
        ecb = DerivationParameters(
            cryptographic_parameters=CryptographicParameters(block_cipher_mode=BlockCipherMode.ECB),
            derivation_data=bytes.fromhex("6bc1bee22e409f96e93d7e117393172a"),
        )
        out = payload_of(
            await core.one(_derive((base,), DerivationMethod.ENCRYPT, ecb, *AES_128)),
            DeriveKeyResponsePayload,
        )
        got = payload_of(
            await core.one(
                batch_item(Operation.GET, GetRequestPayload(unique_identifier=out.unique_identifier))
            ),
            GetResponsePayload,
        )
        assert material(got) == bytes.fromhex("3ad77bb40d7a3660a89ecaf32466ef97")
        kdf = DerivationParameters(
            cryptographic_parameters=CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256),
            derivation_data=b"label\x00context",
        )
        secret = (
            Attribute(name="Cryptographic Length", value=384),
            Attribute(name="Cryptographic Usage Mask", value=U.DERIVE_KEY),
        )
        made = payload_of(
            await core.one(
                _derive(
                    (base,), DerivationMethod.NIST800_108_C, kdf, *secret, object_type=ObjectType.SECRET_DATA
                )
            ),
            DeriveKeyResponsePayload,
        )
        got = payload_of(
            await core.one(
                batch_item(Operation.GET, GetRequestPayload(unique_identifier=made.unique_identifier))
            ),
            GetResponsePayload,
        )
        assert got.object_type is ObjectType.SECRET_DATA
        assert len(material(got)) == 48

    run_core(tmp_path, scenario)


def test_the_derived_key_and_the_base_keys_link_are_one_write(tmp_path: Path) -> None:
    """Regression: the derived key and the base key's Derived Key Link were two writes (a crash
    between them left a link one way only). One write_many now."""

    async def scenario(core: Core) -> None:
        base = await register_key(core, b"k" * 32, A.HMAC_SHA256, mask=U.DERIVE_KEY)
        parameters = DerivationParameters(
            cryptographic_parameters=CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256),
            derivation_data=b"context",
        )
        store = RecordingStore(core.store)
        request = _derive((base,), DerivationMethod.HMAC, parameters, *AES_128).request_payload
        assert isinstance(request, DeriveKeyRequestPayload)
        answer = await derive_key.handle(racing_context(core, store), request)
        assert store.writes == [("write_many", (answer.unique_identifier,), (base,))]

    run_core(tmp_path, scenario)
