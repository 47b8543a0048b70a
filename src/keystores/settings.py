"""Reading a keystore's string settings (from config) into typed values, with every default named.

Invariants:
- Unknown setting names are refused, so a typo cannot silently leave a safe default in place.
- ``KeystoreConfigError`` names the setting and what was expected, never the value (a PIN or a
  secret access key may be among the settings).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TypeVar

from keystores.executor import ExecutorSettings
from keystores.retry import RetryPolicy

EXECUTOR_SETTINGS = ("max_workers", "max_pending", "call_timeout", "close_timeout")
N = TypeVar("N", int, float)

RETRY_SETTINGS = ("retry_max_attempts", "retry_base_delay", "retry_max_delay", "retry_total_timeout")


class KeystoreConfigError(ValueError):
    """A keystore setting is missing, unknown or malformed."""


class SettingsReader:
    """Typed access to one keystore's settings; construction refuses names outside ``known``."""

    __slots__ = ("_kind", "_settings")

    def __init__(self, kind: str, settings: Mapping[str, str], known: Collection[str]) -> None:
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise KeystoreConfigError(f"{kind} keystore: unknown settings {', '.join(unknown)}")
        self._kind = kind
        self._settings = settings

    def text(self, name: str) -> str | None:
        value = self._settings.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise KeystoreConfigError(f"{self._kind} keystore: setting {name} is required")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        value = _parse(int, raw)
        if value is None or value < minimum:
            raise KeystoreConfigError(f"{self._kind} keystore: {name} must be an integer >= {minimum}")
        return value

    def seconds(self, name: str, default: float, *, allow_zero: bool = False) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        value = _parse(float, raw)
        if value is None or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise KeystoreConfigError(f"{self._kind} keystore: {name} must be a positive number of seconds")
        return value

    def executor(self, defaults: ExecutorSettings) -> ExecutorSettings:
        return ExecutorSettings(
            max_workers=self.integer("max_workers", defaults.max_workers),
            max_pending=self.integer("max_pending", defaults.max_pending),
            call_timeout=self.seconds("call_timeout", defaults.call_timeout),
            close_timeout=self.seconds("close_timeout", defaults.close_timeout, allow_zero=True),
        )

    def retry_policy(self, defaults: RetryPolicy) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.integer("retry_max_attempts", defaults.max_attempts),
            base_delay=self.seconds("retry_base_delay", defaults.base_delay, allow_zero=True),
            max_delay=self.seconds("retry_max_delay", defaults.max_delay, allow_zero=True),
            total_timeout=self.seconds("retry_total_timeout", defaults.total_timeout),
        )


def _parse(kind: type[N], raw: str) -> N | None:
    try:
        return kind(raw.strip())
    except ValueError:
        return None
