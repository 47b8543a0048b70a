"""The request engine: the ``RequestHandler`` the transport calls, and its settings.

``RequestEngine(objects=ObjectService(store, hierarchy), seal=seal_controller)`` answers
``await engine.handle(message_bytes, identity)`` with the response bytes. See ``engine.engine``.
"""

from kmip_server.engine.engine import (
    CLAIMED_PROFILES,
    SUPPORTED_OBJECT_TYPES,
    AuditEvent,
    AuditHook,
    RequestEngine,
    SealGate,
)
from kmip_server.engine.errors import TRANSLATIONS, translate
from kmip_server.engine.settings import EngineSettings

__all__ = [
    "CLAIMED_PROFILES",
    "SUPPORTED_OBJECT_TYPES",
    "TRANSLATIONS",
    "AuditEvent",
    "AuditHook",
    "EngineSettings",
    "RequestEngine",
    "SealGate",
    "translate",
]
