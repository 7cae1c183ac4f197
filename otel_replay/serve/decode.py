"""OTLP export request bodies -> ``TracesData`` messages (an ``ExportTraceServiceRequest``
has the same wire format; OTLP/JSON goes through the recordings' JSON codec), gzip with a
size cap, and SDK ``ReadableSpan`` objects for the spans the DriftProcessor compares.
Every problem is a :class:`_BadRequest` whose message names what is wrong.
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.formats.otlp_json_decode import traces_data_from_json
from otel_replay.formats.otlp_proto import _ProtoDecoder, _RawTracesData
from otel_replay.serve.split import SpanBytesTracesData

__all__ = ["parse_request", "spans_of", "gunzip_capped", "PROTOBUF", "JSON"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_DECODER_CACHE_LIMIT = 2048  # resources + scopes cached per thread before a fresh decoder


class _BadRequest(ValueError):
    """An OTLP request ``otel-replay serve`` cannot accept: unsupported content type or
    encoding, a body over the size cap, or a body that is not OTLP trace data. The message
    names the problem; the request is answered with HTTP 400 (gRPC ``INVALID_ARGUMENT``), or
    413 when too large, and counted in ``agent_replay.serve.requests.rejected``."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


def gunzip_capped(body: bytes, max_bytes: int) -> bytes:
    """The gzip-decompressed ``body``; :class:`_BadRequest` when it is not gzip or
    decompresses to more than ``max_bytes``."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise _BadRequest(f"Content-Encoding gzip but the body is not gzip: {exc}") from None
    if len(out) > max_bytes or d.unconsumed_tail:
        raise _BadRequest(
            f"request body decompresses to more than the cap of {max_bytes} bytes",
            reason="too_large",
        )
    if not d.eof:
        raise _BadRequest("Content-Encoding gzip but the body is a truncated gzip stream")
    return out


_local = threading.local()


def _decoder() -> _ProtoDecoder:
    dec: _ProtoDecoder | None = getattr(_local, "decoder", None)
    if dec is None or len(dec.resources) + len(dec.scopes) > _DECODER_CACHE_LIMIT:
        dec = _local.decoder = _ProtoDecoder()
    return dec


def parse_request(body: bytes, content_type: str = PROTOBUF) -> tuple[Any, bytes]:
    """One OTLP trace export request body (``application/x-protobuf`` or
    ``application/json``) as a :data:`~otel_replay.serve.split.SpanBytesTracesData`, validated
    against the full OTLP schema, and its protobuf bytes; :class:`_BadRequest` naming the
    problem otherwise."""
    if content_type == PROTOBUF:
        try:
            TracesData.FromString(body)  # validates every field (the span bytes are not)
            return SpanBytesTracesData.FromString(body), body
        except DecodeError as exc:
            raise _BadRequest(
                f"the body is not an OTLP ExportTraceServiceRequest (protobuf): {exc}"
            ) from None
    if content_type == JSON:
        try:
            td = traces_data_from_json(body)
        except ValueError as exc:
            raise _BadRequest(
                f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc}"
            ) from None
        wire = td.SerializeToString()
        return SpanBytesTracesData.FromString(wire), wire
    raise _BadRequest(
        f"unsupported Content-Type {content_type!r} (expected {PROTOBUF} or {JSON})",
        reason="unsupported",
    )


def spans_of(body: bytes) -> list[ReadableSpan]:
    """SDK spans of a serialized ``TracesData``; :class:`_BadRequest` for invalid span data."""
    spans: list[ReadableSpan] = []
    dec = _decoder()
    try:
        dec.from_pb(_RawTracesData.FromString(body), spans, dec.raw_attrs)
        return spans
    except (DecodeError, ValueError, TypeError, OverflowError):
        spans.clear()  # redone through the full schema, which names the error
    try:
        dec.from_pb(TracesData.FromString(body), spans)
    except (DecodeError, ValueError, TypeError, OverflowError) as exc:
        raise _BadRequest(f"invalid span data in the request: {exc}") from None
    return spans
