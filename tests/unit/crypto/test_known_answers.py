"""Known answers (vectors/crypto, each with its published source) through ``kmip_server.crypto``:
every block cipher vector encrypts and decrypts in one part and by parts, every MAC, hash and
derivation gives the published bytes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kmip_server.crypto import derive as derive_module
from kmip_server.crypto import mac as mac_module
from kmip_server.crypto import symmetric
from kmip_server.model import CryptographicParameters, DerivationParameters
from tests.unit.crypto.support import load_vectors
from ttlv.kmip14 import BlockCipherMode, CryptographicAlgorithm, DerivationMethod, HashingAlgorithm

BLOCK = load_vectors("block_ciphers.json")
MACS = load_vectors("macs.json")
HASHES = load_vectors("hashes.json")
KDFS = load_vectors("kdfs.json")


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e.get('algorithm', e.get('method'))}-{e.get('mode', '')}-{i}" for i, e in enumerate(entries)]


def _cipher(entry: dict[str, Any]) -> tuple[CryptographicAlgorithm, bytes, CryptographicParameters]:
    algorithm = CryptographicAlgorithm[entry["algorithm"]]
    parameters = CryptographicParameters(block_cipher_mode=BlockCipherMode[entry["mode"]])
    return algorithm, bytes.fromhex(entry["key"]), parameters


@pytest.mark.parametrize("entry", BLOCK, ids=_ids(BLOCK))
def test_block_cipher_vectors_encrypt_and_decrypt(entry: dict[str, Any]) -> None:
    algorithm, key, parameters = _cipher(entry)
    plaintext, ciphertext = bytes.fromhex(entry["plaintext"]), bytes.fromhex(entry["ciphertext"])
    iv, aad, tag = _hex(entry.get("iv")), _hex(entry.get("aad")), _hex(entry.get("tag"))
    out = symmetric.encrypt(algorithm, key, parameters, plaintext, iv=iv, aad=aad)
    assert out.data == ciphertext
    assert out.tag == tag
    assert out.iv is None  # the IV was given: nothing generated
    assert symmetric.decrypt(algorithm, key, parameters, ciphertext, iv=iv, aad=aad, tag=tag) == plaintext


@pytest.mark.parametrize("entry", BLOCK, ids=_ids(BLOCK))
def test_block_cipher_vectors_by_parts(entry: dict[str, Any]) -> None:
    """The same bytes when the data comes in uneven parts (the Init/Continue/Final form)."""
    algorithm, key, parameters = _cipher(entry)
    plaintext, ciphertext = bytes.fromhex(entry["plaintext"]), bytes.fromhex(entry["ciphertext"])
    iv, aad, tag = _hex(entry.get("iv")), _hex(entry.get("aad")), _hex(entry.get("tag"))
    stream, _generated = symmetric.start_encryption(algorithm, key, parameters, iv, aad=aad)
    cut = [0, 5, 21, len(plaintext)]
    out = b"".join(stream.update(plaintext[a:b]) for a, b in itertools.pairwise(cut))
    last, got_tag = stream.finish()
    assert out + last == ciphertext
    assert got_tag == tag
    decryption = symmetric.start_decryption(algorithm, key, parameters, iv, aad=aad, tag=tag)
    back = b"".join(decryption.update(ciphertext[a:b]) for a, b in itertools.pairwise(cut))
    assert back + decryption.finish() == plaintext


@pytest.mark.parametrize("entry", MACS, ids=_ids(MACS))
def test_mac_vectors(entry: dict[str, Any]) -> None:
    key, data, expected = (
        bytes.fromhex(entry["key"]),
        bytes.fromhex(entry["data"]),
        bytes.fromhex(entry["mac"]),
    )
    if entry["algorithm"] == "CMAC":
        parameters = CryptographicParameters(block_cipher_mode=BlockCipherMode.CMAC)
        key_algorithm: CryptographicAlgorithm | None = CryptographicAlgorithm.AES
    else:
        parameters = CryptographicParameters(
            cryptographic_algorithm=CryptographicAlgorithm[entry["algorithm"]]
        )
        key_algorithm = None
    method = mac_module.mac_method(parameters, key_algorithm, key)
    assert mac_module.mac(method, key, data) == expected
    stream = mac_module.start_mac(method, key)
    stream.update(data[:3])
    assert stream.finish(data[3:]) == expected


@pytest.mark.parametrize("entry", HASHES, ids=_ids(HASHES))
def test_hash_vectors(entry: dict[str, Any]) -> None:
    stream = mac_module.start_hash(HashingAlgorithm[entry["algorithm"]])
    stream.update(bytes.fromhex(entry["data"])[:1])
    assert stream.finish(bytes.fromhex(entry["data"])[1:]) == bytes.fromhex(entry["digest"])


@pytest.mark.parametrize("entry", KDFS, ids=_ids(KDFS))
def test_derivation_vectors(entry: dict[str, Any]) -> None:
    method = DerivationMethod[entry["method"]]
    crypto = CryptographicParameters(hashing_algorithm=HashingAlgorithm[entry["hashing"]])
    parameters = DerivationParameters(
        cryptographic_parameters=crypto,
        salt=_hex(entry.get("salt")),
        iteration_count=entry.get("iterations"),
    )
    given = derive_module.DerivationInput(
        key=bytes.fromhex(entry["key"]),
        key_algorithm=None,
        key_parameters=None,
        parameters=parameters,
        data=_hex(entry.get("fixed")),
        length=entry["length"],
    )
    assert derive_module.derive(method, given) == bytes.fromhex(entry["derived"])


def test_every_vector_file_names_its_source() -> None:
    for entries in (BLOCK, MACS, HASHES, KDFS):
        assert entries
        assert all(entry["source"] for entry in entries)
