"""The Core's configuration: a frozen dataclass tree, read from TOML with environment overrides.

Where values come from, lowest precedence first:
1. the defaults below (safe: loopback only, the IANA port, Shamir unsealing, SQLite);
2. a TOML file (``load_config(path)``);
3. environment variables ``OPENKCM_<SECTION>__<KEY>=value`` (``__`` separates each level,
   case-insensitive): ``OPENKCM_SERVER__PORT=5697``, ``OPENKCM_SERVER__LIMITS__MAX_DEPTH=16``,
   ``OPENKCM_KEYSTORES__HSM__USER_PIN=...``. Only names with a ``__`` after the prefix are read,
   so ``OPENKCM_CONFIG`` and the scripts' own variables are never mistaken for settings. Tables
   (``identity.common_names``) are set in the file only.

Sections (``SECTIONS`` is the table; every key of a section is a field of its dataclass):
- ``[server]``: ``data_dir`` (local state: the admin sockets) and every ``TransportSettings``
  field (host, port, workers, connection limits, timeouts); ``[server.limits]`` is the TTLV
  ``Limits`` (max_message_size, max_depth, max_items).
- ``[tls]``: ``ca_file`` (the bundle client certificates must chain to), ``cert_file``, ``key_file``.
- ``[identity]``: ``IdentitySettings`` (trust_domain, the three SPIFFE patterns,
  max_segment_length) and ``[identity.common_names]``: ``"CN" = "tenant/service"``.
- ``[storage]``: ``kind`` (``sqlite``, the embedded default, or ``postgres``), ``path`` (default
  ``<server.data_dir>/openkcm.db``) and every ``SqliteSettings`` field (timeout, readers, ...);
  ``[storage.postgres]``: every ``PostgresSettings`` field (``dsn`` of the application role,
  required with ``kind = "postgres"``; pool size, timeout, retries, schema). The DSN may carry
  a password: set it with ``OPENKCM_STORAGE__POSTGRES__DSN`` rather than in the file.
- ``[unseal]``: ``cluster_id``, ``region``, ``mode`` (``shamir`` | ``auto``), ``seal_keystore``
  (the name of a ``[keystores.NAME]`` entry), ``seal_key_id``, ``auto_unseal_retry_interval``.
- ``[keystores.NAME]``: ``kind`` (``software`` | ``aws-kms`` | ``pkcs11``) and that driver's own
  settings, passed to ``keystores.open_keystore`` as strings. NAME is what tenants are linked to.
- ``[hierarchy]``: every ``HierarchySettings`` field (seconds and counts).
- ``[engine]``: ``EngineSettings`` (max_batch_items, vendor_identification, server_version);
  its decode limits are ``[server.limits]``, one set for the framer and the decoder.
- ``[objects]``: the attributes the server chooses for new objects (``ObjectSettings``):
  ``lease_time`` (seconds, default 3600; 0 = no lease limit) and ``unique_names``.
- ``[crypto]``: the cryptographic operations' settings (``CryptoSettings``): ``max_data_length``
  (bytes of Data one Encrypt/Decrypt/MAC/Hash part may carry); ``[crypto.rng]``
  (``RngSettings``: ``seed_policy`` = ``ignore`` (default) | ``mix`` | ``refuse``,
  ``max_seed_length``, ``max_retrieve_length``); ``[crypto.streams]`` (``StreamSettings``:
  ``max_streams``, ``max_streams_per_owner``, ``idle_timeout`` seconds).
- ``[gateways]``: ``NAME = ["tenant", ...]``, the tenants whose L3 each gateway identity (SPIFFE
  ``.../gateway/NAME``) may use through ``l3:<tenant>:<service>`` (``GatewaySettings``; empty by
  default: no gateway may use any tenant's keys). From the environment
  (``OPENKCM_GATEWAYS__NAME=acme,globex``) the list is comma-separated.
- ``[logging]``: ``level``, ``format`` (``text`` | ``json``).

Invariants:
- Loading never does I/O beyond reading the one file, and never opens a keystore or a database.
- Unknown sections and keys are refused, so a typo cannot leave a default silently in place.
- Every error is a ``ConfigError`` naming the key (``server.port``) and what was expected; it
  never quotes the value given, which may be a PIN or a secret access key. Keystore settings
  are kept out of ``repr``.
- Relative paths resolve against the directory of the configuration file (the current
  directory when there is none), so a file means the same wherever the server is started.
- The tree is picklable (plain dicts, no proxies): each worker process receives it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from keystores.factory import KEYSTORE_KINDS
from kmip_server.crypto.gateway import GatewaySettings
from kmip_server.crypto.rng import RngSettings, SeedPolicy
from kmip_server.crypto.services import CryptoSettings
from kmip_server.engine.settings import EngineSettings
from kmip_server.hierarchy.settings import HierarchySettings
from kmip_server.identity import IdentityResolver, IdentitySettings
from kmip_server.objects import ObjectSettings
from kmip_server.storage.postgres_settings import PostgresSettings
from kmip_server.storage.sqlite_database import SqliteSettings
from kmip_server.transport.settings import TLSSettings, TransportSettings
from ttlv.limits import Limits

__all__ = [
    "ENV_PREFIX",
    "SECTIONS",
    "Config",
    "ConfigError",
    "KeystoreConfig",
    "LogFormat",
    "LoggingConfig",
    "SealModeSetting",
    "ServerConfig",
    "StorageConfig",
    "StorageKind",
    "TlsConfig",
    "UnsealConfig",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "OPENKCM_"
ENV_SEPARATOR = "__"
DEFAULT_DATABASE_NAME = "openkcm.db"
MAX_CONFIG_FILE_SIZE = 1 << 20  # bytes; a configuration is a few KiB
_KEYSTORE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ConfigError(ValueError):
    """A setting is unknown, missing or malformed. The message names the key, never its value."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class StorageKind(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"  # several Cores share one database, row-level security (storage.postgres)


class SealModeSetting(enum.StrEnum):
    SHAMIR = "shamir"  # M-of-N shares, submitted with ``openkcm unseal``
    AUTO = "auto"  # the seal keystore opens the seal blob at start-up


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``: where the Core keeps local state, and the network shell's settings."""

    data_dir: Path = Path(".")  # admin sockets live in ``data_dir/admin`` (0700), one per process
    transport: TransportSettings = field(default_factory=TransportSettings)

    @property
    def admin_dir(self) -> Path:
        return self.data_dir / "admin"


def _given(path: Path | None) -> Path:
    if path is None:  # checked by the caller
        raise ConfigError("tls", "incomplete")
    return path


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``[tls]``: required to serve; the admin commands do not need it."""

    ca_file: Path | None = None  # client certificates must chain to this bundle
    cert_file: Path | None = None  # the server's certificate (chain)
    key_file: Path | None = None

    def settings(self) -> TLSSettings:
        """The transport's view; ``ConfigError`` naming the first missing file."""
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is None:
                raise ConfigError(f"tls.{name}", "required to serve")
            if not value.is_file():
                raise ConfigError(f"tls.{name}", "the file does not exist")
        return TLSSettings(
            certificate_file=_given(self.cert_file),
            key_file=_given(self.key_file),
            client_ca_file=_given(self.ca_file),
        )


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``[storage]``: ``kind``, ``path``, (sqlite) every ``SqliteSettings`` field, and
    ``[storage.postgres]``."""

    kind: StorageKind = StorageKind.SQLITE
    path: Path = Path(DEFAULT_DATABASE_NAME)  # sqlite file (0600); default <server.data_dir>/openkcm.db
    sqlite: SqliteSettings = field(default_factory=SqliteSettings)
    postgres: PostgresSettings = field(default_factory=PostgresSettings)

    def __post_init__(self) -> None:
        if self.kind is StorageKind.POSTGRES and not self.postgres.dsn:
            raise ConfigError("storage.postgres.dsn", 'required when storage.kind is "postgres"')


@dataclass(frozen=True, slots=True)
class UnsealConfig:
    cluster_id: str = "openkcm"  # bound into the MasterKey check value and the seal context
    region: str = "local"
    mode: SealModeSetting = SealModeSetting.SHAMIR
    seal_keystore: str | None = None  # auto: a name in [keystores]
    seal_key_id: str | None = None  # auto: the seal key's id in that keystore
    auto_unseal_retry_interval: float = 30.0  # auto: seconds between start-up attempts that failed
    recovery_threshold: int = 1  # auto: recovery shares ``openkcm init --auto`` makes (M of N)
    recovery_shares: int = 1

    def __post_init__(self) -> None:
        for name in ("cluster_id", "region"):
            if not _IDENTIFIER.fullmatch(getattr(self, name)):
                raise ConfigError(f"unseal.{name}", "must be 1-128 letters, digits, '.', '_' or '-'")
        if not self.auto_unseal_retry_interval > 0:
            raise ConfigError("unseal.auto_unseal_retry_interval", "must be a positive number of seconds")
        if self.mode is SealModeSetting.AUTO:
            if not self.seal_keystore:
                raise ConfigError("unseal.seal_keystore", "required when unseal.mode is auto")
            if not self.seal_key_id:
                raise ConfigError("unseal.seal_key_id", "required when unseal.mode is auto")
        if not 1 <= self.recovery_threshold <= self.recovery_shares <= 16:
            raise ConfigError(
                "unseal.recovery_threshold", "need 1 <= recovery_threshold <= recovery_shares <= 16"
            )


@dataclass(frozen=True, slots=True)
class KeystoreConfig:
    """``[keystores.NAME]``: a keystore's kind and its driver settings (strings, maybe secrets)."""

    name: str
    kind: str
    settings: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    storage: StorageConfig = field(default_factory=StorageConfig)
    unseal: UnsealConfig = field(default_factory=UnsealConfig)
    keystores: Mapping[str, KeystoreConfig] = field(default_factory=dict)
    hierarchy: HierarchySettings = field(default_factory=HierarchySettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    objects: ObjectSettings = field(default_factory=ObjectSettings)
    crypto: CryptoSettings = field(default_factory=CryptoSettings)
    gateways: GatewaySettings = field(default_factory=GatewaySettings)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path | None = None  # the file it was read from

    def __post_init__(self) -> None:
        seal = self.unseal.seal_keystore
        if seal is not None and seal not in self.keystores:
            raise ConfigError("unseal.seal_keystore", "names no [keystores.NAME] entry")


# -- reading values ----------------------------------------------------------------------------


class _EnvText(str):
    """A value that came from the environment: text to be parsed into the field's type."""

    __slots__ = ()


def _describe(value: object) -> str:
    """The TOML type of ``value``, for errors (never the value itself)."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table"}
    return names.get(type(value), "an array" if isinstance(value, list) else type(value).__name__)


def _read_int(key: str, value: object) -> int:
    if isinstance(value, _EnvText):
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise ConfigError(key, "expected an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected an integer, got {_describe(value)}")
    return value


def _read_float(key: str, value: object) -> float:
    if isinstance(value, _EnvText):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigError(key, "expected a number") from None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"expected a number, got {_describe(value)}")
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ConfigError(key, "expected a finite number")
    return number


_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False}
_BOOLEAN_WORDS["off"] = False


def _read_bool(key: str, value: object) -> bool:
    if isinstance(value, _EnvText):
        word = _BOOLEAN_WORDS.get(value.strip().lower())
        if word is None:
            raise ConfigError(key, "expected true or false")
        return word
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {_describe(value)}")
    return value


def _read_str(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {_describe(value)}")
    return str(value)


def _path_reader(base_dir: Path) -> Callable[[str, object], Path]:
    def read(key: str, value: object) -> Path:
        text = _read_str(key, value)
        if not text:
            raise ConfigError(key, "expected a path, got an empty string")
        path = Path(text).expanduser()
        return path if path.is_absolute() else base_dir / path

    return read


def _enum_reader(cls: type[enum.Enum]) -> Callable[[str, object], enum.Enum]:
    def read(key: str, value: object) -> enum.Enum:
        text = _read_str(key, value)
        for member in cls:
            if str(member.value).lower() == text.strip().lower():
                return member
        raise ConfigError(key, f"expected one of {', '.join(str(m.value) for m in cls)}")

    return read


def _read_common_names(key: str, value: object) -> dict[str, tuple[str, str]]:
    """``{"CN" = "tenant/service"}`` or ``{"CN" = ["tenant", "service"]}``."""
    if not isinstance(value, dict):
        raise ConfigError(key, f'expected a table of CN = "tenant/service", got {_describe(value)}')
    table: dict[str, tuple[str, str]] = {}
    for common_name, target in value.items():
        entry = f"{key}.{common_name!r}"
        if isinstance(target, str) and target.count("/") == 1:
            tenant, service = target.split("/")
        elif isinstance(target, list) and len(target) == 2 and all(isinstance(t, str) for t in target):
            tenant, service = target
        else:
            raise ConfigError(entry, 'expected "tenant/service" or ["tenant", "service"]')
        table[common_name] = (tenant, service)
    return table


def _read_seed_policy(key: str, value: object) -> SeedPolicy:
    """``SeedPolicy`` by name (``ignore``, ``mix``, ``refuse``), any case; its numbers are internal."""
    text = _read_str(key, value).strip().upper()
    try:
        return SeedPolicy[text]
    except KeyError:
        raise ConfigError(key, f"expected one of {', '.join(p.name.lower() for p in SeedPolicy)}") from None


# Fields that are not plain scalars or dataclasses: their own readers, by (class, field).
_SPECIAL_FIELDS: Mapping[tuple[type, str], Callable[[str, object], Any]] = {
    (IdentitySettings, "common_names"): _read_common_names,
    (RngSettings, "seed_policy"): _read_seed_policy,
}


# Classes that do not check their own ranges: the fields that must be positive.
_POSITIVE_FIELDS: Mapping[type, tuple[str, ...]] = {
    Limits: ("max_message_size", "max_depth", "max_items"),
    CryptoSettings: ("max_data_length",),
    RngSettings: ("max_retrieve_length",),
}


def _reader_for(hint: Any, base_dir: Path) -> Callable[[str, object], Any]:
    """The reader for one field type hint: scalars, paths, enums, optionals, nested dataclasses."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        arguments = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(arguments) != 1:
            raise TypeError(f"unsupported setting type {hint!r}")
        inner = _reader_for(arguments[0], base_dir)

        def optional(key: str, value: object) -> Any:
            if isinstance(value, _EnvText) and not value.strip():
                return None  # an empty environment variable clears an optional setting
            return inner(key, value)

        return optional
    if hint is bool:
        return _read_bool
    if hint is int:
        return _read_int
    if hint is float:
        return _read_float
    if hint is str:
        return _read_str
    if hint is Path:
        return _path_reader(base_dir)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_reader(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda key, value: _bind(hint, key, value, base_dir)
    raise TypeError(f"unsupported setting type {hint!r}")


def _bind(cls: type[Any], where: str, table: object, base_dir: Path, **fixed: Any) -> Any:
    """Build dataclass ``cls`` from a TOML table: every key a field, converted by its type."""
    if not isinstance(table, dict):
        raise ConfigError(where, f"expected a table, got {_describe(table)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init} - set(fixed)
    arguments: dict[str, Any] = dict(fixed)
    for name, value in table.items():
        key = f"{where}.{name}" if where else name
        if name not in names:
            raise ConfigError(key, "unknown setting")
        special = _SPECIAL_FIELDS.get((cls, name))
        reader = special if special is not None else _reader_for(hints[name], base_dir)
        arguments[name] = reader(key, value)
    for name in _POSITIVE_FIELDS.get(cls, ()):
        if name in arguments and not arguments[name] > 0:
            raise ConfigError(f"{where}.{name}", "must be positive")
    try:
        return cls(**arguments)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        # The settings classes check their own ranges and name the field; keep their words.
        raise ConfigError(where, str(exc)) from None


# -- sections ----------------------------------------------------------------------------------


def _server(table: object, base_dir: Path) -> ServerConfig:
    if not isinstance(table, dict):
        raise ConfigError("server", f"expected a table, got {_describe(table)}")
    rest = dict(table)
    data_dir = (
        _path_reader(base_dir)("server.data_dir", rest.pop("data_dir")) if "data_dir" in rest else base_dir
    )
    transport = _bind(TransportSettings, "server", rest, base_dir)
    return ServerConfig(data_dir=data_dir, transport=transport)


def _identity(table: object, base_dir: Path) -> IdentitySettings:
    settings: IdentitySettings = _bind(IdentitySettings, "identity", table, base_dir)
    try:
        IdentityResolver(settings)  # compiles the patterns and checks the CN table, as serving will
    except ValueError as exc:
        raise ConfigError("identity", str(exc)) from None
    return settings


def _engine(table: object, base_dir: Path) -> EngineSettings:
    # The decode limits are [server.limits], one set for the framer and the decoder (parse_config).
    return _bind(EngineSettings, "engine", table, base_dir, limits=Limits())  # type: ignore[no-any-return]


_OBJECT_SETTINGS = frozenset({"lease_time", "unique_names"})
"""The ``ObjectSettings`` an operator sets; the others are the server's own choices."""


def _objects(table: object, base_dir: Path) -> ObjectSettings:
    if isinstance(table, dict):
        for name in table:
            if name not in _OBJECT_SETTINGS:
                raise ConfigError(f"objects.{name}", "unknown setting")
    return _bind(ObjectSettings, "objects", table, base_dir)  # type: ignore[no-any-return]


def _storage(table: object, base_dir: Path) -> StorageConfig:
    if not isinstance(table, dict):
        raise ConfigError("storage", f"expected a table, got {_describe(table)}")
    rest = dict(table)
    own = {name: rest.pop(name) for name in ("kind", "path") if name in rest}
    postgres = _bind(PostgresSettings, "storage.postgres", rest.pop("postgres", {}), base_dir)
    sqlite = _bind(SqliteSettings, "storage", rest, base_dir)
    return _bind(  # type: ignore[no-any-return]
        StorageConfig, "storage", own, base_dir, sqlite=sqlite, postgres=postgres
    )


def _keystore_setting(key: str, value: object) -> str:
    """Driver settings are strings; TOML numbers and booleans are accepted and written out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(key, f"expected a string or a number, got {_describe(value)}")


def _keystores(table: object, base_dir: Path) -> dict[str, KeystoreConfig]:
    if not isinstance(table, dict):
        raise ConfigError("keystores", f"expected a table of [keystores.NAME], got {_describe(table)}")
    keystores: dict[str, KeystoreConfig] = {}
    for name, entry in table.items():
        where = f"keystores.{name}"
        if not _KEYSTORE_NAME.fullmatch(name):
            raise ConfigError(where, "a keystore name is 1-64 lowercase letters, digits, '_' or '-'")
        if not isinstance(entry, dict):
            raise ConfigError(where, f"expected a table, got {_describe(entry)}")
        settings = dict(entry)
        if "kind" not in settings:
            raise ConfigError(f"{where}.kind", "required")
        kind = _read_str(f"{where}.kind", settings.pop("kind")).strip()
        if kind not in KEYSTORE_KINDS:
            raise ConfigError(f"{where}.kind", f"expected one of {', '.join(sorted(KEYSTORE_KINDS))}")
        values = {key: _keystore_setting(f"{where}.{key}", value) for key, value in settings.items()}
        # A relative software keystore directory means the same as every other relative path.
        if kind == "software" and values.get("data_dir"):
            values["data_dir"] = str(_path_reader(base_dir)(f"{where}.data_dir", values["data_dir"]))
        keystores[name] = KeystoreConfig(name=name, kind=kind, settings=values)
    return keystores


_GATEWAY_LIST_SEPARATOR = ","
_NAME_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Gateway and tenant names: the identity charset (``identity.max_segment_length`` at most 64 by
default; a longer name could never match a certificate and is refused rather than ignored)."""


def _gateways(table: object, base_dir: Path) -> GatewaySettings:
    """``[gateways]``: ``NAME = ["tenant", ...]`` (from the environment: ``"tenant,tenant"``)."""
    if not isinstance(table, dict):
        raise ConfigError("gateways", f'expected a table of NAME = ["tenant", ...], got {_describe(table)}')
    tenants: dict[str, frozenset[str]] = {}
    for name, value in table.items():
        key = f"gateways.{name}"
        if not _NAME_SEGMENT.fullmatch(name):
            raise ConfigError(key, "a gateway name is 1-64 letters, digits, '.', '_' or '-' (not first)")
        if isinstance(value, _EnvText):
            entries: list[object] = [part.strip() for part in value.split(_GATEWAY_LIST_SEPARATOR)]
            entries = [entry for entry in entries if entry]
        elif isinstance(value, list):
            entries = list(value)
        else:
            raise ConfigError(key, f"expected an array of tenant names, got {_describe(value)}")
        for entry in entries:
            if not isinstance(entry, str) or not _NAME_SEGMENT.fullmatch(entry):
                raise ConfigError(
                    key, "each tenant name is 1-64 letters, digits, '.', '_' or '-' (not first)"
                )
        tenants[name] = frozenset(typing.cast(list[str], entries))
    return GatewaySettings(tenants=tenants)


def _plain(cls: type[Any], name: str) -> Callable[[object, Path], Any]:
    return lambda table, base_dir: _bind(cls, name, table, base_dir)


SECTIONS: Mapping[str, Callable[[object, Path], Any]] = {
    "server": _server,
    "tls": _plain(TlsConfig, "tls"),
    "identity": _identity,
    "storage": _storage,
    "unseal": _plain(UnsealConfig, "unseal"),
    "keystores": _keystores,
    "hierarchy": _plain(HierarchySettings, "hierarchy"),
    "engine": _engine,
    "objects": _objects,
    "crypto": _plain(CryptoSettings, "crypto"),
    "gateways": _gateways,
    "logging": _plain(LoggingConfig, "logging"),
}


# -- environment -------------------------------------------------------------------------------


def _apply_environment(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Write every ``OPENKCM_A__B__C=value`` into ``document[a][b][c]`` (as text to parse)."""
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or ENV_SEPARATOR not in upper[len(ENV_PREFIX) :]:
            continue
        path = [part.lower() for part in variable[len(ENV_PREFIX) :].split(ENV_SEPARATOR)]
        if any(not part for part in path):
            raise ConfigError(variable, "empty name between '__' separators")
        if path[0] not in SECTIONS:
            raise ConfigError(variable, f"unknown section {path[0]!r}")
        node = document
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(variable, f"{'.'.join(path[: depth + 1])} is not a table")
            node = child
        node[path[-1]] = _EnvText(environ[variable])


# -- entry points ------------------------------------------------------------------------------


def parse_config(
    document: Mapping[str, Any],
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Build a ``Config`` from a parsed TOML document (a copy is taken) plus environment overrides."""
    merged: dict[str, Any] = _deep_copy(document)
    _apply_environment(merged, os.environ if environ is None else environ)
    sections: dict[str, Any] = {}
    for name, table in merged.items():
        build = SECTIONS.get(name)
        if build is None:
            raise ConfigError(name, f"unknown section; known: {', '.join(SECTIONS)}")
        sections[name] = build(table, base_dir)
    server = sections.setdefault("server", ServerConfig(data_dir=base_dir))
    engine = sections.setdefault("engine", EngineSettings())
    sections["engine"] = dataclasses.replace(engine, limits=server.transport.limits)
    storage = sections.setdefault("storage", StorageConfig())
    if "path" not in merged.get("storage", {}):
        sections["storage"] = dataclasses.replace(storage, path=server.data_dir / DEFAULT_DATABASE_NAME)
    try:
        return Config(**sections, source=source)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("", str(exc)) from None


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (TOML) if given, apply the environment, validate. ``ConfigError`` on any problem."""
    if path is None:
        return parse_config({}, base_dir=Path.cwd(), environ=environ)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_FILE_SIZE + 1)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the configuration file ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_FILE_SIZE:
        raise ConfigError(str(path), f"larger than {MAX_CONFIG_FILE_SIZE} bytes")
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message gives the line and column, not the value.
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    resolved = path.resolve()
    return parse_config(document, base_dir=resolved.parent, environ=environ, source=resolved)


def _deep_copy(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in document.items()}
