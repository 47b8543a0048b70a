"""Fixtures of the PyKMIP suite: one shared Core for the package, PyKMIP clients at 1.2 and 1.4."""

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
    core_server,
    pykmip_client,
    pykmip_proxy,
)

__all__ = ["client", "core_server", "proxy", "raw", "version"]


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
