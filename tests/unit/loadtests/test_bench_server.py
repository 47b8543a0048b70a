"""The server benchmark's verdicts: ratios, the issue's targets, the median of repeats."""

from __future__ import annotations

import os

from loadtests.bench_server import (
    OURS,
    PYKMIP,
    Cell,
    client_processes,
    group_cpu_seconds,
    median_cell,
    ratio,
    targets,
)
from loadtests.loadgen import CellStats, LoadResult


def _cell(
    server: str, operation: str, connections: int, ops: float, p99_ms: float = 1.0, errors: int = 0
) -> Cell:
    stats = CellStats(int(ops), errors, 1.0, ops, p99_ms / 2, p99_ms, p99_ms * 2)
    result = LoadResult(stats, int(ops) + connections, {}, 0.1, "TLSv1.2", "uvloop", 1)
    return Cell(server, operation, connections, result, 0.5, 1.0, errors=errors)


def test_ratio_is_ours_over_pykmip_throughput() -> None:
    cells = [_cell(OURS, "get", 64, 9000), _cell(PYKMIP, "get", 64, 300)]
    assert ratio(cells, "get", 64) == 30.0
    assert ratio(cells, "get", 8) is None  # not measured
    assert ratio([_cell(OURS, "get", 64, 9000), _cell(PYKMIP, "get", 64, 0)], "get", 64) is None


def test_targets_met_exactly_at_the_thresholds() -> None:
    cells = [
        _cell(OURS, "get", 64, 9000),
        _cell(PYKMIP, "get", 64, 300),  # 30x
        _cell(OURS, "create", 64, 2000),
        _cell(PYKMIP, "create", 64, 200),  # 10x
        _cell(OURS, "get", 8, 5000, p99_ms=1.999),
    ]
    assert [met for _, _, met in targets(cells)] == [True, True, True]


def test_targets_missed_and_not_measured() -> None:
    cells = [
        _cell(OURS, "get", 64, 8999),
        _cell(PYKMIP, "get", 64, 300),
        _cell(OURS, "get", 8, 5000, p99_ms=2.0),  # not under 2 ms
    ]
    rows = targets(cells)
    assert [met for _, _, met in rows] == [False, None, False]
    assert rows[0][1] == "30.0x"
    assert rows[1][1] == "not measured"
    assert rows[2][1] == "2.000 ms"


def test_median_cell_keeps_the_middle_run_with_every_runs_throughput_and_errors() -> None:
    runs = [
        _cell(OURS, "get", 8, 300, p99_ms=9.0, errors=1),
        _cell(OURS, "get", 8, 100, p99_ms=3.0),
        _cell(OURS, "get", 8, 200, p99_ms=5.0, errors=2),
    ]
    median = median_cell(runs)
    assert median.result.stats.ops_per_second == 200
    assert median.result.stats.p99_ms == 5.0  # the median run's own latency, not a mix
    assert median.repeats == (300, 100, 200)
    assert median.errors == 3
    assert median.spread == 1.0  # (300 - 100) / 200
    assert median_cell(runs[:2]).result.stats.ops_per_second == 100  # lower middle of two
    assert median_cell(runs[:1]).spread == 0.0


def test_client_processes_auto_and_explicit() -> None:
    assert [client_processes("auto", n) for n in (1, 8, 32, 64, 128)] == [1, 1, 1, 2, 2]
    assert client_processes("3", 64) == 3
    assert client_processes("0", 64) == 1


def test_group_cpu_seconds_counts_this_process_group() -> None:
    sum(range(2_000_000))  # spend some CPU
    assert group_cpu_seconds(os.getpgid(0)) > 0
    assert group_cpu_seconds(2**22 + 12345) == 0.0  # no such group
