"""Benchmark: the message model against PyKMIP's codec, both measured in this run.

Run: ``.venv/bin/python -m tests.unit.model.bench_model [--seconds S]``

For a Create request (AES-256, three attributes) and a Get response (a 256-bit Raw symmetric
key), it times model -> bytes and bytes -> model for OpenKCM (``request_to_bytes`` and
friends: the message model on top of ``ttlv``) and the same messages through PyKMIP's
``write``/``read``, and prints messages per second and the ratio. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from kmip_server.model import (
    Attribute,
    CreateRequestPayload,
    GetResponsePayload,
    KeyBlock,
    KeyValue,
    ProtocolVersion,
    RequestBatchItem,
    RequestHeader,
    RequestMessage,
    ResponseBatchItem,
    ResponseHeader,
    ResponseMessage,
    SymmetricKey,
    TemplateAttribute,
    request_from_bytes,
    request_to_bytes,
    response_from_bytes,
    response_to_bytes,
)
from ttlv.kmip14 import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultStatus,
)

KEY = os.urandom(32)
UID = "2c9b7b9e-6a44-4a3f-9d0a-2f0e7c5d9b11"
NOW = 1_700_000_000


def ours() -> tuple[RequestMessage, ResponseMessage]:
    create = RequestMessage(
        request_header=RequestHeader(protocol_version=ProtocolVersion(major=1, minor=2), batch_count=1),
        batch_items=(
            RequestBatchItem(
                operation=Operation.CREATE,
                request_payload=CreateRequestPayload(
                    object_type=ObjectType.SYMMETRIC_KEY,
                    template_attribute=TemplateAttribute(
                        attributes=(
                            Attribute(name="Cryptographic Algorithm", value=CryptographicAlgorithm.AES),
                            Attribute(name="Cryptographic Length", value=256),
                            Attribute(
                                name="Cryptographic Usage Mask",
                                value=CryptographicUsageMask.ENCRYPT | CryptographicUsageMask.DECRYPT,
                            ),
                        )
                    ),
                ),
            ),
        ),
    )
    get = ResponseMessage(
        response_header=ResponseHeader(
            protocol_version=ProtocolVersion(major=1, minor=2), time_stamp=NOW, batch_count=1
        ),
        batch_items=(
            ResponseBatchItem(
                operation=Operation.GET,
                result_status=ResultStatus.SUCCESS,
                response_payload=GetResponsePayload(
                    object_type=ObjectType.SYMMETRIC_KEY,
                    unique_identifier=UID,
                    managed_object=SymmetricKey(
                        key_block=KeyBlock(
                            key_format_type=KeyFormatType.RAW,
                            key_value=KeyValue(key_material=KEY),
                            cryptographic_algorithm=CryptographicAlgorithm.AES,
                            cryptographic_length=256,
                        )
                    ),
                ),
            ),
        ),
    )
    return create, get


def pykmip() -> tuple[object, object]:
    from kmip.core import enums, objects, secrets  # noqa: PLC0415 - a test-only peer
    from kmip.core.factories.attributes import AttributeFactory  # noqa: PLC0415
    from kmip.core.messages import contents, messages, payloads  # noqa: PLC0415

    factory = AttributeFactory()
    attributes = [
        factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES
        ),
        factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
        ),
    ]
    create = messages.RequestMessage(
        request_header=messages.RequestHeader(
            protocol_version=contents.ProtocolVersion(1, 2), batch_count=contents.BatchCount(1)
        ),
        batch_items=[
            messages.RequestBatchItem(
                operation=contents.Operation(enums.Operation.CREATE),
                request_payload=payloads.CreateRequestPayload(
                    enums.ObjectType.SYMMETRIC_KEY, objects.TemplateAttribute(attributes=attributes)
                ),
            )
        ],
    )
    key_block = objects.KeyBlock(
        key_format_type=objects.KeyFormatType(enums.KeyFormatType.RAW),
        key_value=objects.KeyValue(key_material=objects.KeyMaterial(KEY)),
        cryptographic_algorithm=__import__("kmip.core.attributes", fromlist=["x"]).CryptographicAlgorithm(
            enums.CryptographicAlgorithm.AES
        ),
        cryptographic_length=__import__("kmip.core.attributes", fromlist=["x"]).CryptographicLength(256),
    )
    get = messages.ResponseMessage(
        response_header=messages.ResponseHeader(
            protocol_version=contents.ProtocolVersion(1, 2),
            time_stamp=contents.TimeStamp(NOW),
            batch_count=contents.BatchCount(1),
        ),
        batch_items=[
            messages.ResponseBatchItem(
                operation=contents.Operation(enums.Operation.GET),
                result_status=contents.ResultStatus(enums.ResultStatus.SUCCESS),
                response_payload=payloads.GetResponsePayload(
                    object_type=enums.ObjectType.SYMMETRIC_KEY,
                    unique_identifier=UID,
                    secret=secrets.SymmetricKey(key_block),
                ),
            )
        ],
    )
    return create, get


def _pykmip_codec() -> tuple[Callable[[object], bytes], Callable[[bytes, type], object]]:
    from kmip.core import utils  # noqa: PLC0415

    def encode(message: object) -> bytes:
        stream = utils.BytearrayStream()
        message.write(stream)  # type: ignore[attr-defined]
        return bytes(stream.buffer)

    def decode(data: bytes, cls: type) -> object:
        message = cls()
        message.read(utils.BytearrayStream(data))
        return message

    return encode, decode


def _slice_rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(25):
            fn()
        n += 25
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def rates(mine: Callable[[], object], theirs: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Best calls per second of each, over short alternating slices (the machine's load, shared
    with other work, then weighs on both alike)."""
    mine()
    theirs()
    best_mine = best_theirs = 0.0
    slices = 10
    for _ in range(slices):
        best_mine = max(best_mine, _slice_rate(mine, seconds / slices / 2))
        best_theirs = max(best_theirs, _slice_rate(theirs, seconds / slices / 2))
    return best_mine, best_theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per message and direction")
    args = parser.parse_args()
    from kmip.core.messages import messages  # noqa: PLC0415

    create, get = ours()
    create_bytes, get_bytes = request_to_bytes(create), response_to_bytes(get)
    py_create, py_get = pykmip()
    py_encode, py_decode = _pykmip_codec()
    py_create_bytes, py_get_bytes = py_encode(py_create), py_encode(py_get)
    assert request_from_bytes(py_create_bytes) == create, "the two Create requests differ"
    assert response_from_bytes(py_get_bytes) == get, "the two Get responses differ"

    cases = [
        ("Create request  model -> bytes", lambda: request_to_bytes(create), lambda: py_encode(py_create)),
        (
            "Create request  bytes -> model",
            lambda: request_from_bytes(create_bytes),
            lambda: py_decode(py_create_bytes, messages.RequestMessage),
        ),
        ("Get response    model -> bytes", lambda: response_to_bytes(get), lambda: py_encode(py_get)),
        (
            "Get response    bytes -> model",
            lambda: response_from_bytes(get_bytes),
            lambda: py_decode(py_get_bytes, messages.ResponseMessage),
        ),
    ]
    print(f"{'message / direction':32} {'OpenKCM msg/s':>14} {'PyKMIP msg/s':>13} {'ratio':>7}")
    for label, mine, theirs in cases:
        ours_rate, their_rate = rates(mine, theirs, args.seconds)
        print(f"{label:32} {ours_rate:14,.0f} {their_rate:13,.0f} {ours_rate / their_rate:6.1f}x")


if __name__ == "__main__":
    main()
