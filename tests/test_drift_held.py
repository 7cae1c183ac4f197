"""What a held run keeps of its spans as they are added (``Held.add``) equals what the end
of the run would read of them again: the first run root, the first agent name, the last
response id; and the profile entry of a span with its attributes and root flag given equals
the one read from the span."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_replay.core import conventions as c
from otel_replay.drift.held import Held, agent_name, is_run_root, profile_entry, run_root
from otel_replay.drift.held import response_id as _response_id
from otel_replay.drift.policy import DriftPolicy
from otel_replay.restore.tracking import TrackedRun

TRACE = 0x1234


def _ctx(span_id: int, remote: bool = False) -> SpanContext:
    return SpanContext(TRACE, span_id, remote, TraceFlags(1))


def _span(
    span_id: int,
    attrs: dict[str, Any],
    *,
    parent: int | None = 1,
    remote: bool = False,
    end: int | None = 100,
    context: bool = True,
) -> ReadableSpan:
    return ReadableSpan(
        name=f"s{span_id}",
        context=_ctx(span_id) if context else None,
        parent=_ctx(parent, remote) if parent is not None else None,
        attributes=attrs,
        start_time=10,
        end_time=end,
    )


def _held(spans: list[ReadableSpan]) -> Held:
    held = Held(TrackedRun(session_id="s", baseline=[]), DriftPolicy())
    for s in spans:
        held.add(s, s.attributes or {}, is_run_root(s))
    return held


def test_the_first_run_root_is_kept():
    spans = [
        _span(2, {}),
        _span(3, {c.REPLAY_RUN_ID: "r"}),  # RestoreResult.run() under a local parent
        _span(4, {}, parent=None),
        _span(5, {}, remote=True),
    ]
    held = _held(spans)
    assert held.spans == spans
    assert held.root is spans[1]
    assert [is_run_root(s, s.attributes) for s in spans] == [False, True, True, True]
    assert _held(spans[:1]).root is None
    no_context = [_span(2, {}), _span(3, {}, parent=None, context=False), *spans[1:]]
    for run in (spans, spans[:1], no_context):
        held = _held(run)
        for with_context in (False, True):
            assert run_root(run, held, with_context) is run_root(run, None, with_context)
    assert run_root(no_context, _held(no_context)) is no_context[1]
    assert run_root(no_context, _held(no_context), with_context=True) is spans[1]


def test_the_first_string_agent_name_is_kept():
    spans = [
        _span(2, {}),
        _span(3, {c.GEN_AI_AGENT_NAME: 7}),
        _span(4, {c.GEN_AI_AGENT_NAME: "first"}),
        _span(5, {c.GEN_AI_AGENT_NAME: "second"}),
    ]
    assert _held(spans).agent == "first"
    assert _held(spans[:2]).agent is None
    assert agent_name(spans) == "first"
    assert agent_name(spans[:2]) is None


def test_the_response_id_kept_is_the_one_the_spans_give():
    cases = [
        [],
        [_span(2, {c.GEN_AI_RESPONSE_ID: ""}), _span(3, {c.GEN_AI_RESPONSE_ID: 5})],
        [
            _span(2, {c.GEN_AI_RESPONSE_ID: "late"}, end=300),
            _span(3, {c.GEN_AI_RESPONSE_ID: "early"}, end=200),
            _span(4, {c.GEN_AI_RESPONSE_ID: "tie"}, end=300),
        ],
        [
            _span(2, {c.GEN_AI_RESPONSE_ID: "no end"}, end=None),
            _span(3, {c.GEN_AI_RESPONSE_ID: "also no end"}, end=None),
        ],
    ]
    got = [_held(spans).response for spans in cases]
    assert got == [None, None, (300, "tie"), (0, "also no end")]
    for spans in cases:
        held = _held(spans)
        assert _response_id(spans, held) == _response_id(spans)
    assert [_response_id(spans) for spans in cases] == [None, None, "tie", "also no end"]


def test_a_profile_entry_with_attributes_and_root_given_equals_the_one_read():
    policy = DriftPolicy()
    spans = [
        _span(2, {c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT}, parent=None),
        _span(3, {c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT}),
        _span(4, {c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL, c.GEN_AI_TOOL_NAME: "t"}),
        _span(5, {c.REPLAY_REPLAYED: True}),
    ]
    for s in spans:
        attrs = s.attributes or {}
        assert profile_entry(s, policy, "align", attrs, is_run_root(s)) == profile_entry(
            s, policy, "align"
        )
        assert profile_entry(s, policy, "align", attrs) == profile_entry(s, policy, "align")
