"""What only one driver has: AWS endpoints that fail or hang, PKCS#11 token rules, the dev key file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType

from keystores.aws_kms import AwsKmsKeystore
from keystores.base import (
    KeyDisabled,
    KeyNotFound,
    KeyStatus,
    KeystoreDenied,
    KeystoreRequestInvalid,
    KeystoreUnavailable,
)
from keystores.executor import ExecutorSettings
from keystores.pkcs11 import Pkcs11Keystore
from keystores.retry import RetryingKeystore, RetryPolicy
from keystores.software import KEY_FILE_NAME, SoftwareKeystore
from tests.support.keystores import MotoKms, SoftHsm

pytestmark = pytest.mark.integration

PLAINTEXT = b"k" * 32
CONTEXT = {"tenant": "t1"}


# -- AWS KMS ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port  # closed again: nothing listens there


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def aws_keystore(endpoint: str, **options: object) -> AwsKmsKeystore:
    return AwsKmsKeystore(
        region="eu-central-1",
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        **options,  # type: ignore[arg-type]
    )


def test_aws_unreachable_endpoint_is_unavailable_and_retried() -> None:
    inner = aws_keystore(f"http://127.0.0.1:{free_port()}")
    attempts = 3
    keystore = RetryingKeystore(inner, RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.01))

    async def scenario() -> None:
        with pytest.raises(KeystoreUnavailable, match="EndpointConnectionError"):
            await keystore.encrypt("0b5d9a3c-0000-4000-8000-000000000000", PLAINTEXT, CONTEXT)
        await keystore.close()

    asyncio.run(scenario())


def test_aws_endpoint_that_never_answers_times_out_as_unavailable() -> None:
    with silent_server() as port:
        keystore = aws_keystore(
            f"http://127.0.0.1:{port}",
            read_timeout=30.0,  # longer than the call timeout: the executor's deadline decides
            executor=ExecutorSettings(max_workers=2, call_timeout=0.2, close_timeout=0.0),
        )

        async def scenario() -> None:
            with pytest.raises(KeystoreUnavailable, match="timed out"):
                await keystore.key_status("0b5d9a3c-0000-4000-8000-000000000000")
            await keystore.close()

        asyncio.run(scenario())


def test_aws_read_timeout_is_unavailable() -> None:
    with silent_server() as port:
        keystore = aws_keystore(f"http://127.0.0.1:{port}", read_timeout=0.2)

        async def scenario() -> None:
            with pytest.raises(KeystoreUnavailable, match="ReadTimeoutError"):
                await keystore.key_status("0b5d9a3c-0000-4000-8000-000000000000")
            await keystore.close()

        asyncio.run(scenario())


def test_aws_validate_refuses_a_key_that_is_not_symmetric(moto_kms: MotoKms) -> None:
    client = moto_kms.client()
    rsa = client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    client.close()
    keystore = moto_kms.keystore()

    async def scenario() -> None:
        with pytest.raises(KeystoreDenied, match="symmetric"):
            await keystore.validate(rsa)
        await keystore.close()

    asyncio.run(scenario())


def test_aws_alias_and_arn_name_the_same_key(moto_kms: MotoKms) -> None:
    client = moto_kms.client()
    metadata = client.create_key()["KeyMetadata"]
    client.create_alias(AliasName=f"alias/openkcm-{metadata['KeyId'][:8]}", TargetKeyId=metadata["KeyId"])
    client.close()
    keystore = moto_kms.keystore()

    async def scenario() -> None:
        ciphertext = await keystore.encrypt(f"alias/openkcm-{metadata['KeyId'][:8]}", PLAINTEXT, CONTEXT)
        assert await keystore.decrypt(metadata["Arn"], ciphertext, CONTEXT) == PLAINTEXT
        await keystore.validate(metadata["Arn"])
        await keystore.close()

    asyncio.run(scenario())


def test_aws_cancelled_deletion_leaves_the_key_disabled(moto_kms: MotoKms) -> None:
    console = moto_kms.console()
    key_id = console.create_key()
    console.schedule_deletion(key_id)
    moto_kms.client().cancel_key_deletion(KeyId=key_id)
    keystore = moto_kms.keystore()

    async def scenario() -> None:
        assert await keystore.key_status(key_id) is KeyStatus.DISABLED
        with pytest.raises(KeyDisabled):
            await keystore.encrypt(key_id, PLAINTEXT, CONTEXT)
        await keystore.close()

    asyncio.run(scenario())
    console.close()


# -- PKCS#11 ---------------------------------------------------------------------------------


def test_pkcs11_unknown_token_is_unavailable(softhsm: SoftHsm) -> None:
    keystore = Pkcs11Keystore(module=softhsm.module, token_label="no-such-token", user_pin=softhsm.user_pin)

    async def scenario() -> None:
        with pytest.raises(KeystoreUnavailable, match="NoSuchToken"):
            await keystore.key_status("any")
        await keystore.close()

    asyncio.run(scenario())


def test_pkcs11_wrong_pin_is_denied(softhsm: SoftHsm) -> None:
    console = softhsm.console()  # keeps the token logged in, as a running server would
    key_id = console.create_key()
    keystore = Pkcs11Keystore(module=softhsm.module, token_label=softhsm.token_label, user_pin="wrong-pin")

    async def scenario() -> None:
        with pytest.raises(KeystoreDenied, match="PinIncorrect"):
            await keystore.validate(key_id)
        await keystore.close()

    asyncio.run(scenario())
    console.close()


def test_pkcs11_wrong_pin_on_first_login_is_denied(softhsm: SoftHsm) -> None:
    keystore = Pkcs11Keystore(module=softhsm.module, token_label=softhsm.token_label, user_pin="wrong-pin")

    async def scenario() -> None:
        with pytest.raises(KeystoreDenied, match="PinIncorrect"):
            await keystore.key_status("any")
        await keystore.close()

    asyncio.run(scenario())


def generate(softhsm: SoftHsm, label: str, key_type: str, bits: int) -> None:
    session = softhsm.module.open_session(softhsm.token_label, softhsm.user_pin, read_write=True)
    template = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True}
    try:
        session.call(
            lambda s: s.generate_key(KeyType[key_type], bits, label=label, store=True, template=template)
        )
    finally:
        session.close()


def test_pkcs11_ambiguous_label_is_denied(softhsm: SoftHsm) -> None:
    generate(softhsm, "twice", "AES", 256)
    generate(softhsm, "twice", "AES", 256)
    keystore = softhsm.keystore()

    async def scenario() -> None:
        with pytest.raises(KeystoreDenied, match="MultipleObjectsReturned"):
            await keystore.encrypt("twice", PLAINTEXT, CONTEXT)
        with pytest.raises(KeystoreDenied):
            await keystore.key_status("twice")
        await keystore.close()

    asyncio.run(scenario())


def test_pkcs11_validate_requires_aes_256(softhsm: SoftHsm) -> None:
    generate(softhsm, "aes-128", "AES", 128)
    generate(softhsm, "generic", "GENERIC_SECRET", 256)
    keystore = softhsm.keystore()

    async def scenario() -> None:
        with pytest.raises(KeystoreDenied, match="AES-256"):
            await keystore.validate("aes-128")
        with pytest.raises(KeystoreDenied, match="not an AES key"):
            await keystore.encrypt("generic", PLAINTEXT, CONTEXT)
        await keystore.close()

    asyncio.run(scenario())


def test_pkcs11_keystores_share_one_login(softhsm: SoftHsm) -> None:
    console = softhsm.console()
    key_id = console.create_key()
    first, second = softhsm.keystore(), softhsm.keystore()

    async def scenario() -> None:
        ciphertext = await first.encrypt(key_id, PLAINTEXT, CONTEXT)
        await first.close()  # must not log out the second keystore or the console
        assert await second.decrypt(key_id, ciphertext, CONTEXT) == PLAINTEXT
        await second.close()

    asyncio.run(scenario())
    console.disable_key(key_id)
    console.close()


# -- software (dev) --------------------------------------------------------------------------


def test_software_keys_survive_reopening_the_file(tmp_path: Path) -> None:
    first = SoftwareKeystore(tmp_path)
    kept, disabled, pending, deleted = (first.create_key() for _ in range(4))
    first.disable_key(disabled)
    first.schedule_deletion(pending)
    first.delete_key(deleted)
    ciphertext = asyncio.run(first.encrypt(kept, PLAINTEXT, CONTEXT))
    asyncio.run(first.close())

    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    reopened = SoftwareKeystore(tmp_path)

    async def scenario() -> None:
        assert await reopened.decrypt(kept, ciphertext, CONTEXT) == PLAINTEXT
        assert await reopened.key_status(disabled) is KeyStatus.DISABLED
        assert await reopened.key_status(pending) is KeyStatus.PENDING_DELETION
        assert await reopened.key_status(deleted) is KeyStatus.NOT_FOUND
        await reopened.close()

    asyncio.run(scenario())


def test_software_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    SoftwareKeystore(tmp_path).create_key()
    os.chmod(tmp_path / KEY_FILE_NAME, 0o644)
    with pytest.raises(KeystoreDenied, match="0600"):
        SoftwareKeystore(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        json.dumps({"format": "openkcm-dev-l1-keystore", "version": 2, "keys": []}).encode(),
        json.dumps(
            {
                "format": "openkcm-dev-l1-keystore",
                "version": 1,
                "keys": [{"key_id": "k", "status": "enabled", "material": "c2hvcnQ="}],
            }
        ).encode(),
    ],
    ids=["not-json", "not-an-object", "wrong-version", "short-key"],
)
def test_software_refuses_a_corrupt_key_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeystoreUnavailable, match="not a valid"):
        SoftwareKeystore(tmp_path)


def test_software_state_rules_follow_kms() -> None:
    keystore = SoftwareKeystore()
    key_id = keystore.create_key("dev-fixed")
    with pytest.raises(KeystoreRequestInvalid):
        keystore.create_key("dev-fixed")
    keystore.schedule_deletion(key_id)
    with pytest.raises(KeyDisabled):
        keystore.enable_key(key_id)  # a key pending deletion must first be rescued
    keystore.cancel_deletion(key_id)
    assert asyncio.run(keystore.key_status(key_id)) is KeyStatus.DISABLED
    keystore.enable_key(key_id)
    keystore.delete_key(key_id)
    with pytest.raises(KeyNotFound):
        keystore.delete_key(key_id)
    with pytest.raises(KeyNotFound):
        keystore.disable_key(key_id)
    asyncio.run(keystore.close())


def test_software_close_zeroizes_key_material() -> None:
    keystore = SoftwareKeystore()
    key_id = keystore.create_key()
    material = keystore._keys[key_id].material  # the bytearray itself, to watch it being wiped
    assert any(material)
    asyncio.run(keystore.close())
    assert material == bytearray()
    with pytest.raises(KeystoreUnavailable):
        keystore.create_key()


def test_software_ciphertext_names_its_key_and_driver() -> None:
    keystore = SoftwareKeystore()
    key_id = keystore.create_key("dev-named")
    ciphertext = asyncio.run(keystore.encrypt(key_id, PLAINTEXT, CONTEXT))
    assert ciphertext.startswith(b"OKSW\x01\x00\x09dev-named")
    assert len(ciphertext) == 4 + 1 + 2 + 9 + 12 + len(PLAINTEXT) + 16
    asyncio.run(keystore.close())
