"""The Gateway's path to a tenant's L3 (crypto.gateway) through the engine: wrap and unwrap for
the tenants a gateway serves, one answer for every refusal and every failed unwrap, the
kill-switch, and the L3 identifier that nobody can Get, Locate or read attributes of."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kmip_server.crypto.gateway import (
    GatewayAccess,
    GatewaySettings,
    L3Reference,
    l3_identifier,
    parse_l3_identifier,
)
from kmip_server.crypto.services import CryptoServices
from kmip_server.engine import RequestEngine
from kmip_server.identity import Identity, IdentitySource, Role
from kmip_server.model import (
    CryptographicParameters,
    DecryptResponsePayload,
    EncryptResponsePayload,
    GetAttributesRequestPayload,
    GetRequestPayload,
    LocateRequestPayload,
    LocateResponsePayload,
)
from tests.unit.crypto.support import decrypt_item, encrypt_item
from tests.unit.engine.support import Core, batch_item, create_aes, payload_of, run_core, tenant
from tests.unit.operations.attribute_support import failed
from ttlv.kmip14 import BlockCipherMode, Operation, ResultReason

R = ResultReason
L3_A = l3_identifier("tenant-a", "svc")
L4_KEY = bytes(range(32))


def gateway(name: str) -> Identity:
    return Identity(
        Role.GATEWAY, f"spiffe://openkcm.local/gateway/{name}", source=IdentitySource.SPIFFE_ID, gateway=name
    )


GW1, GW2 = gateway("gw1"), gateway("gw2")


def with_gateways(core: Core) -> Core:
    access = GatewayAccess(core.hierarchy, GatewaySettings({"gw1": frozenset({"tenant-a"})}))
    engine = RequestEngine(
        objects=core.objects,
        seal=core.seal,
        clock=lambda: core.clock[0],
        crypto=CryptoServices(gateway=access),
    )
    return dataclasses.replace(core, engine=engine)


async def wrap(
    core: Core, data: bytes, name: bytes = b"vault/key-1", uid: str = L3_A, peer: Any = GW1
) -> bytes:
    out = payload_of(
        await core.one(encrypt_item(uid, data, authenticated_encryption_additional_data=name), peer),
        EncryptResponsePayload,
    )
    assert out.data is not None
    return out.data


def test_parse_l3_identifier() -> None:
    assert parse_l3_identifier("l3:tenant-a:svc") == L3Reference("tenant-a", "svc")
    for other in ("l3:tenant-a", "l3:a:b:c", "l3::svc", "l3:-bad:svc", "L3:a:b", "8c0e-uuid", "l3:a:b c"):
        assert parse_l3_identifier(other) is None


def test_a_gateway_wraps_and_unwraps_l4_keys_of_its_tenant(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        blob = await wrap(core, L4_KEY)
        assert blob.startswith(b"OKCM")  # the wrapped-blob format of DESIGN section 4
        assert L4_KEY not in blob
        back = payload_of(
            await core.one(
                decrypt_item(L3_A, blob, authenticated_encryption_additional_data=b"vault/key-1"), GW1
            ),
            DecryptResponsePayload,
        )
        assert back.data == L4_KEY
        assert await wrap(core, L4_KEY) != blob  # a fresh nonce every time

    run_core(tmp_path, scenario)


def test_every_failed_unwrap_reads_the_same(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        blob = await wrap(core, L4_KEY)
        other_service = l3_identifier("tenant-a", "other")
        attempts = [
            decrypt_item(
                L3_A, blob, authenticated_encryption_additional_data=b"vault/key-2"
            ),  # another object
            decrypt_item(other_service, blob, authenticated_encryption_additional_data=b"vault/key-1"),
            decrypt_item(
                L3_A,
                blob[:-1] + bytes([blob[-1] ^ 1]),
                authenticated_encryption_additional_data=b"vault/key-1",
            ),
            decrypt_item(L3_A, b"not a blob", authenticated_encryption_additional_data=b"vault/key-1"),
        ]
        messages = {
            (await failed(core, item, R.CRYPTOGRAPHIC_FAILURE, GW1)).result_message for item in attempts
        }
        assert messages == {"decryption failed"}

    run_core(tmp_path, scenario)


def test_the_cores_own_l4_blobs_are_not_unwrapped_by_the_gateway_path(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        uid = await create_aes(core)
        record = await core.store.get("tenant-a", uid)
        assert record is not None
        assert record.material is not None
        item = decrypt_item(L3_A, record.material, authenticated_encryption_additional_data=uid.encode())
        await failed(core, item, R.CRYPTOGRAPHIC_FAILURE, GW1)

    run_core(tmp_path, scenario)


def test_only_gateways_serving_the_tenant(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        item = encrypt_item(
            l3_identifier("tenant-b", "svc"), L4_KEY, authenticated_encryption_additional_data=b"k"
        )
        refused = await failed(core, item, R.PERMISSION_DENIED, GW1)
        unknown_tenant = encrypt_item(
            l3_identifier("nobody", "svc"), L4_KEY, authenticated_encryption_additional_data=b"k"
        )
        assert (
            await failed(core, unknown_tenant, R.PERMISSION_DENIED, GW1)
        ).result_message == refused.result_message
        await failed(
            core,
            encrypt_item(L3_A, L4_KEY, authenticated_encryption_additional_data=b"k"),
            R.PERMISSION_DENIED,
            GW2,
        )
        # A gateway has no managed objects: an ordinary identifier is refused too.
        uid = await create_aes(core)
        await failed(
            core,
            encrypt_item(uid, L4_KEY, authenticated_encryption_additional_data=b"k"),
            R.PERMISSION_DENIED,
            GW1,
        )
        # Without gateway access configured (the engine's default), every gateway is refused.
        await failed(
            base,
            encrypt_item(L3_A, L4_KEY, authenticated_encryption_additional_data=b"k"),
            R.PERMISSION_DENIED,
            GW1,
        )

    run_core(tmp_path, scenario)


def test_the_request_names_the_object_and_nothing_else(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        await failed(core, encrypt_item(L3_A, L4_KEY), R.MISSING_DATA, GW1)
        await failed(
            core,
            encrypt_item(L3_A, L4_KEY, authenticated_encryption_additional_data=b"a b"),
            R.INVALID_FIELD,
            GW1,
        )
        gcm = CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM)
        chosen = encrypt_item(
            L3_A, L4_KEY, authenticated_encryption_additional_data=b"k", cryptographic_parameters=gcm
        )
        await failed(core, chosen, R.INVALID_FIELD, GW1)

    run_core(tmp_path, scenario)


def test_nobody_can_get_locate_or_read_the_l3(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        await wrap(core, L4_KEY)
        owner = tenant("tenant-a")
        for operation, payload in (
            (Operation.GET, GetRequestPayload(unique_identifier=L3_A)),
            (Operation.GET_ATTRIBUTES, GetAttributesRequestPayload(unique_identifier=L3_A)),
        ):
            await failed(core, batch_item(operation, payload), R.ITEM_NOT_FOUND, owner)
            await failed(core, batch_item(operation, payload), R.PERMISSION_DENIED, GW1)  # no Get at all
        found = payload_of(
            await core.one(batch_item(Operation.LOCATE, LocateRequestPayload()), owner), LocateResponsePayload
        )
        assert L3_A not in found.unique_identifiers
        # A tenant client's Encrypt with the L3 identifier is an unknown object, not the L3.
        await failed(
            core,
            encrypt_item(L3_A, L4_KEY, authenticated_encryption_additional_data=b"k"),
            R.ITEM_NOT_FOUND,
            owner,
        )

    run_core(tmp_path, scenario)


def test_the_kill_switch_stops_the_gateway_path(tmp_path: Path) -> None:
    async def scenario(base: Core) -> None:
        core = with_gateways(base)
        blob = await wrap(core, L4_KEY)
        await core.hierarchy.unlink_tenant("tenant-a")
        answer = await core.one(
            decrypt_item(L3_A, blob, authenticated_encryption_additional_data=b"vault/key-1"), GW1
        )
        assert answer.result_reason is R.PERMISSION_DENIED  # TenantNotLinked: the tenant's keys are gone
        assert answer.response_payload is None

    run_core(tmp_path, scenario)
