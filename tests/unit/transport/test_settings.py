"""Unit tests of the transport settings: safe defaults, validation, the reaper interval."""

from __future__ import annotations

import pickle

import pytest

from kmip_server.transport import KMIP_PORT, TransportSettings
from ttlv.limits import Limits


def test_safe_defaults() -> None:
    settings = TransportSettings()
    assert settings.port == KMIP_PORT == 5696
    assert settings.host == "127.0.0.1"
    assert settings.workers == 1
    assert settings.limits.max_message_size == Limits().max_message_size
    for name in ("tls_handshake_timeout", "message_read_timeout", "idle_timeout", "request_timeout"):
        assert 0 < getattr(settings, name) <= 300


@pytest.mark.parametrize(
    "override",
    [
        {"port": -1},
        {"port": 65536},
        {"workers": 0},
        {"max_connections": 0},
        {"max_in_flight": 0},
        {"message_read_timeout": 0},
        {"idle_timeout": -1.0},
        {"request_timeout": 0.0},
        {"write_timeout": 0},
        {"timer_resolution": 0},
    ],
)
def test_nonsense_is_refused(override: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(override))):
        TransportSettings(**override)  # type: ignore[arg-type]


def test_reaper_interval_follows_the_shortest_timeout() -> None:
    assert TransportSettings().reaper_interval == 0.5
    assert TransportSettings(message_read_timeout=0.4).reaper_interval == pytest.approx(0.1)
    assert TransportSettings(timer_resolution=2.0).reaper_interval == 2.0


def test_settings_pickle_for_worker_processes() -> None:
    settings = TransportSettings(port=0, workers=2, max_connections=7)
    assert pickle.loads(pickle.dumps(settings)) == settings
