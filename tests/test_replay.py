from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.trace import StatusCode

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run, decision, llm_call, tool_call
from otel_replay.core import conventions as c
from otel_replay.replay.events import CancelToken
from otel_replay.restore.api import arestore, restore


def record(p):
    """agent(1) > chat(2) importance .6, checkpoint(3), search(4) .5, chat(5) .6,
    decision(6) .8, lookup(7) error -> 1.0, note(8) custom .1"""
    with agent_run("agent", session_id="rp-sess", tracer=p.tracer):
        with llm_call("m", messages="before", tracer=p.tracer) as call:
            call.set_output("x")
        cid = checkpoint({"k": 1}, label="start", tracer=p.tracer)
        with tool_call("search", {"q": "a"}, tracer=p.tracer) as t:
            t.set_result([1])
        with llm_call("m", messages="think", tracer=p.tracer) as call:
            call.set_output("y")
        with decision("route", action="go", confidence=0.7, tracer=p.tracer):
            pass
        with pytest.raises(KeyError):
            with tool_call("lookup", {"id": 9}, tracer=p.tracer):
                raise KeyError("9")
        with tool_call("note", "n", importance=0.1, tracer=p.tracer):
            pass
    return cid


ALL = [
    (4, "search", 0.5),
    (5, "m", 0.6),
    (6, "route", 0.8),
    (7, "lookup", 1.0),
    (8, "note", 0.1),
]


def _events(steps):
    return [(s.sequence, s.name, s.importance) for s in steps]


def test_replay_delivers_all_post_checkpoint_steps_in_sequence_order(pipeline):
    cid = record(pipeline)
    seen = []
    result = restore(
        cid,
        source=pipeline.processor,
        replay=True,
        on_replay_event=seen.append,
        tracer=pipeline.tracer,
    )
    assert _events(seen) == ALL
    assert (result.replayed, result.cancelled) == (5, False)


@pytest.mark.parametrize(
    "threshold, expected",
    [
        (0.6, [(5, "m", 0.6), (6, "route", 0.8), (7, "lookup", 1.0)]),
        (0.8, [(6, "route", 0.8), (7, "lookup", 1.0)]),
        (1.0, [(7, "lookup", 1.0)]),
        (0.0, ALL),
    ],
)
def test_importance_threshold_filters_steps(pipeline, threshold, expected):
    cid = record(pipeline)
    seen = []
    result = restore(
        cid,
        source=pipeline.processor,
        replay=True,
        importance_threshold=threshold,
        on_replay_event=seen.append,
        tracer=pipeline.tracer,
    )
    assert _events(seen) == expected
    assert result.replayed == len(expected)
    # the baseline itself is never filtered
    assert _events(result.baseline) == ALL


def test_returning_false_cancels_exactly_at_that_step(pipeline):
    cid = record(pipeline)
    answers = {4: None, 5: 0, 6: False}
    seen = []

    def on_event(step):
        seen.append(step.sequence)
        return answers.get(step.sequence, True)

    result = restore(
        cid,
        source=pipeline.processor,
        replay=True,
        on_replay_event=on_event,
        tracer=pipeline.tracer,
    )
    assert seen == [4, 5, 6]
    assert (result.replayed, result.cancelled) == (3, True)
    replay_span = _replay_span(pipeline)
    assert [s.attributes[c.REPLAY_ORIGINAL_SEQUENCE] for s in _children(pipeline, replay_span)] == [
        4,
        5,
        6,
    ]


def test_cancel_token(pipeline):
    cid = record(pipeline)
    token = CancelToken()
    seen = []

    def on_event(step):
        seen.append(step.sequence)
        if step.sequence == 5:
            token.cancel()

    result = restore(
        cid,
        source=pipeline.processor,
        replay=True,
        on_replay_event=on_event,
        cancel=token,
        tracer=pipeline.tracer,
    )
    assert seen == [4, 5]
    assert (result.replayed, result.cancelled, token.cancelled) == (2, True, True)

    pre = CancelToken()
    pre.cancel()
    result = restore(
        cid, source=pipeline.processor, replay=True, on_replay_event=seen.append, cancel=pre
    )
    assert (result.replayed, result.cancelled) == (0, True)
    assert seen == [4, 5]


def test_cancel_from_another_thread(pipeline):
    cid = record(pipeline)
    token = CancelToken()
    at_step = threading.Event()
    resume = threading.Event()
    seen = []

    def on_event(step):
        seen.append(step.sequence)
        if step.sequence == 4:
            at_step.set()
            assert resume.wait(5)

    def canceller():
        assert at_step.wait(5)
        token.cancel()
        resume.set()

    t = threading.Thread(target=canceller)
    t.start()
    result = restore(
        cid, source=pipeline.processor, replay=True, on_replay_event=on_event, cancel=token
    )
    t.join(5)
    assert seen == [4]
    assert (result.replayed, result.cancelled) == (1, True)


def _replay_span(p):
    (span,) = [s for s in p.exporter.get_finished_spans() if s.name.startswith("replay ")]
    return span


def _children(p, parent):
    return [
        s
        for s in p.exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_replay_span_tree(pipeline):
    cid = record(pipeline)
    originals = {s.sequence: s for s in pipeline.processor.steps("rp-sess")}
    result = restore(
        cid,
        source=pipeline.processor,
        replay=True,
        importance_threshold=0.5,
        tracer=pipeline.tracer,
    )
    replay_span = _replay_span(pipeline)
    assert replay_span.name == "replay start"
    assert replay_span.parent is None
    a = dict(replay_span.attributes)
    assert a[c.STEP_KIND] == "replay"
    assert a[c.SESSION_ID] == result.session_id
    assert a[c.REPLAY_MODE] == "events"
    assert a[c.REPLAY_CHECKPOINT_ID] == cid
    assert a[c.REPLAY_SOURCE_SESSION_ID] == "rp-sess"
    assert a[c.REPLAY_SOURCE_TRACE_ID] == result.checkpoint.trace_id
    assert a[c.REPLAY_RUN_ID] == result.run_id

    children = _children(pipeline, replay_span)
    assert [s.name for s in children] == [
        "execute_tool search",
        "chat m",
        "decision route",
        "execute_tool lookup",
    ]
    for child in children:
        assert child.context.trace_id == replay_span.context.trace_id
        ca = dict(child.attributes)
        seq = ca[c.REPLAY_ORIGINAL_SEQUENCE]
        original = originals[seq]
        assert ca[c.REPLAY_REPLAYED] is True
        assert ca[c.REPLAY_ORIGINAL_SPAN_ID] == original.span_id
        assert ca[c.SESSION_ID] == result.session_id
        # original attributes are copied, except our sequence and session
        expected = {
            k: v for k, v in original.attributes.items() if k not in (c.STEP_SEQUENCE, c.SESSION_ID)
        }
        assert {k: ca[k] for k in expected} == expected
    # the processor numbers replayed spans in the new session: replay span 1, children 2..5
    assert replay_span.attributes[c.STEP_SEQUENCE] == 1
    assert [s.attributes[c.STEP_SEQUENCE] for s in children] == [2, 3, 4, 5]
    lookup = children[-1]
    assert lookup.status.status_code is StatusCode.ERROR
    assert lookup.status.description == "KeyError: '9'"
    # replayed spans belong to the new session: the source session's buffer is untouched
    assert [s.sequence for s in pipeline.processor.steps("rp-sess")] == sorted(originals)


def test_replayed_checkpoint_span_does_not_register_a_second_checkpoint(pipeline):
    with agent_run("agent", session_id="ck-sess", tracer=pipeline.tracer):
        first = checkpoint({"n": 1}, label="one", tracer=pipeline.tracer)
        second = checkpoint({"n": 2}, label="two", tracer=pipeline.tracer)
    result = restore(first, source=pipeline.processor, replay=True, tracer=pipeline.tracer)
    assert result.replayed == 1
    (child,) = _children(pipeline, _replay_span(pipeline))
    assert child.name == "checkpoint two"
    assert c.CHECKPOINT_ID not in child.attributes
    assert c.CHECKPOINT_STATE not in child.attributes
    assert child.attributes[c.CHECKPOINT_LABEL] == "two"
    assert pipeline.processor.get_checkpoint(second).session_id == "ck-sess"
    assert pipeline.processor.checkpoints(result.session_id) == []


def test_callback_runs_inside_the_replayed_span_and_errors_propagate(pipeline):
    cid = record(pipeline)

    def on_event(step):
        with tool_call("inner", tracer=pipeline.tracer):
            pass
        if step.sequence == 5:
            raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        restore(
            cid,
            source=pipeline.processor,
            replay=True,
            on_replay_event=on_event,
            tracer=pipeline.tracer,
        )
    inner = [s for s in pipeline.exporter.get_finished_spans() if s.name == "execute_tool inner"]
    replayed = {
        s.context.span_id: s
        for s in pipeline.exporter.get_finished_spans()
        if s.attributes.get(c.REPLAY_REPLAYED)
    }
    assert [replayed[s.parent.span_id].attributes[c.REPLAY_ORIGINAL_SEQUENCE] for s in inner] == [
        4,
        5,
    ]
    failed = [s for s in replayed.values() if s.attributes[c.REPLAY_ORIGINAL_SEQUENCE] == 5][0]
    assert failed.status.status_code is StatusCode.ERROR


def test_async_callbacks_in_arestore(pipeline):
    cid = record(pipeline)
    seen = []

    async def on_event(step):
        await asyncio.sleep(0)
        seen.append(step.sequence)
        return False if step.sequence == 6 else None

    result = asyncio.run(
        arestore(
            cid,
            source=pipeline.processor,
            replay=True,
            on_replay_event=on_event,
            tracer=pipeline.tracer,
        )
    )
    assert seen == [4, 5, 6]
    assert (result.replayed, result.cancelled) == (3, True)
