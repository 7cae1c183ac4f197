from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from opentelemetry.trace import StatusCode

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import IncompleteHistoryError
from otel_replay.capture.spans import agent_run, decision, llm_call, session, tool_call
from otel_replay.core import conventions as c
from otel_replay.model.errors import CheckpointNotFoundError
from tests.conftest import make_pipeline


def _run_agent(tracer, sid, n_tools=3):
    with agent_run("agent", session_id=sid, tracer=tracer):
        with llm_call("model-a", messages="plan", tracer=tracer) as call:
            call.set_output("use tools")
        cid = checkpoint({"n": n_tools}, label="planned", tracer=tracer)
        for i in range(n_tools):
            with tool_call("search", {"i": i}, tracer=tracer) as tc:
                tc.set_result({"hits": i})
        with decision("finish", action="answer", confidence=0.8, tracer=tracer):
            pass
    return cid


def test_sequences_are_stamped_per_session_in_start_order(pipeline):
    _run_agent(pipeline.tracer, "s1", n_tools=2)
    spans = sorted(
        pipeline.exporter.get_finished_spans(), key=lambda s: s.attributes[c.STEP_SEQUENCE]
    )
    assert [(s.name, s.attributes[c.STEP_SEQUENCE]) for s in spans] == [
        ("invoke_agent agent", 1),
        ("chat model-a", 2),
        ("checkpoint planned", 3),
        ("execute_tool search", 4),
        ("execute_tool search", 5),
        ("decision finish", 6),
    ]
    assert {s.attributes[c.SESSION_ID] for s in spans} == {"s1"}


def test_steps_after_checkpoint_in_sequence_order_with_importance_filter(pipeline):
    cid = _run_agent(pipeline.tracer, "s1", n_tools=3)
    steps = pipeline.processor.steps_after(cid)
    assert [(s.sequence, s.kind, s.name) for s in steps] == [
        (4, "tool", "search"),
        (5, "tool", "search"),
        (6, "tool", "search"),
        (7, "decision", "finish"),
    ]
    assert [s.inputs for s in steps[:3]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert [s.outputs for s in steps[:3]] == [{"hits": 0}, {"hits": 1}, {"hits": 2}]
    assert [s.sequence for s in pipeline.processor.steps_after(cid, min_importance=0.7)] == [7]
    (ckpt,) = pipeline.processor.checkpoints("s1")
    assert (ckpt.id, ckpt.label, ckpt.sequence, ckpt.step_sequence) == (cid, "planned", 1, 3)
    assert ckpt.load_state() == {"data": {"n": 3}}


def test_spans_before_first_checkpoint_are_not_buffered(pipeline):
    with agent_run("agent", session_id="quiet", tracer=pipeline.tracer):
        with tool_call("t", tracer=pipeline.tracer):
            pass
    assert pipeline.processor.sessions() == []
    assert pipeline.processor.buffered_steps == 0


def test_earlier_checkpoints_still_answer(pipeline):
    t = pipeline.tracer
    with agent_run("agent", session_id="s", tracer=t):
        c1 = checkpoint({"k": 1}, tracer=t)
        with tool_call("a", tracer=t):
            pass
        c2 = checkpoint({"k": 2}, tracer=t)
        with tool_call("b", tracer=t):
            pass
    assert [s.name for s in pipeline.processor.steps_after(c1)] == ["a", "checkpoint", "b"]
    assert [s.name for s in pipeline.processor.steps_after(c2)] == ["b"]
    assert [ck.parent_id for ck in pipeline.processor.checkpoints("s")] == [None, c1]


def test_session_falls_back_to_trace_id_and_children_inherit_conversation(pipeline):
    t = pipeline.tracer
    with t.start_as_current_span("root", attributes={c.GEN_AI_CONVERSATION_ID: "conv-9"}):
        with t.start_as_current_span("child"):
            pass
    with t.start_as_current_span("lonely") as lonely:
        trace_hex = format(lonely.get_span_context().trace_id, "032x")
    by_name = {s.name: s for s in pipeline.exporter.get_finished_spans()}
    assert by_name["child"].attributes[c.SESSION_ID] == "conv-9"
    assert by_name["lonely"].attributes[c.SESSION_ID] == trace_hex


def test_bounds_evict_oldest_and_count(pipeline):
    p = make_pipeline(max_steps=5, max_sessions=2)
    t = p.tracer
    try:
        with agent_run("agent", session_id="a", tracer=t):
            cid = checkpoint({}, tracer=t)
            for i in range(10):
                with tool_call(f"t{i}", tracer=t):
                    pass
        assert p.processor.buffered_steps == 5
        assert [s.name for s in p.processor.steps("a")] == ["agent", "t6", "t7", "t8", "t9"]
        with pytest.raises(IncompleteHistoryError, match=f"steps after checkpoint {cid}"):
            p.processor.steps_after(cid)
        assert [s.name for s in p.processor.steps_after(cid, allow_partial=True)] == [
            "t6",
            "t7",
            "t8",
            "t9",
        ]
        for sid in ("b", "c"):
            with session(sid):
                checkpoint({}, session_id=sid, tracer=t)
        assert p.processor.sessions() == ["b", "c"]
        evictions = {
            attrs[c.ATTR_REASON]: v for attrs, v in p.metric_points(c.METRIC_BUFFER_EVICTIONS)
        }
        # 11 steps (checkpoint + 10 tools) + agent span = 12 in session a; 5 kept -> 7 by max_steps,
        # then session a (5 steps) evicted by max_sessions.
        assert evictions == {"max_steps": 7, "max_bytes": 0, "max_sessions": 5}
        gauges = {
            name: p.metric_points(name)[0][1]
            for name in (c.METRIC_BUFFER_STEPS, c.METRIC_BUFFER_SESSIONS)
        }
        assert gauges == {c.METRIC_BUFFER_STEPS: 2, c.METRIC_BUFFER_SESSIONS: 2}
        with pytest.raises(CheckpointNotFoundError):
            p.processor.get_checkpoint(cid)
    finally:
        p.provider.shutdown()


def test_byte_bound_is_honoured():
    p = make_pipeline(max_bytes=20_000)
    try:
        with agent_run("agent", session_id="big", tracer=p.tracer):
            checkpoint({}, tracer=p.tracer)
            for _ in range(50):
                with tool_call("t", {"payload": "x" * 1000}, tracer=p.tracer):
                    pass
        assert p.processor.buffered_bytes <= 20_000
        assert 10 <= p.processor.buffered_steps < 20
    finally:
        p.provider.shutdown()


def test_threads_no_lost_or_misattributed_steps(pipeline):
    t = pipeline.tracer
    n_threads, per_thread = 8, 25
    cids: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for j in range(3):
                sid = f"thread-{k}-{j}"
                with agent_run("agent", session_id=sid, tracer=t):
                    cids[sid] = checkpoint({"k": k, "j": j}, tracer=t)
                    for i in range(per_thread):
                        with tool_call("work", {"sid": sid, "i": i}, tracer=t):
                            pass
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(pipeline.processor.sessions()) == n_threads * 3
    for sid, cid in cids.items():
        steps = pipeline.processor.steps_after(cid)
        assert [s.inputs for s in steps] == [{"sid": sid, "i": i} for i in range(per_thread)]
        assert [s.sequence for s in steps] == list(range(3, 3 + per_thread))


def test_asyncio_500_tasks_many_sessions(pipeline):
    t = pipeline.tracer
    cids: dict[str, str] = {}

    async def agent(k: int) -> None:
        sid = f"task-{k}"
        with agent_run("agent", session_id=sid, tracer=t):
            cids[sid] = checkpoint({"k": k}, tracer=t)
            for i in range(3):
                with tool_call("io", {"k": k, "i": i}, tracer=t):
                    await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(agent(k) for k in range(500)))

    asyncio.run(main())
    assert len(pipeline.processor.sessions()) == 500
    for k in range(500):
        steps = pipeline.processor.steps_after(cids[f"task-{k}"])
        assert [s.inputs for s in steps] == [{"k": k, "i": i} for i in range(3)]
        assert {s.session_id for s in steps} == {f"task-{k}"}


@pytest.mark.slow
def test_memory_stays_within_bounds_over_200k_spans():
    p = make_pipeline(max_steps=500, max_bytes=200_000, max_sessions=20)
    p.provider._active_span_processor._span_processors = (
        p.processor,
    )  # drop the in-memory exporter
    t = p.tracer
    peak_steps = peak_bytes = peak_sessions = 0
    try:
        for s in range(40):
            with agent_run("agent", session_id=f"soak-{s}", tracer=t):
                checkpoint({"s": s}, tracer=t)
                for i in range(5000):
                    with tool_call("t", {"i": i}, tracer=t):
                        pass
                    if i % 500 == 0:
                        peak_steps = max(peak_steps, p.processor.buffered_steps)
                        peak_bytes = max(peak_bytes, p.processor.buffered_bytes)
                        peak_sessions = max(peak_sessions, len(p.processor.sessions()))
        assert peak_steps <= 500 * 20
        assert peak_bytes <= 200_000 * 20
        assert peak_sessions <= 20
        assert len(p.processor.sessions()) == 20
        assert all(len(p.processor.steps(sid)) <= 500 for sid in p.processor.sessions())
    finally:
        p.provider.shutdown()


def test_processor_never_raises_and_reports_once(pipeline, caplog, monkeypatch):
    import otel_replay.capture.processor as proc_mod

    def boom(*_a, **_k):
        raise RuntimeError("normalization exploded")

    t = pipeline.tracer
    with agent_run("agent", session_id="s", tracer=t):
        checkpoint({}, tracer=t)
        monkeypatch.setattr(proc_mod, "span_parts", boom)
        with caplog.at_level(logging.ERROR, logger="otel_replay"):
            for _ in range(3):
                with tool_call("t", tracer=t):
                    pass
    assert len(pipeline.exporter.get_finished_spans()) == 5  # every span still exported
    assert [r.message.split(":")[0] for r in caplog.records] == [
        "otel-replay replay_processor failed in on_end"
    ]
    points = pipeline.metric_points(c.METRIC_PROCESSOR_ERRORS)
    assert points == [
        ({c.ATTR_COMPONENT: "replay_processor", c.ATTR_ERROR_TYPE: "RuntimeError"}, 4)
    ]


def test_error_steps_get_top_importance(pipeline):
    t = pipeline.tracer
    with agent_run("agent", session_id="s", tracer=t):
        cid = checkpoint({}, tracer=t)
        with pytest.raises(ValueError):
            with tool_call("flaky", tracer=t):
                raise ValueError("bad input")
    (step,) = pipeline.processor.steps_after(cid)
    assert (step.status, step.importance, step.status_message) == (
        "error",
        1.0,
        "ValueError: bad input",
    )
    span = [s for s in pipeline.exporter.get_finished_spans() if s.name == "execute_tool flaky"][0]
    assert span.status.status_code is StatusCode.ERROR


def test_shutdown_stops_processing(pipeline):
    pipeline.processor.shutdown()
    with agent_run("agent", session_id="s", tracer=pipeline.tracer):
        checkpoint({}, tracer=pipeline.tracer)
    assert pipeline.processor.sessions() == []
    assert pipeline.processor.force_flush() is True


def test_checkpoint_without_sequence_number_refuses_to_guess_the_history():
    """A checkpoint span whose step sequence was overwritten (here by a later processor, as
    a foreign instrumentation could) must not make ``steps_after`` return the whole history."""
    from opentelemetry.sdk.trace import SpanProcessor

    from otel_replay.model.errors import UnorderedHistoryError

    class Overwrite(SpanProcessor):
        def on_start(self, span, parent_context=None):
            if span.name.startswith("checkpoint"):
                span.set_attribute(c.STEP_SEQUENCE, "three")

    p = make_pipeline()
    p.provider.add_span_processor(Overwrite())
    try:
        cid = _run_agent(p.tracer, "s1")
        with pytest.raises(UnorderedHistoryError) as raised:
            p.processor.steps_after(cid)
        assert str(raised.value) == (
            f"checkpoint {cid} in the replay buffer has no step sequence number "
            f"(agent_replay.step.sequence was not an integer on its span)"
        )
    finally:
        p.provider.shutdown()
