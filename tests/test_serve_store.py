"""``otel-replay serve --baselines DIR``: the recording directory is indexed incrementally (a
lookup reads only the files that are new or changed, and forgets deleted ones), with the
same answers as reading the whole directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.formats.files import write_recording
from otel_replay.model.errors import CheckpointNotFoundError
from otel_replay.restore.sources import RecordingSource
from otel_replay.serve.baselines import BaselineFinder, Provenance, _NoBaseline
from tests.serve_producer import Agent, Run


def _runs(*sessions: str) -> tuple[dict[str, Run], dict[str, list[Any]]]:
    """Baseline runs of ``sessions`` (each with a checkpoint) and their spans."""
    memory = InMemorySpanExporter()
    agent = Agent(memory)
    runs = {s: agent.baseline(s) for s in sessions}
    agent.shutdown()
    spans: dict[str, list[Any]] = {s: [] for s in sessions}
    for span in memory.get_finished_spans():
        spans[span.attributes["agent_replay.session.id"]].append(span)
    return runs, spans


def _prov(run: Run) -> Provenance:
    return Provenance(session_id=f"restored-{run.session}", checkpoint_id=run.checkpoint or "")


def _touch(path: Path, spans: list[Any]) -> None:
    """Rewrite ``path`` with ``spans`` and a new modification time."""
    write_recording(path, spans)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_lookup_reads_only_new_or_changed_files(tmp_path):
    runs, spans = _runs("a", "b", "c", "d")
    for name in ("a", "b"):
        write_recording(tmp_path / f"spans-{name}.jsonl", spans[name])
    (tmp_path / "notes.txt").write_text("not a recording")
    finder = BaselineFinder(tmp_path)
    assert finder.index is not None
    expected = RecordingSource(tmp_path / "spans-a.jsonl")
    want = expected.steps_after(expected.find_checkpoint(runs["a"].checkpoint or ""))
    assert [s.span_id for s in finder.lookup(_prov(runs["a"]))] == [s.span_id for s in want]
    assert len(want) == 2  # the tool and the LLM call
    assert finder.index.files_read == 2
    # nothing changed: an unknown checkpoint reads no file
    with pytest.raises(_NoBaseline, match="checkpoint " + "0" * 32 + " is not in the recording"):
        finder.lookup(Provenance("x", "0" * 32))
    assert finder.index.files_read == 2
    # a new file: only it is read
    write_recording(tmp_path / "spans-c.jsonl", spans["c"])
    assert len(finder.lookup(_prov(runs["c"]))) == 2
    assert finder.index.files_read == 3
    # a changed file: only it is read again
    _touch(tmp_path / "spans-b.jsonl", spans["b"] + spans["d"])
    assert len(finder.lookup(_prov(runs["d"]))) == 2
    assert finder.index.files_read == 4
    assert len(finder.lookup(_prov(runs["b"]))) == 2
    assert finder.index.files_read == 4
    # a deleted file: its checkpoints are gone from the index (found baselines stay cached)
    (tmp_path / "spans-a.jsonl").unlink()
    assert finder.index.refresh() is True
    with pytest.raises(CheckpointNotFoundError, match="3 checkpoints recorded"):
        finder.index.find_checkpoint(runs["a"].checkpoint or "")
    assert finder.index.files_read == 4
    assert finder.index.refresh() is False


def test_a_session_recorded_in_two_files_is_one_baseline(tmp_path):
    """A run that straddles a worker restart (a new file): its steps come from both files,
    in step order, as when the directory is read whole."""
    runs, spans = _runs("split")
    ordered = sorted(spans["split"], key=lambda s: s.attributes["agent_replay.step.sequence"])
    write_recording(tmp_path / "spans-w1.jsonl", ordered[:3])  # root, checkpoint, tool
    write_recording(tmp_path / "spans-w2.jsonl", ordered[3:])
    whole = RecordingSource(tmp_path)
    want = whole.steps_after(whole.find_checkpoint(runs["split"].checkpoint or ""))
    got = BaselineFinder(tmp_path).lookup(_prov(runs["split"]))
    assert [(s.span_id, s.sequence) for s in got] == [(s.span_id, s.sequence) for s in want]
    assert [s.name for s in got] == ["lookup_order", "fake-model"]


def test_a_torn_tail_is_a_warning_until_the_record_is_complete(tmp_path):
    runs, spans = _runs("t1", "t2")
    path = tmp_path / "spans-w.jsonl"
    write_recording(path, spans["t1"])
    complete = path.read_bytes()
    write_recording(tmp_path / "next.jsonl", spans["t2"])
    record = (tmp_path / "next.jsonl").read_bytes()
    (tmp_path / "next.jsonl").unlink()
    path.write_bytes(complete + record[: len(record) // 2])  # a writer in the middle of a record
    finder = BaselineFinder(tmp_path)
    assert len(finder.lookup(_prov(runs["t1"]))) == 2
    assert finder.warnings == [
        f"{path}:2: skipped truncated last line ({len(record) // 2} bytes, no trailing newline; "
        "the writer probably crashed)"
    ]
    with pytest.raises(_NoBaseline):
        finder.lookup(_prov(runs["t2"]))
    path.write_bytes(complete + record)  # the record completed
    assert len(finder.lookup(_prov(runs["t2"]))) == 2
    assert finder.warnings == []
    assert finder.index is not None and finder.index.files_read == 2


def test_a_file_that_cannot_be_read_is_skipped_with_a_warning(tmp_path):
    runs, spans = _runs("e")
    (tmp_path / "spans-new.jsonl").write_bytes(b"")  # a writer just created it
    (tmp_path / "spans-bad.jsonl").write_bytes(b"not json\n")
    write_recording(tmp_path / "spans-old.jsonl", spans["e"])
    finder = BaselineFinder(tmp_path)
    assert len(finder.lookup(_prov(runs["e"]))) == 2
    (warning,) = finder.warnings
    assert warning == f"skipped lines: {tmp_path / 'spans-bad.jsonl'}:1: invalid JSON: " + (
        "Expecting value (column 1)"
    )


def test_lines_appended_to_a_file_are_the_only_bytes_read_again(tmp_path):
    """A file a worker is writing grows by whole lines: only the new lines are read."""
    runs, spans = _runs("first", "second", "third")
    path = tmp_path / "spans-w.jsonl"
    write_recording(path, spans["first"])
    size = path.stat().st_size
    finder = BaselineFinder(tmp_path)
    assert finder.index is not None
    assert len(finder.lookup(_prov(runs["first"]))) == 2
    assert (finder.index.files_read, finder.index.bytes_read) == (1, size)
    for name in ("second", "third"):
        write_recording(tmp_path / "one.jsonl", spans[name])
        line = (tmp_path / "one.jsonl").read_bytes()
        (tmp_path / "one.jsonl").unlink()
        with open(path, "ab") as f:
            f.write(line)
        assert len(finder.lookup(_prov(runs[name]))) == 2
        assert finder.index.bytes_read == size + len(line)
        size += len(line)
    assert finder.index.files_read == 3
    # the same answers as the whole file read at once
    whole = RecordingSource(path)
    for run in runs.values():
        want = whole.steps_after(whole.find_checkpoint(run.checkpoint or ""))
        got = finder.index.steps_after(finder.index.find_checkpoint(run.checkpoint or ""))
        assert [s.span_id for s in got] == [s.span_id for s in want]
    # a file rewritten with other content (not an append) is read again from its start
    _touch(path, spans["third"] + spans["first"])
    assert finder.index.refresh() is True
    assert finder.index.bytes_read == size + path.stat().st_size
    with pytest.raises(CheckpointNotFoundError):
        finder.index.find_checkpoint(runs["second"].checkpoint or "")
    assert finder.warnings == []


def test_a_run_split_over_two_appends_of_one_file_is_one_baseline(tmp_path):
    runs, spans = _runs("halves")
    ordered = sorted(spans["halves"], key=lambda s: s.attributes["agent_replay.step.sequence"])
    path = tmp_path / "spans-w.jsonl"
    write_recording(path, ordered[:3])
    finder = BaselineFinder(tmp_path)
    assert finder.index is not None
    finder.index.refresh()
    write_recording(tmp_path / "rest.jsonl", ordered[3:])
    rest = (tmp_path / "rest.jsonl").read_bytes()
    (tmp_path / "rest.jsonl").unlink()
    with open(path, "ab") as f:
        f.write(rest)
    got = finder.lookup(_prov(runs["halves"]))
    assert [s.name for s in got] == ["lookup_order", "fake-model"]
    assert finder.index.files_read == 2


def test_a_damaged_line_appended_is_named_by_its_line_in_the_file(tmp_path):
    runs, spans = _runs("one", "two")
    path = tmp_path / "spans-w.jsonl"
    write_recording(path, spans["one"])
    finder = BaselineFinder(tmp_path)
    assert len(finder.lookup(_prov(runs["one"]))) == 2
    write_recording(tmp_path / "two.jsonl", spans["two"])
    good = (tmp_path / "two.jsonl").read_bytes()
    (tmp_path / "two.jsonl").unlink()
    with open(path, "ab") as f:
        f.write(b"{not json}\n" + good)
    assert len(finder.lookup(_prov(runs["two"]))) == 2
    (warning,) = finder.warnings
    assert warning.startswith(f"{path}:2: skipped corrupt line (11 bytes, ")
    assert finder.index is not None and finder.index.files_read == 2


def test_a_malformed_checkpoint_is_named_with_file_and_line(pipeline, tmp_path):
    from otel_replay.capture.checkpoint import checkpoint
    from otel_replay.core import conventions as c
    from otel_replay.formats.errors import RecordingWarning
    from otel_replay.model.errors import CheckpointError
    from otel_replay.serve.store import RecordingIndex

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
    write_recording(tmp_path / "tail.part", spans[2:])  # the malformed one: line 2
    path.write_bytes(path.read_bytes() + (tmp_path / "tail.part").read_bytes())
    (tmp_path / "tail.part").unlink()
    index = RecordingIndex(tmp_path)
    index.refresh()
    message = f"{path}:2: checkpoint broken: span carries neither state nor digest"
    with pytest.raises(CheckpointError) as info:
        index.find_checkpoint("broken")
    assert str(info.value) == message
    with pytest.warns(RecordingWarning) as record:
        assert [ck.id for ck in index.checkpoints()] == [good]
    assert [str(w.message) for w in record] == [f"skipped checkpoint: {message}"]
