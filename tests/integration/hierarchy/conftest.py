"""Fixtures for the key hierarchy suites: real L1 keystores from tests.support.keystores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.keystores import KeystoreEnv, keystore_environment, moto_kms

__all__ = ["l1", "moto_kms", "software_l1"]

KILL_SWITCH_KINDS = ("software", "aws-kms")


@pytest.fixture(params=KILL_SWITCH_KINDS)
def l1(request: pytest.FixtureRequest) -> Iterator[KeystoreEnv]:
    """The customer's L1: the software keystore, then AWS KMS through a moto server."""
    kind: str = request.param
    moto = request.getfixturevalue("moto_kms") if kind == "aws-kms" else None
    with keystore_environment(kind, moto=moto) as env:
        yield env


@pytest.fixture
def software_l1() -> Iterator[KeystoreEnv]:
    with keystore_environment("software") as env:
        yield env
