"""RSA Encrypt and Decrypt (4.29, 4.30) with managed keys: what the server encrypts under a
Public Key, ``cryptography`` decrypts with the Private Key obtained by Get, and the reverse;
OAEP defaults (Table 65) and parameters; and the refusals (wrong key type, no padding, too much
data, a ciphertext that does not decrypt, by parts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    DecryptResponsePayload,
    EncryptResponsePayload,
)
from tests.unit.engine.support import NOW, Core, run_core
from tests.unit.operations.attribute_support import failed
from tests.unit.operations.keypair_support import (
    create_pair,
    decrypt,
    encrypt,
    local_private_key,
    local_public_key,
)
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    PaddingMethod,
    ResultReason,
)

_H = HashingAlgorithm
_P = PaddingMethod
_U = CryptographicUsageMask
SECRET = b"a data key of thirty-two bytes!!"
ACTIVE = (Attribute(name="Activation Date", value=NOW - 60),)


def oaep(
    hash_name: HashingAlgorithm | None = None, mgf: HashingAlgorithm | None = None, label: bytes | None = None
) -> CryptographicParameters:
    return CryptographicParameters(
        padding_method=_P.OAEP,
        hashing_algorithm=hash_name,
        mask_generator_hashing_algorithm=mgf,
        p_source=label,
    )


async def encrypted(core: Core, uid: str, data: bytes, parameters: CryptographicParameters | None) -> bytes:
    payload = await core.ok(encrypt(uid, data, parameters))
    assert isinstance(payload, EncryptResponsePayload)
    assert payload.data is not None
    return payload.data


async def decrypted(core: Core, uid: str, data: bytes, parameters: CryptographicParameters | None) -> bytes:
    payload = await core.ok(decrypt(uid, data, parameters))
    assert isinstance(payload, DecryptResponsePayload)
    assert payload.data is not None
    return payload.data


@pytest.mark.parametrize(
    ("parameters", "local"),
    [
        (oaep(_H.SHA_256, _H.SHA_256), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
        (
            oaep(_H.SHA_384, _H.SHA_256, b"label"),
            padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA384(), b"label"),
        ),
        (oaep(_H.SHA_512, _H.SHA_512), padding.OAEP(padding.MGF1(hashes.SHA512()), hashes.SHA512(), None)),
        (
            oaep(),
            padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None),
        ),  # Table 65 / RFC 8017 defaults
        (
            oaep(_H.SHA_256),
            padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA256(), None),
        ),  # MGF1 SHA-1 default
        (CryptographicParameters(padding_method=_P.PKCS1_V1_5), padding.PKCS1v15()),
    ],
    ids=[
        "OAEP SHA-256",
        "OAEP SHA-384 MGF1 SHA-256 label",
        "OAEP SHA-512",
        "OAEP defaults",
        "OAEP MGF default",
        "PKCS1 v1.5",
    ],
)
def test_encryption_both_ways(
    tmp_path: Path, parameters: CryptographicParameters, local: padding.AsymmetricPadding
) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(core, common=ACTIVE)
        private_key = await local_private_key(core, private_uid)
        public_key = await local_public_key(core, public_uid)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert isinstance(public_key, rsa.RSAPublicKey)
        ciphertext = await encrypted(core, public_uid, SECRET, parameters)
        assert len(ciphertext) == 256
        assert private_key.decrypt(ciphertext, local) == SECRET
        assert await encrypted(core, public_uid, SECRET, parameters) != ciphertext  # randomized padding
        mine = public_key.encrypt(SECRET, local)
        assert await decrypted(core, private_uid, mine, parameters) == SECRET

    run_core(tmp_path, scenario)


def test_the_keys_cryptographic_parameters_apply(tmp_path: Path) -> None:
    stored = Attribute(name="Cryptographic Parameters", value=oaep(_H.SHA_256, _H.SHA_256))

    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(core, common=(*ACTIVE, stored))
        ciphertext = await encrypted(core, public_uid, SECRET, None)
        assert await decrypted(core, private_uid, ciphertext, None) == SECRET
        private_key = await local_private_key(core, private_uid)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        local = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        assert private_key.decrypt(ciphertext, local) == SECRET

    run_core(tmp_path, scenario)


def test_refusals(tmp_path: Path) -> None:
    chosen = oaep(_H.SHA_256, _H.SHA_256)

    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(
            core, private_mask=_U.DECRYPT | _U.ENCRYPT, public_mask=_U.ENCRYPT | _U.DECRYPT, common=ACTIVE
        )
        ciphertext = await encrypted(core, public_uid, SECRET, chosen)
        await failed(core, decrypt(public_uid, ciphertext, chosen), ResultReason.PERMISSION_DENIED)
        await failed(core, encrypt(private_uid, SECRET, chosen), ResultReason.PERMISSION_DENIED)
        await failed(
            core, encrypt(public_uid, SECRET, None), ResultReason.MISSING_DATA
        )  # no padding anywhere
        await failed(
            core,
            encrypt(public_uid, SECRET, CryptographicParameters(padding_method=_P.NONE)),
            ResultReason.INVALID_FIELD,
        )
        await failed(core, encrypt(public_uid, b"x" * 300, chosen), ResultReason.CRYPTOGRAPHIC_FAILURE)
        # Whatever is wrong with a ciphertext, the same vague failure (no padding oracle).
        wrong_label = await encrypted(core, public_uid, SECRET, oaep(_H.SHA_256, _H.SHA_256, b"other"))
        for bad in (ciphertext[:-1], bytes(256), wrong_label):
            answer = await failed(core, decrypt(private_uid, bad, chosen), ResultReason.CRYPTOGRAPHIC_FAILURE)
            assert answer.result_message == "decryption failed"
        await failed(
            core, encrypt(public_uid, SECRET, chosen, init_indicator=True), ResultReason.FEATURE_NOT_SUPPORTED
        )
        ec_private, ec_public = await create_pair(
            core,
            CryptographicAlgorithm.ECDSA,
            256,
            private_mask=_U.DECRYPT,
            public_mask=_U.ENCRYPT,
            common=ACTIVE,
        )
        await failed(core, encrypt(ec_public, SECRET, chosen), ResultReason.PERMISSION_DENIED)
        await failed(core, decrypt(ec_private, ciphertext, chosen), ResultReason.PERMISSION_DENIED)

    run_core(tmp_path, scenario)
