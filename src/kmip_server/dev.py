"""``openkcm dev``: a whole Core on one machine from nothing, for trying OpenKCM and for tests.

DEVELOPMENT ONLY. The seal key and every tenant's L1 key live in a local file keystore
(``keystores/dev-l1-keys.json``) beside the data they protect, and a recovery share is written
to disk: convenient, and the opposite of what OpenKCM is for. Never point a production client
at a dev data directory.

The data directory (``DEFAULT_DATA_DIR`` unless ``--data-dir``), created 0700::

    openkcm.toml          the Core's configuration (written once; edit freely; --kmip-port wins)
    pykmip.conf           PyKMIP client sections: [client] (= acme), [acme], [globex]
    pki/                  ca.pem/ca.key, server.pem/server.key, <tenant>.pem/<tenant>.key
    keystores/            dev-l1-keys.json: the software keystore (seal key, tenants' L1 keys)
    openkcm.db            SQLite: seal configuration, key hierarchy, managed objects (+ -wal, -shm)
    dev-recovery-share.txt  the 1-of-1 recovery share (for ``openkcm unseal`` after ``openkcm seal``)
    admin/core-<pid>.sock the admin socket while the Core runs

Invariants:
- Idempotent: a second run reuses the PKI, the keystore file, the database and the
  configuration, and only unseals again (with the seal keystore, as auto mode does).
- Every file that holds a key or a share is created 0600 (``devpki``, ``SoftwareKeystore``,
  ``_write_private``), inside a 0700 directory.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keystores.base import KeyStatus, Keystore
from keystores.retry import RetryingKeystore
from keystores.software import SoftwareKeystore
from kmip_server.config import Config, load_config
from kmip_server.devpki import DevClient, ensure_dev_pki
from unseal.state import SealState

if TYPE_CHECKING:
    from kmip_server.app import Core

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEV_TENANTS",
    "DevLayout",
    "DevTenant",
    "bootstrap",
    "connect_message",
    "prepare",
    "write_pykmip_conf",
]

DEFAULT_DATA_DIR = Path("var/dev")  # relative to the current directory (git-ignored in the repo)
TRUST_DOMAIN = "openkcm.local"
CLUSTER_ID = "dev"
REGION = "local"
KEYSTORE_NAME = "dev"
SEAL_KEY_ID = "dev-seal"


@dataclass(frozen=True, slots=True)
class DevTenant:
    name: str
    service: str

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{TRUST_DOMAIN}/tenant/{self.name}/service/{self.service}"

    @property
    def l1_key_id(self) -> str:
        return f"dev-l1-{self.name}"


DEV_TENANTS: tuple[DevTenant, ...] = (DevTenant("acme", "payments"), DevTenant("globex", "billing"))


@dataclass(frozen=True, slots=True)
class DevLayout:
    """Where everything of one dev data directory lives."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "openkcm.toml"

    @property
    def pykmip_conf(self) -> Path:
        return self.root / "pykmip.conf"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def keystore_dir(self) -> Path:
        return self.root / "keystores"

    @property
    def recovery_share(self) -> Path:
        return self.root / "dev-recovery-share.txt"


_CONFIG_TEMPLATE = """\
# OpenKCM development Core, written by `openkcm dev`. DEVELOPMENT ONLY: the seal key and the
# tenants' L1 keys sit in keystores/ beside the data they protect.
# Relative paths resolve against this file's directory. `openkcm dev --kmip-port` overrides
# server.port; `openkcm serve core --config {config_file}` serves this file as it is.

[server]
data_dir = "."
host = "127.0.0.1"
port = {port}

[tls]
ca_file = "pki/ca.pem"
cert_file = "pki/server.pem"
key_file = "pki/server.key"

[identity]
trust_domain = "{trust_domain}"

[storage]
kind = "sqlite"
path = "openkcm.db"

[unseal]
cluster_id = "{cluster_id}"
region = "{region}"
mode = "auto"
seal_keystore = "{keystore}"
seal_key_id = "{seal_key_id}"

[keystores.{keystore}]
kind = "software"
data_dir = "keystores"

[logging]
level = "INFO"
"""


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` through a temporary file created with ``mode``, renamed into place."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def prepare(
    data_dir: Path, kmip_port: int, *, tenants: Sequence[DevTenant] = DEV_TENANTS
) -> tuple[DevLayout, Config]:
    """Create (or reuse) the directory, the PKI and the configuration; return the ``Config`` to serve."""
    layout = DevLayout(data_dir.expanduser().resolve())
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_dev_pki(
        layout.pki,
        trust_domain=TRUST_DOMAIN,
        clients=[DevClient(tenant.name, spiffe_id=tenant.spiffe_id) for tenant in tenants],
    )
    if not layout.config_file.exists():
        _write_private(
            layout.config_file,
            _CONFIG_TEMPLATE.format(
                config_file=layout.config_file,
                port=kmip_port,
                trust_domain=TRUST_DOMAIN,
                cluster_id=CLUSTER_ID,
                region=REGION,
                keystore=KEYSTORE_NAME,
                seal_key_id=SEAL_KEY_ID,
            ),
        )
    config = load_config(layout.config_file)
    transport = dataclasses.replace(config.server.transport, port=kmip_port, workers=1)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, transport=transport))
    return layout, config


def _software(keystore: Keystore) -> SoftwareKeystore:
    while isinstance(keystore, RetryingKeystore):
        keystore = keystore.inner
    if not isinstance(keystore, SoftwareKeystore):
        raise TypeError(f"keystores.{KEYSTORE_NAME} must be a software keystore for `openkcm dev`")
    return keystore


async def _ensure_key(keystore: SoftwareKeystore, key_id: str) -> None:
    if await keystore.key_status(key_id) is KeyStatus.NOT_FOUND:
        keystore.create_key(key_id)


def bootstrap(
    layout: DevLayout, *, tenants: Sequence[DevTenant] = DEV_TENANTS
) -> Callable[[Core], Awaitable[None]]:
    """The dev start-up steps, run inside the Core before it serves: initialize (auto mode,
    1-of-1 recovery share written to disk) on the first run, unseal, link the example tenants."""

    async def steps(core: Core) -> None:
        keystore = core.keystores[KEYSTORE_NAME]
        software = _software(keystore)
        await _ensure_key(software, SEAL_KEY_ID)
        for tenant in tenants:
            await _ensure_key(software, tenant.l1_key_id)
        controller = core.controller
        if await controller.load() is SealState.UNINITIALIZED:
            shares = await controller.init_auto(keystore, SEAL_KEY_ID, 1, 1)
            _write_private(
                layout.recovery_share,
                "# DEVELOPMENT ONLY: the recovery share of this dev Core (1 of 1).\n"
                "# `openkcm seal` then `openkcm unseal --data-dir DIR < this file` unseals it again.\n"
                + "\n".join(shares)
                + "\n",
            )
        if controller.state is not SealState.UNSEALED:
            await controller.auto_unseal()
        for tenant in tenants:
            await core.hierarchy.link_tenant(tenant.name, KEYSTORE_NAME, tenant.l1_key_id)

    return steps


def write_pykmip_conf(
    layout: DevLayout, host: str, port: int, *, tenants: Sequence[DevTenant] = DEV_TENANTS
) -> None:
    """PyKMIP's client configuration: ``[client]`` is the first tenant, then one section each.

    ``ssl_version = PROTOCOL_TLS``: PyKMIP 0.11 builds ``ssl.SSLContext(ssl_version)`` and wraps the
    socket without a server name, which ``PROTOCOL_TLS_CLIENT`` (hostname checking on) refuses;
    PROTOCOL_TLS still verifies the server against ``ca_certs`` (``cert_reqs = CERT_REQUIRED``)
    and negotiates TLS 1.3 or 1.2."""
    lines = [
        "# PyKMIP client configuration written by `openkcm dev` (rewritten on every start).",
        "# ProxyKmipClient(config_file=THIS_FILE) connects as the first tenant;",
        '# config="<tenant>" picks another.',
    ]
    for section, tenant in [("client", tenants[0]), *((t.name, t) for t in tenants)]:
        lines += [
            "",
            f"[{section}]",
            f"host = {host}",
            f"port = {port}",
            f"certfile = {layout.pki / f'{tenant.name}.pem'}",
            f"keyfile = {layout.pki / f'{tenant.name}.key'}",
            f"ca_certs = {layout.pki / 'ca.pem'}",
            "cert_reqs = CERT_REQUIRED",
            "ssl_version = PROTOCOL_TLS",
            "do_handshake_on_connect = True",
            "suppress_ragged_eofs = True",
        ]
    _write_private(layout.pykmip_conf, "\n".join(lines) + "\n", mode=0o644)


def connect_message(
    layout: DevLayout, host: str, port: int, *, tenants: Sequence[DevTenant] = DEV_TENANTS
) -> str:
    names = ", ".join(f"{t.name} (service {t.service})" for t in tenants)
    return f"""\
OpenKCM dev Core: KMIP over mutual TLS on {host}:{port}, unsealed.
  Tenants linked to the dev software keystore: {names}.
  DEVELOPMENT ONLY: the seal key and L1 keys are in {layout.keystore_dir} beside the data.

Connect with PyKMIP ({layout.pykmip_conf}; [client] is {tenants[0].name}, config="<tenant>" for another):

    from kmip.pie.client import ProxyKmipClient
    from kmip.core.enums import CryptographicAlgorithm
    with ProxyKmipClient(config_file="{layout.pykmip_conf}") as client:
        uid = client.create(CryptographicAlgorithm.AES, 256); print(uid, client.get(uid))

Status: openkcm status --data-dir {layout.root}    Stop: Ctrl-C (or SIGTERM)
"""
