"""Errors every store raises (SQLite today, PostgreSQL later): they carry no SQL and no row data."""

from __future__ import annotations

from typing import ClassVar

from ttlv.kmip14 import ResultReason


class StorageError(Exception):
    """The store failed. What a client sees is General Failure; the cause stays in the chain for the log."""

    result_reason: ClassVar[ResultReason] = ResultReason.GENERAL_FAILURE

    def __init__(self, message: str = "storage failure") -> None:
        super().__init__(message)


class StorageTimeout(StorageError):
    def __init__(self) -> None:
        super().__init__("storage timed out")


class StorageClosed(StorageError):
    def __init__(self) -> None:
        super().__init__("storage is closed")
