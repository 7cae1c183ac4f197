from __future__ import annotations

import asyncio
import os

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run, decision, llm_call, tool_call
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import (
    CheckpointNotFoundError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
)
from otel_replay.model.stores import DirectoryCheckpointStore
from otel_replay.restore.api import RestoreResult, arestore, restore
from otel_replay.restore.resolve import source_for
from otel_replay.restore.sources import (
    ProcessorSource,
    RecordingSource,
    UnorderedHistoryError,
)
from otel_replay.restore.tracking import REGISTRY


def record_session(p, *, sid="src-sess", store=None, inline_max_bytes=None):
    """agent(1) > search 'before'(2), checkpoint(3), search(4), chat(5), decision(6)."""
    with agent_run("researcher", session_id=sid, tracer=p.tracer):
        with tool_call("search", {"q": "before"}, tracer=p.tracer) as t:
            t.set_result(["old"])
        cid = checkpoint(
            {"query": "otel", "notes": ["n1"]},
            label="planned",
            store=store,
            inline_max_bytes=inline_max_bytes,
            tracer=p.tracer,
        )
        with tool_call("search", {"q": "otel"}, tracer=p.tracer) as t:
            t.set_result(["doc-1"])
        with llm_call("gpt-test", messages="summarize", tracer=p.tracer) as call:
            call.set_output("summary")
        with decision("answer-or-refine", action="answer", confidence=0.9, tracer=p.tracer):
            pass
    return cid


BASELINE = [(4, "tool", "search"), (5, "llm", "gpt-test"), (6, "decision", "answer-or-refine")]


def _shape(steps):
    return [(s.sequence, s.kind, s.name) for s in steps]


def _spans(p, name):
    return [s for s in p.exporter.get_finished_spans() if s.name == name]


def test_restore_from_live_processor(pipeline):
    cid = record_session(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    assert isinstance(result, RestoreResult)
    assert result.checkpoint.id == cid
    assert result.checkpoint.label == "planned"
    assert result.checkpoint.session_id == "src-sess"
    assert result.state == {"data": {"query": "otel", "notes": ["n1"]}}
    assert result.target == {"query": "otel", "notes": ["n1"]}
    assert _shape(result.baseline) == BASELINE
    assert result.baseline[0].inputs == {"q": "otel"}
    assert (result.replayed, result.cancelled, result.hook_errors) == (0, False, [])
    assert result.tracking is None
    assert result.session_id not in ("src-sess", "")
    assert len(result.session_id) == 32 and len(result.run_id) == 32
    assert isinstance(result.source, ProcessorSource)


def test_restore_with_checkpoint_object(pipeline):
    cid = record_session(pipeline)
    (ckpt,) = pipeline.processor.checkpoints("src-sess")
    result = restore(ckpt, source=pipeline.processor)
    assert result.checkpoint is ckpt
    assert _shape(result.baseline) == BASELINE
    # without a source: state only, no baseline
    bare = restore(ckpt)
    assert (bare.target, bare.baseline, bare.source) == (
        {"query": "otel", "notes": ["n1"]},
        [],
        None,
    )
    with pytest.raises(ValueError, match=r"re-execution needs the recorded steps"):
        bare.reexecute()
    assert cid == ckpt.id


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_restore_from_recording_file_with_store(pipeline, tmp_path, fmt):
    rec_dir = tmp_path / "recording"
    rec_dir.mkdir()
    exporter = RecordingExporter(rec_dir, format=fmt)
    pipeline.provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = DirectoryCheckpointStore(rec_dir / "checkpoints")
    cid = record_session(pipeline, store=store, inline_max_bytes=8)
    exporter.shutdown()
    assert sorted(os.listdir(rec_dir / "checkpoints")) == [f"{cid}.binpb"]

    result = restore(cid, source=str(rec_dir))
    assert isinstance(result.source, RecordingSource)
    assert result.checkpoint.state_location == "store"
    assert result.target == {"query": "otel", "notes": ["n1"]}
    assert _shape(result.baseline) == BASELINE
    assert [s.span_name for s in result.baseline] == [
        "execute_tool search",
        "chat gpt-test",
        "decision answer-or-refine",
    ]
    # the single file works too, and finds the sibling checkpoints directory
    (file,) = [n for n in os.listdir(rec_dir) if n != "checkpoints"]
    again = restore(cid, source=rec_dir / file)
    assert again.target == result.target
    assert _shape(again.baseline) == BASELINE

    # a tampered store entry is detected by the digest, never restored
    env = store.get(cid)
    env.state_json = b'{"data":{"query":"evil"}}'
    store.put(env)
    with pytest.raises(CheckpointStateError, match="digest mismatch"):
        restore(cid, source=rec_dir)


def test_state_size_cap_is_enforced(pipeline, monkeypatch):
    cid = record_session(pipeline)
    monkeypatch.setenv(c.ENV_STATE_MAX_BYTES, "10")
    with pytest.raises(CheckpointStateTooLargeError, match="over the cap of 10 bytes"):
        restore(cid, source=pipeline.processor)


def test_missing_checkpoint_names_id_and_source(pipeline, tmp_path):
    record_session(pipeline)
    with pytest.raises(CheckpointNotFoundError) as err:
        restore("nope", source=pipeline.processor)
    assert str(err.value) == (
        f"checkpoint 'nope' not found in ProcessorSource({pipeline.processor.buffered_steps} "
        "buffered steps): checkpoint nope is not in the replay buffer (1 checkpoints buffered)"
    )
    exporter = RecordingExporter(tmp_path / "rec.jsonl")
    exporter.export(pipeline.exporter.get_finished_spans())
    exporter.shutdown()
    with pytest.raises(CheckpointNotFoundError) as err2:
        restore("nope", source=tmp_path / "rec.jsonl")
    path = tmp_path / "rec.jsonl"
    assert str(err2.value) == (
        f"checkpoint 'nope' not found in RecordingSource({str(path)!r}): checkpoint nope is "
        f"not in the recording {path} (1 checkpoints recorded)"
    )


def test_argument_errors_are_explicit(pipeline):
    cid = record_session(pipeline)
    ckpt = pipeline.processor.get_checkpoint(cid)
    with pytest.raises(ValueError, match=r"restoring checkpoint '.*' by id needs source="):
        restore(cid)
    with pytest.raises(ValueError, match="replay and track_drift need the recorded steps"):
        restore(ckpt, replay=True)
    with pytest.raises(ValueError, match="replay and track_drift need the recorded steps"):
        restore(ckpt, track_drift=True)
    with pytest.raises(ValueError, match="need replay=True"):
        restore(cid, source=pipeline.processor, on_replay_event=print)
    with pytest.raises(ValueError, match=r"importance_threshold must be within \[0, 1\]"):
        restore(cid, source=pipeline.processor, replay=True, importance_threshold=1.5)
    with pytest.raises(TypeError, match="source must be a ReplayProcessor"):
        restore(cid, source=42)
    with pytest.raises(TypeError, match="checkpoint must be a Checkpoint or an id string"):
        restore(42, source=pipeline.processor)  # type: ignore[arg-type]


def test_source_for_coercions(pipeline, tmp_path):
    assert isinstance(source_for(pipeline.processor), ProcessorSource)
    src = ProcessorSource(pipeline.processor)
    assert source_for(src) is src


def test_run_carries_provenance_and_forks_are_distinct(pipeline):
    cid = record_session(pipeline)
    ckpt = pipeline.processor.get_checkpoint(cid)
    first = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    second = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    assert first.session_id != second.session_id
    assert first.run_id != second.run_id
    children = []
    for result in (first, second):
        with result.run("researcher") as run:
            assert run.session_id == result.session_id
            children.append(checkpoint({"fork": result.run_id}, tracer=pipeline.tracer))
    spans = _spans(pipeline, "invoke_agent researcher")[1:]
    assert len(spans) == 2
    for span, result in zip(spans, (first, second)):
        a = dict(span.attributes)
        assert a[c.REPLAY_CHECKPOINT_ID] == cid
        assert a[c.REPLAY_SOURCE_SESSION_ID] == "src-sess"
        assert a[c.REPLAY_SOURCE_TRACE_ID] == ckpt.trace_id
        assert a[c.REPLAY_MODE] == "live"
        assert a[c.REPLAY_RUN_ID] == result.run_id
        assert a[c.SESSION_ID] == result.session_id
        assert a[c.GEN_AI_CONVERSATION_ID] == result.session_id
    for child_id, result in zip(children, (first, second)):
        child = pipeline.processor.get_checkpoint(child_id)
        assert (child.parent_id, child.session_id, child.sequence) == (cid, result.session_id, 1)
    with pytest.raises(TypeError, match="session is result.session_id"):
        with first.run("x", session_id="other"):
            pass


def test_nested_restore_keeps_the_lineage_chain(pipeline):
    root = record_session(pipeline)
    r1 = restore(root, source=pipeline.processor, tracer=pipeline.tracer)
    with r1.run("researcher"):
        mid = checkpoint({"query": "otel", "step": 2}, label="second", tracer=pipeline.tracer)
        with tool_call("fetch", {"id": "doc-1"}, tracer=pipeline.tracer) as t:
            t.set_result("text")
        third = checkpoint({"query": "otel", "step": 3}, label="third", tracer=pipeline.tracer)

    r2 = restore(mid, source=pipeline.processor, tracer=pipeline.tracer)
    assert r2.checkpoint.parent_id == root
    assert r2.checkpoint.session_id == r1.session_id
    assert r2.target == {"query": "otel", "step": 2}
    assert [(s.kind, s.name) for s in r2.baseline] == [("tool", "fetch"), ("checkpoint", "third")]
    assert pipeline.processor.get_checkpoint(third).parent_id == mid

    with r2.run("researcher"):
        leaf = checkpoint({"step": 4}, tracer=pipeline.tracer)
    leaf_ckpt = pipeline.processor.get_checkpoint(leaf)
    assert leaf_ckpt.parent_id == mid
    assert leaf_ckpt.session_id == r2.session_id
    # walk the chain back to the root
    chain, cur = [], leaf_ckpt
    while cur is not None:
        chain.append(cur.id)
        cur = pipeline.processor.get_checkpoint(cur.parent_id) if cur.parent_id else None
    assert chain == [leaf, mid, root]
    run_span = _spans(pipeline, "invoke_agent researcher")[-1]
    assert run_span.attributes[c.REPLAY_CHECKPOINT_ID] == mid
    assert run_span.attributes[c.REPLAY_SOURCE_SESSION_ID] == r1.session_id


def test_track_drift_registers_the_restored_session(pipeline):
    cid = record_session(pipeline)
    drift = DriftProcessor([])  # an active DriftProcessor: track_drift needs one
    result = restore(cid, source=pipeline.processor, track_drift=True, tracer=pipeline.tracer)
    try:
        tracked = REGISTRY.get(result.session_id)
        assert tracked is result.tracking
        assert tracked.checkpoint_id == cid
        assert tracked.source_session_id == "src-sess"
        assert tracked.source_trace_id == pipeline.processor.get_checkpoint(cid).trace_id
        assert _shape(tracked.baseline) == BASELINE
        assert tracked.agent_name is None
        with result.run("researcher"):
            pass
        assert tracked.agent_name == "researcher"
    finally:
        result.untrack()
        drift.shutdown()
    assert result.session_id not in REGISTRY


def test_arestore_from_recording(pipeline, tmp_path):
    cid = record_session(pipeline)
    exporter = RecordingExporter(tmp_path / "rec.jsonl")
    exporter.export(pipeline.exporter.get_finished_spans())
    exporter.shutdown()
    result = asyncio.run(arestore(cid, source=tmp_path / "rec.jsonl", target={"x": 1}))
    assert result.target == {"x": 1, "query": "otel", "notes": ["n1"]}
    assert _shape(result.baseline) == BASELINE
    assert isinstance(result.checkpoint, Checkpoint)


def test_recording_without_step_sequences_is_refused(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    exporter = RecordingExporter(tmp_path / "plain.jsonl")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("plain")
    with agent_run("agent", session_id="plain-sess", tracer=tracer):
        cid = checkpoint({"a": 1}, tracer=tracer)
        with tool_call("search", {"q": 1}, tracer=tracer):
            pass
    provider.shutdown()
    with pytest.raises(UnorderedHistoryError) as err:
        restore(cid, source=tmp_path / "plain.jsonl")
    assert str(err.value) == (
        f"checkpoint {cid} in RecordingSource({str(tmp_path / 'plain.jsonl')!r}) has no step "
        "sequence number (agent_replay.step.sequence): record with a ReplayProcessor installed"
    )
