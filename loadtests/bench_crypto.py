"""Crypto benchmark: server-side AES-256-GCM Encrypt and HMAC-SHA256 on our Core beside PyKMIP's
own server, one machine, one run, one load generator (``loadtests.loadgen``).

Run from the repository root::

    .venv/bin/python -m loadtests.bench_crypto                # 12 cells, about 3 minutes
    .venv/bin/python -m loadtests.bench_crypto --quick        # a smoke run, under a minute
    .venv/bin/python -m loadtests.bench_crypto --connections 1,8,64 --workers 2 --repeats 3

The servers are started as ``loadtests.bench_server`` starts them (our ``openkcm dev``, then
``openkcm serve core`` with ``--workers`` worker processes; ``pykmip-server`` with a TLS
1.2 suite and client certificates), on 127.0.0.1, in a temporary directory removed at the end.

Before any timing, each server gets two keys by Register + Activate (KMIP 1.4: GCM's tag has
no field before 1.4): an AES-256 key (usage Encrypt, Decrypt) and a 256-bit HMAC-SHA256 key
(usage MAC Generate), with key bytes this benchmark knows, and one answer of every request is
checked against ``cryptography`` computing the same thing locally (the GCM ciphertext and tag
under the IV the server chose, the HMAC). Then the cells run, closed loop over persistent
mutual-TLS connections, the same pre-encoded request bytes for both servers:

- ``gcm-64`` / ``gcm-4k``: Encrypt of 64 bytes / 4 KiB, Cryptographic Parameters AES, GCM,
  Tag Length 16, Random IV: each server chooses a fresh IV per request (ours 96 bits, PyKMIP's
  a block) and returns it with the tag.
- ``hmac``: MAC (HMAC-SHA256) of 64 bytes.

ECDSA P-256 Sign (the issue's fourth row) comes from the asymmetric work (``OPERATIONS`` takes
its row when it lands; PyKMIP's server signs with RSA only, so that row has no ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmip_server.model import (
    Attribute,
    CryptographicParameters,
    EncryptRequestPayload,
    EncryptResponsePayload,
    KeyBlock,
    KeyValue,
    MACRequestPayload,
    MACResponsePayload,
    ManagedObject,
    PrivateKey,
    ProtocolVersion,
    RegisterRequestPayload,
    RegisterResponsePayload,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    SignRequestPayload,
    SignResponsePayload,
    SymmetricKey,
    TemplateAttribute,
    UniqueIdentifierRequestPayload,
    request_to_bytes,
    response_from_bytes,
)
from loadtests.bench_server import (
    HOST,
    OURS,
    PYKMIP,
    SERVERS,
    Cell,
    OurCore,
    client_processes,
    free_port,
    group_cpu_seconds,
    make_pki,
    make_target,
    median_cell,
    print_ratios,
    print_table,
)
from loadtests.common import add_generator_argument, choose_generator, comma_names, comma_positive_ints
from loadtests.loadgen import (
    LoadSpec,
    TlsTarget,
    TlsVersion,
    cpu_count,
    fast_result,
    round_trip,
    run_load,
)
from loadtests.pykmip_server import PyKmipServer, PyKmipServerSettings
from ttlv.kmip14 import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultStatus,
)

__all__ = ["OPERATIONS", "CryptoKeys", "Workload", "main", "prepare", "workloads"]

QUICK = {"duration": 2.0, "warmup": 0.5, "repeats": 1}
FULL = {"duration": 5.0, "warmup": 1.0, "repeats": 3}
GCM_TAG_LENGTH = 16
SMALL, LARGE = 64, 4096
AES_KEY = bytes(range(32))  # known to the benchmark, so that answers can be checked locally
HMAC_KEY = bytes(range(32, 64))
EC_KEY = ec.derive_private_key(int.from_bytes(bytes(range(64, 96)), "big"), ec.SECP256R1())  # known here too
UNSUPPORTED: dict[str, frozenset[str]] = {PYKMIP: frozenset({"ecdsa-p256"})}
"""Rows a server cannot run (PyKMIP's server signs with RSA only): its cells are skipped."""


@dataclass(frozen=True, slots=True)
class Workload:
    """One row kind of the table: the request for a key, and the check of one answer."""

    operation: Operation
    key: str  # "aes" or "hmac"
    request: Callable[[str], bytes]  # unique identifier -> the pre-encoded request
    check: Callable[[bytes], str | None]  # one whole response -> what is wrong, or None


def _message(operation: Operation, payload: object) -> bytes:
    return request_to_bytes(
        RequestMessage(
            request_header=RequestHeader(protocol_version=ProtocolVersion(major=1, minor=4), batch_count=1),
            batch_items=(RequestBatchItem(operation=operation, request_payload=payload),),  # type: ignore[arg-type]
        )
    )


_GCM = CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.AES,
    block_cipher_mode=BlockCipherMode.GCM,
    tag_length=GCM_TAG_LENGTH,
    random_iv=True,
)


def _payload(response: bytes) -> tuple[object | None, str | None]:
    answer = response_from_bytes(response).batch_items[0]
    if answer.result_status is not ResultStatus.SUCCESS:
        return None, f"{answer.result_reason!r}: {answer.result_message}"
    return answer.response_payload, None


def _gcm_request(size: int) -> Callable[[str], bytes]:
    def request(uid: str) -> bytes:
        return _message(
            Operation.ENCRYPT,
            EncryptRequestPayload(unique_identifier=uid, cryptographic_parameters=_GCM, data=bytes(size)),
        )

    return request


def _gcm_check(size: int) -> Callable[[bytes], str | None]:
    def check(response: bytes) -> str | None:
        payload, problem = _payload(response)
        if problem is not None:
            return problem
        if not isinstance(payload, EncryptResponsePayload) or payload.data is None:
            return "no ciphertext"
        if payload.iv_counter_nonce is None or payload.authenticated_encryption_tag is None:
            return "no server-chosen IV or no tag"
        try:
            plain = AESGCM(AES_KEY).decrypt(
                payload.iv_counter_nonce, payload.data + payload.authenticated_encryption_tag, None
            )
        except Exception:
            return "the ciphertext and tag do not decrypt locally"
        return None if plain == bytes(size) else "the ciphertext decrypts to other data"

    return check


def _hmac_request(uid: str) -> bytes:
    parameters = CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.HMAC_SHA256)
    return _message(
        Operation.MAC,
        MACRequestPayload(unique_identifier=uid, cryptographic_parameters=parameters, data=bytes(SMALL)),
    )


def _hmac_check(response: bytes) -> str | None:
    payload, problem = _payload(response)
    if problem is not None:
        return problem
    context = hmac.HMAC(HMAC_KEY, hashes.SHA256())
    context.update(bytes(SMALL))
    expected = context.finalize()
    if not isinstance(payload, MACResponsePayload) or payload.mac_data != expected:
        return "the MAC differs from HMAC-SHA256 computed locally"
    return None


_ECDSA = CryptographicParameters(digital_signature_algorithm=DigitalSignatureAlgorithm.ECDSA_WITH_SHA256)


def _ecdsa_request(uid: str) -> bytes:
    return _message(
        Operation.SIGN,
        SignRequestPayload(unique_identifier=uid, cryptographic_parameters=_ECDSA, data=bytes(SMALL)),
    )


def _ecdsa_check(response: bytes) -> str | None:
    payload, problem = _payload(response)
    if problem is not None:
        return problem
    if not isinstance(payload, SignResponsePayload) or payload.signature_data is None:
        return "no signature"
    try:
        EC_KEY.public_key().verify(payload.signature_data, bytes(SMALL), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the signature does not verify locally"
    return None


def workloads() -> dict[str, Workload]:
    return {
        "gcm-64": Workload(Operation.ENCRYPT, "aes", _gcm_request(SMALL), _gcm_check(SMALL)),
        "gcm-4k": Workload(Operation.ENCRYPT, "aes", _gcm_request(LARGE), _gcm_check(LARGE)),
        "hmac": Workload(Operation.MAC, "hmac", _hmac_request, _hmac_check),
        "ecdsa-p256": Workload(Operation.SIGN, "ec", _ecdsa_request, _ecdsa_check),
    }


OPERATIONS = tuple(workloads())


@dataclass(frozen=True, slots=True)
class CryptoKeys:
    """The unique identifiers of one server's two benchmark keys."""

    aes: str
    hmac: str
    ec: str = ""  # none where the row is unsupported

    def of(self, kind: str) -> str:
        return {"aes": self.aes, "hmac": self.hmac, "ec": self.ec}[kind]


def _register(
    target: TlsTarget, key: bytes, algorithm: CryptographicAlgorithm, mask: CryptographicUsageMask
) -> str:
    block = KeyBlock(
        key_format_type=KeyFormatType.RAW,
        key_value=KeyValue(key_material=key),
        cryptographic_algorithm=algorithm,
        cryptographic_length=len(key) * 8,
    )
    return _register_object(target, ObjectType.SYMMETRIC_KEY, SymmetricKey(key_block=block), mask)


def _register_ec_key(target: TlsTarget) -> str:
    der = EC_KEY.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    block = KeyBlock(
        key_format_type=KeyFormatType.PKCS_8,
        key_value=KeyValue(key_material=der),
        cryptographic_algorithm=CryptographicAlgorithm.ECDSA,
        cryptographic_length=256,
    )
    return _register_object(
        target, ObjectType.PRIVATE_KEY, PrivateKey(key_block=block), CryptographicUsageMask.SIGN
    )


def _register_object(
    target: TlsTarget, object_type: ObjectType, managed_object: ManagedObject, mask: CryptographicUsageMask
) -> str:
    template = TemplateAttribute(attributes=(Attribute(name="Cryptographic Usage Mask", value=mask),))
    payload, problem = _payload(
        round_trip(
            target,
            _message(
                Operation.REGISTER,
                RegisterRequestPayload(
                    object_type=object_type, template_attribute=template, managed_object=managed_object
                ),
            ),
        )
    )
    if problem is not None or not isinstance(payload, RegisterResponsePayload):
        raise RuntimeError(f"Register failed: {problem}")
    activated = round_trip(
        target,
        _message(
            Operation.ACTIVATE, UniqueIdentifierRequestPayload(unique_identifier=payload.unique_identifier)
        ),
    )
    problem = fast_result(activated, Operation.ACTIVATE)
    if problem is not None:
        raise RuntimeError(f"Activate failed: {problem}")
    return payload.unique_identifier


def prepare(name: str, target: TlsTarget, chosen: Sequence[str]) -> CryptoKeys:
    """Register and activate the two keys, then check one answer of every workload."""
    keys = CryptoKeys(
        aes=_register(
            target,
            AES_KEY,
            CryptographicAlgorithm.AES,
            CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
        ),
        hmac=_register(
            target, HMAC_KEY, CryptographicAlgorithm.HMAC_SHA256, CryptographicUsageMask.MAC_GENERATE
        ),
        ec=_register_ec_key(target) if "ecdsa-p256" in runnable(name, chosen) else "",
    )
    table = workloads()
    for operation in runnable(name, chosen):
        work = table[operation]
        problem = work.check(round_trip(target, work.request(keys.of(work.key))))
        if problem is not None:
            raise RuntimeError(f"{name} {operation}: {problem}")
    return keys


def runnable(server: str, chosen: Sequence[str]) -> list[str]:
    """The chosen rows ``server`` can run."""
    return [name for name in chosen if name not in UNSUPPORTED.get(server, frozenset())]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_crypto", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="short cells: a smoke run")
    parser.add_argument("--connections", type=comma_positive_ints, default=[1, 64], help="default 1,64")
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 5; quick 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 1; quick 0.5)")
    parser.add_argument("--repeats", type=int, help="runs per cell, servers alternating (default 3; quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="our Core's worker processes (default 2)")
    parser.add_argument("--client-processes", default="auto", help="load generator processes (default auto)")
    parser.add_argument("--operations", type=comma_names(OPERATIONS), default=list(OPERATIONS))
    parser.add_argument("--servers", type=comma_names(SERVERS), default=list(SERVERS))
    add_generator_argument(parser)
    return parser


@contextlib.contextmanager
def _work_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="openkcm-bench-crypto-") as name:
        yield Path(name)


def _run_cell(  # noqa: PLR0917 - one call site, every argument named there
    args: argparse.Namespace,
    target: TlsTarget,
    request: bytes,
    pgid: int,
    server: str,
    name: str,
    connections: int,
) -> Cell:
    spec = LoadSpec(
        target=target,
        request=request,
        operation=workloads()[name].operation,
        connections=connections,
        processes=client_processes(args.client_processes, connections),
        warmup=args.warmup,
        duration=args.duration,
        generator=args.generator,
    )
    samples: list[float] = []
    result = run_load(spec, on_window=lambda: samples.append(group_cpu_seconds(pgid)))
    server_cpu = samples[1] - samples[0] if len(samples) == 2 else math.nan
    return Cell(server, name, connections, result, server_cpu, args.duration, errors=result.stats.errors)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    defaults = QUICK if args.quick else FULL
    args.duration = defaults["duration"] if args.duration is None else args.duration
    args.warmup = defaults["warmup"] if args.warmup is None else args.warmup
    args.repeats = int(defaults["repeats"]) if args.repeats is None else args.repeats
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1 or args.repeats < 1:
        print(
            "duration must be positive, warm-up not negative, workers and repeats at least 1", file=sys.stderr
        )
        return 2
    args.generator = choose_generator(args.generator)
    table = workloads()
    cells: list[Cell] = []
    with _work_directory() as work, contextlib.ExitStack() as stack:
        pki = make_pki(work / "core" / "pki")
        ports = {server: free_port() for server in SERVERS}
        targets = {server: make_target(pki, ports[server], TlsVersion.TLS1_2) for server in SERVERS}
        pgids: dict[str, int] = {}
        descriptions: dict[str, str] = {}
        started = time.monotonic()
        if PYKMIP in args.servers:
            settings = PyKmipServerSettings(
                work / "pykmip",
                HOST,
                ports[PYKMIP],
                pki.server_certificate,
                pki.server_key,
                pki.ca_certificate,
            )
            pykmip = stack.enter_context(PyKmipServer(settings, targets[PYKMIP]))
            pgids[PYKMIP] = pykmip.pid
            descriptions[PYKMIP] = (
                f"pykmip-server {metadata.version('pykmip')} (TLS 1.2, client auth, SQLite)"
            )
        if OURS in args.servers:
            core = stack.enter_context(OurCore(work / "core", ports[OURS], targets[OURS], args.workers))
            pgids[OURS] = core.pid
            descriptions[OURS] = core.mode
        keys = {server: prepare(server, targets[server], args.operations) for server in args.servers}
        print(
            f"Crypto benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, servers up and answers checked "
            f"in {time.monotonic() - started:.1f} s"
        )
        print(
            f"  machine: {cpu_count()} CPU(s) ({platform.machine()}), Python {platform.python_version()};"
            " the load generator and the servers SHARE them"
        )
        for server in args.servers:
            print(f"  {server}: {descriptions[server]} on {HOST}:{ports[server]}")
        print(
            "  load: closed loop, persistent mutual-TLS 1.2 connections, KMIP 1.4 requests pre-encoded;"
            f" warm-up {args.warmup:g} s + {args.duration:g} s per cell; gcm-N = Encrypt N bytes"
            " AES-256-GCM (Random IV, 16-byte tag), hmac = MAC HMAC-SHA256 of 64 bytes;"
            f" load generator: {args.generator}"
        )
        for name in args.operations:
            work_item = table[name]
            for connections in args.connections:
                runs: dict[str, list[Cell]] = {server: [] for server in args.servers}
                for repeat in range(args.repeats):
                    order = args.servers if repeat % 2 == 0 else list(reversed(args.servers))
                    for server in order:
                        if name not in runnable(server, [name]):
                            continue
                        request = work_item.request(keys[server].of(work_item.key))
                        cell = _run_cell(
                            args, targets[server], request, pgids[server], server, name, connections
                        )
                        runs[server].append(cell)
                        stats = cell.result.stats
                        print(
                            f"  .. {server} {name} x{connections} #{repeat + 1}: "
                            f"{stats.ops_per_second:.0f} ops/s, P99 {stats.p99_ms:.3f} ms",
                            flush=True,
                        )
                cells.extend(median_cell(runs[server]) for server in args.servers if runs[server])
        print()
        print_table(cells, print)
        print(
            f"  (median of {args.repeats} run(s) by ops/s; CPU in cores = CPU seconds per second of window;"
            " us/op = server CPU microseconds per request)"
        )
        print()
        print_ratios([dataclasses.replace(cell) for cell in cells], print)
        print(f"  machine load average (1 min) {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
