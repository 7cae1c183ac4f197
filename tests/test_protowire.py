"""Hand-written protobuf wire pieces against protobuf's own encoding."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_replay.formats.protowire import delimited, skip_varint, varint


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16383, 16384, 2**32, 2**63 - 1])
def test_varint_is_protobufs_encoding(n):
    encoded = AnyValue(int_value=n).SerializeToString()  # tag 0x18, then the varint
    assert varint(n) == encoded[1:]
    assert skip_varint(encoded, 1) == len(encoded)


@pytest.mark.parametrize("size", [1, 5, 127, 128, 70_000])
def test_delimited_is_protobufs_length_delimited_field(size):
    key = "k" * size
    assert delimited(b"\x0a", key.encode()) == KeyValue(key=key).SerializeToString()
