"""PendingCheckpoint: the span starts (and so takes its step sequence) now, the state is
written later; steps that end in between are kept."""

from __future__ import annotations

import pytest

from otel_replay.capture.checkpoint import PendingCheckpoint
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.core import conventions as c
from tests.conftest import Pipeline


def test_steps_ending_before_the_commit_are_after_the_checkpoint(pipeline: Pipeline) -> None:
    with agent_run("agent", session_id="s", tracer=pipeline.tracer):
        with tool_call("before", {}, tracer=pipeline.tracer):
            pass
        pending = PendingCheckpoint(framework="langgraph", tracer=pipeline.tracer)
        with tool_call("meanwhile", {}, tracer=pipeline.tracer):
            pass
        cid = pending.commit(
            {"values": {"x": 1}, "next": ["n"], "metadata": {}},
            label="n",
            attributes={c.CHECKPOINT_LANGGRAPH_STEP: 3},
        )
    assert cid == pending.id
    assert [s.name for s in pipeline.processor.steps_after(cid)] == ["meanwhile"]
    ckpt = pipeline.processor.get_checkpoint(cid)
    assert (ckpt.label, ckpt.framework, ckpt.session_id) == ("n", "langgraph", "s")
    (span,) = [s for s in pipeline.exporter.get_finished_spans() if s.name == "checkpoint n"]
    assert span.attributes[c.CHECKPOINT_LANGGRAPH_STEP] == 3
    with pytest.raises(RuntimeError, match=f"checkpoint {cid} was already committed or discarded"):
        pending.commit({"values": {}})


def test_discarded_checkpoint_is_never_exported(pipeline: Pipeline) -> None:
    with agent_run("agent", session_id="s", tracer=pipeline.tracer):
        pending = PendingCheckpoint(tracer=pipeline.tracer)
        pending.discard()
    assert [s.name for s in pipeline.exporter.get_finished_spans()] == ["invoke_agent agent"]
    assert pipeline.processor.checkpoints("s") == []


def test_bad_state_raises_and_exports_nothing(pipeline: Pipeline) -> None:
    pending = PendingCheckpoint(framework="langgraph", tracer=pipeline.tracer)
    with pytest.raises(Exception, match="langgraph state must be a mapping"):
        pending.commit(["not", "a", "mapping"])
    assert pipeline.exporter.get_finished_spans() == ()
