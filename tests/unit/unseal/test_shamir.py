"""SLIP-39 splitting and the share collector, without the controller around them."""

from __future__ import annotations

import pytest
from shamir_mnemonic import combine_mnemonics
from shamir_mnemonic.wordlist import WORDLIST

from unseal.errors import (
    CorruptedShare,
    InvalidShareParameters,
    RepeatedShare,
    ShareSetMismatch,
    TooFewShares,
    WrongShareSet,
)
from unseal.master_key import new_master_key
from unseal.shamir import (
    SHARE_WORD_COUNT,
    ShareCollector,
    new_identifier,
    split_master_key,
    validate_parameters,
)


@pytest.mark.parametrize(("threshold", "count"), [(1, 1), (1, 4), (2, 2), (3, 5), (16, 16)])
def test_split_interoperates_with_the_reference_combiner(threshold: int, count: int) -> None:
    key = new_master_key()
    issued = split_master_key(key, threshold, count, identifier=1234)
    assert len(issued.mnemonics) == count
    assert len(set(issued.mnemonics)) == count
    assert all(len(m.split()) == SHARE_WORD_COUNT for m in issued.mnemonics)
    # Any SLIP-39 tool rebuilds the key from the first M shares (empty passphrase).
    assert key.equals(combine_mnemonics(list(issued.mnemonics[-threshold:])))


def test_issued_shares_never_show_their_words() -> None:
    issued = split_master_key(new_master_key(), 2, 3, identifier=7)
    text = repr(issued)
    assert all(m.split()[5] not in text.split() for m in issued.mnemonics)
    assert "mnemonics" not in text


@pytest.mark.parametrize(("threshold", "count"), [(0, 1), (2, 1), (1, 17), (17, 17), (-1, 3), (5, 4)])
def test_invalid_parameters(threshold: int, count: int) -> None:
    with pytest.raises(InvalidShareParameters):
        validate_parameters(threshold, count)
    with pytest.raises(InvalidShareParameters):
        split_master_key(new_master_key(), threshold, count, identifier=1)


def test_new_identifier_avoids_the_current_one() -> None:
    assert all(new_identifier(avoid=5) != 5 for _ in range(2000))
    assert all(0 <= new_identifier() < 1 << 15 for _ in range(100))


def test_collector_reports_each_kind_of_wrong_share() -> None:
    key = new_master_key()
    issued = split_master_key(key, 3, 5, identifier=100)
    other = split_master_key(key, 3, 5, identifier=101)

    collector = ShareCollector(3, 5, 100)
    assert collector.add(issued.mnemonics[0]) == 1
    with pytest.raises(RepeatedShare, match="already"):
        collector.add(issued.mnemonics[0])
    with pytest.raises(ShareSetMismatch):
        collector.add(other.mnemonics[1])
    words = issued.mnemonics[1].split()
    words[10] = next(w for w in WORDLIST if w != words[10])
    with pytest.raises(CorruptedShare, match="checksum"):
        collector.add(" ".join(words))
    words[10] = "notaword"
    with pytest.raises(CorruptedShare, match="word 11"):
        collector.add(" ".join(words))
    with pytest.raises(CorruptedShare, match="33 words"):
        collector.add(" ".join(issued.mnemonics[1].split()[:-1]))
    with pytest.raises(TooFewShares, match="need 2 more shares"):
        collector.combine()
    collector.add(issued.mnemonics[4])
    with pytest.raises(TooFewShares, match=r"need 1 more share$"):
        collector.combine()
    collector.add(issued.mnemonics[2])
    with collector.combine() as rebuilt:
        assert rebuilt.equals(key)
    collector.wipe()
    assert collector.collected == 0


def test_collector_refuses_a_share_of_the_right_set_with_other_parameters() -> None:
    key = new_master_key()
    two_of_three = split_master_key(key, 2, 3, identifier=9)
    with pytest.raises(ShareSetMismatch):
        ShareCollector(3, 3, 9).add(two_of_three.mnemonics[0])
    with pytest.raises(ShareSetMismatch):
        ShareCollector(2, 2, 9).add(two_of_three.mnemonics[2])  # member index 2 does not exist in 2-of-2


def test_unknown_identifier_is_fixed_by_the_first_share() -> None:
    key = new_master_key()
    first = split_master_key(key, 2, 3, identifier=1)
    second = split_master_key(key, 2, 3, identifier=2)
    collector = ShareCollector(2, 3, None)
    collector.add(first.mnemonics[0])
    with pytest.raises(ShareSetMismatch):
        collector.add(second.mnemonics[1])


def test_same_identifier_different_secret_is_a_wrong_set() -> None:
    issued = split_master_key(new_master_key(), 2, 3, identifier=42)
    impostor = split_master_key(new_master_key(), 2, 3, identifier=42)
    collector = ShareCollector(2, 3, 42)
    collector.add(issued.mnemonics[0])
    collector.add(impostor.mnemonics[1])
    with pytest.raises(WrongShareSet):
        collector.combine()


def test_collector_wipe_overwrites_held_share_values() -> None:
    issued = split_master_key(new_master_key(), 2, 3, identifier=3)
    collector = ShareCollector(2, 3, 3)
    collector.add(issued.mnemonics[0])
    held = [share.value for share in collector._shares.values()]
    collector.wipe()
    assert all(value.wiped for value in held)


def test_words_are_case_insensitive_and_spacing_tolerant() -> None:
    key = new_master_key()
    issued = split_master_key(key, 1, 1, identifier=77)
    collector = ShareCollector(1, 1, 77)
    collector.add("  " + "\n".join(issued.mnemonics[0].upper().split()) + " ")
    with collector.combine() as rebuilt:
        assert rebuilt.equals(key)
