"""Replay the OASIS KMIP 1.4 test cases against a live server over mutual TLS, and report.

    python -m conformance.replay --host 127.0.0.1 --port 5696 \\
        --ca DIR/pki/ca.pem --cert DIR/pki/acme.pem --key DIR/pki/acme.key \\
        [--family SKLC,OMOS] [--cases-dir DIR] [--tolerance 10] [--timeout 30] [-v] [FILES...]

Each file runs on its own connection: every request in order, placeholders filled with what the
server chose earlier in the file, each response checked by ``conformance.matcher`` (the
permitted variations are listed there). A file stops at its first difference. One line per
file, PASS or FAIL with the first difference; exit status 0 when every selected file passed,
1 when one failed, 2 on a usage error.

Files are replayed against one server in the order given (mandatory then optional by default);
the test cases name their objects after themselves, so they do not collide within one run. Names
are unique among a tenant's live objects, so a second run against the same server fails at the
first Create or Register of a file that leaves its objects alive (TL-M-2, for one) unless
``--unique-names`` suffixes every name. A harness that
needs an empty server per file passes its own ``connect`` to ``replay_case`` and restarts the
server between files.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from conformance.cases import (
    DEFAULT_CASES_DIR,
    FAMILIES,
    CaseError,
    Requirement,
    TestCase,
    discover,
    load_case,
    select,
    with_name_suffix,
)
from conformance.matcher import DEFAULT_TOLERANCE, CaseRun, Difference, ReplayState
from kmip_server.client import ClientError, ClientSettings, KmipClient, client_context
from ttlv.errors import TTLVError
from ttlv.item import Item
from ttlv.kmip14 import Operation, Tag
from ttlv.xml import PlaceholderError

__all__ = [
    "CaseResult",
    "Connect",
    "format_result",
    "format_summary",
    "main",
    "replay_case",
    "replay_cases",
]

Connect = Callable[[], Awaitable[KmipClient]]
"""Opens a new connection to the server under test."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one file."""

    name: str
    family: str
    requirement: Requirement
    exchanges: int  # request/response pairs in the file
    completed: int  # pairs that matched before the first difference
    difference: Difference | None = None  # the first difference, if the server answered wrongly
    error: str | None = None  # the run could not go on (connection, timeout, undefined placeholder)
    operation: str | None = None  # the operation of the exchange that failed
    errata: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.difference is None and self.error is None and self.completed == self.exchanges


def _operation_name(request: Item) -> str | None:
    item = request.find(Tag.BATCH_ITEM)
    operation = item.find(Tag.OPERATION) if item is not None else None
    if operation is None or not isinstance(operation.value, int):
        return None
    names = Operation.xml_names()
    return names.get(operation.value, f"0x{operation.value:08X}")


async def replay_case(
    case: TestCase,
    connect: Connect,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    clock: Callable[[], float] = time.time,
    carried: ReplayState | None = None,
) -> CaseResult:
    """Replay ``case`` on a new connection from ``connect``; never raises for a server's fault.

    ``carried``: what earlier files of this run saw the server generate; this file's captures
    are added to it (whatever the outcome).
    """
    began = time.monotonic()
    result = CaseResult(case.name, case.family, case.requirement, len(case.exchanges), 0, errata=case.errata)
    run = CaseRun(
        case.placeholders,
        [exchange.request for exchange in case.exchanges],
        started_at=int(clock()),
        tolerance=tolerance,
        carried=carried,
    )
    try:
        result = await _exchanges(case, run, connect, result, clock)
        return replace(result, seconds=time.monotonic() - began)
    finally:
        if carried is not None:
            run.carry(carried)


async def _exchanges(
    case: TestCase, run: CaseRun, connect: Connect, result: CaseResult, clock: Callable[[], float]
) -> CaseResult:
    try:
        client = await connect()
    except ClientError as exc:
        return replace(result, error=f"cannot connect: {exc}")
    async with client:
        for exchange in case.exchanges:
            failed = replace(result, operation=_operation_name(exchange.request))
            try:
                request = run.request(exchange.request, int(clock()))
            except PlaceholderError as exc:
                return replace(failed, error=f"exchange {exchange.index}: {exc}")
            try:
                actual = await client.send_item(request)
            except (ClientError, TTLVError) as exc:
                return replace(failed, error=f"exchange {exchange.index}: {exc}")
            difference = run.check(exchange.expected, actual, request, int(clock()) + 1)
            if difference is not None:
                return replace(failed, difference=replace(difference, exchange=exchange.index))
            result = replace(result, completed=result.completed + 1)
    return result


async def replay_cases(
    paths: Sequence[Path],
    connect: Connect,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    on_result: Callable[[CaseResult], None] | None = None,
    name_suffix: str | None = None,
) -> list[CaseResult]:
    """Replay each file in order, one connection each; ``on_result`` sees each result as it comes.

    ``name_suffix``: appended to every Name Value (see ``cases.with_name_suffix``).
    """
    results = []
    carried = ReplayState()
    for path in paths:
        try:
            case = load_case(path)
        except CaseError as exc:
            name = path.name.removesuffix(".xml")
            result = CaseResult(name, "?", Requirement.MANDATORY, 0, 0, error=str(exc))
        else:
            if name_suffix:
                case = with_name_suffix(case, name_suffix)
            result = await replay_case(case, connect, tolerance=tolerance, carried=carried)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# --------------------------------------------------------------------------------------------
# Report


def format_result(result: CaseResult, *, verbose: bool = False) -> str:
    """One line (more with ``verbose``): PASS or FAIL, the file, and the first difference."""
    if result.passed:
        line = f"PASS  {result.name:<24} {result.exchanges} exchanges"
    else:
        step = result.completed + 1
        where = f"exchange {step}/{result.exchanges}"
        if result.operation:
            where += f" ({result.operation})"
        if result.error is not None:
            why = result.error
        else:
            assert result.difference is not None
            difference = result.difference
            why = f"{difference.path}: {difference.reason}: "
            why += f"expected {difference.expected}, got {difference.actual}"
        line = f"FAIL  {result.name:<24} {where}: {why}"
    if verbose:
        line += "".join(f"\n      erratum: {note}" for note in result.errata)
        line += f"\n      {result.seconds:.2f} s"
    return line


def format_summary(results: Sequence[CaseResult]) -> str:
    """Totals per family and overall."""
    lines = []
    by_family: dict[str, list[CaseResult]] = {}
    for result in results:
        by_family.setdefault(result.family, []).append(result)
    for family in sorted(
        by_family, key=lambda name: (FAMILIES.index(name) if name in FAMILIES else 99, name)
    ):
        group = by_family[family]
        passed = sum(result.passed for result in group)
        lines.append(f"{family:<12} {passed}/{len(group)} passed")
    passed = sum(result.passed for result in results)
    lines.append(f"{'total':<12} {passed}/{len(results)} passed")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.replay",
        description="Replay the OASIS KMIP 1.4 test cases against a live server and report each file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5696, help="server KMIP port (default: 5696)")
    parser.add_argument("--server-name", help="name to verify in the server certificate (default: --host)")
    parser.add_argument("--ca", type=Path, required=True, help="CA bundle the server certificate chains to")
    parser.add_argument("--cert", type=Path, required=True, help="client certificate (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="client private key (PEM)")
    parser.add_argument(
        "--family",
        help=f"comma-separated families to run (default: all): {','.join(FAMILIES)}",
    )
    parser.add_argument(
        "--cases-dir",
        type=Path,
        default=DEFAULT_CASES_DIR,
        help="directory of the test cases, searched recursively when no FILES are given",
    )
    parser.add_argument(
        "--tolerance",
        type=int,
        default=DEFAULT_TOLERANCE,
        help=f"seconds of slack around $NOW (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    parser.add_argument(
        "--unique-names",
        action="store_true",
        help="suffix every object name with a run id (to replay again on a server that keeps its objects)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="errata applied and time per file")
    parser.add_argument(
        "files", nargs="*", type=Path, help="test-case files (default: all under --cases-dir)"
    )
    return parser


def _run(args: argparse.Namespace, out: TextIO) -> int:
    families = [name.strip() for name in args.family.split(",") if name.strip()] if args.family else None
    paths = list(args.files) or discover(args.cases_dir)
    paths = select(paths, families)
    if not paths:
        print("no test-case files selected", file=out)
        return 2
    context = client_context(args.ca, args.cert, args.key)
    settings = ClientSettings(connect_timeout=min(args.timeout, 10.0), request_timeout=args.timeout)

    async def connect() -> KmipClient:
        return await KmipClient.connect(
            args.host, args.port, context, server_hostname=args.server_name, settings=settings
        )

    def show(result: CaseResult) -> None:
        print(format_result(result, verbose=args.verbose), file=out, flush=True)

    suffix = f"-run{secrets.token_hex(3)}" if args.unique_names else None
    results = asyncio.run(
        replay_cases(paths, connect, tolerance=args.tolerance, on_result=show, name_suffix=suffix)
    )
    print(file=out)
    print(format_summary(results), file=out)
    return 0 if all(result.passed for result in results) else 1


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    stream = sys.stdout if out is None else out
    if args.tolerance < 0 or args.timeout <= 0:
        print("--tolerance must be >= 0 and --timeout > 0", file=sys.stderr)
        return 2
    try:
        return _run(args, stream)
    except (CaseError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
