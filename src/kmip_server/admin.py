"""The local admin channel: how ``openkcm init|unseal|seal|status`` reach a running Core.

Each Core process listens on a Unix-domain socket ``<data_dir>/admin/core-<pid>.sock``. Several
worker processes (``server.workers > 1``) each hold their own seal state, so each has its own
socket; the command line talks to every socket in the directory (a share is offered to each).

Protocol: JSON lines. The client writes one object ``{"op": ..., ...}`` per line; the server
answers each with one line ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code", "message"}}``.
Operations (``AdminOps.table``): ``status``, ``init`` (``threshold``, ``shares``, or
``auto: true``), ``unseal`` (``share``, or ``auto: true``), ``reset``, ``seal``, and for tenants
(until the CMK API drives them through Orbital) ``tenant_link`` (``tenant``, ``keystore``,
``key_id``), ``tenant_unlink`` (``tenant``: the kill-switch) and ``tenant_status`` (``tenant``).

Invariants:
- Only the local user who runs the Core (or root) gets in: the directory is 0700, the socket
  0600, and on Linux the peer's uid (SO_PEERCRED) is checked before a byte is read.
- Requests are bounded: ``MAX_REQUEST_BYTES`` per line, ``MAX_CLIENTS`` connections, and a
  connection idle for ``IDLE_TIMEOUT`` is closed.
- Error codes are the unseal layer's ``code``s; messages are those errors' own words, which never
  carry a share or key byte. Anything unexpected is ``internal`` with a correlation id (logged).
- Shares are in the reply to ``init`` only, and are never logged. (A share travels as a JSON
  string: immutable, so it cannot be wiped; the same holds in the unseal layer, see
  ``unseal.shamir``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import socket
import stat
import struct
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from keystores.base import Keystore
from kmip_server.hierarchy import HierarchyError, KeyHierarchy, TenantStatus
from unseal.controller import SealController, SealStatus
from unseal.errors import UnsealError
from unseal.state import SealState

__all__ = [
    "CALL_TIMEOUT",
    "IDLE_TIMEOUT",
    "MAX_CLIENTS",
    "MAX_REQUEST_BYTES",
    "AdminError",
    "AdminOps",
    "AdminServer",
    "AdminUnavailable",
    "admin_sockets",
    "call",
    "socket_name",
]

_log = logging.getLogger("kmip_server.admin")

MAX_REQUEST_BYTES = 16 * 1024  # one request line; a share is about 250 characters
MAX_CLIENTS = 16  # admin connections at once, per Core process
IDLE_TIMEOUT = 60.0  # seconds a connection may wait between requests
CALL_TIMEOUT = 90.0  # client side: auto-unseal may retry the seal keystore for up to 30 s
SOCKET_PREFIX = "core-"
SOCKET_SUFFIX = ".sock"
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a tenant segment of a SPIFFE ID
_DIR_MODE = 0o700
_SOCKET_MODE = 0o600


def socket_name(pid: int) -> str:
    return f"{SOCKET_PREFIX}{pid}{SOCKET_SUFFIX}"


class AdminError(Exception):
    """A request the server refused: ``code`` is machine-readable, the message for operators."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AdminUnavailable(Exception):
    """No running Core answers on the admin socket(s)."""


# -- operations ------------------------------------------------------------------------------


def status_fields(status: SealStatus) -> dict[str, Any]:
    """A ``SealStatus`` as JSON-ready fields (nothing in it is secret)."""
    fields = asdict(status)
    fields["state"] = status.state.value
    fields["mode"] = status.mode.value if status.mode is not None else None
    return fields


def _integer(request: Mapping[str, Any], name: str) -> int:
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError("bad_request", f"{name} must be an integer")
    return value


@dataclass(slots=True)
class AdminOps:
    """What the admin channel can do to one Core process's seal state."""

    controller: SealController
    seal_keystore: Keystore | None = None  # auto mode: the configured seal keystore
    seal_key_id: str | None = None
    recovery_threshold: int = 1
    recovery_shares: int = 1
    describe: Callable[[], Mapping[str, Any]] | None = None  # extra status fields (pid, address)
    hierarchy: KeyHierarchy | None = None  # for the tenant operations

    @property
    def table(self) -> Mapping[str, Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]]:
        return {
            "status": self.status,
            "init": self.init,
            "unseal": self.unseal,
            "reset": self.reset,
            "seal": self.seal,
            "tenant_link": self.tenant_link,
            "tenant_unlink": self.tenant_unlink,
            "tenant_status": self.tenant_status,
        }

    async def _fresh(self) -> None:
        # Another process (a worker, another Core on the database) may have initialized since.
        if self.controller.state is SealState.UNINITIALIZED:
            await self.controller.load()

    async def _status(self) -> dict[str, Any]:
        fields = status_fields(await self.controller.status())
        if self.describe is not None:
            fields.update(self.describe())
        return {"status": fields}

    async def status(self, request: Mapping[str, Any]) -> dict[str, Any]:
        await self._fresh()
        return await self._status()

    async def init(self, request: Mapping[str, Any]) -> dict[str, Any]:
        await self._fresh()
        if request.get("auto") is True:
            if self.seal_keystore is None or self.seal_key_id is None:
                raise AdminError(
                    "auto_unseal_not_configured",
                    "this Core has no seal keystore configured (unseal.mode = auto)",
                )
            shares = await self.controller.init_auto(
                self.seal_keystore, self.seal_key_id, self.recovery_threshold, self.recovery_shares
            )
            await self.controller.auto_unseal()
        else:
            shares = await self.controller.init_shamir(
                _integer(request, "threshold"), _integer(request, "shares")
            )
        return {"shares": shares, **await self._status()}

    async def unseal(self, request: Mapping[str, Any]) -> dict[str, Any]:
        await self._fresh()
        if request.get("auto") is True:
            await self.controller.auto_unseal()
            return await self._status()
        share = request.get("share")
        if not isinstance(share, str) or not share.strip():
            raise AdminError("bad_request", "share must be a non-empty string")
        progress = await self.controller.submit_share(" ".join(share.split()))
        return {
            "progress": {
                "submitted": progress.submitted,
                "threshold": progress.threshold,
                "unsealed": progress.unsealed,
            },
            **await self._status(),
        }

    async def reset(self, request: Mapping[str, Any]) -> dict[str, Any]:
        await self._fresh()
        await self.controller.reset()
        return await self._status()

    async def seal(self, request: Mapping[str, Any]) -> dict[str, Any]:
        await self._fresh()
        await self.controller.seal()
        return await self._status()

    def _tenant(self, request: Mapping[str, Any]) -> tuple[KeyHierarchy, str]:
        if self.hierarchy is None:
            raise AdminError("unsupported", "this process has no key hierarchy")
        tenant = request.get("tenant")
        if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
            raise AdminError("bad_request", "tenant must be 1-64 letters, digits, '.', '_' or '-'")
        return self.hierarchy, tenant

    async def tenant_link(self, request: Mapping[str, Any]) -> dict[str, Any]:
        hierarchy, tenant = self._tenant(request)
        keystore, key_id = request.get("keystore"), request.get("key_id")
        if not isinstance(keystore, str) or not isinstance(key_id, str) or not keystore or not key_id:
            raise AdminError("bad_request", "keystore and key_id must be non-empty strings")
        return {"tenant": tenant_fields(await hierarchy.link_tenant(tenant, keystore, key_id))}

    async def tenant_unlink(self, request: Mapping[str, Any]) -> dict[str, Any]:
        hierarchy, tenant = self._tenant(request)
        return {"tenant": tenant_fields(await hierarchy.unlink_tenant(tenant))}

    async def tenant_status(self, request: Mapping[str, Any]) -> dict[str, Any]:
        hierarchy, tenant = self._tenant(request)
        return {"tenant": tenant_fields(await hierarchy.tenant_status(tenant))}


def tenant_fields(status: TenantStatus) -> dict[str, Any]:
    fields = asdict(status)
    fields["l1_state"] = status.l1_state.name.lower() if status.l1_state is not None else None
    return fields


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# -- server ----------------------------------------------------------------------------------


def _peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's uid (Linux SO_PEERCRED); None where the platform has no such call."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or not sys.platform.startswith("linux"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def _prepare_directory(directory: Path) -> None:
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{directory} is not a directory owned by this user")
    if stat.S_IMODE(info.st_mode) != _DIR_MODE:
        os.chmod(directory, _DIR_MODE)


def _remove_stale(directory: Path) -> None:
    """Delete sockets no process listens on any more (left by a Core that was killed)."""
    for path in admin_sockets(directory):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(path))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                path.unlink(missing_ok=True)
        finally:
            probe.close()


class AdminServer:
    """Serves ``AdminOps`` on this process's socket under ``directory``."""

    def __init__(self, ops: AdminOps, directory: Path) -> None:
        self._ops = ops
        self._directory = directory
        self._path = directory / socket_name(os.getpid())
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_CLIENTS)

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        _prepare_directory(self._directory)
        _remove_stale(self._directory)
        self._path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(
            self._client, path=str(self._path), limit=MAX_REQUEST_BYTES
        )
        # The directory is already 0700; the socket itself is owner-only too.
        os.chmod(self._path, _SOCKET_MODE)
        _log.info("admin socket at %s", self._path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            if self._clients:
                await asyncio.wait(self._clients, timeout=5.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()
            self._server = None
        self._path.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            if self._slots.locked():
                return  # too many admin connections: close at once
            async with self._slots:
                sock = writer.get_extra_info("socket")
                uid = _peer_uid(sock) if sock is not None else None
                if uid is not None and uid not in (os.getuid(), 0):
                    _log.warning("admin connection from uid %d refused", uid)
                    return
                await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                await _reply(writer, _failure("bad_request", "request line too long"))
                return
            if not line:
                return
            await _reply(writer, await self._answer(line))

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return _failure("bad_request", "not a JSON object")
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return _failure("bad_request", 'expected {"op": ...}')
        operation = self._ops.table.get(request["op"])
        if operation is None:
            return _failure("unknown_op", f"known operations: {', '.join(self._ops.table)}")
        try:
            return {"ok": True, **await operation(request)}
        except AdminError as exc:
            return _failure(exc.code, exc.message)
        except UnsealError as exc:
            return _failure(exc.code, str(exc))
        except HierarchyError as exc:
            return _failure(_snake(type(exc).__name__), str(exc))
        except Exception:
            correlation_id = uuid.uuid4().hex
            _log.exception("admin %s failed [correlation_id=%s]", request["op"], correlation_id)
            return _failure("internal", f"internal error, correlation id {correlation_id}")


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


async def _reply(writer: asyncio.StreamWriter, answer: Mapping[str, Any]) -> None:
    writer.write(json.dumps(answer).encode() + b"\n")
    async with asyncio.timeout(IDLE_TIMEOUT):
        await writer.drain()


# -- client (blocking: the command line) -----------------------------------------------------


def admin_sockets(directory: Path) -> list[Path]:
    """The Core sockets under ``directory`` (maybe stale), in a stable order."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"{SOCKET_PREFIX}*{SOCKET_SUFFIX}") if p.is_socket())


def call(path: Path, request: Mapping[str, Any], *, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
    """Send one request, return the reply (``AdminError`` for a refusal, ``AdminUnavailable`` if
    nothing listens there)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise AdminUnavailable(f"no Core listens on {path} ({exc.strerror})") from None
        sock.sendall(json.dumps(dict(request)).encode() + b"\n")
        buffer = bytearray()
        while not buffer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise AdminUnavailable(f"the Core on {path} closed the connection")
            buffer += chunk
            if len(buffer) > 16 * MAX_REQUEST_BYTES:
                raise AdminUnavailable(f"the Core on {path} sent an oversized reply")
    finally:
        sock.close()
    try:
        reply = json.loads(buffer)
    except ValueError:
        raise AdminUnavailable(f"the Core on {path} sent an unreadable reply") from None
    if not isinstance(reply, dict):
        raise AdminUnavailable(f"the Core on {path} sent an unreadable reply")
    if not reply.get("ok"):
        error = reply.get("error") or {}
        raise AdminError(str(error.get("code", "error")), str(error.get("message", "refused")))
    return reply
