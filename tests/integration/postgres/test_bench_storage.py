"""The storage benchmark runs end to end at a small size (numbers are printed, never asserted)."""

from __future__ import annotations

import asyncio

import pytest

from loadtests import bench_storage
from tests.support.postgres import ADMIN_DSN, session

pytestmark = pytest.mark.integration


def test_the_fast_rows_are_exactly_what_the_encoder_writes() -> None:
    factory = bench_storage.RowFactory()
    factory.verify(5000)  # raises on any difference
    row = next(factory.rows(41, 42, tenants=10))
    assert row[:6] == (42, bench_storage.uid_of(41), "tenant-0001", "service-6", 2, 2)  # key, active
    assert bench_storage.decode_attributes(row[6]) == bench_storage.attributes_of(41)


def test_the_benchmark_runs_on_both_stores(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(session())  # skips when PostgreSQL is not reachable
    status = bench_storage.main(
        [
            "--objects", "3000", "--tenants", "30", "--creates", "200", "--gets", "300",
            "--locates", "100", "--concurrency", "8", "--pool", "4", "--admin-dsn", ADMIN_DSN,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    for line in ("postgres\n", "sqlite\n", "postgres / sqlite", "Locate by name P99"):
        assert line in out
