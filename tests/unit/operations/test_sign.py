"""Sign (4.31) and Signature Verify (4.32) with managed keys: cross-checks with ``cryptography``
(what the server signs verifies locally, what is signed locally the server verifies), the
parameter resolution (request, key attribute, Digital Signature Algorithm, defaults), Digested
Data, the Init/Continue/Final form, and the refusals: wrong key type, wrong state, mask, dates,
Usage Limits, parameters."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    RequestBatchItem,
    RevocationReason,
    RevokeRequestPayload,
    SignatureVerifyResponsePayload,
    SignResponsePayload,
    UsageLimits,
)
from tests.unit.engine.support import NOW, Core, batch_item, create_aes, run_core, uid_item
from tests.unit.operations.attribute_support import failed
from tests.unit.operations.keypair_support import (
    create_pair,
    local_public_key,
    register_private,
    register_public,
    sign,
    verify,
)
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    Operation,
    PaddingMethod,
    ResultReason,
    RevocationReasonCode,
    UsageLimitsUnit,
    ValidityIndicator,
)

_A = CryptographicAlgorithm
_D = DigitalSignatureAlgorithm
_H = HashingAlgorithm
_P = PaddingMethod
_U = CryptographicUsageMask
DATA = b"the quick brown fox jumps over the lazy dog" * 3

_LOCAL_HASHES: dict[HashingAlgorithm, Callable[[], hashes.HashAlgorithm]] = {
    _H.SHA_256: hashes.SHA256,
    _H.SHA_384: hashes.SHA384,
    _H.SHA_512: hashes.SHA512,
}


def params(**fields: object) -> CryptographicParameters:
    return CryptographicParameters(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def signature_of(
    core: Core, uid: str, data: bytes, parameters: CryptographicParameters | None = None
) -> bytes:
    payload = await core.ok(sign(uid, data, parameters))
    assert isinstance(payload, SignResponsePayload)
    assert payload.unique_identifier == uid
    assert payload.signature_data is not None
    return payload.signature_data


async def verdict(
    core: Core, uid: str, data: bytes, signature: bytes, parameters: CryptographicParameters | None = None
) -> ValidityIndicator:
    payload = await core.ok(verify(uid, data, signature, parameters))
    assert isinstance(payload, SignatureVerifyResponsePayload)
    return payload.validity_indicator


# --------------------------------------------------------------------------------------------
# Cross-checks with cryptography


@pytest.mark.parametrize(
    ("scheme", "hash_name"),
    [
        (_P.PKCS1_V1_5, _H.SHA_256),
        (_P.PKCS1_V1_5, _H.SHA_384),
        (_P.PKCS1_V1_5, _H.SHA_512),
        (_P.PSS, _H.SHA_256),
        (_P.PSS, _H.SHA_512),
    ],
)
def test_rsa_signatures_both_ways(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, scheme: PaddingMethod, hash_name: HashingAlgorithm
) -> None:
    local_hash = _LOCAL_HASHES[hash_name]()
    local_padding: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if scheme is _P.PKCS1_V1_5
        else padding.PSS(mgf=padding.MGF1(_LOCAL_HASHES[hash_name]()), salt_length=padding.PSS.DIGEST_LENGTH)
    )

    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, mask=_U.SIGN)
        public_uid = await register_public(core, rsa_key.public_key(), mask=_U.VERIFY)
        chosen = params(cryptographic_algorithm=_A.RSA, padding_method=scheme, hashing_algorithm=hash_name)
        signature = await signature_of(core, private_uid, DATA, chosen)
        rsa_key.public_key().verify(signature, DATA, local_padding, local_hash)  # raises if wrong
        mine = rsa_key.sign(DATA, local_padding, local_hash)
        assert await verdict(core, public_uid, DATA, mine, chosen) is ValidityIndicator.VALID
        assert await verdict(core, public_uid, DATA + b"!", mine, chosen) is ValidityIndicator.INVALID
        tampered = bytes([mine[0] ^ 1]) + mine[1:]
        assert await verdict(core, public_uid, DATA, tampered, chosen) is ValidityIndicator.INVALID

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("algorithm", "bits", "hash_name"),
    [(_A.ECDSA, 256, _H.SHA_256), (_A.EC, 384, _H.SHA_384)],
    ids=["P-256 SHA-256", "P-384 SHA-384"],
)
def test_ecdsa_signatures_of_a_created_pair_both_ways(
    tmp_path: Path, algorithm: CryptographicAlgorithm, bits: int, hash_name: HashingAlgorithm
) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(
            core, algorithm, bits, private_mask=_U.SIGN, public_mask=_U.VERIFY, common=(_active(),)
        )
        public_key = await local_public_key(core, public_uid)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        local = ec.ECDSA(_LOCAL_HASHES[hash_name]())
        # No hash named: the one that matches the curve (RFC 5480).
        signature = await signature_of(core, private_uid, DATA)
        public_key.verify(signature, DATA, local)
        assert await verdict(core, public_uid, DATA, signature) is ValidityIndicator.VALID
        named = params(hashing_algorithm=hash_name)
        assert await verdict(core, public_uid, DATA, signature, named) is ValidityIndicator.VALID
        assert await verdict(core, public_uid, b"other", signature, named) is ValidityIndicator.INVALID
        assert await verdict(core, public_uid, DATA, b"\x30\x00", named) is ValidityIndicator.INVALID

    run_core(tmp_path, scenario)


def _active() -> Attribute:
    return Attribute(name="Activation Date", value=NOW - 60)


def test_ecdsa_verifies_what_cryptography_signed(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    async def scenario(core: Core) -> None:
        public_uid = await register_public(core, p256_key.public_key(), mask=_U.VERIFY)
        signature = p256_key.sign(DATA, ec.ECDSA(hashes.SHA256()))
        chosen = params(digital_signature_algorithm=_D.ECDSA_WITH_SHA256)
        assert await verdict(core, public_uid, DATA, signature, chosen) is ValidityIndicator.VALID
        other = params(digital_signature_algorithm=_D.ECDSA_WITH_SHA384)
        assert await verdict(core, public_uid, DATA, signature, other) is ValidityIndicator.INVALID

    run_core(tmp_path, scenario)


# --------------------------------------------------------------------------------------------
# Parameter resolution


def test_the_keys_own_cryptographic_parameters_apply_when_the_request_names_none(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    stored = Attribute(
        name="Cryptographic Parameters",
        value=params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_384, salt_length=20),
    )

    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, stored, mask=_U.SIGN)
        signature = await signature_of(core, private_uid, DATA)
        rsa_key.public_key().verify(
            signature, DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=20), hashes.SHA384()
        )
        # A request's field wins over the key's, field by field.
        other = await signature_of(core, private_uid, DATA, params(padding_method=_P.PKCS1_V1_5))
        rsa_key.public_key().verify(other, DATA, padding.PKCS1v15(), hashes.SHA384())

    run_core(tmp_path, scenario)


def test_digital_signature_algorithm_names_scheme_and_hash(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, mask=_U.SIGN)
        signature = await signature_of(
            core,
            private_uid,
            DATA,
            params(digital_signature_algorithm=_D.SHA_512_WITH_RSA_ENCRYPTION_PKCS_1_V1_5),
        )
        rsa_key.public_key().verify(signature, DATA, padding.PKCS1v15(), hashes.SHA512())
        pss = await signature_of(
            core,
            private_uid,
            DATA,
            params(digital_signature_algorithm=_D.RSASSA_PSS_PKCS_1_V2_1, hashing_algorithm=_H.SHA_256),
        )
        # Salt Length omitted when signing: the hash's length (RFC 8017 hLen).
        rsa_key.public_key().verify(
            pss, DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )

    run_core(tmp_path, scenario)


def test_pss_verification_without_a_salt_length_accepts_any(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    async def scenario(core: Core) -> None:
        public_uid = await register_public(core, rsa_key.public_key(), mask=_U.VERIFY)
        chosen = params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256)
        for salt in (0, 32, padding.PSS.MAX_LENGTH):
            signature = rsa_key.sign(
                DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt), hashes.SHA256()
            )
            assert await verdict(core, public_uid, DATA, signature, chosen) is ValidityIndicator.VALID
        exact = rsa_key.sign(
            DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
        pinned = params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256, salt_length=20)
        assert await verdict(core, public_uid, DATA, exact, pinned) is ValidityIndicator.INVALID

    run_core(tmp_path, scenario)


def test_sha1_only_verifies(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, mask=_U.SIGN)
        public_uid = await register_public(core, rsa_key.public_key(), mask=_U.VERIFY)
        legacy = params(digital_signature_algorithm=_D.SHA_1_WITH_RSA_ENCRYPTION_PKCS_1_V1_5)
        await failed(core, sign(private_uid, DATA, legacy), ResultReason.INVALID_FIELD)
        old = rsa_key.sign(DATA, padding.PKCS1v15(), hashes.SHA1())
        assert await verdict(core, public_uid, DATA, old, legacy) is ValidityIndicator.VALID

    run_core(tmp_path, scenario)


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        (None, ResultReason.MISSING_DATA),  # RSA and no hash anywhere
        (params(hashing_algorithm=_H.MD5), ResultReason.INVALID_FIELD),
        (params(hashing_algorithm=_H.SHA_256, padding_method=_P.OAEP), ResultReason.INVALID_FIELD),
        (
            params(digital_signature_algorithm=_D.MD5_WITH_RSA_ENCRYPTION_PKCS_1_V1_5),
            ResultReason.INVALID_FIELD,
        ),
        (params(digital_signature_algorithm=_D.DSA_WITH_SHA256), ResultReason.INVALID_FIELD),
        (
            params(
                digital_signature_algorithm=_D.SHA_256_WITH_RSA_ENCRYPTION_PKCS_1_V1_5,
                hashing_algorithm=_H.SHA_384,
            ),
            ResultReason.INVALID_FIELD,
        ),
        (params(digital_signature_algorithm=_D.ECDSA_WITH_SHA256), ResultReason.PERMISSION_DENIED),  # RSA key
        (
            params(cryptographic_algorithm=_A.ECDSA, hashing_algorithm=_H.SHA_256),
            ResultReason.PERMISSION_DENIED,
        ),
        (
            params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256, salt_length=300),
            ResultReason.INVALID_FIELD,
        ),
        (
            params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256, trailer_field=2),
            ResultReason.INVALID_FIELD,
        ),
    ],
    ids=[
        "no hash",
        "MD5",
        "OAEP padding",
        "MD5 with RSA",
        "DSA",
        "contradicting hash",
        "ECDSA with an RSA key",
        "EC algorithm with an RSA key",
        "salt too long",
        "other trailer",
    ],
)
def test_parameters_refused(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    parameters: CryptographicParameters | None,
    reason: ResultReason,
) -> None:
    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, mask=_U.SIGN)
        await failed(core, sign(private_uid, DATA, parameters), reason)

    run_core(tmp_path, scenario)


# --------------------------------------------------------------------------------------------
# Digested Data and the Init / Continue / Final form


def test_digested_data(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, p256_key, mask=_U.SIGN)
        public_uid = await register_public(core, p256_key.public_key(), mask=_U.VERIFY)
        digest = hashlib.sha256(DATA).digest()
        chosen = params(hashing_algorithm=_H.SHA_256)
        payload = await core.ok(sign(private_uid, None, chosen, digested_data=digest))
        p256_key.public_key().verify(payload.signature_data, DATA, ec.ECDSA(hashes.SHA256()))
        local = p256_key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        answer = await core.ok(verify(public_uid, None, local, chosen, digested_data=digest))
        assert answer.validity_indicator is ValidityIndicator.VALID
        await failed(
            core, sign(private_uid, None, chosen, digested_data=digest[:-1]), ResultReason.INVALID_FIELD
        )
        await failed(core, sign(private_uid, DATA, chosen, digested_data=digest), ResultReason.INVALID_FIELD)
        await failed(core, sign(private_uid, None, chosen), ResultReason.MISSING_DATA)
        await failed(core, verify(public_uid, DATA, None, chosen), ResultReason.MISSING_DATA)

    run_core(tmp_path, scenario)


def test_signing_and_verifying_by_parts(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    chosen = params(padding_method=_P.PSS, hashing_algorithm=_H.SHA_256)
    parts = (b"first part, ", b"", b"second part, ", b"last part")

    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, rsa_key, mask=_U.SIGN)
        public_uid = await register_public(core, rsa_key.public_key(), mask=_U.VERIFY)
        first = await core.ok(sign(private_uid, parts[0], chosen, init_indicator=True))
        assert first.signature_data is None
        correlation = first.correlation_value
        assert correlation is not None
        for middle in parts[1:-1]:
            more = await core.ok(sign(private_uid, middle, correlation_value=correlation))
            assert more.correlation_value == correlation
            assert more.signature_data is None
        last = await core.ok(
            sign(private_uid, parts[-1], correlation_value=correlation, final_indicator=True)
        )
        signature = last.signature_data
        assert signature is not None
        rsa_key.public_key().verify(
            signature,
            b"".join(parts),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
        # The stream ended with its last part.
        await failed(
            core,
            sign(private_uid, b"x", correlation_value=correlation, final_indicator=True),
            ResultReason.ITEM_NOT_FOUND,
        )

        opened = await core.ok(verify(public_uid, parts[0], None, chosen, init_indicator=True))
        assert opened.validity_indicator is ValidityIndicator.UNKNOWN
        stream = opened.correlation_value
        for middle in parts[1:-1]:
            step = await core.ok(verify(public_uid, middle, None, correlation_value=stream))
            assert step.validity_indicator is ValidityIndicator.UNKNOWN
        done = await core.ok(
            verify(public_uid, parts[-1], signature, correlation_value=stream, final_indicator=True)
        )
        assert done.validity_indicator is ValidityIndicator.VALID
        # Signature Data belongs to the last part only, and a stream is its key's.
        await failed(
            core,
            verify(public_uid, parts[0], signature, chosen, init_indicator=True),
            ResultReason.INVALID_FIELD,
        )
        other = await core.ok(sign(private_uid, b"a", chosen, init_indicator=True))
        await failed(
            core,
            sign(public_uid, b"b", correlation_value=other.correlation_value, final_indicator=True),
            ResultReason.ITEM_NOT_FOUND,
        )

    run_core(tmp_path, scenario)


def test_a_key_revoked_mid_stream_stops_it(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, p256_key, mask=_U.SIGN)
        first = await core.ok(sign(private_uid, b"a", init_indicator=True))
        await core.ok(_revoke(private_uid, RevocationReasonCode.CESSATION_OF_OPERATION))
        await failed(
            core,
            sign(private_uid, b"b", correlation_value=first.correlation_value, final_indicator=True),
            ResultReason.PERMISSION_DENIED,
        )

    run_core(tmp_path, scenario)


# --------------------------------------------------------------------------------------------
# Misuse: key type, state, mask, dates, Usage Limits


def _revoke(uid: str, code: RevocationReasonCode) -> RequestBatchItem:
    return batch_item(
        Operation.REVOKE,
        RevokeRequestPayload(
            unique_identifier=uid,
            revocation_reason=RevocationReason(revocation_reason_code=code),
            compromise_occurrence_date=NOW - 5 if code is RevocationReasonCode.KEY_COMPROMISE else None,
        ),
    )


def test_wrong_key_types_are_refused(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        everything = _U.SIGN | _U.VERIFY | _U.ENCRYPT | _U.DECRYPT
        private_uid, public_uid = await create_pair(
            core, _A.ECDSA, 256, private_mask=everything, public_mask=everything, common=(_active(),)
        )
        signature = await signature_of(core, private_uid, DATA)
        await failed(
            core, sign(public_uid, DATA), ResultReason.PERMISSION_DENIED
        )  # signing with a public key
        await failed(core, verify(private_uid, DATA, signature), ResultReason.PERMISSION_DENIED)
        aes = await create_aes(core, mask=_U.SIGN | _U.VERIFY, extra=(_active(),))
        await failed(core, sign(aes, DATA), ResultReason.PERMISSION_DENIED)
        await failed(core, verify(aes, DATA, signature), ResultReason.PERMISSION_DENIED)
        await failed(core, sign("no-such-key", DATA), ResultReason.ITEM_NOT_FOUND)

    run_core(tmp_path, scenario)


def test_states_masks_and_dates(tmp_path: Path) -> None:
    async def scenario(core: Core) -> None:
        private_uid, public_uid = await create_pair(
            core, _A.ECDSA, 256, private_mask=_U.SIGN, public_mask=_U.VERIFY
        )
        await failed(core, sign(private_uid, DATA), ResultReason.PERMISSION_DENIED)  # Pre-Active
        await core.ok(uid_item(Operation.ACTIVATE, private_uid))
        await core.ok(uid_item(Operation.ACTIVATE, public_uid))
        signature = await signature_of(core, private_uid, DATA)

        # Deactivated and Compromised keys verify but do not sign (3.22).
        await core.ok(_revoke(private_uid, RevocationReasonCode.CESSATION_OF_OPERATION))
        await failed(core, sign(private_uid, DATA), ResultReason.PERMISSION_DENIED)
        await core.ok(_revoke(public_uid, RevocationReasonCode.KEY_COMPROMISE))
        assert await verdict(core, public_uid, DATA, signature) is ValidityIndicator.VALID

        # A mask without Sign / Verify.
        other_private, other_public = await create_pair(
            core, _A.ECDSA, 256, private_mask=_U.DECRYPT, public_mask=_U.ENCRYPT, common=(_active(),)
        )
        await failed(core, sign(other_private, DATA), ResultReason.PERMISSION_DENIED)
        await failed(core, verify(other_public, DATA, signature), ResultReason.PERMISSION_DENIED)

        # Protect Stop Date passed: no signing; Process Start Date ahead: no verifying.
        dated_private, dated_public = await create_pair(
            core,
            _A.ECDSA,
            256,
            private_mask=_U.SIGN,
            public_mask=_U.VERIFY,
            common=(
                _active(),
                Attribute(name="Protect Stop Date", value=NOW - 1),
                Attribute(name="Process Start Date", value=NOW + 3600),
            ),
        )
        await failed(core, sign(dated_private, DATA), ResultReason.PERMISSION_DENIED)
        await failed(core, verify(dated_public, DATA, signature), ResultReason.PERMISSION_DENIED)

        # Destroyed: the key value is gone.
        await core.ok(uid_item(Operation.DESTROY, private_uid))
        await failed(core, sign(private_uid, DATA), ResultReason.KEY_VALUE_NOT_PRESENT)

    run_core(tmp_path, scenario)


def test_usage_limits_count_signatures(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    limits = Attribute(
        name="Usage Limits", value=UsageLimits(usage_limits_total=2, usage_limits_unit=UsageLimitsUnit.OBJECT)
    )

    async def scenario(core: Core) -> None:
        private_uid = await register_private(core, p256_key, limits, mask=_U.SIGN)
        public_uid = await register_public(core, p256_key.public_key(), limits, mask=_U.VERIFY)
        signature = await signature_of(core, private_uid, DATA)
        await signature_of(core, private_uid, DATA)
        await failed(core, sign(private_uid, DATA), ResultReason.PERMISSION_DENIED)
        for _ in range(3):  # verification is not limited (3.21 limits protection)
            assert await verdict(core, public_uid, DATA, signature) is ValidityIndicator.VALID

    run_core(tmp_path, scenario)


def test_a_registered_pkcs1_private_key_signs(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    async def scenario(core: Core) -> None:
        uid = await register_private(core, rsa_key, mask=_U.SIGN, key_format=KeyFormatType.PKCS_1)
        signature = await signature_of(core, uid, DATA, params(hashing_algorithm=_H.SHA_256))
        rsa_key.public_key().verify(signature, DATA, padding.PKCS1v15(), hashes.SHA256())
        with pytest.raises(InvalidSignature):
            rsa_key.public_key().verify(signature, DATA + b".", padding.PKCS1v15(), hashes.SHA256())

    run_core(tmp_path, scenario)
