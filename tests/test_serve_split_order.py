"""The worker reads session and provenance attributes from serialized spans whatever the
field order of their KeyValues: the Python SDK writes ``key`` before ``value``, the Collector
(Go pdata) ``value`` before ``key`` (protobuf leaves the order free)."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_replay.core import conventions as c
from otel_replay.serve import split

SESSION = "fleet-session-0123456789"


def _kv_key_first(key: str, value: str) -> bytes:
    return KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString()


def _kv_value_first(key: str, value: str) -> bytes:
    """What the Collector writes: field 2 (value), then field 1 (key)."""
    any_value = AnyValue(string_value=value).SerializeToString()
    raw_key = key.encode()
    return b"\x12" + bytes([len(any_value)]) + any_value + b"\x0a" + bytes([len(raw_key)]) + raw_key


def _span(kvs: list[bytes], name: str = "execute_tool lookup_order") -> bytes:
    """A serialized span with these serialized KeyValues as attributes (short ones)."""
    head = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name).SerializeToString()
    return head + b"".join(b"\x4a" + bytes([len(kv)]) + kv for kv in kvs)


def _attrs(order) -> list[bytes]:
    return [
        order(c.STEP_SEQUENCE, "x"),
        order(c.SESSION_ID, SESSION),
        order(c.REPLAY_CHECKPOINT_ID, "ck-1"),
        order(c.REPLAY_SOURCE_TRACE_ID, "ab" * 16),
    ]


def test_both_field_orders_give_the_same_values() -> None:
    for order in (_kv_key_first, _kv_value_first):
        blob = _span(_attrs(order))
        parsed = {kv.key: kv.value.string_value for kv in Span.FromString(blob).attributes}
        assert parsed[c.SESSION_ID] == SESSION  # the bytes are a valid span either way
        assert split._string_at(blob, split._SESSION_PREFIX) == SESSION, order.__name__
        assert split._string_at(blob, split._CHECKPOINT_PREFIX) == "ck-1", order.__name__
        assert split._string_at(blob, split._SOURCE_TRACE_PREFIX) == "ab" * 16
        assert split._string_at(blob, split._RUN_PREFIX) is None


def test_a_value_first_request_starts_a_restored_run() -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    td = TracesData()
    td.resource_spans.add().scope_spans.add()
    wire = td.SerializeToString()
    td_bytes = split.SpanBytesTracesData.FromString(wire)
    td_bytes.resource_spans[0].scope_spans[0].spans.append(_span(_attrs(_kv_value_first)))
    sc = split.scan(td_bytes, set(), set(), split.worker_field("w"))
    assert sc.count == 1
    assert list(sc.new) == [SESSION]
    assert (sc.new[SESSION].checkpoint_id, sc.new[SESSION].source_trace_id) == ("ck-1", "ab" * 16)
    assert sc.held == [(0, 0, 0)]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def test_a_long_value_first_is_read_by_decoding_the_span() -> None:
    long_session = "s" * 300  # two-byte lengths: no short form; the span is decoded
    any_value = _field(0x0A, long_session.encode())
    kv = _field(0x12, any_value) + _field(0x0A, c.SESSION_ID.encode())
    head = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="n").SerializeToString()
    blob = head + _field(0x4A, kv)
    assert Span.FromString(blob).attributes[0].value.string_value == long_session
    assert split._string_at(blob, split._SESSION_PREFIX) == long_session


def _request(spans: list[bytes]):
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    td = TracesData()
    td.resource_spans.add().scope_spans.add()
    out = split.SpanBytesTracesData.FromString(td.SerializeToString())
    out.resource_spans[0].scope_spans[0].spans.extend(spans)
    return out


def _mixed_request(order, restored: int) -> tuple[list[bytes], set[int]]:
    """Spans of ``restored`` restored runs (the first span of each with a checkpoint id, the
    second without) among ordinary runs; and the positions of the restored runs' spans."""
    spans: list[bytes] = []
    held: set[int] = set()
    for r in range(restored):
        sid = f"restored-{r:02d}-0123456789abcdef"
        held.update((len(spans) + 1, len(spans) + 2))
        spans.append(_span([order(c.SESSION_ID, f"plain-{r:02d}-0123456789abcdef")]))
        spans.append(_span([order(c.SESSION_ID, sid), order(c.REPLAY_CHECKPOINT_ID, "ck-1")]))
        spans.append(_span([order(c.SESSION_ID, sid)]))
    return spans, held


def test_the_spans_of_restored_runs_are_found_for_few_and_many_sessions() -> None:
    # up to split._SEARCHED_IDS sessions each id is searched; more: the attributes are counted
    for order in (_kv_key_first, _kv_value_first):
        for restored in (1, split._SEARCHED_IDS, split._SEARCHED_IDS + 1, 8):
            spans, held = _mixed_request(order, restored)
            sc = split.scan(_request(spans), set(), set(), split.worker_field("w"))
            assert sc.count == 3 * restored
            assert len(sc.new) == restored, (order.__name__, restored)
            assert sc.held == [(0, 0, k) for k in sorted(held)], (order.__name__, restored)


def test_extract_moves_the_held_spans_out_and_keeps_the_order_of_the_rest() -> None:
    spans = [_span([_kv_key_first(c.SESSION_ID, f"s-{i}")], name=f"span-{i}") for i in range(6)]
    td = _request(spans)
    body, received = split.extract(td, [(0, 0, 1), (0, 0, 4), (0, 0, 5)])
    assert list(td.resource_spans[0].scope_spans[0].spans) == [spans[0], spans[2], spans[3]]
    assert [blob for _origin, blob in received] == [spans[1], spans[4], spans[5]]
    moved = split.SpanBytesTracesData.FromString(body)
    assert list(moved.resource_spans[0].scope_spans[0].spans) == [spans[1], spans[4], spans[5]]
