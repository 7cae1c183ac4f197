"""Recordings: OTLP JSON lines / length-prefixed protobuf files written and read back."""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from otel_replay.core import conventions as c
from otel_replay.core import sdkspan
from otel_replay.formats import errors as errors_mod
from otel_replay.formats import files as files_mod
from otel_replay.formats import json_text as json_text_mod
from otel_replay.formats import otlp_json_encode as otlp_json_encode_mod
from otel_replay.formats import otlp_json_fields as otlp_json_fields_mod
from otel_replay.formats import otlp_proto as otlp_proto_mod
from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
)
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording, write_recording
from otel_replay.formats.otlp_json_decode import traces_data_from_json
from otel_replay.formats.otlp_json_encode import traces_data_to_json
from otel_replay.formats.otlp_proto import encode_spans, spans_from_traces_data
from otel_replay.formats.recording import Recording

DATA = Path(__file__).parent / "data" / "recordings"
EXT = {"jsonl": ".jsonl", "protobuf": ".binpb"}
FORMATS = ["jsonl", "protobuf"]

ALL_TYPES: dict[str, Any] = {
    "str": "hello ✓",
    "empty_str": "",
    "int": 42,
    "neg_int": -(2**63),
    "big_int": 2**63 - 1,
    "float": 0.25,
    "bool": True,
    "false": False,
    "bytes": b"\x00\xffraw",
    "str_array": ["a", "b", ""],
    "int_array": [1, 2, 3],
    "float_array": [1.5, -2.0],
    "bool_array": [True, False],
    "empty_array": [],
    "mixed_array": [1, "a", None, 2.5],
    "map": {"k": "v", "n": 1, "nested": {"x": [1, 2]}},
    "none": None,
}


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """Everything a round trip must preserve, in comparable form."""
    ctx = span.context
    assert ctx is not None
    parent = span.parent
    scope = span.instrumentation_scope
    assert scope is not None
    return {
        "name": span.name,
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "trace_flags": int(ctx.trace_flags),
        "trace_state": list(ctx.trace_state.items()),
        "is_remote": ctx.is_remote,
        "parent": None
        if parent is None
        else (parent.trace_id, parent.span_id, parent.is_remote, int(parent.trace_flags)),
        "kind": span.kind,
        "status": (span.status.status_code, span.status.description),
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes or {}),
        "events": [(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events],
        "links": [
            (
                lk.context.trace_id,
                lk.context.span_id,
                int(lk.context.trace_flags),
                lk.context.is_remote,
                list(lk.context.trace_state.items()),
                dict(lk.attributes or {}),
            )
            for lk in span.links
        ],
        "resource": (dict(span.resource.attributes), span.resource.schema_url),
        "scope": (scope.name, scope.version, scope.schema_url, dict(scope.attributes or {})),
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
    }


class Traced:
    """A real TracerProvider writing to a RecordingExporter and an InMemorySpanExporter."""

    def __init__(self, path: Path | str, fmt: str = "jsonl", **kwargs: Any) -> None:
        self.memory = InMemorySpanExporter()
        self.recorder = RecordingExporter(path, format=fmt, **kwargs)  # type: ignore[arg-type]
        self.provider = TracerProvider(
            resource=Resource(
                {"service.name": "agent-svc", "service.version": "1.2.3", "host.cores": 2},
                schema_url="https://opentelemetry.io/schemas/1.26.0",
            )
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.recorder))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer(
            "otel_replay.tests",
            "0.9.1",
            schema_url="https://example.com/schema",
            attributes={"scope.attr": "x"},
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def close(self) -> None:
        self.provider.shutdown()


def emit_agent_run(tracer: trace.Tracer) -> None:
    """Nested spans with every attribute type, events, links, error status, remote parent."""
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "opaque"), ("other", "x1")]),
    )
    linked = SpanContext(
        trace_id=0x11111111111111111111111111111111,
        span_id=0x2222222222222222,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("lk", "v")]),
    )
    ctx = trace.set_span_in_context(NonRecordingSpan(remote_parent))
    with tracer.start_as_current_span(
        "invoke_agent planner",
        context=ctx,
        kind=SpanKind.SERVER,
        attributes={c.SESSION_ID: "sess-1", c.GEN_AI_OPERATION_NAME: "invoke_agent"},
        links=[Link(linked, {"link.reason": "retry", "link.n": 2})],
    ) as root:
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes(ALL_TYPES)
            llm.add_event("gen_ai.choice", {"index": 0, "tags": ["a", "b"]}, timestamp=1_234)
            llm.add_event("empty event")
        with tracer.start_as_current_span("execute_tool search", kind=SpanKind.INTERNAL) as tool:
            tool.set_attribute(c.GEN_AI_TOOL_NAME, "search")
            tool.set_status(Status(StatusCode.ERROR, "tool exploded: timeout"))
            tool.record_exception(ValueError("boom"))
        for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
            with tracer.start_as_current_span(f"queue {kind.name}", kind=kind) as q:
                q.set_status(Status(StatusCode.OK))
        root.set_attribute("done", True)


@pytest.fixture
def traced(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Traced]:
    fmt = getattr(request, "param", "jsonl")
    t = Traced(tmp_path / f"run{EXT[fmt]}", fmt)
    yield t
    t.close()


# --- Round trip -------------------------------------------------------------------------------
@pytest.mark.parametrize("traced", FORMATS, indirect=True)
def test_round_trip_is_lossless(traced: Traced) -> None:
    emit_agent_run(traced.tracer)
    original = traced.spans()
    assert len(original) == 5
    loaded = load_recording(traced.recorder.path)  # type: ignore[arg-type]
    assert loaded.warnings == []
    assert len(loaded.spans) == 5
    assert all(type(s) is ReadableSpan for s in loaded.spans)
    assert [span_record(s) for s in loaded.spans] == [span_record(s) for s in original]
    # spot checks on the fields that matter most
    by_name = {s.name: s for s in loaded.spans}
    tool = by_name["execute_tool search"]
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.status.description == "tool exploded: timeout"
    assert tool.events[0].name == "exception"
    llm = by_name["chat gpt-4o"]
    assert llm.attributes == {
        **ALL_TYPES,
        "str_array": ("a", "b", ""),
        "int_array": (1, 2, 3),
        "float_array": (1.5, -2.0),
        "bool_array": (True, False),
        "empty_array": (),
        "mixed_array": (1, "a", None, 2.5),
        "map": {"k": "v", "n": 1, "nested": {"x": (1, 2)}},
    }
    root = by_name["invoke_agent planner"]
    assert root.parent is not None and root.parent.is_remote is True
    assert root.parent.span_id == 0xB7AD6B7169203331
    assert root.context.trace_state.to_header() == "vendor=opaque,other=x1"
    assert llm.parent is not None and llm.parent.span_id == root.context.span_id
    assert llm.parent.is_remote is False
    assert root.links[0].context.trace_state.to_header() == "lk=v"
    assert root.resource.attributes["service.name"] == "agent-svc"
    assert root.instrumentation_scope is not None
    assert root.instrumentation_scope.version == "0.9.1"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_dropped_counts(tmp_path: Path, fmt: str) -> None:
    limits = SpanLimits(max_span_attributes=2, max_events=2, max_links=1, max_event_attributes=1)
    provider = TracerProvider(span_limits=limits)
    memory = InMemorySpanExporter()
    path = tmp_path / f"limits{EXT[fmt]}"
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path, format=fmt)))  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(memory))
    link_ctx = SpanContext(5, 6, is_remote=False)
    with provider.get_tracer("t").start_as_current_span(
        "s", attributes={"a": 1, "b": 2, "c": 3}, links=[Link(link_ctx), Link(link_ctx)]
    ) as span:
        span.add_event("e1")
        span.add_event("e2", {"x": 1, "y": 2})
        span.add_event("e3")
    provider.shutdown()
    original = memory.get_finished_spans()[0]
    assert (original.dropped_attributes, original.dropped_events, original.dropped_links) == (
        1,
        1,
        1,
    )
    assert original.events[0].dropped_attributes == 1
    loaded = load_recording(path).spans[0]
    assert span_record(loaded) == span_record(original)
    assert [e.name for e in loaded.events] == ["e2", "e3"]
    assert loaded.events[0].dropped_attributes == 1


def test_spans_from_traces_data_matches_sdk_spans(traced: Traced) -> None:
    emit_agent_run(traced.tracer)
    original = traced.spans()
    td = encode_spans(original)
    assert isinstance(td, TracesData)
    assert [span_record(s) for s in spans_from_traces_data(td)] == [
        span_record(s) for s in original
    ]
    # one ResourceSpans, one ScopeSpans (same resource and scope for every span)
    assert len(td.resource_spans) == 1
    assert len(td.resource_spans[0].scope_spans) == 1
    assert len(td.resource_spans[0].scope_spans[0].spans) == 5


def test_write_recording_round_trip_in_batches(tmp_path: Path, traced: Traced) -> None:
    for _ in range(420):
        emit_agent_run(traced.tracer)
    spans = traced.spans()
    assert len(spans) == 2100
    for fmt in FORMATS:
        path = write_recording(tmp_path / f"batch{EXT[fmt]}", spans, format=fmt)  # type: ignore[arg-type]
        loaded = load_recording(path)
        assert [span_record(s) for s in loaded.spans] == [span_record(s) for s in spans]
    lines = (tmp_path / "batch.jsonl").read_bytes().split(b"\n")
    assert len(lines) == 4 and lines[-1] == b""  # 1000 + 1000 + 100 spans, newline-terminated


# --- OTLP JSON shape --------------------------------------------------------------------------
def test_jsonl_line_has_the_otlp_json_shape(traced: Traced) -> None:
    emit_agent_run(traced.tracer)
    original = {s.name: s for s in traced.spans()}
    raw = Path(traced.recorder.path).read_bytes()  # type: ignore[arg-type]
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 6  # SimpleSpanProcessor: one span per line
    line = json.loads(lines[0])
    assert list(line) == ["resourceSpans"]
    rs = line["resourceSpans"][0]
    assert rs["schemaUrl"] == "https://opentelemetry.io/schemas/1.26.0"
    assert rs["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "agent-svc"}},
        {"key": "service.version", "value": {"stringValue": "1.2.3"}},
        {"key": "host.cores", "value": {"intValue": "2"}},
    ]
    ss = rs["scopeSpans"][0]
    assert ss["scope"] == {
        "name": "otel_replay.tests",
        "version": "0.9.1",
        "attributes": [{"key": "scope.attr", "value": {"stringValue": "x"}}],
    }
    assert ss["schemaUrl"] == "https://example.com/schema"
    span = ss["spans"][0]
    sdk = original[span["name"]]
    assert span["name"] == "chat gpt-4o"
    assert span["traceId"] == format(sdk.context.trace_id, "032x")
    assert span["spanId"] == format(sdk.context.span_id, "016x")
    assert span["parentSpanId"] == format(sdk.parent.span_id, "016x")
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
    assert span["traceState"] == "vendor=opaque,other=x1"
    assert span["flags"] == 0x101  # has-is-remote bit + W3C sampled; parent is local
    assert span["kind"] == 3 and isinstance(span["kind"], int)  # SPAN_KIND_CLIENT
    assert span["startTimeUnixNano"] == str(sdk.start_time)
    assert span["endTimeUnixNano"] == str(sdk.end_time)
    assert span["status"] == {}
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["str"] == {"stringValue": "hello ✓"}
    assert attrs["int"] == {"intValue": "42"}
    assert attrs["neg_int"] == {"intValue": "-9223372036854775808"}
    assert attrs["float"] == {"doubleValue": 0.25}
    assert attrs["bool"] == {"boolValue": True}
    assert attrs["bytes"] == {"bytesValue": base64.b64encode(b"\x00\xffraw").decode()}
    assert attrs["int_array"] == {
        "arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}, {"intValue": "3"}]}
    }
    assert attrs["empty_array"] == {"arrayValue": {}}
    assert attrs["map"]["kvlistValue"]["values"][0] == {
        "key": "k",
        "value": {"stringValue": "v"},
    }
    assert attrs["none"] == {}
    assert span["events"][0] == {
        "timeUnixNano": "1234",
        "name": "gen_ai.choice",
        "attributes": [
            {"key": "index", "value": {"intValue": "0"}},
            {
                "key": "tags",
                "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}},
            },
        ],
    }
    tool = json.loads(lines[1])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert tool["status"] == {"message": "tool exploded: timeout", "code": 2}
    root = json.loads(lines[4])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert root["kind"] == 2  # SPAN_KIND_SERVER
    assert root["flags"] == 0x301  # parent is remote
    assert root["links"] == [
        {
            "traceId": "11111111111111111111111111111111",
            "spanId": "2222222222222222",
            "traceState": "lk=v",
            "attributes": [
                {"key": "link.reason", "value": {"stringValue": "retry"}},
                {"key": "link.n", "value": {"intValue": "2"}},
            ],
            "flags": 0x301,
        }
    ]


def test_json_writer_matches_protobuf_encoding(traced: Traced) -> None:
    """The exporter's direct JSON encoder and encode_spans + traces_data_to_json agree."""
    emit_agent_run(traced.tracer)
    lines = Path(traced.recorder.path).read_text("utf-8").splitlines()  # type: ignore[arg-type]
    for span, line in zip(traced.spans(), lines, strict=True):
        assert traces_data_to_json(encode_spans([span])) == line
        assert traces_data_from_json(line) == encode_spans([span])


def test_protobuf_file_uses_collector_framing(tmp_path: Path) -> None:
    t = Traced(tmp_path / "run.binpb", "protobuf")
    emit_agent_run(t.tracer)
    t.close()
    data = (tmp_path / "run.binpb").read_bytes()
    offset, frames = 0, []
    while offset < len(data):
        (size,) = struct.unpack(">I", data[offset : offset + 4])  # uint32, big-endian
        frames.append(TracesData.FromString(data[offset + 4 : offset + 4 + size]))
        offset += 4 + size
    assert offset == len(data)
    assert frames == [encode_spans([s]) for s in t.spans()]


def test_traces_data_from_json_is_lenient_as_proto3_json() -> None:
    line = json.dumps(
        {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "spans": [
                                {
                                    "trace_id": base64.b64encode(bytes(range(1, 17))).decode(),
                                    "span_id": "AQIDBAUGBwg=",
                                    "name": "s",
                                    "kind": "SPAN_KIND_SERVER",
                                    "start_time_unix_nano": 17,
                                    "attributes": [{"key": "n", "value": {"int_value": 5}}],
                                    "status": {"code": "STATUS_CODE_ERROR"},
                                    "unknownField": {"x": 1},
                                }
                            ]
                        }
                    ],
                    "futureField": 1,
                }
            ]
        }
    )
    td = traces_data_from_json(line)
    span = td.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes(range(1, 17))
    assert span.span_id == bytes(range(1, 9))
    assert span.kind == 2 and span.start_time_unix_nano == 17 and span.status.code == 2
    assert span.attributes[0].value.int_value == 5
    with pytest.raises(ValueError, match=r'^not an OTLP TracesData object \(no "resourceSpans"\)$'):
        traces_data_from_json('{"resourceLogs": []}')
    with pytest.raises(ValueError, match=r"^invalid JSON: "):
        traces_data_from_json("{")


def test_unencodable_attribute_values_in_both_encoders() -> None:
    # objects are dropped (and reported); out-of-range integers take the lossless fallback
    span = ReadableSpan(
        "p",
        context=SpanContext(1, 2, False),
        resource=Resource({}),
        attributes={"ok": 1, "huge": 2**64, "obj": object(), "arr": (1, object())},
    )
    td = encode_spans([span])
    kvs = td.resource_spans[0].scope_spans[0].spans[0].attributes
    assert [kv.key for kv in kvs] == ["ok", "huge"]
    assert kvs[1].value.string_value == f"otel_replay.int:{2**64}"
    line = json_text_mod._dumps(otlp_json_encode_mod._JsonEncoder().traces_data([span])).decode()
    assert line == traces_data_to_json(td)


def test_decoded_resources_keep_value_types_apart(tmp_path: Path) -> None:
    def line(value: dict[str, Any]) -> str:
        span = {"traceId": "01" * 16, "spanId": "02" * 8, "name": "s"}
        resource = {"attributes": [{"key": "x", "value": value}]}
        return json.dumps(
            {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
        )

    path = tmp_path / "types.jsonl"
    values = [{"intValue": "1"}, {"boolValue": True}, {"doubleValue": 1.0}, {"intValue": 1}]
    path.write_text("\n".join(line(v) for v in values) + "\n")
    got = [s.resource.attributes["x"] for s in load_recording(path).spans]
    assert [(type(v), v) for v in got] == [(int, 1), (bool, True), (float, 1.0), (int, 1)]


# --- Loading errors ---------------------------------------------------------------------------
def good_lines(tmp_path: Path, n: int = 3) -> list[bytes]:
    provider = TracerProvider(resource=Resource({"service.name": "x"}))
    path = tmp_path / "source.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path)))
    tracer = provider.get_tracer("t")
    for i in range(n):
        with tracer.start_as_current_span(f"step-{i}", attributes={c.STEP_SEQUENCE: i}):
            pass
    provider.shutdown()
    lines = path.read_bytes().splitlines(keepends=True)
    path.unlink()
    assert len(lines) == n
    return lines


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(RecordingError, match=re.escape(f"{missing}: no such recording file")):
        load_recording(missing)


def test_directory_without_recordings(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "c.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RecordingError, match=re.escape(f"{tmp_path}: no recording files")):
        load_recording(tmp_path)


def test_corrupt_line_in_the_middle(tmp_path: Path) -> None:
    lines = good_lines(tmp_path)
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines[0] + b'{"resourceSpans": [} \n' + lines[2])
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    err = info.value
    assert (err.path, err.line, err.offset) == (str(path), 2, None)
    assert str(err) == f"{path}:2: invalid JSON: Expecting value (column 20)"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]", "not an OTLP TracesData object (a JSON array)"),
        (b'"text"', "not an OTLP TracesData object (a JSON string)"),
        (b'{"resourceMetrics": []}', 'not an OTLP TracesData object (no "resourceSpans")'),
        (b'{"resourceSpans": {}}', '"resourceSpans" is an object, expected an array'),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0]: startTimeUnixNano: invalid integer 'soon'",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0]: traceId: invalid id 'xyz' "
            "(expected 32 hex digits)",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0]: name is a number, expected a string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": '
            b'[{"attributes": [{"key": "k", "value": {"intValue": "1.5"}}]}]}]}]}',
            "resourceSpans[0].scopeSpans[0].spans[0].attributes['k']: intValue: "
            "invalid integer '1.5'",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": 3}]}}]}',
            "resourceSpans[0].resource: attribute 'k': value is a number, expected an object",
        ),
    ],
)
def test_line_that_is_not_traces_data(tmp_path: Path, line: bytes, message: str) -> None:
    lines = good_lines(tmp_path)
    path = tmp_path / "trace.jsonl"
    path.write_bytes(lines[0] + line + b"\n" + lines[1])
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    assert str(info.value) == f"{path}:2: {message}"
    assert info.value.line == 2


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    lines = good_lines(tmp_path, 3)
    path = tmp_path / "crashed.jsonl"
    cut = lines[2][: len(lines[2]) // 2]  # the writer died mid-line: no newline
    path.write_bytes(lines[0] + lines[1] + cut)
    expected = (
        f"{path}:3: skipped truncated last line ({len(cut)} bytes, no trailing newline; "
        "the writer probably crashed)"
    )
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(path)
    assert [str(w.message) for w in record] == [expected]
    assert loaded.warnings == [expected]
    assert [s.name for s in loaded.spans] == ["step-0", "step-1"]


def test_truncated_line_with_newline_is_an_error(tmp_path: Path) -> None:
    lines = good_lines(tmp_path, 2)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(lines[0] + lines[1][:40] + b"\n")
    with pytest.raises(RecordingFormatError, match=re.escape(f"{path}:2: invalid JSON: ")):
        load_recording(path, strict=True)


def test_last_line_without_newline_but_complete_is_loaded(tmp_path: Path) -> None:
    lines = good_lines(tmp_path, 2)
    path = tmp_path / "nonl.jsonl"
    path.write_bytes(b"\n  \n" + lines[0] + b"\r\n\n" + lines[1].rstrip(b"\n"))
    loaded = load_recording(path)
    assert [s.name for s in loaded.spans] == ["step-0", "step-1"]
    assert loaded.warnings == []


def test_oversize_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = good_lines(tmp_path, 3)
    path = tmp_path / "big.jsonl"
    path.write_bytes(lines[0] + b'{"resourceSpans": [], "pad": "' + b"x" * 500 + b'"}\n')
    cap = len(lines[0]) + 10
    with pytest.raises(RecordingSizeError) as info:
        load_recording(path, max_bytes=cap, strict=True)
    assert str(info.value) == (
        f"{path}:2: line is longer than the cap of {cap} bytes "
        "(max_bytes / OTEL_REPLAY_RECORDING_MAX_LINE_BYTES)"
    )
    assert len(load_recording(path, max_bytes=600).spans) == 1
    monkeypatch.setenv(c.ENV_RECORDING_MAX_LINE_BYTES, str(cap))
    with pytest.raises(RecordingSizeError, match=re.escape(f"{path}:2: line is longer")):
        load_recording(path, strict=True)


def test_file_size_cap(tmp_path: Path) -> None:
    lines = good_lines(tmp_path, 3)
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines))
    size = path.stat().st_size
    with pytest.raises(RecordingSizeError, match=re.escape(f"{path}: file is {size} bytes")):
        load_recording(path, max_file_bytes=size - 1)
    assert len(load_recording(path, max_file_bytes=size).spans) == 3


def test_binary_file_given_to_the_json_reader(tmp_path: Path) -> None:
    spans = TracesDataFactory.spans(3)
    src = write_recording(tmp_path / "x.binpb", spans, format="protobuf")
    path = tmp_path / "mislabelled.jsonl"
    path.write_bytes(Path(src).read_bytes())
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path)
    assert info.value.line == 1
    assert str(info.value) == (
        f"{path}:1: expected OTLP JSON lines but found binary data "
        "(a protobuf recording must use the .binpb extension)"
    )


def test_text_file_given_to_the_protobuf_reader(tmp_path: Path) -> None:
    path = tmp_path / "mislabelled.binpb"
    path.write_bytes(b"".join(good_lines(tmp_path, 2)))
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path)
    assert info.value.offset == 0 and info.value.line is None
    assert str(info.value) == (
        f"{path}: at byte offset 0: expected length-prefixed OTLP protobuf but found text "
        "(a JSON lines recording must use the .jsonl extension)"
    )


class TracesDataFactory:
    @staticmethod
    def spans(n: int) -> list[ReadableSpan]:
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource({"service.name": "f"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("f")
        for i in range(n):
            with tracer.start_as_current_span(f"s{i}", attributes={"i": i}):
                pass
        provider.shutdown()
        return list(memory.get_finished_spans())

    @staticmethod
    def frames(n: int) -> list[bytes]:
        out = []
        for span in TracesDataFactory.spans(n):
            payload = encode_spans([span]).SerializeToString()
            out.append(len(payload).to_bytes(4, "big") + payload)
        return out


def test_protobuf_truncated_last_frame_is_skipped_with_a_warning(tmp_path: Path) -> None:
    frames = TracesDataFactory.frames(3)
    path = tmp_path / "crashed.binpb"
    offset = len(frames[0]) + len(frames[1])
    path.write_bytes(frames[0] + frames[1] + frames[2][:-5])
    expected = (
        f"{path}: at byte offset {offset}: skipped truncated last frame "
        f"({len(frames[2]) - 5} bytes left, expected {len(frames[2])} bytes; "
        "the writer probably crashed)"
    )
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(path)
    assert [str(w.message) for w in record] == [expected]
    assert loaded.warnings == [expected]
    assert [s.name for s in loaded.spans] == ["s0", "s1"]
    # a partial 4-byte length prefix is a truncated frame too
    path.write_bytes(frames[0] + frames[1] + frames[2][:2])
    with pytest.warns(RecordingWarning) as record:
        assert len(load_recording(path).spans) == 2
    assert str(record[0].message) == (
        f"{path}: at byte offset {offset}: skipped truncated last frame (2 bytes left, "
        "expected a 4-byte length prefix; the writer probably crashed)"
    )


def test_protobuf_frame_length_beyond_cap(tmp_path: Path) -> None:
    frames = TracesDataFactory.frames(3)
    path = tmp_path / "corrupt.binpb"
    path.write_bytes(frames[0] + b"\x7f\xff\xff\xff" + frames[1][4:] + frames[2])
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, max_bytes=1024, strict=True)
    assert info.value.offset == len(frames[0])
    assert str(info.value) == (
        f"{path}: at byte offset {len(frames[0])}: frame length 2147483647 exceeds the cap "
        "of 1024 bytes (corrupt frame?)"
    )


def test_protobuf_undecodable_frame(tmp_path: Path) -> None:
    frames = TracesDataFactory.frames(2)
    garbage = b"\x0a\xff\xff\xff\xff\x0f\x01"  # field 1, length far beyond the frame
    path = tmp_path / "corrupt.binpb"
    path.write_bytes(frames[0] + len(garbage).to_bytes(4, "big") + garbage + frames[1])
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    assert info.value.offset == len(frames[0])
    assert str(info.value).startswith(
        f"{path}: at byte offset {len(frames[0])}: undecodable OTLP TracesData frame"
    )


def test_format_is_sniffed_for_unknown_extensions(tmp_path: Path) -> None:
    json_path = tmp_path / "trace.otlp"
    json_path.write_bytes(b"".join(good_lines(tmp_path, 2)))
    pb_path = tmp_path / "trace"
    pb_path.write_bytes(b"".join(TracesDataFactory.frames(3)))
    assert [s.name for s in load_recording(json_path).spans] == ["step-0", "step-1"]
    assert [s.name for s in load_recording(pb_path).spans] == ["s0", "s1", "s2"]


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    obj = json.loads(good_lines(tmp_path, 1)[0])
    obj["extra"] = {"x": [1]}
    obj["resourceSpans"][0]["extra"] = 1
    obj["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["extra"] = "y"
    obj["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["extra"] = None
    path = tmp_path / "extra.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    assert [s.name for s in load_recording(path).spans] == ["step-0"]


def test_directory_loads_every_recording_file_sorted(tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    spans = TracesDataFactory.spans(4)
    write_recording(rec_dir / "b.binpb", spans[2:], format="protobuf")
    write_recording(rec_dir / "a.jsonl", spans[:1])
    write_recording(rec_dir / "a2.json", spans[1:2])
    (rec_dir / "checkpoints").mkdir()
    write_recording(rec_dir / "checkpoints" / "z.jsonl", spans)  # not a recording
    (rec_dir / "README.txt").write_text("not a recording")
    loaded = load_recording(rec_dir)
    assert loaded.paths == [
        str(rec_dir / "a.jsonl"),
        str(rec_dir / "a2.json"),
        str(rec_dir / "b.binpb"),
    ]
    assert [s.name for s in loaded.spans] == ["s0", "s1", "s2", "s3"]


# --- Collector file exporter compatibility ----------------------------------------------------
def test_loads_collector_file_exporter_output() -> None:
    # tests/data/recordings/collector-ptrace.jsonl is the `tracesJSON` fixture of
    # open-telemetry/opentelemetry-collector pdata/ptrace/json_test.go: the exact bytes that
    # ptrace.JSONMarshaler writes; the contrib `file` exporter (marshaller.go) writes one such
    # object per line (file_writer.go: exportMessageAsLine).
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(DATA / "collector-ptrace.jsonl")
    # the fixture's second span has no ids at all: loaded, and said so
    assert (
        loaded.warnings
        == [str(w.message) for w in record]
        == [
            f"{DATA / 'collector-ptrace.jsonl'}: 1 span with an absent or all-zero trace id or "
            "span id (invalid in OTLP; such spans cannot be linked to their parents or children)"
        ]
    )
    assert [s.name for s in loaded.spans] == ["testSpan", "testSpan2"]
    span, empty = loaded.spans
    assert span.context.trace_id == 0x0102030405060708090A0B0C0D0E0F10
    assert span.context.span_id == 0x1112131415161718
    assert span.parent is not None and span.parent.span_id == 0x1112131415161718
    assert span.kind is SpanKind.CLIENT
    assert (span.start_time, span.end_time) == (1684617382541971000, 1684623646539558000)
    assert span.status.status_code is StatusCode.OK
    assert dict(span.attributes) == {
        "string": "value",
        "bool": True,
        "int": 1,
        "double": 1.1,
        "bytes": b"foo",
        "array": (1, "str"),
        "kvList": {"int": 1, "string": "string"},
    }
    assert span.dropped_attributes == 1
    assert span.dropped_events == 1 and span.dropped_links == 1
    (event,) = span.events
    assert (event.name, event.timestamp) == ("eventName", 1684620382541971000)
    assert dict(event.attributes) == {
        "string": "value",
        "bool": True,
        "int": 1,
        "double": 1.1,
        "bytes": b"foo",
    }
    (link,) = span.links
    assert (link.context.trace_id, link.context.span_id) == (
        0x0102030405060708090A0B0C0D0E0F10,
        0x1112131415161718,
    )
    assert link.attributes["bytes"] == b"foo"
    assert dict(span.resource.attributes) == {
        "host.name": "testHost",
        "service.name": "testService",
    }
    assert span.resource.schema_url == "schemaURL"
    assert span.instrumentation_scope == InstrumentationScope(
        "scope name", "scope version", "schemaURL"
    )
    # the second span has empty ids, no times and an empty status
    assert (empty.context.trace_id, empty.context.span_id, empty.parent) == (0, 0, None)
    assert (empty.start_time, empty.end_time) == (None, None)
    assert empty.status.status_code is StatusCode.UNSET


# --- Exporter ---------------------------------------------------------------------------------
def test_exporter_into_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir"
    exporter = RecordingExporter(str(target) + os.sep, format="protobuf")
    assert exporter.path is None
    spans = TracesDataFactory.spans(2)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.path is not None
    assert re.fullmatch(
        rf"spans-{os.getpid()}-\d{{8}}T\d{{6}}\.\d{{6}}Z\.binpb", os.path.basename(exporter.path)
    )
    assert os.path.dirname(exporter.path) == str(target)
    exporter.shutdown()
    assert [s.name for s in load_recording(target).spans] == ["s0", "s1"]
    # an existing directory without a trailing separator is a directory too
    exporter = RecordingExporter(target)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.path is not None and exporter.path.endswith(".jsonl")
    exporter.shutdown()
    assert len(load_recording(target).spans) == 4


def test_exporter_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    spans = TracesDataFactory.spans(2)
    for span in spans:
        exporter = RecordingExporter(path)
        assert exporter.export([span]) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert [s.name for s in load_recording(path).spans] == ["s0", "s1"]


def test_export_after_shutdown_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exporter = RecordingExporter(tmp_path / "r.jsonl")
    spans = TracesDataFactory.spans(1)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.force_flush() is True
    exporter.shutdown()
    caplog.set_level(logging.DEBUG, logger="otel_replay")
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.failures == 2
    assert len([r for r in caplog.records if r.name == "otel_replay"]) == 1
    assert len(load_recording(tmp_path / "r.jsonl").spans) == 1


def test_unwritable_path_fails_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    target = not_a_dir / "rec.jsonl"
    exporter = RecordingExporter(target)
    spans = TracesDataFactory.spans(1)
    caplog.set_level(logging.DEBUG, logger="otel_replay")
    results = [exporter.export(spans) for _ in range(5)]
    assert results == [SpanExportResult.FAILURE] * 5
    assert exporter.failures == 5
    records = [r for r in caplog.records if r.name == "otel_replay"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert f"cannot open recording file {target}" in records[0].getMessage()
    exporter.shutdown()


def test_max_bytes_cap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "capped.jsonl"
    spans = TracesDataFactory.spans(4)
    one = len(json_text_mod._dumps(otlp_json_encode_mod._JsonEncoder().traces_data(spans[:1]))) + 1
    exporter = RecordingExporter(path, max_bytes=2 * one + 10)
    caplog.set_level(logging.DEBUG, logger="otel_replay")
    results = [exporter.export([s]) for s in spans]
    assert results == [SpanExportResult.SUCCESS] * 2 + [SpanExportResult.FAILURE] * 2
    assert exporter.failures == 2
    assert path.stat().st_size <= 2 * one + 10
    records = [r.getMessage() for r in caplog.records if r.name == "otel_replay"]
    assert len(records) == 1
    assert f"recording file {path} reached its size cap of {2 * one + 10} bytes" in records[0]
    exporter.shutdown()
    assert [s.name for s in load_recording(path).spans] == ["s0", "s1"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_fails_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    exporter = RecordingExporter("/dev/full")  # every write fails with ENOSPC
    spans = TracesDataFactory.spans(1)
    caplog.set_level(logging.DEBUG, logger="otel_replay")
    assert [exporter.export(spans) for _ in range(3)] == [SpanExportResult.FAILURE] * 3
    assert exporter.failures == 3
    records = [r.getMessage() for r in caplog.records if r.name == "otel_replay"]
    assert len(records) == 1
    assert records[0].startswith("cannot write recording file /dev/full: [Errno 28]")
    exporter.shutdown()


def test_export_never_raises_on_unencodable_spans(tmp_path: Path) -> None:
    exporter = RecordingExporter(tmp_path / "r.jsonl")
    bad = ReadableSpan("bad", context=None, resource=Resource({}))
    bad._kind = "not a kind"  # type: ignore[assignment]
    assert exporter.export([bad]) is SpanExportResult.FAILURE
    assert exporter.failures == 1
    exporter.shutdown()


def test_invalid_exporter_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown recording format 'xml'"):
        RecordingExporter(tmp_path / "x", format="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        RecordingExporter(tmp_path / "x", max_bytes=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_concurrent_exports(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"threads{EXT[fmt]}"
    exporter = RecordingExporter(path, format=fmt)  # type: ignore[arg-type]
    spans = TracesDataFactory.spans(3)
    per_thread = 150
    barrier = threading.Barrier(8)
    results: list[SpanExportResult] = []

    def work(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            results.append(exporter.export(spans[: 1 + (i + k) % 3]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * (8 * per_thread)
    expected = sum(1 + (i + k) % 3 for k in range(8) for i in range(per_thread))
    if fmt == "jsonl":
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b"" and len(lines) == 8 * per_thread + 1
        for line in lines[:-1]:
            traces_data_from_json(line)
    loaded = load_recording(path)
    assert loaded.warnings == []
    assert len(loaded.spans) == expected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "parent.jsonl"
    exporter = RecordingExporter(path)
    spans = TracesDataFactory.spans(2)
    assert exporter.export(spans[:1]) is SpanExportResult.SUCCESS
    pid = os.fork()
    if pid == 0:  # child
        code = 0 if exporter.export(spans[1:]) is SpanExportResult.SUCCESS else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert exporter.export(spans[:1]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert [s.name for s in load_recording(path).spans] == ["s0", "s0"]
    assert [s.name for s in load_recording(tmp_path / f"parent-{pid}.jsonl").spans] == ["s1"]


# --- Recording: steps and sessions ------------------------------------------------------------
def test_recording_steps_and_sessions(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    clock = iter(range(1_000, 100_000, 10))

    def run(session: str, tools: list[tuple[str, int | None]]) -> None:
        root = tracer.start_span(
            "invoke_agent", start_time=next(clock), attributes={c.SESSION_ID: session}
        )
        ctx = trace.set_span_in_context(root)
        for name, seq in tools:
            attrs: dict[str, Any] = {c.GEN_AI_OPERATION_NAME: "execute_tool"}
            attrs[c.GEN_AI_TOOL_NAME] = name
            if seq is not None:
                attrs[c.STEP_SEQUENCE] = seq
            tracer.start_span(name, context=ctx, start_time=next(clock), attributes=attrs).end(
                end_time=next(clock)
            )
        root.end(end_time=next(clock))

    run("s-b", [("search", 2), ("fetch", 1), ("log", None)])
    run("s-a", [("calc", 1)])
    provider.shutdown()
    path = write_recording(tmp_path / "r.jsonl", memory.get_finished_spans())
    loaded = load_recording(path)
    assert loaded.sessions() == ["s-b", "s-a"]  # first seen in the file
    steps = loaded.steps()
    assert [(s.session_id, s.name, s.sequence) for s in steps] == [
        ("s-a", "calc", 1),
        ("s-a", "invoke_agent", None),
        ("s-b", "fetch", 1),
        ("s-b", "search", 2),
        ("s-b", "invoke_agent", None),
        ("s-b", "log", None),
    ]
    assert [s.name for s in loaded.steps_for_session("s-b")] == [
        "fetch",
        "search",
        "invoke_agent",
        "log",
    ]
    assert loaded.steps_for_session("unknown") == []
    assert loaded.steps() is not loaded.steps()  # callers get copies of the cached list
    assert isinstance(loaded, Recording) and len(loaded) == 6


# --- Property: any attribute value survives both formats --------------------------------------
_scalars = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.binary(max_size=16)
    | st.none()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _nan_safe(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return "NaN!"
    if isinstance(v, tuple):
        return tuple(_nan_safe(x) for x in v)
    if isinstance(v, dict):
        return {k: _nan_safe(x) for k, x in v.items()}
    return v


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attrs=st.dictionaries(st.text(min_size=1, max_size=10), _values, max_size=6))
def test_attribute_values_round_trip(attrs: dict[str, Any]) -> None:
    span = ReadableSpan(
        "p",
        context=SpanContext(1, 2, False, TraceFlags(1)),
        resource=Resource({}),
        attributes=attrs,
        start_time=1,
        end_time=2,
        instrumentation_scope=InstrumentationScope("s", ""),
    )
    td = encode_spans([span])
    line = json_text_mod._dumps(otlp_json_encode_mod._JsonEncoder().traces_data([span])).decode()
    assert line == traces_data_to_json(td)
    decoder = files_mod._Decoder()
    from_json: list[ReadableSpan] = []
    decoder.from_json(json.loads(line), from_json)
    from_pb = spans_from_traces_data(TracesData.FromString(td.SerializeToString()))
    expected = _nan_safe(attrs)
    assert _nan_safe(dict(from_json[0].attributes)) == expected
    assert _nan_safe(dict(from_pb[0].attributes)) == expected


def test_orjson_and_stdlib_json_paths_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = TracesDataFactory.spans(3)
    fast = write_recording(tmp_path / "fast.jsonl", spans)
    monkeypatch.setattr(json_text_mod, "_orjson", None)
    slow = write_recording(tmp_path / "slow.jsonl", spans)
    assert Path(fast).read_bytes() == Path(slow).read_bytes()
    assert [span_record(s) for s in load_recording(fast).spans] == [span_record(s) for s in spans]


def test_export_failures_are_counted_in_the_error_metric(tmp_path: Path) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from tests.conftest import points_by_attributes

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    exporter = RecordingExporter(not_a_dir / "rec.jsonl", meter_provider=meter_provider)
    spans = TracesDataFactory.spans(1)
    assert [exporter.export(spans) for _ in range(3)] == [SpanExportResult.FAILURE] * 3
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS) == {
        (
            (c.ATTR_COMPONENT, "recording_exporter"),
            (c.ATTR_ERROR_TYPE, "FileExistsError"),
        ): 3,
        ((c.ATTR_COMPONENT, "recording_exporter"), (c.ATTR_ERROR_TYPE, "shutdown")): 1,
    }
    meter_provider.shutdown()


# --- Fast decoding paths ----------------------------------------------------------------------
def _typed(v: Any) -> Any:
    """``v`` with each value paired with its type, so that 1, 1.0 and True compare unequal."""
    if isinstance(v, dict):
        return ("dict", {k: _typed(x) for k, x in v.items()})
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, [_typed(x) for x in v])
    if isinstance(v, float) and math.isnan(v):
        return ("float", "nan")
    return (type(v).__name__, v)


def _plain_span(attributes: dict[str, Any], i: int = 0, **kw: Any) -> ReadableSpan:
    return ReadableSpan(
        f"s{i}",
        context=SpanContext(i + 1, i + 1, False, TraceFlags(1)),
        resource=Resource({"service.name": "t"}),
        attributes=attributes,
        start_time=1,
        end_time=2,
        instrumentation_scope=InstrumentationScope("s", ""),
        **kw,
    )


def _reference_spans(path: Path) -> list[ReadableSpan]:
    """The spans of a protobuf recording decoded through the full TracesData schema."""
    data = path.read_bytes()
    out: list[ReadableSpan] = []
    while data:
        size = int.from_bytes(data[:4], "big")
        out += spans_from_traces_data(TracesData.FromString(data[4 : 4 + size]))
        data = data[4 + size :]
    return out


@pytest.mark.parametrize("batched", [False, True])
def test_protobuf_load_keeps_equal_values_of_different_types_apart(
    tmp_path: Path, batched: bool
) -> None:
    values: list[Any] = [1, 1.0, True, "1", b"1", 0, 0.0, False, "", (1,), (1.0,), (True,)]
    spans = [_plain_span({"v": values[i % len(values)]}, i) for i in range(3 * len(values))]
    path = tmp_path / "types.binpb"
    if batched:
        write_recording(path, spans, format="protobuf")
    else:
        exporter = RecordingExporter(path, format="protobuf")
        for span in spans:
            exporter.export([span])
        exporter.shutdown()
    loaded = load_recording(path).spans
    expected = [_typed(values[i % len(values)]) for i in range(len(spans))]
    assert [_typed(s.attributes["v"]) for s in loaded] == expected  # type: ignore[index]


def test_protobuf_load_gives_each_span_its_own_map_values(tmp_path: Path) -> None:
    attrs = {"map": {"a": 1}, "maps": ({"b": 2.0},), "tags": ("x", "y")}
    path = tmp_path / "maps.binpb"
    write_recording(path, [_plain_span(attrs, i) for i in range(2)], format="protobuf")
    first, second = (s.attributes for s in load_recording(path).spans)
    assert first is not None and second is not None
    assert _typed(dict(first)) == _typed(attrs) == _typed(dict(second))
    assert first["map"] is not second["map"]
    assert first["maps"][0] is not second["maps"][0]  # type: ignore[index]


@pytest.mark.parametrize("traced", ["protobuf"], indirect=True)
def test_protobuf_load_matches_the_full_schema_decoding(traced: Traced) -> None:
    emit_agent_run(traced.tracer)
    traced.close()
    path = Path(traced.recorder.path)  # type: ignore[arg-type]
    loaded = load_recording(path).spans
    reference = _reference_spans(path)
    assert len(loaded) == 5
    assert [_typed(span_record(s)) for s in loaded] == [_typed(span_record(s)) for s in reference]
    assert [sorted(vars(s)) for s in loaded] == [sorted(vars(s)) for s in reference]


def test_protobuf_load_of_all_attribute_shapes_matches_the_full_schema(tmp_path: Path) -> None:
    ctx = SpanContext(7, 8, True, TraceFlags(1), TraceState([("k", "v")]))
    spans = [
        _plain_span(
            dict(ALL_TYPES, i=i % 2),
            i,
            events=[sdkspan.new_event("e", dict(ALL_TYPES), 5)],
            links=[Link(ctx, {"n": i % 2, "f": 0.5})],
        )
        for i in range(4)
    ]
    path = tmp_path / "shapes.binpb"
    write_recording(path, spans, format="protobuf")
    loaded = load_recording(path).spans
    assert [_typed(span_record(s)) for s in loaded] == [
        _typed(span_record(s)) for s in _reference_spans(path)
    ]


def test_key_value_cache_restarts_when_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otlp_proto_mod, "_KV_CACHE_SIZE", 3)
    spans = [_plain_span({f"k{j}": j + i for j in range(5)}, i) for i in range(6)]
    path = tmp_path / "many.binpb"
    write_recording(path, spans, format="protobuf")
    loaded = load_recording(path).spans
    assert [dict(s.attributes or {}) for s in loaded] == [
        {f"k{j}": j + i for j in range(5)} for i in range(6)
    ]


def test_large_and_map_key_values_are_not_cached() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

    big = KeyValue(key="big", value=AnyValue(string_value="x" * 2000)).SerializeToString()
    kvl = KeyValueList(values=[KeyValue(key="a", value=AnyValue(int_value=1))])
    table = KeyValue(key="m", value=AnyValue(kvlist_value=kvl)).SerializeToString()
    small = KeyValue(key="s", value=AnyValue(double_value=1.0)).SerializeToString()
    decoder = files_mod._Decoder()
    got = decoder.raw_attrs([big, table, small])
    assert _typed(got) == _typed({"big": "x" * 2000, "m": {"a": 1}, "s": 1.0})
    assert list(decoder.key_values) == [small]


@pytest.mark.parametrize("where", ["span", "event", "link"])
def test_protobuf_invalid_nested_key_value_reports_the_full_schema_error(
    tmp_path: Path, where: str
) -> None:
    from google.protobuf.message import DecodeError

    ctx = SpanContext(7, 8, False, TraceFlags(1))
    marker = {"MARK": "v"}
    span = _plain_span(
        marker if where == "span" else {"ok": 1},
        events=[sdkspan.new_event("e", marker if where == "event" else {}, 1)],
        links=[Link(ctx, marker if where == "link" else {})],
    )
    good = encode_spans([span]).SerializeToString()
    bad = good.replace(b"MARK", b"MA\xffK")  # invalid UTF-8 in a string field
    with pytest.raises(DecodeError) as reference:
        TracesData.FromString(bad)
    path = tmp_path / "bad.binpb"
    first = len(good).to_bytes(4, "big") + good
    path.write_bytes(first + len(bad).to_bytes(4, "big") + bad)
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    assert str(info.value) == (
        f"{path}: at byte offset {len(first)}: undecodable OTLP TracesData frame: {reference.value}"
    )


def test_json_attribute_shapes_decode_to_exact_types() -> None:
    kvs = [
        {"key": "s", "value": {"stringValue": "x"}},
        {"key": "i", "value": {"intValue": "-7"}},
        {"key": "i_number", "value": {"intValue": 7}},
        {"key": "d", "value": {"doubleValue": 1.0}},
        {"key": "d_number", "value": {"doubleValue": 1}},
        {"key": "d_text", "value": {"doubleValue": "Infinity"}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "bytes", "value": {"bytesValue": "AP8="}},
        {
            "key": "a",
            "value": {
                "arrayValue": {
                    "values": [{"intValue": "1"}, {"doubleValue": 1.0}, {"boolValue": True}]
                }
            },
        },
        {"key": "a_empty", "value": {"arrayValue": {}}},
        {
            "key": "m",
            "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "1"}}]}},
        },
        {"key": "string_first", "value": {"intValue": "1", "stringValue": "s"}},
        {"key": "first_member", "value": {"intValue": "2", "doubleValue": 3.0}},
        {"key": "proto_name", "value": {"int_value": "3"}},
        {"key": "null", "value": None},
        {"key": "empty", "value": {}},
        {"key": "null_member", "value": {"boolValue": None}},
    ]
    expected = {
        "s": "x",
        "i": -7,
        "i_number": 7,
        "d": 1.0,
        "d_number": 1.0,
        "d_text": math.inf,
        "b": True,
        "bytes": b"\x00\xff",
        "a": (1, 1.0, True),
        "a_empty": (),
        "m": {"n": 1},
        "string_first": "s",
        "first_member": 2,
        "proto_name": 3,
        "null": None,
        "empty": None,
        "null_member": None,
    }
    assert _typed(otlp_json_fields_mod._json_attrs(kvs)) == _typed(expected)


@pytest.mark.parametrize(
    ("kv", "message"),
    [
        (
            {"key": "k", "value": {"intValue": "x1"}},
            "attributes['k']: intValue: invalid integer 'x1'",
        ),
        (
            {"key": "k", "value": {"boolValue": 1}},
            "attributes['k']: boolValue is a number, expected true or false",
        ),
        (
            {"key": "k", "value": {"doubleValue": "fast"}},
            "attributes['k']: doubleValue: invalid number 'fast'",
        ),
        (
            {"key": "k", "value": {"stringValue": 5}},
            "attributes['k']: stringValue is a number, expected a string",
        ),
        (
            {"key": "k", "value": {"arrayValue": {"values": [{"intValue": "z"}]}}},
            "attributes['k']: intValue: invalid integer 'z'",
        ),
        (
            {"key": "k", "value": {"arrayValue": {"values": 3}}},
            "attributes['k']: \"values\" is a number, expected an array",
        ),
        ({"key": 1, "value": {"stringValue": "v"}}, "attribute key is a number, expected a string"),
        ({"value": {"stringValue": "v"}}, "attribute key is null, expected a string"),
        ({"key": "k", "value": "v"}, "attribute 'k': value is a string, expected an object"),
        (["key", "value"], "attribute is an array, expected an object"),
    ],
)
def test_json_attribute_errors(kv: Any, message: str) -> None:
    with pytest.raises(errors_mod._Invalid) as info:
        otlp_json_fields_mod._json_attrs([{"key": "ok", "value": {"intValue": "1"}}, kv])
    assert str(info.value) == message


def _length_delimited(field: int, payload: bytes) -> bytes:
    out = bytearray([field << 3 | 2])
    n = len(payload)
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + payload


def _nested_array_frame(depth: int) -> bytes:
    """A TracesData with one span whose attribute "k" is an array nested ``depth`` times."""
    value = _length_delimited(1, b"x")  # AnyValue.string_value
    for _ in range(depth):
        value = _length_delimited(5, _length_delimited(1, value))  # array_value.values
    kv = _length_delimited(1, b"k") + _length_delimited(2, value)
    span = (
        _length_delimited(1, b"\x01" * 16)
        + _length_delimited(2, b"\x02" * 8)
        + _length_delimited(5, b"s")
        + _length_delimited(9, kv)
    )
    return _length_delimited(1, _length_delimited(2, _length_delimited(2, span)))


def test_protobuf_deeply_nested_attribute_within_the_depth_limit_loads(tmp_path: Path) -> None:
    frame = _nested_array_frame(20)
    path = tmp_path / "deep.binpb"
    path.write_bytes(len(frame).to_bytes(4, "big") + frame)
    expected: Any = "x"
    for _ in range(20):
        expected = (expected,)
    (span,) = load_recording(path).spans
    assert span.attributes == {"k": expected}


def test_protobuf_attribute_beyond_the_depth_limit_is_rejected_as_before(tmp_path: Path) -> None:
    from google.protobuf.message import DecodeError

    frame = _nested_array_frame(48)  # a KeyValue parsed alone would pass
    with pytest.raises(DecodeError) as reference:
        TracesData.FromString(frame)
    path = tmp_path / "deep.binpb"
    path.write_bytes(len(frame).to_bytes(4, "big") + frame)
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path)
    assert str(info.value) == (
        f"{path}: at byte offset 0: undecodable OTLP TracesData frame: {reference.value}"
    )
