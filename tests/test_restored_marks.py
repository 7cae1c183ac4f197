"""Every span of a restored run carries the run's checkpoint and source ids (the
``ReplayProcessor`` stamps them at start), its root alone the run id: a service that sees
the run in several requests recognizes each span (``otel-replay serve``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay import ReplayProcessor, agent_run, checkpoint, restore, tool_call
from otel_replay.core import conventions as c


def test_spans_of_a_restored_run_carry_its_checkpoint():
    provider = TracerProvider()
    replay = ReplayProcessor()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(replay)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    try:
        with agent_run("agent", session_id="base-marks", tracer=tracer):
            cid = checkpoint({"n": 1}, tracer=tracer)
            with tool_call("lookup", {"n": 1}, tracer=tracer) as call:
                call.set_result("ok")
        result = restore(cid, source=replay, target={}, tracer=tracer)
        with result.run("agent"):
            with tool_call("lookup", {"n": 1}, tracer=tracer) as call:
                call.set_result("ok")
            ctx = otel_context.get_current()

            def in_thread() -> None:  # no context variables there: the session is the trace's
                token = otel_context.attach(ctx)
                try:
                    with tracer.start_as_current_span("worker step"):
                        pass
                finally:
                    otel_context.detach(token)

            with ThreadPoolExecutor(1) as pool:
                pool.submit(in_thread).result()
        with agent_run("agent", session_id="other-marks", tracer=tracer):
            pass
    finally:
        provider.shutdown()
    spans = exporter.get_finished_spans()
    restored = [s for s in spans if s.attributes[c.SESSION_ID] == result.session_id]
    assert sorted(s.name for s in restored) == [
        "execute_tool lookup",
        "invoke_agent agent",
        "worker step",
    ]
    for s in restored:
        assert s.attributes[c.REPLAY_CHECKPOINT_ID] == cid
        assert s.attributes[c.REPLAY_SOURCE_SESSION_ID] == "base-marks"
        assert s.attributes[c.REPLAY_SOURCE_TRACE_ID] == result.checkpoint.trace_id
    assert [s.name for s in restored if c.REPLAY_RUN_ID in s.attributes] == ["invoke_agent agent"]
    others = [s for s in spans if s.attributes[c.SESSION_ID] != result.session_id]
    assert len(others) == 4
    assert not any(c.REPLAY_CHECKPOINT_ID in s.attributes for s in others)
