"""Fixtures for transport tests: the test PKI (session) and the event-loop runner (asyncio, uvloop)."""

from tests.support.tls import test_pki  # noqa: F401
from tests.unit.transport.fakes import run  # noqa: F401
