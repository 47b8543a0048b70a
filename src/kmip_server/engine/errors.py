"""The one place where a failure becomes a Result Reason and a Result Message.

``TRANSLATIONS`` is a table: the first row whose class the error is an instance of decides.
Each family in it carries its wire meaning already (``result_reason`` and a message that is
safe to show: fixed, or built from the client's own request). Anything else is a bug: General
Failure whose message carries only a correlation id; the traceback is logged under that id,
with no payload bytes and no secrets (exception texts of this code base never carry values).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from kmip_server.errors import KmipError
from kmip_server.hierarchy import HierarchyError
from kmip_server.identity import UnknownIdentity
from kmip_server.model import ModelError
from kmip_server.storage.errors import StorageError
from ttlv.kmip14 import ResultReason

__all__ = ["TRANSLATIONS", "Failure", "translate"]

log = logging.getLogger("kmip_server.engine")

Failure = tuple[ResultReason, str]


def _kmip(error: Exception) -> Failure:
    assert isinstance(error, KmipError)
    return error.result_reason, error.message


def _model(error: Exception) -> Failure:
    assert isinstance(error, ModelError)
    return error.result_reason, error.message


def _hierarchy(error: Exception) -> Failure:
    assert isinstance(error, HierarchyError)
    return error.result_reason, error.message


def _storage(error: Exception) -> Failure:
    """The store failed (unreachable, timed out, restarted mid-commit): a retryable condition the
    client should hear about plainly, not as an internal error. Store errors carry no SQL and no
    row data (storage/errors.py), so their text is safe to show; the cause stays in the log."""
    assert isinstance(error, StorageError)
    log.warning("storage failure: %s (cause: %s)", error, type(error.__cause__).__name__)
    return error.result_reason, f"{error}; the request may be retried"


def _identity(error: Exception) -> Failure:
    assert isinstance(error, UnknownIdentity)
    return error.result_reason, error.message


TRANSLATIONS: tuple[tuple[type[Exception], Callable[[Exception], Failure]], ...] = (
    (KmipError, _kmip),  # operations' failures (errors.py)
    (ModelError, _model),  # a request the message model could not take (model/errors.py)
    (HierarchyError, _hierarchy),  # sealed, tenant not linked or locked, unwrap failed...
    (StorageError, _storage),  # the database is unreachable or timed out
    (UnknownIdentity, _identity),  # Permission Denied, nothing more
)
"""Error family -> (Result Reason, Result Message)."""


def translate(error: Exception, correlation: str | None = None) -> Failure:
    """The Result Reason and Result Message of ``error``; an unexpected error is logged (with its
    traceback) under a correlation id that the message carries."""
    for family, describe in TRANSLATIONS:
        if isinstance(error, family):
            return describe(error)
    correlation = correlation or uuid.uuid4().hex
    log.error(
        "unexpected %s while processing a request [correlation %s]",
        type(error).__name__,
        correlation,
        exc_info=(type(error), error, error.__traceback__),
    )
    return ResultReason.GENERAL_FAILURE, f"internal error (correlation id {correlation})"
