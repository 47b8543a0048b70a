"""L3 service keys and the L4 hot path: versions, rotation, isolation, one vague error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.hierarchy import HierarchySettings, ManualClock, NotReady, UnwrapFailed
from tests.integration.hierarchy.support import core
from tests.support.keystores import KeystoreEnv
from unseal.blob import Layer, peek
from unseal.memory import SecretBuffer

MATERIAL = bytes(range(32))


class RecordingCipher:
    """Put in place of a warm L3 cipher: records any cryptography attempted with it."""

    def __init__(self) -> None:
        self.calls = 0

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        self.calls += 1
        raise AssertionError("cryptography ran")


def test_l4_round_trip_and_header(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        lines = {"software": software_l1.keystore}
        async with core(tmp_path / "c.db", lines, SecretBuffer.random(32), ManualClock()) as hierarchy:
            await hierarchy.link_tenant("acme", "software", software_l1.console.create_key())
            assert not hierarchy.is_ready("acme", "svc")
            with pytest.raises(NotReady):
                hierarchy.wrap_l4("acme", "svc", "object-1", MATERIAL)
            await hierarchy.ensure_ready("acme", "svc")
            assert hierarchy.is_ready("acme", "svc")
            blob = hierarchy.wrap_l4("acme", "svc", "object-1", MATERIAL)
            header = peek(blob)
            assert (header.layer, header.tenant_id, header.key_id, header.wrapping_key_id) == (
                Layer.L4,
                "acme",
                "object-1",
                "svc",
            )
            assert header.wrapping_key_version == 1
            plain = hierarchy.unwrap_l4("acme", "svc", "object-1", blob)
            assert isinstance(plain, bytearray)
            assert plain == MATERIAL
            assert MATERIAL not in blob

    asyncio.run(scenario())


def test_every_bad_l4_fails_alike_and_cross_tenant_before_cryptography(
    software_l1: KeystoreEnv, tmp_path: Path
) -> None:
    async def scenario() -> None:
        lines = {"software": software_l1.keystore}
        async with core(tmp_path / "c.db", lines, SecretBuffer.random(32), ManualClock()) as hierarchy:
            for tenant in ("tenant-a", "tenant-b"):
                await hierarchy.link_tenant(tenant, "software", software_l1.console.create_key())
                await hierarchy.ensure_ready(tenant, "svc")
                await hierarchy.ensure_ready(tenant, "other")
            blob_a = hierarchy.wrap_l4("tenant-a", "svc", "object-1", MATERIAL)
            blob_b = hierarchy.wrap_l4("tenant-b", "svc", "object-1", MATERIAL)
            flipped = bytearray(blob_b)
            flipped[-1] ^= 0x01
            bad = {
                "another tenant's blob": ("tenant-b", "svc", "object-1", blob_a),
                "another service's blob": ("tenant-b", "other", "object-1", blob_b),
                "another object id": ("tenant-b", "svc", "object-2", blob_b),
                "a flipped bit": ("tenant-b", "svc", "object-1", bytes(flipped)),
                "a truncated blob": ("tenant-b", "svc", "object-1", blob_b[:40]),
                "garbage": ("tenant-b", "svc", "object-1", b"\x00" * 80),
                "nothing": ("tenant-b", "svc", "object-1", b""),
            }
            texts = set()
            for tenant, service, object_id, blob in bad.values():
                with pytest.raises(UnwrapFailed) as caught:
                    hierarchy.unwrap_l4(tenant, service, object_id, blob)
                assert caught.value.__cause__ is None
                texts.add(str(caught.value))
            assert texts == {"unwrap failed"}

            # Tenant B's warm L3 replaced by a recorder: tenant A's blob never reaches it.
            recorder = RecordingCipher()
            warm = hierarchy._tenants["tenant-b"].services["svc"]
            warm.ciphers = {1: cast(AESGCM, recorder)}
            with pytest.raises(UnwrapFailed):
                hierarchy.unwrap_l4("tenant-b", "svc", "object-1", blob_a)
            assert recorder.calls == 0
            # Control: tenant B's own blob does reach it.
            with pytest.raises(AssertionError):
                hierarchy.unwrap_l4("tenant-b", "svc", "object-1", blob_b)
            assert recorder.calls == 1

    asyncio.run(scenario())


def test_l3_rotation_by_command_and_by_age(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "c.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        settings = HierarchySettings()
        async with core(db, lines, master, clock, settings) as hierarchy:
            await hierarchy.link_tenant("acme", "software", software_l1.console.create_key())
            v1 = await hierarchy.wrap_l4_async("acme", "svc", "o1", b"1" * 32)
            assert await hierarchy.rotate_l3("acme", "svc") == 2
            v2 = await hierarchy.wrap_l4_async("acme", "svc", "o2", b"2" * 32)  # reserves under v2
            assert (peek(v1).wrapping_key_version, peek(v2).wrapping_key_version) == (1, 2)
            assert hierarchy.unwrap_l4("acme", "svc", "o1", v1) == b"1" * 32

            clock.advance(settings.l3_max_age)  # v2 is now too old to wrap, still fine to unwrap
            await hierarchy.recheck_tenant("acme")  # (and L1 confirms the tenant after all that time)
            assert hierarchy.unwrap_l4("acme", "svc", "o2", v2) == b"2" * 32
            with pytest.raises(NotReady):
                hierarchy.wrap_l4("acme", "svc", "o3", b"3" * 32)
            v3 = await hierarchy.wrap_l4_async("acme", "svc", "o3", b"3" * 32)
            assert peek(v3).wrapping_key_version == 3

        async with core(db, lines, master, clock, settings) as hierarchy:
            for object_id, blob, material in (("o1", v1, b"1"), ("o2", v2, b"2"), ("o3", v3, b"3")):
                assert await hierarchy.unwrap_l4_async("acme", "svc", object_id, blob) == material * 32
            assert (
                peek(await hierarchy.wrap_l4_async("acme", "svc", "o4", b"4" * 32)).wrapping_key_version == 3
            )

    asyncio.run(scenario())


def test_an_l3_rotated_by_another_core_is_loaded_on_demand(software_l1: KeystoreEnv, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "c.db"
        lines = {"software": software_l1.keystore}
        master, clock = SecretBuffer.random(32), ManualClock()
        async with core(db, lines, master, clock) as first, core(db, lines, master, clock) as second:
            await first.link_tenant("acme", "software", software_l1.console.create_key())
            old = await first.wrap_l4_async("acme", "svc", "o1", b"1" * 32)
            assert await second.unwrap_l4_async("acme", "svc", "o1", old) == b"1" * 32
            await first.rotate_l3("acme", "svc")
            new = await first.wrap_l4_async("acme", "svc", "o2", b"2" * 32)
            clock.advance(second.settings.l3_reload_interval)
            with pytest.raises(NotReady):
                second.unwrap_l4("acme", "svc", "o2", new)
            assert await second.unwrap_l4_async("acme", "svc", "o2", new) == b"2" * 32
            # A blob naming a version nobody has is a plain failure once the reload has happened.
            forged = bytearray(new)
            end = len(peek(new).encode())
            forged[end - 4 : end] = (99).to_bytes(4, "big")
            with pytest.raises(UnwrapFailed):
                second.unwrap_l4("acme", "svc", "o2", bytes(forged))

    asyncio.run(scenario())
