"""Fixtures of the PostgreSQL suites: the session database is dropped when the session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.keystores import KeystoreEnv, keystore_environment
from tests.support.postgres import close_session


@pytest.fixture(scope="session", autouse=True)
def _drop_the_session_database() -> Iterator[None]:
    yield
    close_session()


@pytest.fixture
def software_l1() -> Iterator[KeystoreEnv]:
    with keystore_environment("software") as env:
        yield env
