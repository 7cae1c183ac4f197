"""The worker finds the spans of the sessions it holds in a request's bytes, whatever the
sessions' ids and however their attribute is written: the held positions are exactly those
of the spans whose (first) session attribute names a held or new session."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData

from otel_replay.core import conventions as c
from otel_replay.formats.protowire import varint
from otel_replay.serve import split

STAMP = split.worker_field("w")


def _kv(key: str, value: str) -> bytes:
    return KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString()


def _kv_value_first(key: str, value: str) -> bytes:
    any_value = AnyValue(string_value=value).SerializeToString()
    raw_key = key.encode()
    return b"\x12" + bytes([len(any_value)]) + any_value + b"\x0a" + bytes([len(raw_key)]) + raw_key


def _span(*kvs: bytes, name: str = "chat") -> bytes:
    head = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name).SerializeToString()
    out = head
    for kv in kvs:
        out += b"\x4a" + varint(len(kv)) + kv
    return out


def _request(groups: list[list[list[bytes]]]):
    """A request of resources, each of scopes, each of these serialized spans."""
    td = TracesData()
    for scopes in groups:
        rs = td.resource_spans.add()
        for _spans in scopes:
            rs.scope_spans.add()
    out = split.SpanBytesTracesData.FromString(td.SerializeToString())
    for ri, scopes in enumerate(groups):
        for si, spans in enumerate(scopes):
            out.resource_spans[ri].scope_spans[si].spans.extend(spans)
    return out


def _expected(groups: list[list[list[bytes]]], targets: set[str]) -> list[tuple[int, int, int]]:
    """Each span read on its own: the positions of those of ``targets``."""
    return [
        (ri, si, pi)
        for ri, scopes in enumerate(groups)
        for si, spans in enumerate(scopes)
        for pi, blob in enumerate(spans)
        if split._string_at(blob, split._SESSION_PREFIX) in targets
    ]


def _held(groups: list[list[list[bytes]]], held: set[str]) -> list[tuple[int, int, int]]:
    return split.scan(_request(groups), held, set(), STAMP).held


def _session(sid: str) -> bytes:
    return _span(_kv(c.SESSION_ID, sid))


# ids that are prefixes and suffixes of one another, and ids with regex metacharacters
TRICKY = ["abc", "abcd", "xabc", "a.c", "a|b", "(x)*", "[ab]+", "\\d", "$^", "ab\nc", "é-ü"]


def test_ids_that_are_prefixes_suffixes_or_patterns_of_others_are_told_apart() -> None:
    held = {"abc", "a.c", "a|b", "(x)*", "\\d", "ab\nc"}  # more than are searched one by one
    assert len(held) > split._SEARCHED_IDS
    spans = [_session(sid) for sid in TRICKY + ["abcde", "zabc", "axc", "a", "b", "x"]]
    groups = [[spans]]
    assert _held(groups, held) == _expected(groups, held)
    assert [spans[pi] for _ri, _si, pi in _held(groups, held)] == [
        _session(s) for s in TRICKY if s in held
    ]


def test_spans_of_held_sessions_without_a_checkpoint_id_are_found_in_every_scope() -> None:
    held = {f"held-{i:02d}-0123456789abcdef" for i in range(6)}
    ordered = sorted(held)
    groups = [
        [[_session(ordered[0]), _session("other-0123456789abcdef-00")], [_session(ordered[1])]],
        [[_session("other-0123456789abcdef-01"), _session(ordered[2]), _session(ordered[0])]],
        [[_span(_kv(c.STEP_SEQUENCE, "1"))], [_session(ordered[5]), _session(ordered[3])]],
    ]
    assert _held(groups, held) == [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 0, 2), (2, 1, 0), (2, 1, 1)]


def test_new_runs_and_their_spans_without_a_checkpoint_id_are_held_with_held_ones() -> None:
    held = {f"held-{i}" for i in range(3)}
    spans = []
    for r in range(3):  # new runs: the first span with the checkpoint id, the next without
        sid = f"new-{r}"
        spans.append(_span(_kv(c.SESSION_ID, sid), _kv(c.REPLAY_CHECKPOINT_ID, "ck")))
        spans.append(_session("plain"))
        spans.append(_session(sid))
    spans.append(_session("held-1"))
    sc = split.scan(_request([[spans]]), held, set(), STAMP)
    assert list(sc.new) == ["new-0", "new-1", "new-2"]
    assert sc.held == [(0, 0, k) for k in (0, 2, 3, 5, 6, 8, 9)]


def test_only_the_first_session_attribute_of_a_span_counts() -> None:
    held = {"s1", "s2", "s3", "s4"}
    spans = [
        _span(_kv(c.SESSION_ID, "other"), _kv(c.SESSION_ID, "s1")),  # not held
        _span(_kv(c.SESSION_ID, "s2"), _kv(c.SESSION_ID, "other")),  # held
        _span(_kv(c.SESSION_ID, "s3"), _kv(c.SESSION_ID, "s3")),  # held once
        _session("other"),
    ]
    groups = [[spans]]
    assert _held(groups, held) == [(0, 0, 1), (0, 0, 2)]
    assert _held(groups, held) == _expected(groups, held)


def test_sessions_written_in_another_form_are_read_span_by_span() -> None:
    held = {"s1", "s2", "s3", "s4", "l" * 200}
    long_kv = KeyValue(key=c.SESSION_ID, value=AnyValue(string_value="l" * 200))
    cases = {
        "value first": _span(_kv_value_first(c.SESSION_ID, "s2")),
        "long": _span(long_kv.SerializeToString()),
        "not a string": _span(
            KeyValue(key=c.SESSION_ID, value=AnyValue(int_value=7)).SerializeToString()
        ),
    }
    for name, odd in cases.items():
        spans = [_session("s1"), _session("other"), odd, _session("s3"), _session("s4")]
        groups = [[spans]]
        assert _held(groups, held) == _expected(groups, held), name
    assert _held([[[cases["value first"]]]], held) == [(0, 0, 0)]
    assert _held([[[cases["long"]]]], held) == [(0, 0, 0)]
    assert _held([[[cases["not a string"]]]], held) == []


def test_ids_of_several_lengths_and_spans_without_a_session() -> None:
    held = {"a", "bb", "ccc", "dddd", "s" * 125}
    spans = [_session(s) for s in ("a", "b", "bb", "cc", "ccc", "ddd", "dddd", "s" * 125)]
    spans.insert(3, _span(_kv(c.STEP_SEQUENCE, "a")))
    groups = [[spans]]
    assert _held(groups, held) == [(0, 0, k) for k in (0, 2, 5, 7, 8)]
    assert _held(groups, held) == _expected(groups, held)
