"""Nothing dropped or failed silently: buffer eviction accounting, checkpoint numbering under
concurrency, checkpoint errors that name the path, malformed checkpoint spans named with
file and line."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.core import conventions as c
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import write_recording
from otel_replay.model.errors import CheckpointError, CheckpointStateError
from otel_replay.restore.sources import RecordingSource
from tests.conftest import Pipeline, make_pipeline, points_by_attributes


@pytest.fixture
def fast_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def test_every_step_the_buffer_does_not_keep_is_counted() -> None:
    p = make_pipeline(max_sessions=100)
    try:
        sessions = [f"sess-{i}" for i in range(500)]
        for sid in sessions:
            checkpoint({"n": 0}, session_id=sid, tracer=p.tracer)
        steps = 20_000
        for n in range(steps - len(sessions)):
            sid = sessions[n % len(sessions)]
            with p.tracer.start_as_current_span(f"step {n}", attributes={c.SESSION_ID: sid}):
                pass
        proc = p.processor
        assert len(proc.sessions()) == 100
        evicted = sum(proc.evictions.values())
        assert proc.buffered_steps + evicted == steps
        assert proc.evictions["max_steps"] == 0
        assert proc.evictions["max_bytes"] == 0
        points = points_by_attributes(p.metric_reader, c.METRIC_BUFFER_EVICTIONS)
        assert points[((c.ATTR_REASON, "max_sessions"),)] == evicted
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()


def test_a_new_checkpoint_revives_an_evicted_session() -> None:
    p = make_pipeline(max_sessions=1)
    try:
        checkpoint({"n": 0}, session_id="a", tracer=p.tracer)
        checkpoint({"n": 0}, session_id="b", tracer=p.tracer)  # evicts a (1 step)
        with p.tracer.start_as_current_span("late", attributes={c.SESSION_ID: "a"}):
            pass  # a step of the evicted session: counted
        assert p.processor.evictions["max_sessions"] == 2
        checkpoint({"n": 1}, session_id="a", tracer=p.tracer)  # evicts b (1 step)
        with p.tracer.start_as_current_span("kept", attributes={c.SESSION_ID: "a"}):
            pass
        assert p.processor.evictions["max_sessions"] == 3
        assert [s.name for s in p.processor.steps("a")] == ["checkpoint", "kept"]
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()


def test_concurrent_checkpoints_get_unique_chained_numbers(
    pipeline: Pipeline, fast_switching: None
) -> None:
    threads, per_thread = 8, 100
    barrier = threading.Barrier(threads)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        for i in range(per_thread):
            cid = checkpoint({"i": i}, session_id="shared", tracer=pipeline.tracer)
            with lock:
                ids.append(cid)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ckpts = pipeline.processor.checkpoints("shared")
    assert len(ckpts) == threads * per_thread
    assert [ck.sequence for ck in ckpts] == list(range(1, threads * per_thread + 1))
    assert ckpts[0].parent_id is None
    assert [ck.parent_id for ck in ckpts[1:]] == [ck.id for ck in ckpts[:-1]]
    assert sorted(ck.id for ck in ckpts) == sorted(ids)


@dataclass
class Node:
    name: str
    children: list[Any] = field(default_factory=list)
    parent: Any = None


def test_cyclic_dataclass_raises_a_checkpoint_state_error_naming_the_path(
    pipeline: Pipeline,
) -> None:
    root = Node("root")
    root.children.append(Node("child", parent=root))
    with pytest.raises(CheckpointStateError) as info:
        checkpoint(root, tracer=pipeline.tracer)
    assert str(info.value) == (
        "state contains a reference cycle: $.data.children[0].parent is the object already "
        "at $.data"
    )
    shared = {"x": 1}
    checkpoint({"a": shared, "b": shared}, tracer=pipeline.tracer)  # shared, not cyclic: fine


def test_a_failing_model_dump_is_a_checkpoint_state_error(pipeline: Pipeline) -> None:
    class Broken:
        def model_dump(self, mode: str = "python") -> Any:
            raise RuntimeError("no")

    with pytest.raises(CheckpointStateError) as info:
        checkpoint({"m": Broken()}, tracer=pipeline.tracer)
    assert str(info.value) == (
        "state at $.data.m: test_a_failing_model_dump_is_a_checkpoint_state_error.<locals>."
        "Broken.model_dump() failed: RuntimeError: no"
    )


def test_unexpected_failures_inside_checkpoint_are_checkpoint_errors(pipeline: Pipeline) -> None:
    class BadTracer:
        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("tracer broke")

    with pytest.raises(CheckpointError) as info:
        checkpoint({"a": 1}, tracer=BadTracer())  # type: ignore[arg-type]
    assert str(info.value) == "checkpoint could not be recorded: RuntimeError: tracer broke"


def test_checkpoint_span_without_state_is_named_with_file_and_line(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    with pipeline.tracer.start_as_current_span("run", attributes={c.SESSION_ID: "s"}):
        good = checkpoint({"a": 1}, tracer=pipeline.tracer)
    with pipeline.tracer.start_as_current_span(
        "checkpoint broken",
        attributes={c.SESSION_ID: "s", c.CHECKPOINT_ID: "broken", c.STEP_KIND: "checkpoint"},
    ):
        pass
    spans = pipeline.exporter.get_finished_spans()
    path = tmp_path / "r.jsonl"
    write_recording(path, spans[:2])
    write_recording(tmp_path / "tail.jsonl", spans[2:])  # the malformed one: line 2
    path.write_bytes(path.read_bytes() + (tmp_path / "tail.jsonl").read_bytes())
    (tmp_path / "tail.jsonl").unlink()
    source = RecordingSource(path)
    with pytest.raises(CheckpointError) as info:
        source.find_checkpoint("broken")
    assert str(info.value) == f"{path}:2: checkpoint broken: span carries neither state nor digest"
    with pytest.warns(RecordingWarning) as record:
        assert [ck.id for ck in source.checkpoints()] == [good]
    assert [str(w.message) for w in record] == [f"skipped checkpoint: {info.value}"]
    assert json.loads(path.read_text().splitlines()[1])["resourceSpans"]


def test_recording_checkpoints_name_a_malformed_span_with_file_and_line(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    from otel_replay.formats.files import load_recording

    with pipeline.tracer.start_as_current_span("run", attributes={c.SESSION_ID: "s"}):
        good = checkpoint({"a": 1}, tracer=pipeline.tracer)
    with pipeline.tracer.start_as_current_span(
        "checkpoint broken",
        attributes={c.SESSION_ID: "s", c.CHECKPOINT_ID: "broken", c.STEP_KIND: "checkpoint"},
    ):
        pass
    spans = pipeline.exporter.get_finished_spans()
    path = tmp_path / "r.binpb"
    write_recording(path, spans[:2], format="protobuf")
    first = path.read_bytes()
    write_recording(path, spans[2:], format="protobuf")
    path.write_bytes(first + path.read_bytes())
    recording = load_recording(path)
    message = (
        f"{path}: at byte offset {len(first)}: checkpoint broken: span carries neither state "
        "nor digest"
    )
    with pytest.warns(RecordingWarning) as record:
        assert [ck.id for ck in recording.checkpoints()] == [good]
    assert [str(w.message) for w in record] == [f"skipped checkpoint: {message}"]
    with pytest.raises(CheckpointError) as info:
        recording.checkpoints(strict=True)
    assert str(info.value) == message
