"""Fixtures of the PyKMIP suite: the whole suite runs on a Core over each storage (SQLite, the
embedded default, and PostgreSQL), with PyKMIP clients at 1.2 and 1.4."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.services.kmip_client import KMIPProxy

from tests.support.server import (
    KMIP_1_2,
    KMIP_1_4,
    CoreProcess,
    RawConnection,
    postgres_core_server,
    pykmip_client,
    pykmip_proxy,
    sqlite_core_server,
)

__all__ = ["client", "core_server", "postgres_core_server", "proxy", "raw", "sqlite_core_server", "version"]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def core_server(request: pytest.FixtureRequest) -> CoreProcess:
    """The Core the suite drives: one per storage kind, each shared by the whole package."""
    core: CoreProcess = request.getfixturevalue(f"{request.param}_core_server")
    return core


@pytest.fixture(params=[KMIP_1_2, KMIP_1_4], ids=["kmip-1.2", "kmip-1.4"])
def version(request: pytest.FixtureRequest) -> enums.KMIPVersion:
    """The protocol version PyKMIP's clients speak: 1.2 (its default) and 1.4."""
    chosen: enums.KMIPVersion = request.param
    return chosen


@pytest.fixture
def client(core_server: CoreProcess, version: enums.KMIPVersion) -> Iterator[ProxyKmipClient]:
    """PyKMIP's high-level client as tenant acme, open."""
    with pykmip_client(core_server, "acme", version) as opened:
        yield opened


@pytest.fixture
def proxy(core_server: CoreProcess, version: enums.KMIPVersion) -> Iterator[KMIPProxy]:
    """PyKMIP's lower-level client as tenant acme, open."""
    opened = pykmip_proxy(core_server, "acme", version)
    opened.open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(core_server: CoreProcess) -> Iterator[RawConnection]:
    """A plain TLS connection as acme, for what PyKMIP cannot send or read."""
    with RawConnection(core_server, "acme") as connection:
        yield connection
