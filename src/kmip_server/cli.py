"""The ``openkcm`` command line. Subcommands are a table (``COMMANDS``), each with its parser and action.

    openkcm dev [--data-dir DIR] [--kmip-port PORT]    all-in-one development Core (see ``dev``)
    openkcm serve core [--config FILE]                  serve a Core from a TOML file (+ environment)
    openkcm init [--threshold M --shares N | --auto]    make the MasterKey; shares printed ONCE
    openkcm unseal [--auto | --reset]                   offer shares (stdin, one a line, or a prompt)
    openkcm seal                                        wipe the MasterKey and every key above L4
    openkcm status [--json]                             seal state of every running Core process
    openkcm tenant link|unlink|status TENANT [...]      a tenant's L1 link (until the CMK API does it)
    openkcm db migrate|status --dsn ADMIN_DSN [...]     PostgreSQL: roles, schema, row-level security

``init``, ``unseal``, ``seal``, ``status`` and ``tenant`` talk to a running Core through its admin sockets
(``kmip_server.admin``): ``--socket PATH``, or every socket in ``<data dir>/admin`` where the
data dir is ``server.data_dir`` of ``--config FILE`` (or ``$OPENKCM_CONFIG``), else
``--data-dir DIR`` (default ``var/dev``, the dev Core's).

Exit status: 0 success; 1 failure (the Core refused, or none is running); 2 a usage or
configuration error; ``status`` answers 2 as well when any Core process is not unsealed, so
scripts can wait on it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from keystores.base import KeystoreError
from keystores.settings import KeystoreConfigError
from kmip_server.admin import AdminError, AdminUnavailable, admin_sockets, call
from kmip_server.config import Config, ConfigError, load_config
from kmip_server.dev import DEFAULT_DATA_DIR
from kmip_server.devpki import DevPKIError
from kmip_server.hierarchy.errors import HierarchyError
from kmip_server.storage.errors import StorageError
from rls.roles import DEFAULT_APP_ROLE, DEFAULT_OWNER_ROLE, Roles
from unseal.errors import UnsealError

__all__ = ["COMMANDS", "ROLES", "Command", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # also: ``status`` found a Core that is not unsealed
CONFIG_ENV = "OPENKCM_CONFIG"
DEFAULT_THRESHOLD = 3
DEFAULT_SHARES = 5


RUNTIME_FAILURES = (
    OSError,
    DevPKIError,
    StorageError,
    KeystoreConfigError,
    KeystoreError,
    UnsealError,
    HierarchyError,
)


class CommandError(Exception):
    """A failure to report in one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- finding the running Core ----------------------------------------------------------------------


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("which Core")
    target.add_argument("--config", type=Path, help=f"the Core's TOML file (default: ${CONFIG_ENV})")
    target.add_argument("--data-dir", type=Path, help="a data directory (default: var/dev, the dev Core's)")
    target.add_argument("--socket", type=Path, help="one admin socket")


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        path: Path = args.config
        return path
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def _admin_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir) / "admin"
    config_path = _config_path(args)
    if config_path is not None:
        return load_config(config_path).server.admin_dir
    return DEFAULT_DATA_DIR / "admin"


def _sockets(args: argparse.Namespace) -> list[Path]:
    if args.socket is not None:
        return [args.socket]
    directory = _admin_dir(args)
    found = admin_sockets(directory)
    if not found:
        raise CommandError(
            f"no running Core has an admin socket in {directory} "
            "(start one with `openkcm dev` or `openkcm serve core`, or pass --data-dir/--config)"
        )
    return found


def _each(sockets: Sequence[Path], request: Mapping[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Send ``request`` to every live socket (stale ones are skipped); at least one must answer."""
    answered = 0
    for path in sockets:
        try:
            reply = call(path, request)
        except AdminUnavailable:
            continue
        answered += 1
        yield path, reply
    if not answered:
        raise CommandError("no running Core answered on " + ", ".join(str(p) for p in sockets))


def _describe_status(status: Mapping[str, Any]) -> str:
    state = status.get("state", "?")
    line = f"pid {status.get('pid', '?')}: {state}"
    if state == "unsealing":
        line += f" ({status.get('submitted')} of {status.get('threshold')} shares)"
    details = [f"cluster {status.get('cluster_id')}/{status.get('region')}"]
    if status.get("mode"):
        details.append(f"mode {status['mode']}")
    if status.get("threshold"):
        details.append(f"{status['threshold']}-of-{status['share_count']} shares")
    if status.get("kmip_port") is not None:
        details.append(f"KMIP {status.get('kmip_host')}:{status['kmip_port']}")
    return f"{line}; {', '.join(details)}"


# -- init ------------------------------------------------------------------------------------------


def _configure_init(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold", "-m", type=int, help=f"shares needed to unseal (default {DEFAULT_THRESHOLD})"
    )
    parser.add_argument("--shares", "-n", type=int, help=f"shares to make (default {DEFAULT_SHARES})")
    parser.add_argument(
        "--auto",
        action="store_true",
        help="seal the MasterKey with the configured seal keystore (unseal.mode = auto) and unseal; "
        "prints the recovery shares",
    )
    _add_target(parser)


def _print_shares(shares: Sequence[str], threshold: int, auto: bool, out: TextIO) -> None:
    kind = "recovery shares" if auto else "unseal shares"
    lost = len(shares) - threshold
    print("=" * 78, file=out)
    print(f"WARNING: these {len(shares)} {kind} are shown ONCE and are stored nowhere.", file=out)
    print(f"Any {threshold} of them rebuild the MasterKey. Give each to a different operator;", file=out)
    print(
        f"if more than {lost} are lost, every key of this cluster is lost with them."
        if lost
        else "If it is lost, every key of this cluster is lost with it.",
        file=out,
    )
    print("=" * 78, file=out)
    for number, share in enumerate(shares, 1):
        print(f"\nshare {number} of {len(shares)}:\n  {share}", file=out)
    print(file=out)


def _run_init(args: argparse.Namespace) -> int:
    if args.auto and (args.threshold is not None or args.shares is not None):
        raise CommandError(
            "--auto takes the recovery share counts from unseal.recovery_threshold/recovery_shares",
            EXIT_USAGE,
        )
    request: dict[str, Any] = {"op": "init"}
    if args.auto:
        request["auto"] = True
    else:
        request["threshold"] = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        request["shares"] = DEFAULT_SHARES if args.shares is None else args.shares
    # One process makes the MasterKey; the others read the stored configuration on their next call.
    _, reply = next(_each(_sockets(args), request))
    status = reply["status"]
    _print_shares(reply["shares"], int(status["threshold"]), bool(args.auto), sys.stdout)
    print(_describe_status(status))
    if not args.auto:
        print(f"Next: `openkcm unseal` with {status['threshold']} of these shares.")
    return EXIT_OK


# -- unseal / seal / status ------------------------------------------------------------------------


def _configure_unseal(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--auto", action="store_true", help="ask the seal keystore (auto mode)")
    mode.add_argument("--reset", action="store_true", help="discard the shares submitted so far")
    _add_target(parser)


def _read_shares(stream: TextIO) -> list[str]:
    """Shares from a prompt (terminal, input hidden) or from stdin, one per line; '#' starts a comment."""
    if stream.isatty():
        share = getpass.getpass("Unseal share (input hidden): ")
        return [share] if share.strip() else []
    shares = []
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            shares.append(text)
    return shares


def _run_unseal(args: argparse.Namespace) -> int:
    sockets = _sockets(args)
    if args.auto or args.reset:
        request = {"op": "unseal", "auto": True} if args.auto else {"op": "reset"}
        for _, reply in _each(sockets, request):
            print(_describe_status(reply["status"]))
        return EXIT_OK
    shares = _read_shares(sys.stdin)
    if not shares:
        raise CommandError("no share given (type one at the prompt, or one per line on stdin)", EXIT_USAGE)
    for number, share in enumerate(shares, 1):
        for _, reply in _each(sockets, {"op": "unseal", "share": share}):
            progress = reply["progress"]
            done = (
                "unsealed" if progress["unsealed"] else f"{progress['submitted']} of {progress['threshold']}"
            )
            print(f"share {number}: pid {reply['status'].get('pid', '?')}: {done}")
    return EXIT_OK


def _configure_plain(parser: argparse.ArgumentParser) -> None:
    _add_target(parser)


def _run_seal(args: argparse.Namespace) -> int:
    for _, reply in _each(_sockets(args), {"op": "seal"}):
        print(_describe_status(reply["status"]))
    return EXIT_OK


def _configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per Core process")
    _add_target(parser)


def _run_status(args: argparse.Namespace) -> int:
    all_unsealed = True
    for _, reply in _each(_sockets(args), {"op": "status"}):
        status = reply["status"]
        all_unsealed = all_unsealed and status.get("state") == "unsealed"
        print(json.dumps(status, sort_keys=True) if args.json else _describe_status(status))
    return EXIT_OK if all_unsealed else EXIT_USAGE


# -- tenant ----------------------------------------------------------------------------------------


def _configure_tenant(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="tenant_action", required=True, metavar="ACTION")
    link = actions.add_parser("link", help="make the tenant's L2 and bind it to its L1 key (or relink)")
    link.add_argument("tenant")
    link.add_argument("--keystore", required=True, help="a [keystores.NAME] of the Core's configuration")
    link.add_argument("--key-id", required=True, help="the tenant's L1 key in that keystore")
    _add_target(link)
    unlink = actions.add_parser(
        "unlink", help="the kill-switch: wipe the tenant's keys, drop the active binding"
    )
    unlink.add_argument("tenant")
    _add_target(unlink)
    show = actions.add_parser("status", help="the tenant's link and L1 state")
    show.add_argument("tenant")
    _add_target(show)


def _describe_tenant(pid: object, tenant: Mapping[str, Any]) -> str:
    if not tenant.get("exists"):
        return f"pid {pid}: tenant {tenant.get('tenant_id')}: not linked, no keys"
    state = "linked" if tenant.get("linked") else "unlinked"
    usable = "usable" if tenant.get("usable") else "not usable"
    return (
        f"pid {pid}: tenant {tenant['tenant_id']}: {state}, {usable}, L1 {tenant.get('l1_state')} "
        f"({tenant.get('keystore_kind')} key {tenant.get('l1_key_id')}), warm here: {tenant.get('warm')}"
    )


def _run_tenant(args: argparse.Namespace) -> int:
    sockets = _sockets(args)
    if args.tenant_action == "link":
        # One process links (the store is shared); the others open the tenant on first use.
        request = {
            "op": "tenant_link",
            "tenant": args.tenant,
            "keystore": args.keystore,
            "key_id": args.key_id,
        }
        replies = [next(_each(sockets, request))]
    else:
        # Unlink reaches every process: each wipes the tenant's keys from its own memory.
        op = "tenant_unlink" if args.tenant_action == "unlink" else "tenant_status"
        replies = list(_each(sockets, {"op": op, "tenant": args.tenant}))
    for path, reply in replies:
        print(_describe_tenant(path.stem.removeprefix("core-"), reply["tenant"]))
    return EXIT_OK


# -- serve -----------------------------------------------------------------------------------------


def _serve_core(config: Config) -> int:
    from kmip_server.app import run  # noqa: PLC0415 (the server stack only when serving)

    return run(config)


ROLES: Mapping[str, Callable[[Config], int]] = {"core": _serve_core}


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", choices=sorted(ROLES), help="what to serve (gateway and cmk come later)")
    parser.add_argument("--config", type=Path, help=f"TOML configuration (default: ${CONFIG_ENV})")


def _run_serve(args: argparse.Namespace) -> int:
    return ROLES[args.role](load_config(_config_path(args)))


# -- db ---------------------------------------------------------------------------------------------

DB_DSN_ENV = "OPENKCM_DB_ADMIN_DSN"


def _configure_db(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate",
        help="create the roles and the schema, apply pending migrations (idempotent)",
        description="Bring a PostgreSQL database to this version's schema, with row-level security. "
        "Connects as a privileged user (a superuser, or CREATEROLE and a member of the owner role).",
    )
    status = actions.add_parser("status", help="the schema version of a PostgreSQL database")
    for sub in (migrate, status):
        sub.add_argument("--dsn", help=f"a privileged user's connection URL (default: ${DB_DSN_ENV})")
        sub.add_argument(
            "--schema", help="the schema (default: storage.postgres.schema of --config, or openkcm)"
        )
        sub.add_argument(
            "--config", type=Path, help=f"a Core's TOML file, for the schema (default: ${CONFIG_ENV})"
        )
    migrate.add_argument("--owner-role", default=DEFAULT_OWNER_ROLE, help="owns the schema (NOLOGIN)")
    migrate.add_argument(
        "--app-role", default=DEFAULT_APP_ROLE, help="the role the Core logs in as (no BYPASSRLS)"
    )
    migrate.add_argument(
        "--app-password-env",
        metavar="VAR",
        help="set the application role's password from this environment variable",
    )


def _db_roles(args: argparse.Namespace) -> Roles:
    return Roles(owner=args.owner_role, app=args.app_role)


def _db_password(args: argparse.Namespace) -> str | None:
    if not args.app_password_env:
        return None
    password = os.environ.get(args.app_password_env)
    if not password:
        raise CommandError(f"${args.app_password_env} is empty or not set", EXIT_USAGE)
    return password


def _run_db(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from rls.migrations import SCHEMA  # noqa: PLC0415
    from rls.runner import MigrationError, database_state, migrate_database  # noqa: PLC0415

    dsn = args.dsn or os.environ.get(DB_DSN_ENV)
    if not dsn:
        raise CommandError(f"give the database with --dsn or ${DB_DSN_ENV}", EXIT_USAGE)
    schema = args.schema
    if schema is None:
        config_path = _config_path(args)
        schema = load_config(config_path).storage.postgres.schema if config_path is not None else SCHEMA
    try:
        if args.db_action == "status":
            state = asyncio.run(database_state(dsn, schema=schema))
            print(f"schema {schema}: version {state.version} (this openkcm: {state.latest})")
            return EXIT_OK if state.current else EXIT_FAILED
        report = asyncio.run(
            migrate_database(dsn, _db_roles(args), schema=schema, app_password=_db_password(args))
        )
    except ValueError as exc:  # a role or schema name that is not a plain identifier
        raise CommandError(str(exc), EXIT_USAGE) from None
    except MigrationError as exc:
        raise CommandError(f"migration refused: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise CommandError(f"cannot reach the database ({type(exc).__name__})") from None
    except Exception as exc:  # asyncpg's errors: the server's own words, never a value of ours
        if type(exc).__module__.startswith("asyncpg"):
            raise CommandError(f"the database refused: {type(exc).__name__}: {exc}") from None
        raise
    applied = ", ".join(str(version) for version in report.applied)
    print(
        f"schema {schema}: applied migration(s) {applied}; now at version {report.version}"
        if report.applied
        else f"schema {schema}: already at version {report.version}, nothing to do"
    )
    return EXIT_OK


# -- dev -------------------------------------------------------------------------------------------


def _configure_dev(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where everything lives (default: var/dev)"
    )
    parser.add_argument("--kmip-port", type=int, default=5696, help="KMIP port (default: 5696)")


def _run_dev(args: argparse.Namespace) -> int:
    from kmip_server import dev  # noqa: PLC0415
    from kmip_server.app import configure_logging, run  # noqa: PLC0415

    if not 0 <= args.kmip_port <= 65535:
        raise CommandError("--kmip-port must be between 0 and 65535", EXIT_USAGE)
    layout, config = dev.prepare(args.data_dir, args.kmip_port)
    configure_logging(config.logging)
    host = config.server.transport.host

    def ready(port: int) -> None:
        dev.write_pykmip_conf(layout, host, port)
        print(dev.connect_message(layout, host, port), flush=True)

    return run(config, bootstrap=dev.bootstrap(layout), ready=ready)


COMMANDS: tuple[Command, ...] = (
    Command(
        "dev", "run an all-in-one development Core (creates everything it needs)", _configure_dev, _run_dev
    ),
    Command("serve", "serve a role (core) from a configuration file", _configure_serve, _run_serve),
    Command(
        "init",
        "initialize a running Core: make the MasterKey and print its shares once",
        _configure_init,
        _run_init,
    ),
    Command("unseal", "submit unseal shares to a running Core (or --auto)", _configure_unseal, _run_unseal),
    Command(
        "seal",
        "seal a running Core (wipe the MasterKey and every key in memory)",
        _configure_plain,
        _run_seal,
    ),
    Command("status", "show the seal state of a running Core", _configure_status, _run_status),
    Command(
        "tenant",
        "link, unlink (kill-switch) or show a tenant on a running Core",
        _configure_tenant,
        _run_tenant,
    ),
    Command("db", "PostgreSQL storage: migrate the schema, or show its version", _configure_db, _run_db),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openkcm", description="OpenKCM: sovereign key management over KMIP 1.4."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(action=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    action: Callable[[argparse.Namespace], int] = args.action
    try:
        return action(args)
    except ConfigError as exc:
        print(f"openkcm: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"openkcm: {exc}", file=sys.stderr)
        return exc.status
    except AdminError as exc:
        print(f"openkcm: refused ({exc.code}): {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except RUNTIME_FAILURES as exc:
        # Our own errors, whose messages are written for operators (never a secret); OSError
        # covers a port already in use and an unreadable file.
        print(f"openkcm: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
