"""The seal controller: the one holder of the MasterKey, and the async shell around the pure parts.

It composes a ``SealRecords`` store, an optional seal keystore, the cluster id and region with
the pure pieces (``state`` table, ``shamir`` collector, ``master_key`` check value) and the
keystore calls of ``auto``.

Invariants:
- Every transition runs under one ``asyncio.Lock`` and is decided by ``state.TRANSITIONS``;
  a refused transition raises ``InvalidTransition`` before any work is done.
- The MasterKey exists in this process only while the state is ``unsealed`` (and, transiently,
  during ``init``), always in a ``SecretBuffer``; sealing and closing wipe it.
- Submitted shares are held (as ``SecretBuffer``s) only until the threshold, and are wiped on
  reset, seal, close and on any failure; a failed attempt always ends ``sealed``.
- Shares are returned once, by ``init_*`` and ``rekey_shares``; they are never stored.
- On seal, the MasterKey is wiped *before* the on-seal listeners run, and every listener runs
  even if one fails. If an on-unseal listener fails, the controller seals itself again
  (fail closed) and raises ``ListenerFailed``.
- Listeners run under the lock: they must not call this controller's transition methods
  (``master_key`` and ``state`` are fine). A cancelled or failed on-unseal listener leaves the
  controller sealed.
- A failed share or a failed check wipes the whole collection, not just the bad share: the
  operators start the round again. Auto-unseal is refused while shares are being collected
  (``reset`` first), so exactly one unseal path is in flight.
- The lock is held across keystore retries (``SEAL_RETRY_POLICY`` bounds them), so a ``seal``
  issued during an auto-unseal waits for it and then seals.

Share-set re-issue (``rekey_shares``), honestly: the MasterKey does not rotate, so the old
shares remain mathematically valid shares of it. What changes is ``SealConfig.share_set_id``:
this controller refuses any share whose SLIP-39 identifier is not the current one, so the old
set can no longer unseal *through OpenKCM*, and a leaked old set cannot be fed to a running
cluster. It does not stop M holders of the old set from reconstructing the MasterKey offline
with any SLIP-39 tool, nor an attacker who can rewrite the stored configuration from accepting
old shares again. Against a compromised share set the remedy is a new cluster and a re-wrap,
not a rekey.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from keystores.base import Keystore
from keystores.retry import RetryingKeystore, RetryPolicy
from unseal.auto import (
    SEAL_RETRY_POLICY,
    open_seal_blob,
    seal_context,
    seal_master_key,
)
from unseal.errors import (
    AutoUnsealNotConfigured,
    CheckValueMismatch,
    InvalidTransition,
    ListenerFailed,
    SealConfigMismatch,
    Sealed,
    SealKeystoreError,
    ShareRejected,
    TooFewShares,
    UnsealError,
    WrongShareSet,
)
from unseal.master_key import CHECK_VALUE_SIZE, check_value, matches_check_value, new_master_key
from unseal.memory import SecretBuffer
from unseal.records import SealConfig, SealMode, SealRecords
from unseal.shamir import ShareCollector, new_identifier, split_master_key, validate_parameters
from unseal.state import SealEvent, SealState, next_state

T = TypeVar("T")

Listener = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class UnsealProgress:
    """Where share collection stands: ``submitted`` of ``threshold`` (k of M)."""

    submitted: int
    threshold: int
    unsealed: bool

    @property
    def remaining(self) -> int:
        return 0 if self.unsealed else self.threshold - self.submitted


@dataclass(frozen=True, slots=True)
class SealStatus:
    """What the status endpoints and ``openkcm status`` show. Nothing in it is secret."""

    state: SealState
    cluster_id: str
    region: str
    mode: SealMode | None
    threshold: int | None
    share_count: int | None
    submitted: int
    share_set_id: int | None
    seal_keystore: str | None
    seal_key_id: str | None


@dataclass(frozen=True, slots=True)
class SealAuditEvent:
    """One unseal step for the audit chain (DESIGN.md section 8): what was tried and how it ended."""

    action: str  # the controller method: init_shamir, init_auto, submit_share, auto_unseal, ...
    result: str  # "ok", or the error's ``code``
    state: SealState  # the state afterwards
    submitted: int  # shares held afterwards
    threshold: int | None


AuditListener = Callable[[SealAuditEvent], Awaitable[None] | None]


def _kind_of(keystore: Keystore) -> str:
    """The driver kind behind any retrying wrappers: what the configuration records."""
    while isinstance(keystore, RetryingKeystore):
        keystore = keystore.inner
    return keystore.kind


async def _invoke(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


def _remover(listeners: list[T], listener: T) -> Callable[[], None]:
    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove


class SealController:
    """Holds the seal state and, while unsealed, the MasterKey of one cluster in one process."""

    def __init__(
        self,
        records: SealRecords,
        *,
        cluster_id: str,
        region: str,
        seal_keystore: Keystore | None = None,
        retry_policy: RetryPolicy = SEAL_RETRY_POLICY,
    ) -> None:
        if not cluster_id or not region:
            raise ValueError("cluster_id and region are required")
        self._records = records
        self._cluster_id = cluster_id
        self._region = region
        self._seal_keystore = seal_keystore
        self._retry_policy = retry_policy
        self._lock = asyncio.Lock()
        self._state = SealState.UNINITIALIZED
        self._loaded = False
        self._config: SealConfig | None = None
        self._collector: ShareCollector | None = None
        self._master_key: SecretBuffer | None = None
        self._on_seal: list[Listener] = []
        self._on_unseal: list[Listener] = []
        self._on_audit: list[AuditListener] = []

    # -- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> SealState:
        return self._state

    @property
    def unsealed(self) -> bool:
        return self._state is SealState.UNSEALED

    @property
    def master_key(self) -> SecretBuffer:
        """The MasterKey, only while unsealed (``Sealed`` otherwise). Owned here: never wipe or keep it."""
        if self._state is not SealState.UNSEALED or self._master_key is None:
            raise Sealed
        return self._master_key

    async def status(self) -> SealStatus:
        if not self._loaded:
            async with self._lock:
                await self._ensure_loaded()
        config = self._config
        return SealStatus(
            state=self._state,
            cluster_id=self._cluster_id,
            region=self._region,
            mode=config.mode if config else None,
            threshold=config.threshold if config else None,
            share_count=config.share_count if config else None,
            submitted=self._collector.collected if self._collector else 0,
            share_set_id=config.share_set_id if config else None,
            seal_keystore=config.seal_keystore if config else None,
            seal_key_id=config.seal_key_id if config else None,
        )

    # -- listeners --------------------------------------------------------------------------

    def on_seal(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback`` after unsealed -> sealed (the MasterKey already wiped). Returns a remover."""
        self._on_seal.append(callback)
        return _remover(self._on_seal, callback)

    def on_unseal(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback`` on entering unsealed (``master_key`` readable). Returns a remover."""
        self._on_unseal.append(callback)
        return _remover(self._on_unseal, callback)

    def on_audit(self, callback: AuditListener) -> Callable[[], None]:
        """Call ``callback`` with a ``SealAuditEvent`` after every operation, successful or not."""
        self._on_audit.append(callback)
        return _remover(self._on_audit, callback)

    # -- operations -------------------------------------------------------------------------

    async def load(self) -> SealState:
        """Read the stored configuration (again, while uninitialized). Every operation loads lazily too."""
        return await self._run("load", self._load)

    async def init_shamir(self, threshold: int, share_count: int) -> list[str]:
        """Make the MasterKey, store its check value, return its ``share_count`` shares. Ends sealed."""
        return await self._run("init_shamir", lambda: self._init(threshold, share_count, None, None))

    async def init_auto(
        self, keystore: Keystore, key_id: str, recovery_threshold: int, recovery_shares: int
    ) -> list[str]:
        """Make the MasterKey, seal it with ``keystore``/``key_id``, return recovery shares. Ends sealed.

        ``keystore`` becomes this controller's seal keystore.
        """
        return await self._run(
            "init_auto", lambda: self._init(recovery_threshold, recovery_shares, keystore, key_id)
        )

    async def submit_share(self, mnemonic: str) -> UnsealProgress:
        """Offer one share (or recovery share). At the threshold the MasterKey is rebuilt and checked."""
        return await self._run("submit_share", lambda: self._submit(mnemonic))

    async def unseal_with_shares(self, mnemonics: Sequence[str]) -> UnsealProgress:
        """Offer several shares at once; ``TooFewShares`` (and sealed) if they do not reach the threshold."""
        return await self._run("unseal_with_shares", lambda: self._submit_all(mnemonics))

    async def auto_unseal(self) -> None:
        """Ask the seal keystore to open the seal blob. Fails closed: any error leaves it sealed."""
        await self._run("auto_unseal", self._auto_unseal)

    async def reset(self) -> None:
        """Discard the shares submitted so far."""
        await self._run("reset", self._reset)

    async def seal(self) -> None:
        """Wipe the MasterKey (and any submitted shares) and notify the on-seal listeners."""
        await self._run("seal", self._seal)

    async def rekey_shares(self, threshold: int, share_count: int) -> list[str]:
        """Issue a new share set of the same MasterKey (new M of N); the old set is refused from now on."""
        return await self._run("rekey_shares", lambda: self._rekey(threshold, share_count))

    async def close(self) -> None:
        """Shutdown: seal if needed and wipe everything. Safe in every state, idempotent."""
        async with self._lock:
            self._drop_shares()
            if self._state is not SealState.UNINITIALIZED:
                await self._enter_sealed(SealEvent.SEAL)
            self._wipe_master_key()

    # -- internals (run under the lock) ---------------------------------------------------

    async def _run(self, action: str, body: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            try:
                result = await body()
            except UnsealError as exc:
                await self._audit(action, exc.code)
                raise
            except Exception:
                # A bug or a storage failure mid-way: never leave shares half-collected.
                if self._state is SealState.UNSEALING:
                    self._drop_shares()
                    self._state = next_state(self._state, SealEvent.RESET)
                await self._audit(action, "error")
                raise
            await self._audit(action, "ok")
            return result

    async def _audit(self, action: str, result: str) -> None:
        event = SealAuditEvent(
            action=action,
            result=result,
            state=self._state,
            submitted=self._collector.collected if self._collector else 0,
            threshold=self._config.threshold if self._config else None,
        )
        for listener in list(self._on_audit):
            await _invoke(listener(event))

    def _transition(self, event: SealEvent) -> None:
        self._state = next_state(self._state, event)

    def _require(self, event: SealEvent) -> None:
        next_state(self._state, event)

    def _check_config(self, config: SealConfig) -> SealConfig:
        if config.cluster_id != self._cluster_id or config.region != self._region:
            raise SealConfigMismatch(
                f"the stored seal configuration belongs to cluster {config.cluster_id!r} "
                f"in region {config.region!r}, not to this one"
            )
        try:
            validate_parameters(config.threshold, config.share_count)
        except UnsealError:
            raise SealConfigMismatch("the stored seal configuration has invalid share parameters") from None
        if len(config.check_value) != CHECK_VALUE_SIZE:
            raise SealConfigMismatch("the stored seal configuration has no valid check value")
        return config

    async def _ensure_loaded(self) -> None:
        if not self._loaded:
            await self._load()

    async def _load(self) -> SealState:
        if self._state is SealState.UNINITIALIZED:
            config = await self._records.load_seal_config()
            self._loaded = True
            if config is not None:
                self._config = self._check_config(config)
                self._transition(SealEvent.LOAD)
        return self._state

    async def _refresh_config(self) -> SealConfig:
        """Re-read the configuration at the start of an unseal: another Core may have re-issued shares."""
        config = await self._records.load_seal_config()
        if config is None:
            raise SealConfigMismatch("the stored seal configuration has disappeared")
        self._config = self._check_config(config)
        return self._config

    async def _init(
        self, threshold: int, share_count: int, keystore: Keystore | None, key_id: str | None
    ) -> list[str]:
        self._require(SealEvent.INIT)
        validate_parameters(threshold, share_count)
        # The store is the truth: another Core may have initialized the cluster since we loaded.
        await self._load()
        self._require(SealEvent.INIT)
        master_key = new_master_key()
        try:
            issued = split_master_key(master_key, threshold, share_count, identifier=new_identifier())
            seal_blob = None
            if keystore is not None and key_id is not None:
                context = seal_context(self._cluster_id, self._region)
                seal_blob = await seal_master_key(keystore, key_id, master_key, context, self._retry_policy)
            config = SealConfig(
                cluster_id=self._cluster_id,
                region=self._region,
                mode=SealMode.SHAMIR if keystore is None else SealMode.AUTO,
                threshold=threshold,
                share_count=share_count,
                check_value=check_value(master_key, self._cluster_id),
                seal_blob=seal_blob,
                seal_keystore=_kind_of(keystore) if keystore is not None else None,
                seal_key_id=key_id,
                share_set_id=issued.identifier,
            )
            await self._records.save_seal_config(config)
        finally:
            master_key.wipe()
        self._config = config
        if keystore is not None:
            self._seal_keystore = keystore
        self._transition(SealEvent.INIT)
        return list(issued.mnemonics)

    async def _submit(self, mnemonic: str) -> UnsealProgress:
        await self._ensure_loaded()
        self._require(SealEvent.SUBMIT_SHARE)
        if self._collector is None:
            config = await self._refresh_config()
            self._collector = ShareCollector(config.threshold, config.share_count, config.share_set_id)
        collector = self._collector
        try:
            collector.add(mnemonic)
        except ShareRejected:
            self._drop_shares()
            self._transition(SealEvent.SHARE_REJECTED)
            raise
        if not collector.complete:
            self._transition(SealEvent.SUBMIT_SHARE)
            return UnsealProgress(collector.collected, collector.threshold, unsealed=False)
        threshold = collector.threshold
        try:
            candidate = collector.combine()
        except WrongShareSet:
            self._drop_shares()
            self._transition(SealEvent.CHECK_FAILED)
            raise
        self._drop_shares()
        if not matches_check_value(candidate, self._cluster_id, self._current_config().check_value):
            candidate.wipe()
            self._transition(SealEvent.CHECK_FAILED)
            raise WrongShareSet("these shares rebuild a key, but not this cluster's MasterKey")
        await self._enter_unsealed(candidate, SealEvent.THRESHOLD_REACHED)
        return UnsealProgress(threshold, threshold, unsealed=True)

    async def _submit_all(self, mnemonics: Sequence[str]) -> UnsealProgress:
        await self._ensure_loaded()
        self._require(SealEvent.SUBMIT_SHARE)
        for mnemonic in mnemonics:
            progress = await self._submit(mnemonic)
            if progress.unsealed:
                return progress
        config = self._current_config()
        submitted = self._collector.collected if self._collector else 0
        self._drop_shares()
        self._transition(SealEvent.RESET)
        raise TooFewShares(config.threshold - submitted)

    async def _auto_unseal(self) -> None:
        await self._ensure_loaded()
        self._require(SealEvent.AUTO_UNSEAL)
        config = await self._refresh_config()
        keystore = self._seal_keystore
        if config.mode is not SealMode.AUTO or config.seal_blob is None or config.seal_key_id is None:
            raise AutoUnsealNotConfigured("this cluster is unsealed with Shamir shares, not a seal keystore")
        if keystore is None or _kind_of(keystore) != config.seal_keystore:
            raise AutoUnsealNotConfigured(
                f"the cluster was sealed with a {config.seal_keystore!r} keystore and none is configured here"
            )
        context = seal_context(self._cluster_id, self._region)
        try:
            candidate = await open_seal_blob(
                keystore, config.seal_key_id, config.seal_blob, context, self._retry_policy
            )
        except SealKeystoreError:
            self._transition(SealEvent.AUTO_UNSEAL_FAILED)
            raise
        if not matches_check_value(candidate, self._cluster_id, config.check_value):
            candidate.wipe()
            self._transition(SealEvent.AUTO_UNSEAL_FAILED)
            raise CheckValueMismatch("the seal blob opened, but not to this cluster's MasterKey")
        await self._enter_unsealed(candidate, SealEvent.AUTO_UNSEAL)

    async def _reset(self) -> None:
        await self._ensure_loaded()
        self._require(SealEvent.RESET)
        self._drop_shares()
        self._transition(SealEvent.RESET)

    async def _seal(self) -> None:
        await self._ensure_loaded()
        self._require(SealEvent.SEAL)
        self._drop_shares()
        await self._enter_sealed(SealEvent.SEAL)

    async def _rekey(self, threshold: int, share_count: int) -> list[str]:
        await self._ensure_loaded()
        self._require(SealEvent.REKEY_SHARES)
        validate_parameters(threshold, share_count)
        current = self._current_config()
        issued = split_master_key(
            self.master_key, threshold, share_count, identifier=new_identifier(avoid=current.share_set_id)
        )
        config = replace(
            current, threshold=threshold, share_count=share_count, share_set_id=issued.identifier
        )
        await self._records.save_seal_config(config)
        self._config = config
        self._transition(SealEvent.REKEY_SHARES)
        return list(issued.mnemonics)

    async def _enter_unsealed(self, master_key: SecretBuffer, event: SealEvent) -> None:
        self._wipe_master_key()
        self._master_key = master_key
        self._transition(event)
        try:
            for listener in list(self._on_unseal):
                await _invoke(listener())
        except BaseException as exc:
            # Half-hydrated is not unsealed: seal again, also when cancelled (and re-raise that).
            # The first failure is the one to report; the key is wiped either way.
            with contextlib.suppress(ListenerFailed):
                await self._enter_sealed(SealEvent.SEAL)
            if not isinstance(exc, Exception):
                raise
            raise ListenerFailed("a component failed to start after unsealing; sealed again") from exc

    async def _enter_sealed(self, event: SealEvent) -> None:
        was_unsealed = self._state is SealState.UNSEALED
        self._wipe_master_key()
        self._transition(event)
        if not was_unsealed:
            return
        failures: list[Exception] = []
        for listener in list(self._on_seal):
            try:
                await _invoke(listener())
            except Exception as exc:  # every listener must get its chance to zeroize
                failures.append(exc)
        if failures:
            raise ListenerFailed(
                f"{len(failures)} on-seal listener(s) failed; the MasterKey is wiped"
            ) from failures[0]

    def _current_config(self) -> SealConfig:
        if self._config is None:  # unreachable past a state check: every initialized state has one
            raise InvalidTransition(self._state.value, "use the seal configuration")
        return self._config

    def _drop_shares(self) -> None:
        if self._collector is not None:
            self._collector.wipe()
            self._collector = None

    def _wipe_master_key(self) -> None:
        if self._master_key is not None:
            self._master_key.wipe()
            self._master_key = None
