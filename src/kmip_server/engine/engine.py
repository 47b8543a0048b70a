"""The request engine: one whole KMIP request message in, one whole response message out.

Sans network (the transport calls ``handle``), async only where operations await storage or
the key hierarchy. Per message: ``ttlv.decode`` (named limits) -> ``model.decode_request_batch``
-> each batch item dispatched through the operation registry -> ``model.encode_response`` ->
``ttlv.encode``.

Semantics (KMIP 1.4 sections 6, 7 and 11):
- Protocol versions 1.0-1.4 are answered in the request's version; a later 1.x minor version is
  processed (unknown fields ignored, 11.1) and answered in 1.4, the newest this server speaks;
  another major version is a message-level Invalid Message (11.1), answered in 1.4.
- Every response header carries the Time Stamp, the request's Client Correlation Value (echoed)
  and a fresh Server Correlation Value (6.19; 1.4 messages only), which is also the id under
  which this request is logged.
- Message-level failures (bytes that are not TTLV, a TTLV limit exceeded, a header that does not
  parse, Batch Count wrong, more than ``max_batch_items`` items): one response batch item without
  Operation, Operation Failed, Invalid Message (11.1), which is what clients (PyKMIP) read.
- Batch items run in order (so Batch Order Option is always honoured). Batch Error Continuation
  Option (6.13, 11.43): Stop (the default) returns the items processed up to and including the
  failure and nothing for the rest; Continue runs every item; Undo runs the compensations of
  every earlier item (the undo journal) and answers them Operation Undone, returning nothing for
  the rest. A failed item's own partial changes are always compensated.
- ID Placeholder (section 4): set from the Unique Identifier of operations registered with
  ``sets_id_placeholder``; filled into an omitted Unique Identifier for those with
  ``uses_id_placeholder`` (Missing Data when there is none). Valid within one message only.
- Maximum Response Size (6.3): when given, an item whose response would push the encoded message
  past it is compensated and answered Response Too Large (11.1) instead.
- Asynchronous Indicator (6.7): every request is processed synchronously, which the spec always
  permits; Poll and Cancel are not registered (Operation Not Supported).
- A Message Extension with Criticality Indicator True is Feature Not Supported (6.16, 11.1).
- Authentication (6.6) in the header is ignored: the caller is the identity of its verified TLS
  client certificate, and nothing in a message can change it.
- Identity: ``Role.UNKNOWN`` gets Permission Denied for every item (audited through the hook);
  a tenant client acts for the (tenant, service) of its certificate; gateways and operators may
  call Query and Discover Versions only (gateway tunnelling is a later issue); the registry row
  of each operation lists the roles allowed.
- Sealed: every item fails, Result Reason General Failure ("failed for a reason other than the
  defined reasons": no defined reason says "not ready"; Permission Denied would blame the
  client) with a message that says the server is sealed. Unknown identities learn nothing of it:
  their Permission Denied comes first.
- Failures are translated to (Result Reason, Result Message) in one place,
  ``engine.errors.translate``; anything unexpected is General Failure with a correlation id and
  a logged traceback. ``asyncio.CancelledError`` is never caught.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import ttlv
from kmip_server.crypto.services import CryptoServices
from kmip_server.engine.errors import translate
from kmip_server.engine.settings import EngineSettings
from kmip_server.errors import (
    FeatureNotSupported,
    MissingData,
    OperationNotSupported,
    PermissionDenied,
    ResponseTooLarge,
    ServerSealed,
)
from kmip_server.identity import Identity, Role, UnknownIdentity
from kmip_server.model import (
    OPERATIONS,
    SUPPORTED_VERSIONS,
    CapabilityInformation,
    ModelError,
    ProfileInformation,
    ProtocolVersion,
    RequestBatchItem,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    RNGParameters,
    decode_request_batch,
    response_to_bytes,
)
from kmip_server.model.codec import Version, make_item, struct_to_bytes
from kmip_server.objects import ObjectService, UndoJournal
from kmip_server.operations import REGISTRY, HandlerSpec, OperationContext, ServerInfo
from ttlv.errors import LimitExceeded
from ttlv.item import Item, ItemType
from ttlv.kmip14 import (
    BatchErrorContinuationOption,
    ObjectType,
    Operation,
    ProfileName,
    ResultReason,
    ResultStatus,
    Tag,
)

__all__ = ["AuditEvent", "AuditHook", "RequestEngine", "SealGate"]

log = logging.getLogger("kmip_server.engine")

_NEWEST: Version = SUPPORTED_VERSIONS[0]
_SERVER_INFORMATION_TEXT = 0x540000  # vendor extension tag: a Text String inside Server Information

CLAIMED_PROFILES: tuple[ProfileName, ...] = (
    ProfileName.BASELINE_SERVER_TLS_V1_2_KMIP_V1_4,
    ProfileName.SYMMETRIC_KEY_LIFECYCLE_SERVER_KMIP_V1_4,
    ProfileName.OPAQUE_MANAGED_OBJECT_STORE_SERVER_KMIP_V1_4,
    ProfileName.BASIC_CRYPTOGRAPHIC_SERVER_KMIP_V1_4,  # CS-BC: Encrypt/Decrypt
    ProfileName.RNG_CRYPTOGRAPHIC_SERVER_KMIP_V1_4,  # CS-RNG: RNG Retrieve/Seed
    ProfileName.SYMMETRIC_KEY_FOUNDRY_SERVER_KMIP_V1_4,  # SKFF
)
"""Profiles Query Profiles reports (KMIP Profiles 1.4), each passing its OASIS test cases."""

SUPPORTED_OBJECT_TYPES: tuple[ObjectType, ...] = (
    ObjectType.CERTIFICATE,
    ObjectType.SYMMETRIC_KEY,
    ObjectType.PUBLIC_KEY,
    ObjectType.PRIVATE_KEY,
    ObjectType.SPLIT_KEY,
    ObjectType.SECRET_DATA,
    ObjectType.OPAQUE_OBJECT,
)


class SealGate(Protocol):
    """Whether the Core is unsealed (``unseal.controller.SealController`` is one)."""

    @property
    def unsealed(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One batch item as the audit chain records it (DESIGN section 8). No payload, no key bytes."""

    identity: Identity
    operation: Operation | None
    unique_identifier: str | None
    result_status: ResultStatus
    result_reason: ResultReason | None
    correlation: str  # the message's Server Correlation Value


AuditHook = Callable[[AuditEvent], None]
"""Called for every batch item answered (synchronously: queue, do not block)."""


def _response_version(version: Version) -> Version:
    """The request's version when this server speaks it, else the newest it does (same major)."""
    return version if version <= _NEWEST else _NEWEST


def _peek_version(item: Item) -> Version:
    """Best effort, for message-level failures: the request's version if it is a 1.x one."""
    header = item.find(Tag.REQUEST_HEADER) if item.type is ItemType.STRUCTURE else None
    version = header.find(Tag.PROTOCOL_VERSION) if header is not None else None
    if version is not None:
        major = version.find(Tag.PROTOCOL_VERSION_MAJOR)
        minor = version.find(Tag.PROTOCOL_VERSION_MINOR)
        if (
            major is not None
            and minor is not None
            and major.value == 1
            and type(minor.value) is int
            and minor.value >= 0
        ):
            return _response_version((1, minor.value))
    return _NEWEST


def _count_batch_items(item: Item) -> int:
    return sum(1 for child in item.children if child.tag == Tag.BATCH_ITEM)


def _too_many_batch_items(item: Item, limit: int) -> bool:
    children = item.children
    return len(children) > limit and _count_batch_items(item) > limit  # most messages: one len()


def _known_operation(value: Operation | int | None) -> Operation | None:
    return value if isinstance(value, Operation) else None


class CorrelationIds:
    """Server Correlation Values: 128 random bits each, in hex.

    Random, not a counter, because 1.4 response headers carry them: a counter would tell every
    tenant how many requests the others make. Drawn from ``os.urandom`` a block at a time, which
    saves a system call per request (``secrets.token_hex`` makes one each)."""

    __slots__ = ("_block", "_next")

    SIZE = 16  # bytes per value
    BLOCK = 256  # values per system call

    def __init__(self) -> None:
        self._block = b""
        self._next = 0

    def __call__(self) -> str:
        start = self._next
        if start >= len(self._block):
            self._block = os.urandom(self.SIZE * self.BLOCK)
            start = 0
        self._next = start + self.SIZE
        return self._block[start : start + self.SIZE].hex()


class RequestEngine:
    """Implements ``kmip_server.transport.RequestHandler``: ``await engine.handle(message, peer)``."""

    __slots__ = (
        "_audit",
        "_clock",
        "_correlation_ids",
        "_crypto",
        "_info",
        "_objects",
        "_protocol_versions",
        "_registry",
        "_seal",
        "_settings",
    )

    def __init__(
        self,
        *,
        objects: ObjectService,
        seal: SealGate,
        settings: EngineSettings | None = None,
        registry: Mapping[Operation, HandlerSpec] | None = None,
        clock: Callable[[], float] = time.time,
        audit: AuditHook | None = None,
        crypto: CryptoServices | None = None,
    ) -> None:
        self._objects = objects
        self._crypto = crypto or CryptoServices()
        self._seal = seal
        self._settings = settings or EngineSettings()
        self._registry = REGISTRY if registry is None else registry
        self._clock = clock
        self._audit = audit
        self._correlation_ids = CorrelationIds()
        self._info = self._server_info()
        # Response headers share one (immutable) Protocol Version per version answered in.
        self._protocol_versions = {
            version: ProtocolVersion(major=version[0], minor=version[1]) for version in SUPPORTED_VERSIONS
        }

    def _server_info(self) -> ServerInfo:
        settings = self._settings
        text = make_item(
            _SERVER_INFORMATION_TEXT,
            ItemType.TEXT_STRING,
            f"{settings.vendor_identification} Krypton Core {settings.server_version}",
        )
        return ServerInfo(
            vendor_identification=settings.vendor_identification,
            server_information=make_item(Tag.SERVER_INFORMATION, ItemType.STRUCTURE, (text,)),
            operations=tuple(op for op in Operation if op in self._registry),
            object_types=SUPPORTED_OBJECT_TYPES,
            versions=SUPPORTED_VERSIONS,
            profiles=tuple(ProfileInformation(profile_name=name) for name in CLAIMED_PROFILES),
            capabilities=CapabilityInformation(
                streaming_capability=True,  # Init/Continue/Final with Correlation Values
                asynchronous_capability=False,
                attestation_capability=False,
                batch_undo_capability=True,
                batch_continue_capability=True,
            ),
            rng_parameters=tuple(
                p for p in (self._objects.settings.random_number_generator,) if isinstance(p, RNGParameters)
            ),
        )

    def _decode_failure_text(self, error: ttlv.DecodeError) -> str:
        """What the client reads when its message does not decode: the limit it exceeded (a batch
        of 10,000 items trips ``max_items`` before the batch item count can be read), or where
        the TTLV went wrong. Never a byte of the message."""
        if isinstance(error, LimitExceeded):
            return f"message exceeds the {error.limit} limit of {getattr(self._settings.limits, error.limit)}"
        return f"message is not valid TTLV (at offset {error.offset})"

    # The handler protocol --------------------------------------------------------------------
    async def handle(self, message: bytes, peer: Identity) -> bytes | None:
        """Answer one request message (see the module docstring). Never raises but for cancellation."""
        now = int(self._clock())
        correlation = self._correlation_ids()
        try:
            item = ttlv.decode(message, self._settings.limits)
        except ttlv.DecodeError as exc:
            log.info("request is not valid TTLV [correlation %s]: %s", correlation, exc)
            return self._message_failure(
                peer, _NEWEST, self._decode_failure_text(exc), now=now, correlation=correlation
            )
        if _too_many_batch_items(item, self._settings.max_batch_items):
            return self._message_failure(
                peer,
                _peek_version(item),
                f"more than {self._settings.max_batch_items} batch items",
                now=now,
                correlation=correlation,
            )
        try:
            decoded = decode_request_batch(item)
        except ModelError as exc:
            return self._message_failure(
                peer,
                _peek_version(item),
                exc.message,
                now=now,
                correlation=correlation,
                reason=exc.result_reason,
            )

        header = decoded.header
        version = _response_version(header.protocol_version.version)
        journal = UndoJournal()
        scope = None
        if peer.role is Role.TENANT_CLIENT and peer.tenant is not None and peer.service is not None:
            scope = self._objects.scope(peer.tenant, peer.service, journal)
        ctx = OperationContext(
            identity=peer,
            version=version,
            now=now,
            server=self._info,
            correlation=correlation,
            scope=scope,
            crypto=self._crypto,
        )
        option = header.batch_error_continuation_option or BatchErrorContinuationOption.STOP
        budget = header.maximum_response_size
        used = self._header_size(version, now, correlation, header.client_correlation_value) if budget else 0

        responses: list[ResponseBatchItem] = []
        for index, request in enumerate(decoded.batch_items):
            journal.item = index
            response = await self._run(ctx, request, journal, index)
            if budget is not None:
                size = self._item_size(response, version)
                if used + size > budget and response.result_status is ResultStatus.SUCCESS:
                    await journal.undo(item=index)
                    response = self._failed(
                        response.operation, response.unique_batch_item_id, ResponseTooLarge()
                    )
                    size = self._item_size(response, version)
                used += size
            responses.append(response)
            self._audited(ctx, request, response)
            if response.result_status is not ResultStatus.OPERATION_FAILED:
                continue
            if option is BatchErrorContinuationOption.UNDO:
                not_undone = await journal.undo()
                for earlier in range(index):
                    previous = responses[earlier]
                    if previous.result_status is ResultStatus.SUCCESS and earlier not in not_undone:
                        responses[earlier] = ResponseBatchItem(
                            operation=previous.operation,
                            unique_batch_item_id=previous.unique_batch_item_id,
                            result_status=ResultStatus.OPERATION_UNDONE,
                        )
                break
            if option is BatchErrorContinuationOption.STOP:
                break

        return self._encode(
            ResponseMessage(
                response_header=self._header(
                    version, now, correlation, header.client_correlation_value, len(responses)
                ),
                batch_items=tuple(responses),
            ),
            correlation,
        )

    # One batch item ---------------------------------------------------------------------------
    async def _run(
        self, ctx: OperationContext, request: RequestBatchItem | ModelError, journal: UndoJournal, index: int
    ) -> ResponseBatchItem:
        if isinstance(request, ModelError):
            operation = _known_operation(request.operation)
            if not ctx.identity.known:
                return self._failed(
                    operation, request.unique_batch_item_id, UnknownIdentity("unknown identity")
                )
            return self._failed(operation, request.unique_batch_item_id, request, ctx.correlation)
        operation = request.operation
        try:
            spec = self._admit(ctx, request)
            payload = request.request_payload
            if spec.uses_id_placeholder:
                payload = self._with_placeholder(payload, ctx)
            result = await spec.handler(ctx, payload)
        except Exception as exc:
            await journal.undo(item=index)
            return self._failed(operation, request.unique_batch_item_id, exc, ctx.correlation)
        if spec.sets_id_placeholder:
            unique_identifier = getattr(result, "unique_identifier", None)
            if isinstance(unique_identifier, str):
                ctx.id_placeholder = unique_identifier
        return ResponseBatchItem(
            operation=operation,
            unique_batch_item_id=request.unique_batch_item_id,
            result_status=ResultStatus.SUCCESS,
            response_payload=result,
        )

    def _admit(self, ctx: OperationContext, request: RequestBatchItem) -> HandlerSpec:
        """The registry row of the item's operation, once the caller may run it now."""
        if not ctx.identity.known:
            raise UnknownIdentity("unknown identity")
        spec = self._registry.get(request.operation)
        if spec is None:
            raise OperationNotSupported
        if OPERATIONS[request.operation].since > ctx.version:
            raise OperationNotSupported("the operation is not defined in this protocol version")
        if not self._seal.unsealed:
            raise ServerSealed
        if ctx.identity.role not in spec.roles:
            raise PermissionDenied("this identity may not perform this operation")
        extension = request.message_extension
        if extension is not None and extension.criticality_indicator:
            raise FeatureNotSupported("a critical message extension is not understood")
        return spec

    @staticmethod
    def _with_placeholder(payload: Any, ctx: OperationContext) -> Any:
        if getattr(payload, "unique_identifier", None) is not None:
            return payload
        if ctx.id_placeholder is None:
            raise MissingData("Unique Identifier missing and no ID Placeholder set in this batch")
        return dataclasses.replace(payload, unique_identifier=ctx.id_placeholder)

    @staticmethod
    def _failed(
        operation: Operation | None, batch_id: bytes | None, error: Exception, correlation: str | None = None
    ) -> ResponseBatchItem:
        reason, message = translate(error, correlation)
        return ResponseBatchItem(
            operation=operation,
            unique_batch_item_id=batch_id,
            result_status=ResultStatus.OPERATION_FAILED,
            result_reason=reason,
            result_message=message,
        )

    def _audited(
        self, ctx: OperationContext, request: RequestBatchItem | ModelError, response: ResponseBatchItem
    ) -> None:
        hook = self._audit
        if hook is None:
            return
        payload = response.response_payload
        unique_identifier = getattr(payload, "unique_identifier", None)
        if unique_identifier is None and isinstance(request, RequestBatchItem):
            unique_identifier = getattr(request.request_payload, "unique_identifier", None)
        hook(
            AuditEvent(
                identity=ctx.identity,
                operation=response.operation,
                unique_identifier=unique_identifier if isinstance(unique_identifier, str) else None,
                result_status=response.result_status,
                result_reason=response.result_reason,
                correlation=ctx.correlation,
            )
        )

    # Encoding ---------------------------------------------------------------------------------
    def _header(
        self, version: Version, now: int, correlation: str, client_correlation: str | None, count: int
    ) -> ResponseHeader:
        protocol_version = self._protocol_versions.get(version)
        return ResponseHeader(
            protocol_version=protocol_version or ProtocolVersion(major=version[0], minor=version[1]),
            time_stamp=now,
            client_correlation_value=client_correlation,
            server_correlation_value=correlation,
            batch_count=count,
        )

    def _header_size(
        self, version: Version, now: int, correlation: str, client_correlation: str | None
    ) -> int:
        header = self._header(version, now, correlation, client_correlation, 1)
        # + the Response Message's own tag, type and length
        return 8 + len(struct_to_bytes(header, Tag.RESPONSE_HEADER, version))

    @staticmethod
    def _item_size(response: ResponseBatchItem, version: Version) -> int:
        return len(struct_to_bytes(response, Tag.BATCH_ITEM, version))

    def _message_failure(
        self,
        peer: Identity,
        version: Version,
        message: str,
        *,
        now: int,
        correlation: str,
        reason: ResultReason = ResultReason.INVALID_MESSAGE,
    ) -> bytes:
        """A response to a message that could not be read: one batch item without Operation (11.1).
        Audited like any answered item (operation unknown)."""
        item = ResponseBatchItem(
            result_status=ResultStatus.OPERATION_FAILED, result_reason=reason, result_message=message
        )
        if self._audit is not None:
            self._audit(AuditEvent(peer, None, None, item.result_status, reason, correlation))
        return self._encode(
            ResponseMessage(
                response_header=self._header(version, now, correlation, None, 1), batch_items=(item,)
            ),
            correlation,
        )

    def _encode(self, message: ResponseMessage, correlation: str) -> bytes:
        try:
            return response_to_bytes(message)
        except (ModelError, ttlv.EncodeError):
            # A response payload this version cannot carry: a server bug. Answer every item that
            # had a payload as General Failure rather than nothing.
            log.exception("response cannot be encoded [correlation %s]", correlation)
            text = f"internal error (correlation id {correlation})"
            items = tuple(
                item
                if item.response_payload is None
                else ResponseBatchItem(
                    operation=item.operation,
                    unique_batch_item_id=item.unique_batch_item_id,
                    result_status=ResultStatus.OPERATION_FAILED,
                    result_reason=ResultReason.GENERAL_FAILURE,
                    result_message=text,
                )
                for item in message.batch_items
            )
            return response_to_bytes(dataclasses.replace(message, batch_items=items))
