"""The load generator's pure parts: request bytes (against PyKMIP's own encoder), the response
check of the hot path, and the statistics."""

from __future__ import annotations

import math
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kmip.core import enums as pk_enums
from kmip.core import objects as pk_objects
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.factories.secrets import SecretFactory
from kmip.core.messages import contents as pk_contents
from kmip.core.messages import messages as pk_messages
from kmip.core.messages import payloads as pk_payloads

from loadtests.loadgen import (
    CellStats,
    LoadSpec,
    TlsTarget,
    _c_error_text,
    build_c_generator,
    create_aes256_request,
    discover_versions_request,
    fast_result,
    get_request,
    percentile,
    read_response,
    run_load,
    split_connections,
    summarize,
)
from tests.support import pykmip_corpus as corpus
from ttlv.kmip14 import Operation, ResultReason, ResultStatus

VERSION = (1, 2)


def _pykmip_request(operation: Any, payload: Any) -> bytes:
    header = pk_messages.RequestHeader(
        protocol_version=pk_contents.ProtocolVersion(*VERSION), batch_count=pk_contents.BatchCount(1)
    )
    item = pk_messages.RequestBatchItem(operation=pk_contents.Operation(operation), request_payload=payload)
    return corpus.write_message(
        pk_messages.RequestMessage(request_header=header, batch_items=[item]), VERSION
    )


def _pykmip_failure(operation: Any) -> bytes:
    item = pk_messages.ResponseBatchItem(
        operation=pk_contents.Operation(operation),
        result_status=pk_contents.ResultStatus(pk_enums.ResultStatus.OPERATION_FAILED),
        result_reason=pk_contents.ResultReason(pk_enums.ResultReason.ITEM_NOT_FOUND),
        result_message=pk_contents.ResultMessage("no such object"),
    )
    header = pk_messages.ResponseHeader(
        protocol_version=pk_contents.ProtocolVersion(*VERSION),
        time_stamp=pk_contents.TimeStamp(corpus.TIME_STAMP),
        batch_count=pk_contents.BatchCount(1),
    )
    return corpus.write_message(
        pk_messages.ResponseMessage(response_header=header, batch_items=[item]), VERSION
    )


# -- requests: the bytes PyKMIP's client would send ------------------------------------------------


def test_create_request_is_what_pykmip_client_create_sends() -> None:
    # ProxyKmipClient.create(AES, 256) with no name and the default usage mask.
    factory = AttributeFactory()
    attributes = [
        factory.create_attribute(
            pk_enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, pk_enums.CryptographicAlgorithm.AES
        ),
        factory.create_attribute(pk_enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        factory.create_attribute(
            pk_enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [pk_enums.CryptographicUsageMask.ENCRYPT, pk_enums.CryptographicUsageMask.DECRYPT],
        ),
    ]
    payload = pk_payloads.CreateRequestPayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY,
        template_attribute=pk_objects.TemplateAttribute(attributes=attributes),
    )
    assert create_aes256_request(VERSION) == _pykmip_request(pk_enums.Operation.CREATE, payload)


def test_get_request_is_what_pykmip_sends() -> None:
    message, _ = corpus.get_request(VERSION)
    assert get_request(corpus.UID_KEY, VERSION) == corpus.write_message(message, VERSION)


def test_requests_follow_the_version_asked_for() -> None:
    parsed = corpus.read_message("request", get_request("1", (1, 4)))
    assert parsed.request_header.protocol_version == pk_contents.ProtocolVersion(1, 4)
    parsed = corpus.read_message("request", discover_versions_request())
    assert parsed.batch_items[0].operation.value == pk_enums.Operation.DISCOVER_VERSIONS


# -- responses --------------------------------------------------------------------------------------


def test_fast_result_accepts_a_success_of_the_expected_operation() -> None:
    message, _ = corpus.get_response(VERSION)
    data = corpus.write_message(message, VERSION)
    assert fast_result(data, Operation.GET) is None


def test_fast_result_names_what_is_wrong() -> None:
    get_ok = corpus.write_message(corpus.get_response(VERSION)[0], VERSION)
    assert fast_result(get_ok, Operation.CREATE) == "response for another operation"
    failed = _pykmip_failure(pk_enums.Operation.GET)
    assert fast_result(failed, Operation.GET) == "Result Status OPERATION_FAILED"
    assert fast_result(get_request("1"), Operation.GET) == "not a Response Message"
    assert fast_result(get_ok[:40], Operation.GET) is not None


def test_fast_result_is_not_fooled_by_key_bytes_that_look_like_a_status() -> None:
    # Key material holding the bytes of a failed Result Status item: the real item comes first.
    lookalike = bytes.fromhex("42007f05000000040000000100000000") + bytes(8)
    header = pk_messages.ResponseHeader(
        protocol_version=pk_contents.ProtocolVersion(*VERSION),
        time_stamp=pk_contents.TimeStamp(corpus.TIME_STAMP),
        batch_count=pk_contents.BatchCount(1),
    )
    key = SecretFactory().create(
        pk_enums.ObjectType.SYMMETRIC_KEY,
        {
            "cryptographic_algorithm": pk_enums.CryptographicAlgorithm.AES,
            "cryptographic_length": 8 * len(lookalike),
            "key_format_type": pk_enums.KeyFormatType.RAW,
            "key_value": lookalike,
            "key_wrapping_data": None,
        },
    )
    payload = pk_payloads.GetResponsePayload(
        object_type=pk_enums.ObjectType.SYMMETRIC_KEY, unique_identifier="1", secret=key
    )
    item = pk_messages.ResponseBatchItem(
        operation=pk_contents.Operation(pk_enums.Operation.GET),
        result_status=pk_contents.ResultStatus(pk_enums.ResultStatus.SUCCESS),
        response_payload=payload,
    )
    data = corpus.write_message(
        pk_messages.ResponseMessage(response_header=header, batch_items=[item]), VERSION
    )
    assert lookalike in data
    assert fast_result(data, Operation.GET) is None
    assert read_response(data).key_material_length == len(lookalike)


def test_read_response_summarizes_a_get_and_a_failure() -> None:
    summary = read_response(corpus.write_message(corpus.get_response(VERSION)[0], VERSION))
    assert summary.protocol_version == VERSION
    assert summary.operation == Operation.GET
    assert summary.result_status == ResultStatus.SUCCESS
    assert summary.unique_identifier == corpus.UID_KEY
    assert summary.key_material_length == len(corpus.KEY_MATERIAL)

    failed = read_response(_pykmip_failure(pk_enums.Operation.GET))
    assert failed.result_status == ResultStatus.OPERATION_FAILED
    assert failed.result_reason == ResultReason.ITEM_NOT_FOUND
    assert failed.result_message == "no such object"
    assert failed.unique_identifier is None


def test_read_response_refuses_a_request() -> None:
    with pytest.raises(ValueError, match="not a Response Message"):
        read_response(get_request("1"))


# -- statistics -------------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(values, 0.001) == 1
    assert percentile([7], 0.99) == 7
    # Ten samples: P99 is the largest (rank ceil(9.9) = 10), P50 the fifth.
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 0.99) == 1000
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 0.5) == 50


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01])
def test_percentile_refuses_fractions_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1, 2, 3], fraction)


def test_percentile_refuses_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_summarize_converts_nanoseconds_and_counts_per_second() -> None:
    # 200 samples of 1..200 microseconds, unordered, in a 0.5 s window.
    samples = [((n * 37) % 200 + 1) * 1000 for n in range(200)]
    stats = summarize(samples, errors=3, seconds=0.5)
    assert stats == CellStats(
        requests=200, errors=3, seconds=0.5, ops_per_second=400.0, p50_ms=0.1, p99_ms=0.198, max_ms=0.2
    )


def test_summarize_of_an_empty_window_has_no_latency() -> None:
    stats = summarize([], errors=5, seconds=2.0)
    assert stats.requests == 0
    assert stats.ops_per_second == 0.0
    assert stats.errors == 5
    assert math.isnan(stats.p50_ms)
    assert math.isnan(stats.p99_ms)


def test_summarize_refuses_an_empty_window_length() -> None:
    with pytest.raises(ValueError, match="positive"):
        summarize([1], errors=0, seconds=0)


@pytest.mark.parametrize(
    ("connections", "processes", "expected"),
    [(1, 1, [1]), (1, 4, [1]), (8, 2, [4, 4]), (64, 3, [22, 21, 21]), (5, 2, [3, 2])],
)
def test_split_connections_is_even_and_leaves_no_process_idle(
    connections: int, processes: int, expected: list[int]
) -> None:
    assert split_connections(connections, processes) == expected


def test_split_connections_refuses_nothing_to_do() -> None:
    with pytest.raises(ValueError):
        split_connections(0, 1)
    with pytest.raises(ValueError):
        split_connections(1, 0)


def test_c_generator_builds_once_per_source(tmp_path: Path) -> None:
    binary = build_c_generator(tmp_path)
    assert binary.is_file()
    assert os.access(binary, os.X_OK)
    stamp = binary.stat().st_mtime_ns
    assert build_c_generator(tmp_path) == binary
    assert binary.stat().st_mtime_ns == stamp  # found, not rebuilt


def test_c_generator_refuses_to_run_without_its_arguments(tmp_path: Path) -> None:
    done = subprocess.run([str(build_c_generator(tmp_path))], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "usage" in done.stderr


def test_c_generator_reports_a_server_that_is_not_there(tmp_path: Path) -> None:
    request = tmp_path / "request.ttlv"
    request.write_bytes(get_request("x"))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    arguments = ["127.0.0.1", str(port), "ca", "cert", "key", "localhost", "2", "ALL", str(request)]
    arguments += [str(int(Operation.GET)), "1", "0", "0.1", "0.2", "1"]
    done = subprocess.run(
        [str(build_c_generator(tmp_path)), *arguments], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stdout.startswith("failed ")  # here: the CA file cannot be loaded


def test_c_generator_error_words_are_fast_results() -> None:
    assert _c_error_text("Result Status #1") == "Result Status OPERATION_FAILED"
    assert _c_error_text("Result Status #77") == "Result Status 77"
    assert _c_error_text("response for another operation") == "response for another operation"
    assert _c_error_text("Result Status #x") == "Result Status #x"


def test_load_spec_refuses_an_unknown_generator() -> None:
    spec = LoadSpec(
        TlsTarget("127.0.0.1", 1, Path("ca"), Path("c"), Path("k")), b"", 1, 1, 1, 0, 1, generator="rust"
    )
    with pytest.raises(ValueError, match="unknown load generator"):
        run_load(spec)
