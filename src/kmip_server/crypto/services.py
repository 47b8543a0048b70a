"""What the cryptographic operations share across requests in one Core process: their
settings and the open streams. Made once by the composition root (or by the engine with the
defaults) and handed to every operation through ``OperationContext.crypto``."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmip_server.crypto.gateway import GatewayAccess
from kmip_server.crypto.rng import RngSettings
from kmip_server.crypto.streams import StreamSettings, StreamTable

__all__ = ["CryptoServices", "CryptoSettings"]


@dataclass(frozen=True, slots=True)
class CryptoSettings:
    streams: StreamSettings = field(default_factory=StreamSettings)
    rng: RngSettings = field(default_factory=RngSettings)
    max_data_length: int = 1 << 20
    """Bytes of Data one Encrypt, Decrypt, MAC, MAC Verify or Hash part may carry (the message
    size limit bounds it too; this bound keeps one request's CPU time small)."""


class CryptoServices:
    """One per Core process. ``gateway``: the Gateway's path to the tenants' L3 keys
    (``crypto.gateway``); None (the default) refuses every gateway."""

    __slots__ = ("gateway", "settings", "streams")

    def __init__(self, settings: CryptoSettings | None = None, gateway: GatewayAccess | None = None) -> None:
        self.settings = settings or CryptoSettings()
        self.streams = StreamTable(self.settings.streams)
        self.gateway = gateway
