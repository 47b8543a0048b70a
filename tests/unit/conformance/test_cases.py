"""Test-case files: families, selection, loading, errata; the report lines and the CLI's usage errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conformance.cases import (
    DEFAULT_CASES_DIR,
    FAMILIES,
    CaseError,
    Requirement,
    discover,
    family_of,
    load_case,
    select,
)
from conformance.matcher import Difference
from conformance.replay import CaseResult, format_result, format_summary, main
from ttlv.kmip14 import Tag

CASE_FILES = discover(DEFAULT_CASES_DIR)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("SKLC-M-1-14", "SKLC"),
        ("SKLC-O-1-14", "SKLC"),
        ("OMOS-O-1-14", "OMOS"),
        ("CS-BC-M-GCM-1-14", "CS-BC"),
        ("CS-AC-M-OAEP-10-14", "CS-AC"),
        ("CS-RNG-O-4-14", "CS-RNG"),
        ("SUITEB_128-M-1-14", "SUITEB_128"),
        ("SUITEB_192-M-1-14", "SUITEB_192"),
        ("MSGENC-HTTPS-M-1-14", "MSGENC"),
        ("TL-M-3-14", "TL"),
        ("AX-M-2-14", "AX"),
        ("AKLC-M-1-14", "AKLC"),
        ("SKFF-M-12-14", "SKFF"),
        ("SASED-M-3-14", "SASED"),
        ("TLX-M-1-14", None),
        ("CS-M-1-14", None),
    ],
)
def test_family_of(name: str, family: str | None) -> None:
    assert family_of(name) == family


def test_every_file_has_a_family_and_every_family_a_file() -> None:
    families = {family_of(path.name.removesuffix(".xml")) for path in CASE_FILES}
    assert families == set(FAMILIES)


def test_select_by_family() -> None:
    chosen = select(CASE_FILES, ["sklc", "OMOS"])
    assert sorted(path.name for path in chosen) == [
        "OMOS-M-1-14.xml",
        "OMOS-O-1-14.xml",
        "SKLC-M-1-14.xml",
        "SKLC-M-2-14.xml",
        "SKLC-M-3-14.xml",
        "SKLC-O-1-14.xml",
    ]
    assert select(CASE_FILES, None) == CASE_FILES
    with pytest.raises(CaseError, match="unknown families: BOGUS"):
        select(CASE_FILES, ["SKLC", "BOGUS"])


def test_discover_puts_mandatory_files_first() -> None:
    kinds = [path.parent.name for path in CASE_FILES]
    assert kinds == sorted(kinds, key=lambda kind: kind != "mandatory")


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda path: path.name.removesuffix(".xml"))
def test_every_file_loads_as_request_response_pairs(path: Path) -> None:
    case = load_case(path)
    assert case.exchanges
    assert case.requirement is (
        Requirement.OPTIONAL if path.parent.name == "optional" else Requirement.MANDATORY
    )
    for exchange in case.exchanges:
        assert exchange.request.tag == Tag.REQUEST_MESSAGE
        assert exchange.expected.tag == Tag.RESPONSE_MESSAGE


def test_the_omos_o_1_erratum_expects_the_request_version() -> None:
    case = load_case(next(path for path in CASE_FILES if path.name == "OMOS-O-1-14.xml"))
    assert len(case.errata) == 1
    header = case.exchanges[1].expected.find(Tag.RESPONSE_HEADER)
    assert header is not None
    version = header.find(Tag.PROTOCOL_VERSION)
    assert version is not None
    assert version.find(Tag.PROTOCOL_VERSION_MINOR).value == 4  # type: ignore[union-attr]
    untouched = load_case(next(path for path in CASE_FILES if path.name == "OMOS-M-1-14.xml"))
    assert untouched.errata == ()


def test_a_file_of_unknown_family_or_unpaired_messages_is_refused(tmp_path: Path) -> None:
    stranger = tmp_path / "XYZ-M-1-14.xml"
    stranger.write_text("<KMIP></KMIP>")
    with pytest.raises(CaseError, match="no known test-case family"):
        load_case(stranger)
    source = next(path for path in CASE_FILES if path.name == "OMOS-M-1-14.xml").read_text()
    unpaired = tmp_path / "OMOS-M-9-14.xml"
    unpaired.write_text(
        source.replace("<ResponseMessage>", "<RequestMessage>", 1).replace(
            "</ResponseMessage>", "</RequestMessage>", 1
        )
    )
    with pytest.raises(CaseError, match="are not a request and a response"):
        load_case(unpaired)
    broken = tmp_path / "OMOS-M-8-14.xml"
    broken.write_text("<KMIP><RequestMessage>")
    with pytest.raises(CaseError, match="malformed XML"):
        load_case(broken)


# --------------------------------------------------------------------------------------------
# Report and command line


def test_report_lines() -> None:
    passed = CaseResult("SKLC-M-1-14", "SKLC", Requirement.MANDATORY, 3, 3)
    assert passed.passed
    assert format_result(passed) == f"PASS  {'SKLC-M-1-14':<24} 3 exchanges"
    difference = Difference(
        "ResponseMessage/BatchItem/ResultStatus", "value differs", "OperationFailed", "Success", exchange=3
    )
    failed = CaseResult(
        "SKLC-M-2-14", "SKLC", Requirement.MANDATORY, 8, 3, difference=difference, operation="Destroy"
    )
    assert not failed.passed
    assert format_result(failed) == (
        f"FAIL  {'SKLC-M-2-14':<24} exchange 4/8 (Destroy): ResponseMessage/BatchItem/ResultStatus: "
        "value differs: expected OperationFailed, got Success"
    )
    broken = CaseResult("OMOS-M-1-14", "OMOS", Requirement.MANDATORY, 2, 0, error="cannot connect: refused")
    assert format_result(broken).endswith("exchange 1/2: cannot connect: refused")
    summary = format_summary([passed, failed, broken])
    assert summary.splitlines() == [
        f"{'SKLC':<12} 1/2 passed",
        f"{'OMOS':<12} 0/1 passed",
        f"{'total':<12} 1/3 passed",
    ]


def test_a_result_with_steps_left_is_not_a_pass() -> None:
    assert not CaseResult("SKLC-M-1-14", "SKLC", Requirement.MANDATORY, 3, 2).passed


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        "--ca",
        str(tmp_path / "ca.pem"),
        "--cert",
        str(tmp_path / "c.pem"),
        "--key",
        str(tmp_path / "c.key"),
    ]
    assert main([*files, "--family", "BOGUS"], out=io.StringIO()) == 2
    assert "unknown families" in capsys.readouterr().err
    out = io.StringIO()
    assert main([*files, "--cases-dir", str(tmp_path)], out=out) == 2
    assert "no test-case files selected" in out.getvalue()
    # Certificates that do not exist: a usage error, not a traceback.
    assert main([*files, "--family", "SKLC"], out=io.StringIO()) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--family", "SKLC"])
    assert exit_info.value.code == 2
