"""Shamir M-of-N shares of the MasterKey as SLIP-39 mnemonics (the ``shamir-mnemonic`` package).

Pure and synchronous: split a MasterKey into a share set, and collect shares one by one until
the threshold, with a distinct error for each way a share can be wrong.

Layout of a share set (SLIP-39 has groups of members; we use them so):
- M >= 2: one group (group threshold 1 of 1) whose members are the N shares, member threshold M.
- M == 1: SLIP-39 forbids a 1-of-N member split, so N groups of one 1-of-1 member each, group
  threshold 1. Any single share then reconstructs, which is what 1-of-N means.
A share's *position* is its member index (M >= 2) or its group index (M == 1).

Invariants:
- Every share of a set carries the set's 15-bit SLIP-39 identifier. The collector refuses a
  share whose identifier, layout or parameters differ from the set it expects (``ShareSetMismatch``)
  before anything is combined, so shares of two sets are never mixed.
- A malformed mnemonic (unknown word, wrong length, RS1024 checksum failure) is ``CorruptedShare``;
  the same position twice is ``RepeatedShare``; fewer than M at combine time is ``TooFewShares``;
  shares that do not combine into a consistent secret (SLIP-39 digest failure) are ``WrongShareSet``.
  The check value against the cluster is the caller's last test (``master_key.matches_check_value``).
- Error messages never quote a share's words.

What we cannot wipe (the honest part): the ``shamir-mnemonic`` package computes in immutable
``bytes`` (the encrypted master secret, share values, the recovered secret) and the submitted
mnemonic is an immutable ``str``. We hold our own copies of share values in ``SecretBuffer``s,
wipe them on reset, and drop the library's objects as soon as the call returns; copies inside
the library's temporaries are reclaimed by the allocator but not overwritten.

Why iteration exponent 0: SLIP-39's PBKDF2 stretching protects a *passphrase*. We use none; the
secret is 256 uniformly random bits, so stretching adds no security and would only slow unsealing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from shamir_mnemonic import EncryptedMasterSecret, MnemonicError, Share, recover_ems, split_ems
from shamir_mnemonic.shamir import ShareGroup
from shamir_mnemonic.wordlist import WORD_INDEX_MAP

from unseal.errors import (
    CorruptedShare,
    InvalidShareParameters,
    RepeatedShare,
    ShareSetMismatch,
    TooFewShares,
    WrongShareSet,
)
from unseal.master_key import MASTER_KEY_SIZE
from unseal.memory import SecretBuffer, zeroize

MIN_THRESHOLD = 1
MAX_SHARE_COUNT = 16  # SLIP-39 encodes member and group counts in 4 bits
IDENTIFIER_BITS = 15
ITERATION_EXPONENT = 0
EXTENDABLE = True
SHARE_WORD_COUNT = 33  # 7 words of metadata and checksum + 26 words for 256 bits


@dataclass(frozen=True, slots=True)
class IssuedShares:
    """A freshly split share set. The mnemonics are handed out once and never stored."""

    identifier: int
    threshold: int
    share_count: int
    mnemonics: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class _CollectedShare:
    identifier: int
    extendable: bool
    iteration_exponent: int
    group_index: int
    group_threshold: int
    group_count: int
    member_index: int
    member_threshold: int
    value: SecretBuffer = field(repr=False)


def validate_parameters(threshold: int, share_count: int) -> None:
    """Raise ``InvalidShareParameters`` unless 1 <= threshold <= share_count <= 16."""
    if not (MIN_THRESHOLD <= threshold <= share_count <= MAX_SHARE_COUNT):
        raise InvalidShareParameters(
            f"need {MIN_THRESHOLD} <= threshold <= share count <= {MAX_SHARE_COUNT}, "
            f"got threshold {threshold} of {share_count}"
        )


def new_identifier(avoid: int | None = None) -> int:
    """A random SLIP-39 identifier, different from ``avoid`` (the set being replaced)."""
    while True:
        identifier = secrets.randbits(IDENTIFIER_BITS)
        if identifier != avoid:
            return identifier


def split_master_key(
    master_key: SecretBuffer, threshold: int, share_count: int, *, identifier: int
) -> IssuedShares:
    """Split ``master_key`` into ``share_count`` mnemonics, any ``threshold`` of which rebuild it."""
    validate_parameters(threshold, share_count)
    if len(master_key) != MASTER_KEY_SIZE:
        raise ValueError("a MasterKey is 256 bits")
    if not 0 <= identifier < 1 << IDENTIFIER_BITS:
        raise ValueError("a SLIP-39 identifier is 15 bits")
    # The library needs a sliceable buffer; a bytearray we zeroize is the least-bad copy.
    secret = bytearray(master_key.view())
    try:
        encrypted = EncryptedMasterSecret.from_master_secret(
            secret, b"", identifier, EXTENDABLE, ITERATION_EXPONENT
        )
    finally:
        zeroize(secret)
    groups = [(threshold, share_count)] if threshold > 1 else [(1, 1)] * share_count
    mnemonics = tuple(share.mnemonic() for group in split_ems(1, groups, encrypted) for share in group)
    return IssuedShares(identifier, threshold, share_count, mnemonics)


def _expected_layout(threshold: int, share_count: int) -> tuple[int, int, int]:
    """(group threshold, group count, member threshold) of a share set with these parameters."""
    if threshold == 1:
        return 1, share_count, 1
    return 1, 1, threshold


def _parse(mnemonic: str) -> Share:
    words = mnemonic.split()
    for position, word in enumerate(words, start=1):
        if word.lower() not in WORD_INDEX_MAP:
            raise CorruptedShare(f"word {position} is not a SLIP-39 word; check the spelling")
    if len(words) != SHARE_WORD_COUNT:
        raise CorruptedShare(f"a share has {SHARE_WORD_COUNT} words; this one has {len(words)}")
    try:
        return Share.from_mnemonic(mnemonic)
    except MnemonicError:
        raise CorruptedShare("the share's checksum does not match: a word is mistyped") from None


class ShareCollector:
    """Shares of one expected set, collected until the threshold. Wipe it when done."""

    __slots__ = ("_identifier", "_share_count", "_shares", "_threshold")

    def __init__(self, threshold: int, share_count: int, identifier: int | None) -> None:
        validate_parameters(threshold, share_count)
        self._threshold = threshold
        self._share_count = share_count
        # None: the set's identifier is not recorded; the first share fixes it.
        self._identifier = identifier
        self._shares: dict[int, _CollectedShare] = {}

    @property
    def threshold(self) -> int:
        return self._threshold

    @property
    def collected(self) -> int:
        return len(self._shares)

    @property
    def complete(self) -> bool:
        return len(self._shares) >= self._threshold

    def add(self, mnemonic: str) -> int:
        """Validate and keep one share; return how many are collected. Raises a ``ShareRejected``."""
        share = _parse(mnemonic)
        if not self._belongs(share):
            raise ShareSetMismatch("this share belongs to another share set than the one this cluster uses")
        position = share.group_index if self._threshold == 1 else share.index
        if position in self._shares:
            raise RepeatedShare(f"share number {position + 1} was already submitted")
        self._shares[position] = _CollectedShare(
            share.identifier,
            share.extendable,
            share.iteration_exponent,
            share.group_index,
            share.group_threshold,
            share.group_count,
            share.index,
            share.member_threshold,
            SecretBuffer(share.value),
        )
        return len(self._shares)

    def _belongs(self, share: Share) -> bool:
        first = next(iter(self._shares.values()), None)
        if first is not None and (share.identifier, share.extendable, share.iteration_exponent) != (
            first.identifier,
            first.extendable,
            first.iteration_exponent,
        ):
            return False
        if self._identifier is not None and share.identifier != self._identifier:
            return False
        layout = (share.group_threshold, share.group_count, share.member_threshold)
        if layout != _expected_layout(self._threshold, self._share_count):
            return False
        # M == 1: the position is the group index and the member is 0; M >= 2 the other way round.
        position, other = (
            (share.group_index, share.index) if self._threshold == 1 else (share.index, share.group_index)
        )
        return other == 0 and position < self._share_count and len(share.value) == MASTER_KEY_SIZE

    def add_all(self, mnemonics: Sequence[str]) -> int:
        """``add`` each in turn (stops at the first rejected share)."""
        for mnemonic in mnemonics:
            self.add(mnemonic)
        return len(self._shares)

    def combine(self) -> SecretBuffer:
        """The secret the collected shares rebuild. ``TooFewShares`` below the threshold."""
        if not self.complete:
            raise TooFewShares(self._threshold - len(self._shares))
        group = ShareGroup()
        group_index = 0
        for collected in list(self._shares.values())[: self._threshold]:
            group_index = collected.group_index
            group.add(
                Share(
                    collected.identifier,
                    collected.extendable,
                    collected.iteration_exponent,
                    collected.group_index,
                    collected.group_threshold,
                    collected.group_count,
                    collected.member_index,
                    collected.member_threshold,
                    bytes(collected.value.view()),
                )
            )
        try:
            secret = bytearray(recover_ems({group_index: group}).decrypt(b""))
        except MnemonicError:
            raise WrongShareSet(
                "these shares do not belong together: they come from different sets"
            ) from None
        finally:
            del group
        try:
            return SecretBuffer(secret)
        finally:
            zeroize(secret)

    def wipe(self) -> None:
        """Forget every collected share, overwriting our copies of their values."""
        for collected in self._shares.values():
            collected.value.wipe()
        self._shares.clear()
