"""The conformance matcher's one variation for RSA encryption: Encrypt under a Public Key
(registered, or made by a key-pair operation) may answer any Data of the expected length;
under any other key the Data must match."""

from __future__ import annotations

from tests.unit.conformance.test_matcher import Fixture, item, request, request_item, response, uid

DATA = '<Data type="ByteString" value="{}"/>'
PUBLIC = '<ObjectType type="Enumeration" value="PublicKey"/>'
SYMMETRIC = '<ObjectType type="Enumeration" value="SymmetricKey"/>'


def _register(fx: Fixture, object_type: str, identifier: str) -> None:
    sent = request(request_item("Register", object_type))
    assert (
        fx.compare(
            response(item("Register", uid(identifier))), response(item("Register", uid(identifier))), sent
        )
        is None
    )


def _encrypt(fx: Fixture, identifier: str, expected: str, actual: str) -> object:
    sent = request(request_item("Encrypt", uid(identifier) + DATA.format("00112233")))
    return fx.compare(
        response(item("Encrypt", uid(identifier) + DATA.format(expected))),
        response(item("Encrypt", uid(identifier) + DATA.format(actual))),
        sent,
    )


def test_encrypt_under_a_registered_public_key_may_answer_other_bytes_of_the_same_length() -> None:
    fx = Fixture()
    _register(fx, PUBLIC, "pub-1")
    assert _encrypt(fx, "pub-1", "a1a2a3a4", "b1b2b3b4") is None
    assert fx.state.replacements[bytes.fromhex("a1a2a3a4")] == bytes.fromhex("b1b2b3b4")


def test_but_not_of_another_length() -> None:
    fx = Fixture()
    _register(fx, PUBLIC, "pub-1")
    difference = _encrypt(fx, "pub-1", "a1a2a3a4", "b1b2b3")
    assert difference is not None
    assert "another length" in str(difference)


def test_encrypt_under_a_registered_symmetric_key_must_match() -> None:
    fx = Fixture()
    _register(fx, SYMMETRIC, "sym-1")
    assert _encrypt(fx, "sym-1", "a1a2a3a4", "b1b2b3b4") is not None


def test_the_public_key_of_a_created_pair_counts_too() -> None:
    fx = Fixture()
    identifiers = (
        '<PrivateKeyUniqueIdentifier type="TextString" value="prv-1"/>'
        '<PublicKeyUniqueIdentifier type="TextString" value="pub-1"/>'
    )
    sent = request(request_item("CreateKeyPair"))
    assert (
        fx.compare(
            response(item("CreateKeyPair", identifiers)), response(item("CreateKeyPair", identifiers)), sent
        )
        is None
    )
    assert fx.state.public_keys == {"pub-1"}
    assert _encrypt(fx, "pub-1", "a1a2a3a4", "b1b2b3b4") is None


def test_the_public_keys_survive_a_snapshot() -> None:
    fx = Fixture()
    _register(fx, PUBLIC, "pub-1")
    copy = fx.state.snapshot()
    fx.state.public_keys.clear()
    fx.state.restore(copy)
    assert fx.state.public_keys == {"pub-1"}
