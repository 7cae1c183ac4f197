"""The request a worker forwards is the received one with the worker attribute appended to
each span, byte for byte what protobuf writes for the request with its spans stamped."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData

from otel_replay.core import conventions as c
from otel_replay.serve import split

STAMP = split.worker_field("worker-7")


def _span(name: str, size: int = 0) -> bytes:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name)
    span.attributes.add(key=c.SESSION_ID, value=AnyValue(string_value="s-" + name))
    if size:
        span.attributes.add(key="big", value=AnyValue(string_value="x" * size))
    return span.SerializeToString()


def _traces() -> TracesData:
    """Resources with and without a resource, schema URLs, scopes without spans or scope."""
    td = TracesData()
    rs = td.resource_spans.add(schema_url="https://r/1")
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="a"))
    rs.scope_spans.add(scope=InstrumentationScope(name="s1", version="1"), schema_url="u1")
    rs.scope_spans.add()  # no scope, no spans
    rs.scope_spans.add(scope=InstrumentationScope(name="s2"))
    rs = td.resource_spans.add()  # no resource
    rs.scope_spans.add(schema_url="u2")
    rs = td.resource_spans.add(resource=Resource())  # an empty resource, set
    rs.scope_spans.add(scope=InstrumentationScope())
    return td


def _request(spans_by_scope: list[list[bytes]]):
    td = split.SpanBytesTracesData.FromString(_traces().SerializeToString())
    scopes = [ss for rs in td.resource_spans for ss in rs.scope_spans]
    for ss, spans in zip(scopes, spans_by_scope, strict=True):
        ss.spans.extend(spans)
    return td


def _stamped_by_protobuf(td, stamp: bytes) -> bytes:
    copy = type(td).FromString(td.SerializeToString())
    for rs in copy.resource_spans:
        for ss in rs.scope_spans:
            spans = [b + stamp for b in ss.spans]
            del ss.spans[:]
            ss.spans.extend(spans)
    return copy.SerializeToString()


SPANS = [
    [_span("a"), _span("b", 200), _span("c", 20000)],  # one- two- three-byte lengths
    [],
    [_span("d")],
    [_span(f"e{i}", i) for i in range(0, 400, 7)],
    [_span("f")],
]


def test_the_forwarded_request_is_what_protobuf_writes_for_the_stamped_spans() -> None:
    for stamp in (STAMP, split.worker_field("w" * 200), b""):
        td = _request(SPANS)
        assert split.request(td, stamp) == _stamped_by_protobuf(td, stamp)
    forwarded = TracesData.FromString(split.request(_request(SPANS), STAMP))
    spans = [s for rs in forwarded.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == sum(map(len, SPANS))
    assert {s.attributes[-1].key for s in spans} == {c.SERVE_WORKER}
    assert {s.attributes[-1].value.string_value for s in spans} == {"worker-7"}
    assert [s.name for s in spans] == [Span.FromString(b).name for g in SPANS for b in g]


def test_a_request_with_fields_this_proto_does_not_know_keeps_them() -> None:
    unknown = b"\xba\x3e\x03abc"  # field 999, length-delimited
    wire = _request(SPANS).SerializeToString()
    for td in (
        split.SpanBytesTracesData.FromString(wire + unknown),  # on the request
        _with_unknown_scope_field(wire, unknown),  # on a scope's spans
    ):
        out = split.request(td, STAMP)
        assert out == _stamped_by_protobuf(td, STAMP)
        assert unknown in out


def _with_unknown_scope_field(wire: bytes, unknown: bytes):
    td = split.SpanBytesTracesData.FromString(wire)
    ss = td.resource_spans[1].scope_spans[0]
    ss.MergeFromString(unknown)
    return td


def test_spans_stamped_by_another_worker_carry_only_this_workers_attribute() -> None:
    other = split.worker_field("other")
    td = _request([[b + other for b in g] for g in SPANS])
    body = td.SerializeToString()
    split.scan(td, set(), set(), STAMP, sessions=False, body=body)
    forwarded = TracesData.FromString(split.request(td, STAMP))
    for rs in forwarded.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                workers = [kv.value.string_value for kv in s.attributes if kv.key == c.SERVE_WORKER]
                assert workers == ["worker-7"]


def test_spans_taken_out_are_stamped_and_the_rest_is_forwarded_stamped() -> None:
    td = _request(SPANS)
    body, received = split.extract(td, [(0, 0, 1), (2, 0, 0)], STAMP)
    assert [blob for _origin, blob in received] == [SPANS[0][1] + STAMP, SPANS[4][0] + STAMP]
    moved = split.SpanBytesTracesData.FromString(body)
    assert [b for rs in moved.resource_spans for ss in rs.scope_spans for b in ss.spans] == [
        SPANS[0][1] + STAMP,
        SPANS[4][0] + STAMP,
    ]
    rest = TracesData.FromString(split.request(td, STAMP))
    assert [len(ss.spans) for rs in rest.resource_spans for ss in rs.scope_spans] == [
        2,
        0,
        1,
        len(SPANS[3]),
        0,
    ]
    kept = [KeyValue(key=c.SERVE_WORKER, value=AnyValue(string_value="worker-7"))]
    assert all(
        list(s.attributes)[-1:] == kept
        for rs in rest.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    )


def test_fields_this_proto_does_not_know_are_serialized_by_protobuf(monkeypatch) -> None:
    copies = []
    real = split._request_copy
    monkeypatch.setattr(split, "_request_copy", lambda *a: copies.append(1) or real(*a))
    wire = _request(SPANS).SerializeToString()
    split.request(split.SpanBytesTracesData.FromString(wire), STAMP)
    assert copies == []
    split.request(_with_unknown_scope_field(wire, b"\xba\x3e\x00"), STAMP)
    assert copies == [1]


def test_many_span_lengths_are_stamped_alike(monkeypatch) -> None:
    monkeypatch.setattr(split, "_SPAN_HEADS", {})
    monkeypatch.setattr(split, "_SPAN_HEADS_KEPT", 5)  # fewer than one scope's lengths
    for _ in range(2):
        td = _request(SPANS)
        assert split.request(td, STAMP) == _stamped_by_protobuf(td, STAMP)


def test_the_spans_scan_read_are_forwarded_without_those_taken_out() -> None:
    held = {"s-b", "s-d", "s-e7", "s-e14", "s-f"}
    for unknown in (b"", b"\xba\x3e\x00"):  # joined, and serialized by protobuf
        td = split.SpanBytesTracesData.FromString(_request(SPANS).SerializeToString() + unknown)
        sc = split.scan(td, held, set(), STAMP)
        assert sc.held == [(0, 0, 1), (0, 2, 0), (1, 0, 1), (1, 0, 2), (2, 0, 0)]
        assert sc.spans == {
            (ri, si): list(ss.spans)
            for ri, rs in enumerate(td.resource_spans)
            for si, ss in enumerate(rs.scope_spans)
        }
        whole = split.request(td, STAMP, sc.spans)
        assert whole == _stamped_by_protobuf(td, STAMP)
        split.extract(td, sc.held, STAMP)
        rest = split.request(td, STAMP, sc.spans, sc.held)
        assert rest == split.request(td, STAMP) == _stamped_by_protobuf(td, STAMP)
        assert rest.endswith(unknown)  # (protobuf writes unknown fields last)
    assert split.scan(td, held, set(), STAMP, sessions=False, body=b"").spans is None
