"""Configuration: defaults, TOML, environment overrides, and every error naming its key (never the value)."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kmip_server.config import (
    SECTIONS,
    Config,
    ConfigError,
    LogFormat,
    SealModeSetting,
    StorageKind,
    load_config,
    parse_config,
)
from kmip_server.crypto.gateway import GatewaySettings
from kmip_server.crypto.rng import RngSettings, SeedPolicy
from kmip_server.crypto.services import CryptoSettings
from kmip_server.crypto.streams import StreamSettings
from kmip_server.hierarchy.settings import HierarchySettings
from kmip_server.identity import IdentitySettings
from kmip_server.transport.settings import TransportSettings
from ttlv.limits import Limits

FULL = """
[server]
data_dir = "state"
host = "0.0.0.0"
port = 15696
workers = 2
max_connections = 100
idle_timeout = 12.5
use_uvloop = false

[server.limits]
max_message_size = 65536
max_depth = 8

[tls]
ca_file = "pki/ca.pem"
cert_file = "/etc/openkcm/server.pem"
key_file = "pki/server.key"

[identity]
trust_domain = "example.org"
tenant_pattern = "spiffe://{trust_domain}/t/{tenant}/s/{service}"

[identity.common_names]
"legacy-app" = "acme/billing"
"old-app" = ["globex", "reports"]

[storage]
kind = "sqlite"
path = "data/core.db"
timeout = 3.0
readers = 4

[unseal]
cluster_id = "eu-1"
region = "eu-central-1"
mode = "auto"
seal_keystore = "hsm"
seal_key_id = "seal-key"
recovery_threshold = 2
recovery_shares = 3

[keystores.hsm]
kind = "pkcs11"
library_path = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "openkcm"
lock_timeout = 5

[keystores.dev]
kind = "software"
data_dir = "keys"

[hierarchy]
l1_recheck_interval = 60
sovereign_ttl = 3600.0

[logging]
level = "debug"
format = "json"
"""

PIN = "p1n-s3cr3t-4242"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "openkcm.toml"
    path.write_text(FULL)
    return path


def _error(document: Mapping[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, base_dir=Path("/base"), environ=environ or {})
    return caught.value


# -- defaults ---------------------------------------------------------------------------------------


def test_defaults_are_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    transport = config.server.transport
    assert transport == TransportSettings()
    assert (transport.host, transport.port, transport.workers) == ("127.0.0.1", 5696, 1)
    assert config.server.data_dir == tmp_path
    assert config.server.admin_dir == tmp_path / "admin"
    assert config.storage.kind is StorageKind.SQLITE
    assert config.storage.path == tmp_path / "openkcm.db"
    assert config.unseal.mode is SealModeSetting.SHAMIR
    assert config.unseal.seal_keystore is None
    assert config.keystores == {}
    assert config.hierarchy == HierarchySettings()
    assert config.identity == IdentitySettings()
    assert config.logging.format is LogFormat.TEXT
    assert config.source is None


def test_sections_table_matches_the_config_fields() -> None:
    fields = set(Config.__dataclass_fields__) - {"source"}
    assert set(SECTIONS) == fields


def test_tls_is_required_only_to_serve(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    with pytest.raises(ConfigError, match=r"^tls\.ca_file: required to serve"):
        config.tls.settings()
    partial = parse_config(
        {"tls": {"ca_file": "ca.pem", "cert_file": "s.pem", "key_file": "s.key"}},
        base_dir=tmp_path,
        environ={},
    )
    with pytest.raises(ConfigError, match=r"^tls\.ca_file: the file does not exist"):
        partial.tls.settings()
    for name in ("ca.pem", "s.pem", "s.key"):
        (tmp_path / name).write_text("x")
    settings = partial.tls.settings()
    assert settings.client_ca_file == tmp_path / "ca.pem"
    assert settings.certificate_file == tmp_path / "s.pem"


def test_engine_decodes_within_the_server_limits(tmp_path: Path) -> None:
    config = parse_config(
        {"server": {"limits": {"max_depth": 12}}, "engine": {"max_batch_items": 50}},
        base_dir=tmp_path,
        environ={},
    )
    assert config.engine.limits == config.server.transport.limits == Limits(max_depth=12)
    assert config.engine.max_batch_items == 50


# -- TOML ---------------------------------------------------------------------------------------------


def test_full_file(config_file: Path) -> None:
    config = load_config(config_file, environ={})
    base = config_file.parent
    assert config.source == config_file.resolve()
    assert config.server.data_dir == base / "state"
    transport = config.server.transport
    assert (transport.host, transport.port, transport.workers) == ("0.0.0.0", 15696, 2)
    assert transport.max_connections == 100
    assert transport.idle_timeout == 12.5
    assert transport.use_uvloop is False
    assert transport.limits == Limits(max_message_size=65536, max_depth=8)
    assert config.tls.ca_file == base / "pki/ca.pem"
    assert config.tls.cert_file == Path("/etc/openkcm/server.pem")
    assert config.identity.trust_domain == "example.org"
    assert config.identity.tenant_pattern == "spiffe://{trust_domain}/t/{tenant}/s/{service}"
    assert config.identity.common_names == {
        "legacy-app": ("acme", "billing"),
        "old-app": ("globex", "reports"),
    }
    assert config.storage.path == base / "data/core.db"
    assert config.storage.sqlite.timeout == 3.0
    assert config.storage.sqlite.readers == 4
    assert config.unseal.mode is SealModeSetting.AUTO
    assert (config.unseal.seal_keystore, config.unseal.seal_key_id) == ("hsm", "seal-key")
    assert (config.unseal.recovery_threshold, config.unseal.recovery_shares) == (2, 3)
    hsm = config.keystores["hsm"]
    assert hsm.kind == "pkcs11"
    assert hsm.settings == {
        "library_path": "/usr/lib/softhsm/libsofthsm2.so",
        "token_label": "openkcm",
        "lock_timeout": "5",  # driver settings are strings
    }
    assert config.keystores["dev"].settings == {"data_dir": str(base / "keys")}
    assert config.hierarchy.l1_recheck_interval == 60.0
    assert config.hierarchy.sovereign_ttl == 3600.0
    assert config.hierarchy.ivk_grace_period == HierarchySettings().ivk_grace_period
    assert config.logging.level.value == "DEBUG"
    assert config.logging.format is LogFormat.JSON


def test_relative_paths_follow_the_file_not_the_working_directory(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(config_file, environ={})
    assert config.storage.path == config_file.parent / "data/core.db"


def test_config_pickles_for_worker_processes(config_file: Path) -> None:
    config = load_config(config_file, environ={})
    assert pickle.loads(pickle.dumps(config)) == config


def test_keystore_settings_stay_out_of_repr(tmp_path: Path) -> None:
    config = parse_config(
        {"keystores": {"hsm": {"kind": "pkcs11", "user_pin": PIN}}}, base_dir=tmp_path, environ={}
    )
    assert config.keystores["hsm"].settings["user_pin"] == PIN
    assert PIN not in repr(config)


# -- environment ------------------------------------------------------------------------------------


def test_environment_overrides_the_file(config_file: Path) -> None:
    environ = {
        "OPENKCM_SERVER__PORT": "7001",
        "OPENKCM_SERVER__LIMITS__MAX_DEPTH": "16",
        "OPENKCM_SERVER__USE_UVLOOP": "yes",
        "openkcm_hierarchy__l1_recheck_interval": "30.5",  # case-insensitive
        "OPENKCM_KEYSTORES__HSM__USER_PIN": PIN,
        "OPENKCM_UNSEAL__MODE": "AUTO",
        "OPENKCM_LOGGING__FORMAT": "text",
        "OPENKCM_CONFIG": "/not/a/setting",  # no "__": not an override
        "OPENKCM_VENV": "/also/not",
        "UNRELATED__VALUE": "x",
    }
    config = load_config(config_file, environ=environ)
    assert config.server.transport.port == 7001
    assert config.server.transport.limits.max_depth == 16
    assert config.server.transport.limits.max_message_size == 65536  # the file's, untouched
    assert config.server.transport.use_uvloop is True
    assert config.hierarchy.l1_recheck_interval == 30.5
    assert config.keystores["hsm"].settings["user_pin"] == PIN
    assert config.logging.format is LogFormat.TEXT


def test_environment_alone_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(
        None,
        environ={
            "OPENKCM_STORAGE__PATH": "db/x.db",
            "OPENKCM_KEYSTORES__DEV__KIND": "software",
            "OPENKCM_UNSEAL__SEAL_KEYSTORE": "dev",
        },
    )
    assert config.storage.path == tmp_path / "db/x.db"
    assert config.keystores["dev"].kind == "software"
    assert config.unseal.seal_keystore == "dev"


def test_empty_environment_value_clears_an_optional_setting(config_file: Path) -> None:
    config = load_config(
        config_file, environ={"OPENKCM_UNSEAL__MODE": "shamir", "OPENKCM_UNSEAL__SEAL_KEYSTORE": ""}
    )
    assert config.unseal.seal_keystore is None


@pytest.mark.parametrize(
    ("variable", "value", "key", "problem"),
    [
        ("OPENKCM_SERVER__PORT", "5x", "server.port", "expected an integer"),
        ("OPENKCM_SERVER__IDLE_TIMEOUT", "soon", "server.idle_timeout", "expected a number"),
        ("OPENKCM_SERVER__IDLE_TIMEOUT", "inf", "server.idle_timeout", "expected a finite number"),
        ("OPENKCM_SERVER__USE_UVLOOP", "maybe", "server.use_uvloop", "expected true or false"),
        ("OPENKCM_SERVR__PORT", "1", "OPENKCM_SERVR__PORT", "unknown section"),
        ("OPENKCM_SERVER__PROT", "1", "server.prot", "unknown setting"),
        ("OPENKCM_SERVER____PORT", "1", "OPENKCM_SERVER____PORT", "empty name"),
        ("OPENKCM_SERVER__PORT__X", "1", "OPENKCM_SERVER__PORT__X", "is not a table"),
    ],
)
def test_environment_errors_name_the_key(
    config_file: Path, variable: str, value: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={"OPENKCM_SERVER__PORT": "1", variable: value})
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert value not in str(caught.value) or value == "1"


# -- invalid values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [
        ({"server": {"port": "5696"}}, "server.port", "expected an integer, got a string"),
        ({"server": {"port": True}}, "server.port", "expected an integer, got a boolean"),
        ({"server": {"port": 70000}}, "server", "port must be between 0 and 65535"),
        ({"server": {"workers": 0}}, "server", "workers must be at least 1"),
        ({"server": {"idle_timeout": -1}}, "server", "idle_timeout must be positive"),
        ({"server": {"prot": 1}}, "server.prot", "unknown setting"),
        ({"server": {"limits": {"max_depth": 0}}}, "server.limits.max_depth", "must be positive"),
        ({"server": {"limits": 5}}, "server.limits", "expected a table, got an integer"),
        ({"server": {"data_dir": ""}}, "server.data_dir", "expected a path"),
        ({"server": []}, "server", "expected a table, got an array"),
        ({"servers": {}}, "servers", "unknown section"),
        ({"tls": {"ca_file": 3}}, "tls.ca_file", "expected a string, got an integer"),
        ({"identity": {"trust_domain": "Not A Domain"}}, "identity", "trust_domain must be"),
        ({"identity": {"tenant_pattern": "https://x/{tenant}"}}, "identity", "must start with spiffe://"),
        ({"identity": {"common_names": {"cn": "no-slash"}}}, "identity.common_names.'cn'", "tenant/service"),
        ({"identity": {"common_names": {"cn": "bad tenant/svc"}}}, "identity", "common_names"),
        ({"storage": {"kind": "mysql"}}, "storage.kind", "expected one of sqlite, postgres"),
        ({"storage": {"kind": "postgres"}}, "storage.postgres.dsn", "required when storage.kind"),
        ({"storage": {"postgres": {"max_connections": 0}}}, "storage.postgres", "min_connections"),
        ({"storage": {"postgres": {"schema": "Bad-Name"}}}, "storage.postgres", "not a plain identifier"),
        ({"storage": {"postgres": {"pool": 1}}}, "storage.postgres.pool", "unknown setting"),
        ({"storage": {"timeout": 0}}, "storage", "SQLite settings out of range"),
        ({"unseal": {"mode": "magic"}}, "unseal.mode", "expected one of shamir, auto"),
        ({"unseal": {"mode": "auto"}}, "unseal.seal_keystore", "required when unseal.mode is auto"),
        (
            {"unseal": {"mode": "auto", "seal_keystore": "nowhere", "seal_key_id": "k"}},
            "unseal.seal_keystore",
            "names no [keystores.NAME] entry",
        ),
        ({"unseal": {"cluster_id": ""}}, "unseal.cluster_id", "letters, digits"),
        ({"unseal": {"recovery_threshold": 3}}, "unseal.recovery_threshold", "<= recovery_shares"),
        ({"keystores": {"Bad Name": {"kind": "software"}}}, "keystores.Bad Name", "lowercase"),
        ({"keystores": {"x": {}}}, "keystores.x.kind", "required"),
        ({"keystores": {"x": {"kind": "vault"}}}, "keystores.x.kind", "expected one of aws-kms"),
        ({"keystores": {"x": {"kind": "software", "opts": [1]}}}, "keystores.x.opts", "got an array"),
        ({"hierarchy": {"sovereign_ttl": 1}}, "hierarchy", "sovereign_ttl must be at least"),
        ({"hierarchy": {"l3_max_age": 0}}, "hierarchy", "l3_max_age must be positive"),
        ({"logging": {"level": "LOUD"}}, "logging.level", "expected one of DEBUG"),
        ({"engine": {"max_batch_items": 0}}, "engine", "max_batch_items must be at least 1"),
        ({"engine": {"limits": {"max_depth": 4}}}, "engine.limits", "unknown setting"),
    ],
)
def test_invalid_values_name_the_key(document: dict[str, object], key: str, problem: str) -> None:
    error = _error(document)
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{key}: ")


def test_errors_never_quote_a_secret_value() -> None:
    for document in (
        {"keystores": {"hsm": {"user_pin": PIN}}},  # kind missing
        {"keystores": {"hsm": {"kind": PIN}}},
        {"unseal": {"mode": PIN}},
        {"server": {"port": PIN}},
        {"logging": {"level": PIN}},
    ):
        assert PIN not in str(_error(document))
    assert PIN not in str(_error({}, {"OPENKCM_SERVER__PORT": PIN}))
    assert PIN not in str(_error({}, {"OPENKCM_SERVER__USE_UVLOOP": PIN}))


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="cannot read the configuration file") as caught:
        load_config(missing, environ={})
    assert caught.value.key == str(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text(f'[server]\nport = 5696\nhost = "{PIN}\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(broken, environ={})
    assert PIN not in str(caught.value)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[server]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary, environ={})


# -- crypto and gateways ------------------------------------------------------------------------------

CRYPTO = """
[crypto]
max_data_length = 4096

[crypto.rng]
seed_policy = "mix"
max_seed_length = 16
max_retrieve_length = 1024

[crypto.streams]
max_streams = 100
max_streams_per_owner = 10
idle_timeout = 30

[gateways]
edge = ["acme", "globex"]
"edge-2" = ["acme"]
idle = []
"""


def test_crypto_and_gateway_defaults() -> None:
    config = parse_config({}, base_dir=Path("/base"), environ={})
    assert config.crypto == CryptoSettings()
    assert config.crypto.rng.seed_policy is SeedPolicy.IGNORE  # CS-RNG-O-3: seeds accepted, unused
    assert config.crypto.max_data_length == 1 << 20
    assert config.gateways == GatewaySettings()
    assert config.gateways.tenants == {}  # no gateway may use any tenant's L3


def test_crypto_and_gateways_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "openkcm.toml"
    path.write_text(CRYPTO)
    config = load_config(path, environ={})
    assert config.crypto == CryptoSettings(
        streams=StreamSettings(max_streams=100, max_streams_per_owner=10, idle_timeout=30),
        rng=RngSettings(max_retrieve_length=1024, seed_policy=SeedPolicy.MIX, max_seed_length=16),
        max_data_length=4096,
    )
    assert config.gateways.tenants == {
        "edge": frozenset({"acme", "globex"}),
        "edge-2": frozenset({"acme"}),
        "idle": frozenset(),
    }
    assert pickle.loads(pickle.dumps(config)) == config


def test_crypto_and_gateways_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "openkcm.toml"
    path.write_text(CRYPTO)
    config = load_config(
        path,
        environ={
            "OPENKCM_CRYPTO__RNG__SEED_POLICY": "Refuse",
            "OPENKCM_CRYPTO__MAX_DATA_LENGTH": "512",
            "OPENKCM_CRYPTO__STREAMS__IDLE_TIMEOUT": "7",
            "OPENKCM_GATEWAYS__EDGE": "globex",  # replaces the file's list
            "OPENKCM_GATEWAYS__FRONT": " acme , globex,",
        },
    )
    assert config.crypto.rng.seed_policy is SeedPolicy.REFUSE
    assert config.crypto.rng.max_seed_length == 16  # the file's, untouched
    assert config.crypto.max_data_length == 512
    assert config.crypto.streams.idle_timeout == 7
    assert config.gateways.tenants["edge"] == frozenset({"globex"})
    assert config.gateways.tenants["front"] == frozenset({"acme", "globex"})
    assert config.gateways.tenants["edge-2"] == frozenset({"acme"})
    alone = parse_config({}, base_dir=tmp_path, environ={"OPENKCM_GATEWAYS__EDGE": ""})
    assert alone.gateways.tenants == {"edge": frozenset()}


@pytest.mark.parametrize(
    ("document", "environ", "key", "problem"),
    [
        ({"crypto": {"rng": {"seed_policy": "maybe"}}}, {}, "crypto.rng.seed_policy", "ignore, mix, refuse"),
        ({"crypto": {"rng": {"seed_policy": 1}}}, {}, "crypto.rng.seed_policy", "expected a string"),
        ({}, {"OPENKCM_CRYPTO__RNG__SEED_POLICY": "2"}, "crypto.rng.seed_policy", "ignore, mix, refuse"),
        ({"crypto": {"rng": {"max_seed_length": -1}}}, {}, "crypto.rng", "RNG limits must be positive"),
        ({"crypto": {"rng": {"max_retrieve_length": 0}}}, {}, "crypto.rng.max_retrieve_length", "positive"),
        ({"crypto": {"max_data_length": 0}}, {}, "crypto.max_data_length", "must be positive"),
        ({}, {"OPENKCM_CRYPTO__MAX_DATA_LENGTH": "lots"}, "crypto.max_data_length", "expected an integer"),
        (
            {"crypto": {"streams": {"max_streams_per_owner": 0}}},
            {},
            "crypto.streams",
            "max_streams_per_owner",
        ),
        ({"crypto": {"streams": {"idle_timeout": 0}}}, {}, "crypto.streams", "idle_timeout"),
        ({"crypto": {"seed_policy": "mix"}}, {}, "crypto.seed_policy", "unknown setting"),
        ({"crypto": {"rng": {"policy": "mix"}}}, {}, "crypto.rng.policy", "unknown setting"),
        ({"crypto": 3}, {}, "crypto", "expected a table"),
        ({"gateways": ["edge"]}, {}, "gateways", "expected a table"),
        ({"gateways": {"edge": "acme"}}, {}, "gateways.edge", "expected an array of tenant names"),
        ({"gateways": {"edge": {"acme": True}}}, {}, "gateways.edge", "expected an array"),
        ({"gateways": {"edge": ["acme", 3]}}, {}, "gateways.edge", "each tenant name"),
        ({"gateways": {"edge": ["bad tenant"]}}, {}, "gateways.edge", "each tenant name"),
        ({"gateways": {"edge": ["a" * 65]}}, {}, "gateways.edge", "each tenant name"),
        ({"gateways": {"-edge": ["acme"]}}, {}, "gateways.-edge", "a gateway name"),
        ({}, {"OPENKCM_GATEWAYS__EDGE": "acme,bad/tenant"}, "gateways.edge", "each tenant name"),
        ({}, {"OPENKCM_GATEWAYS__EDGE__X": "acme"}, "gateways.edge", "expected an array"),
    ],
)
def test_invalid_crypto_and_gateway_settings_name_the_key(
    document: dict[str, object], environ: dict[str, str], key: str, problem: str
) -> None:
    error = _error(document, environ)
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{key}: ")
