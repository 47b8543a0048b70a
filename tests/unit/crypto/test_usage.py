"""crypto.usage: the gate of every cryptographic operation, rule by rule, and the Usage Limits
allocation under concurrent requests (a real store, compare-and-set)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmip_server.crypto.usage import (
    PROCESSING_USAGES,
    PROTECTING_USAGES,
    USAGES_BY_STATE,
    Usage,
    allocate_usage,
    check_usage,
    resolve_parameters,
    usage_refusal,
)
from kmip_server.errors import KeyValueNotPresent, PermissionDenied
from kmip_server.model import Attribute, CryptographicParameters, UsageLimits
from kmip_server.objects import UndoJournal, first_value
from kmip_server.storage.objects import ObjectRecord
from tests.unit.crypto.support import register_key
from tests.unit.engine.support import NOW, Core, run_core
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    ObjectType,
    PaddingMethod,
    State,
    UsageLimitsUnit,
)


def record(
    state: State = State.ACTIVE,
    mask: int = Usage.ENCRYPT | Usage.DECRYPT,
    *extra: Attribute,
    object_type: ObjectType = ObjectType.SYMMETRIC_KEY,
) -> ObjectRecord:
    return ObjectRecord(
        unique_identifier="uid",
        tenant_id="t",
        service="s",
        object_type=object_type,
        state=state,
        attributes=(Attribute(name="Cryptographic Usage Mask", value=mask), *extra),
        material=b"blob",
    )


def test_the_usage_tables_are_complete() -> None:
    assert set(USAGES_BY_STATE) == set(State)
    assert PROCESSING_USAGES & PROTECTING_USAGES == 0
    for usage in (Usage.DECRYPT, Usage.VERIFY, Usage.MAC_VERIFY, Usage.UNWRAP_KEY):
        assert usage in PROCESSING_USAGES
    for usage in (Usage.ENCRYPT, Usage.SIGN, Usage.MAC_GENERATE, Usage.WRAP_KEY, Usage.DERIVE_KEY):
        assert usage in PROTECTING_USAGES


@pytest.mark.parametrize(
    ("state", "encrypt", "decrypt"),
    [
        (State.PRE_ACTIVE, False, False),
        (State.ACTIVE, True, True),
        (State.DEACTIVATED, False, True),  # 3.22: may still process protected data
        (State.COMPROMISED, False, True),
    ],
)
def test_state(state: State, encrypt: bool, decrypt: bool) -> None:
    assert (usage_refusal(record(state), Usage.ENCRYPT, NOW) is None) is encrypt
    assert (usage_refusal(record(state), Usage.DECRYPT, NOW) is None) is decrypt


def test_a_deactivated_key_asked_to_encrypt_is_told_why() -> None:
    with pytest.raises(PermissionDenied, match="encryption: the object is Deactivated"):
        check_usage(record(State.DEACTIVATED), Usage.ENCRYPT, NOW)


def test_destroyed_objects_have_no_key_value() -> None:
    with pytest.raises(KeyValueNotPresent):
        check_usage(record(State.DESTROYED), Usage.DECRYPT, NOW)


def test_mask() -> None:
    with pytest.raises(PermissionDenied, match="Usage Mask does not allow encryption"):
        check_usage(record(State.ACTIVE, Usage.DECRYPT), Usage.ENCRYPT, NOW)
    with pytest.raises(PermissionDenied, match="MAC generation"):
        check_usage(record(State.ACTIVE, Usage.ENCRYPT), Usage.MAC_GENERATE, NOW)


def test_dates() -> None:
    start = Attribute(name="Process Start Date", value=NOW + 10)
    stop = Attribute(name="Protect Stop Date", value=NOW - 10)
    assert "Process Start Date" in (
        usage_refusal(record(State.ACTIVE, Usage.DECRYPT, start), Usage.DECRYPT, NOW) or ""
    )
    assert usage_refusal(record(State.ACTIVE, Usage.ENCRYPT, start), Usage.ENCRYPT, NOW) is None  # protection
    assert "Protect Stop Date" in (
        usage_refusal(record(State.ACTIVE, Usage.ENCRYPT, stop), Usage.ENCRYPT, NOW) or ""
    )
    assert usage_refusal(record(State.ACTIVE, Usage.DECRYPT, stop), Usage.DECRYPT, NOW) is None  # processing


def test_opaque_objects_are_not_cryptographic() -> None:
    assert usage_refusal(record(object_type=ObjectType.OPAQUE_OBJECT), Usage.ENCRYPT, NOW) is not None


def test_parameters_merge_field_by_field() -> None:
    stored = CryptographicParameters(
        block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5, random_iv=True
    )
    key = record(
        State.ACTIVE,
        Usage.ENCRYPT,
        Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),
        Attribute(name="Cryptographic Parameters", value=stored),
    )
    merged = resolve_parameters(key, CryptographicParameters(padding_method=PaddingMethod.NONE))
    assert merged.block_cipher_mode is BlockCipherMode.CBC  # from the key
    assert merged.padding_method is PaddingMethod.NONE  # the request wins
    assert merged.random_iv is True
    assert merged.cryptographic_algorithm is CryptographicAlgorithm.AES  # from the key's algorithm
    assert resolve_parameters(key, None) == CryptographicParameters(
        block_cipher_mode=BlockCipherMode.CBC,
        padding_method=PaddingMethod.PKCS5,
        random_iv=True,
        cryptographic_algorithm=CryptographicAlgorithm.AES,
    )


def _limits(total: int, unit: UsageLimitsUnit) -> Attribute:
    return Attribute(name="Usage Limits", value=UsageLimits(usage_limits_total=total, usage_limits_unit=unit))


def test_concurrent_allocations_never_overspend(tmp_path: Path) -> None:
    """Twenty requests race for a count of 10 units: exactly ten win, the count ends at 0."""

    async def scenario(core: Core) -> None:
        uid = await register_key(core, bytes(16), extra=(_limits(10, UsageLimitsUnit.OBJECT),))
        objects = core.objects.scope("tenant-a", "svc", UndoJournal())

        async def one() -> bool:
            current = await objects.load(uid, now=NOW)
            try:
                await allocate_usage(objects, current, Usage.ENCRYPT, now=NOW)
            except PermissionDenied:
                return False
            return True

        results = await asyncio.gather(*(one() for _ in range(20)))
        assert results.count(True) == 10
        final = await objects.load(uid, now=NOW)
        limits = first_value(final.attributes, "Usage Limits")
        assert isinstance(limits, UsageLimits)
        assert limits.usage_limits_count == 0
        assert limits.usage_limits_total == 10

    run_core(tmp_path, scenario)


def test_byte_units_count_the_data_and_processing_is_free(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_key(core, bytes(16), extra=(_limits(100, UsageLimitsUnit.BYTE),))
        objects = core.objects.scope("tenant-a", "svc", UndoJournal())
        current = await objects.load(uid, now=NOW)
        current = await allocate_usage(objects, current, Usage.ENCRYPT, now=NOW, data_length=64)
        same = await allocate_usage(objects, current, Usage.DECRYPT, now=NOW, data_length=1000)
        assert same is current  # decryption is not limited (3.21)
        with pytest.raises(PermissionDenied, match="Usage Limits are exhausted"):
            await allocate_usage(objects, current, Usage.ENCRYPT, now=NOW, data_length=37)
        await allocate_usage(objects, current, Usage.ENCRYPT, now=NOW, data_length=36)
        limits = first_value((await objects.load(uid, now=NOW)).attributes, "Usage Limits")
        assert isinstance(limits, UsageLimits)
        assert limits.usage_limits_count == 0

    run_core(tmp_path, scenario)
