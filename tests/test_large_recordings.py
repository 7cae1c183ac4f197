"""Large recordings: the compact (``keep_spans=False``), compact-step (``load_compact_steps``)
and streaming (``summarize_recording``) paths give exactly what the full path gives, on real agent recordings and on generated ones,
damaged ones included; and the progress bar of ``inspect``/``diff`` moves in every phase."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from otel_replay.cli import inspect as cli_inspect
from otel_replay.cli.load import load_input
from otel_replay.cli.main import build_parser
from otel_replay.cli.progress import CountingSteps, Progress, progress_enabled
from otel_replay.drift.compare import compare
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.sessions import match_sessions
from otel_replay.formats import compact_load
from otel_replay.formats.compact_load import load_compact_steps
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording, write_recording
from otel_replay.formats.recording import Recording
from otel_replay.formats.summary import summarize_recording
from otel_replay.model.compact_step import KEPT_ATTRIBUTES, CompactStep

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from large_recording import write_large  # noqa: E402

sys.path.remove(str(BENCH))


def _quiet_load(path: Path, *, steps: bool = False, **kw: Any) -> tuple[Recording, list[str]]:
    """``load_recording(path, **kw)`` (``steps``: ``load_compact_steps``), prepared, with its
    checkpoints and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_compact_steps(path, **kw) if steps else load_recording(path, **kw)
        rec.prepare()
        ckpts = rec.checkpoints()
    rec._test_ckpts = ckpts  # type: ignore[attr-defined]
    return rec, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


def assert_same_recording(path: Path) -> None:
    """The full, compact, compact-step and streaming reads of ``path`` agree in everything
    they report."""
    full, full_warn = _quiet_load(path)
    for compact, compact_warn in (
        _quiet_load(path, keep_spans=False),
        _quiet_load(path, steps=True),
    ):
        assert compact.spans == [] and compact.compact and not full.compact
        assert compact.span_count == full.span_count == len(full.spans)
        assert compact_warn == full_warn
        assert compact.warnings == full.warnings
        assert compact.skipped == full.skipped
        assert {p: str(e) for p, e in compact.errors.items()} == {
            p: str(e) for p, e in full.errors.items()
        }
        assert compact.paths == full.paths
        assert compact.sessions() == full.sessions()
        assert [_cheap(s) for s in compact.steps()] == [_cheap(s) for s in full.steps()]
        assert [s.to_dict() for s in compact.steps()] == [s.to_dict() for s in full.steps()]
        assert compact._test_ckpts == full._test_ckpts  # type: ignore[attr-defined]
        for step in full.steps():
            assert compact.where(step.trace_id, step.span_id) == full.where(
                step.trace_id, step.span_id
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = summarize_recording(path)
        ckpts = summary.checkpoints()
    summary_warn = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    assert summary_warn == full_warn
    assert summary.span_count == full.span_count
    assert summary.warnings == full.warnings
    assert summary.skipped == full.skipped
    assert summary.paths == full.paths
    assert summary.sessions() == full.sessions()
    assert summary.step_counts() == {
        sid: len(full.steps_for_session(sid)) for sid in full.sessions()
    }
    assert ckpts == full._test_ckpts  # type: ignore[attr-defined]


def _cheap(step: Any) -> tuple[Any, ...]:
    """What a compact step keeps (read without its full step), of any step."""
    return (
        step.session_id,
        step.sequence,
        step.kind,
        step.name,
        step.span_name,
        step.trace_id,
        step.span_id,
        step.parent_span_id,
        step.start_time_unix_nano,
        step.end_time_unix_nano,
        step.status,
        step.status_message,
        step.importance,
        step.checkpoint_id,
        *(step.attr(k) for k in KEPT_ATTRIBUTES),
    )


def assert_same_diff(base: Path, cand: Path) -> list[dict[str, Any]]:
    """``compare()`` over compact recordings and over compact steps reports what it reports
    over full ones; returns the findings."""
    policy = DriftPolicy()
    reports = []
    for load in (
        load_recording,
        functools.partial(load_recording, keep_spans=False),
        load_compact_steps,
    ):
        b = load(base)
        c = load(cand)
        docs = []
        for pair in match_sessions(b, c, policy=policy):
            docs.append(compare(pair.baseline.steps, pair.candidate.steps, policy).to_dict())
        reports.append(docs)
    assert reports[0] == reports[1] == reports[2]
    return [f for doc in reports[0] for f in doc["findings"]]


def _inspect_out(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``otel-replay inspect`` (the ``inspect`` left out)."""
    args = build_parser().parse_args(["inspect", *argv, "--quiet"])
    out, err = io.StringIO(), io.StringIO()
    stderr, sys.stderr = sys.stderr, err
    try:
        code = args.func(args, out)
    finally:
        sys.stderr = stderr
    return code, out.getvalue(), err.getvalue()


def inspect_read_backs(
    path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Any, int]]:
    """``inspect path *argv`` prints on compact steps exactly what it prints on full steps
    (``load_input``); returns the steps read back from the file, as (line, index)."""
    read: list[tuple[Any, int]] = []
    step = compact_load.LineReader.step

    def counted(self: Any, line: Any, index: int, session_id: str) -> Any:
        read.append((line, index))
        return step(self, line, index, session_id)

    with monkeypatch.context() as m:
        m.setattr(compact_load.LineReader, "step", counted)
        compact = _inspect_out([str(path), *argv])
    with monkeypatch.context() as m:
        m.setattr(cli_inspect, "load_steps_input", load_input)
        full = _inspect_out([str(path), *argv])
    assert compact == full
    return read


def listed_compact_steps(path: Path, limit: int | None, session: str | None = None) -> int:
    """How many of the steps ``inspect --limit`` lists (all: ``None``) are compact steps."""
    rec = load_compact_steps(path)
    sessions = rec.sessions() if session is None else [session]
    listed = [s for sid in sessions for s in rec.steps_for_session(sid)][:limit]
    return sum(type(s) is CompactStep for s in listed)


# --------------------------------------------------------------------------- real agents


@pytest.fixture(scope="module")
def agent_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A real LangGraph ReAct agent traced by OpenInference, and the real openai client loop
    traced by the GenAI OpenAI instrumentation: each scenario recorded by RecordingExporter."""
    pytest.importorskip("langgraph")
    from tests.agents.langgraph_react import run_react_agent
    from tests.agents.record import record_openai_scenarios, record_scenarios
    from tests.agents.script import BASELINE, SCENARIOS

    scripts = {"base": BASELINE, **SCENARIOS}
    out = {
        f"lg-{k}": v
        for k, v in record_scenarios(
            "openinference",
            run_react_agent,
            str(tmp_path_factory.mktemp("lg")),
            scripts,
        ).items()
    }
    pytest.importorskip("openai")
    out.update(
        {
            f"oa-{k}": v
            for k, v in record_openai_scenarios(
                "openai", str(tmp_path_factory.mktemp("oa")), scripts
            ).items()
        }
    )
    return out


def test_compact_and_streaming_reads_equal_the_full_read_on_real_agents(
    agent_recordings: dict[str, str], tmp_path: Path
) -> None:
    assert len(agent_recordings) >= 10
    for name, path in agent_recordings.items():
        assert_same_recording(Path(path))
        # the same spans as protobuf and gzip-compressed JSON lines
        spans = load_recording(path).spans
        write_recording(tmp_path / f"{name}.binpb", spans, format="protobuf")
        assert_same_recording(tmp_path / f"{name}.binpb")
        write_recording(tmp_path / f"{name}.jsonl.gz", spans)
        assert_same_recording(tmp_path / f"{name}.jsonl.gz")


def test_compact_diff_equals_the_full_diff_on_real_agents(
    agent_recordings: dict[str, str],
) -> None:
    for prefix in ("lg", "oa"):
        base = Path(agent_recordings[f"{prefix}-base"])
        assert assert_same_diff(base, Path(agent_recordings[f"{prefix}-same"])) == []
        for scenario in ("result_changed", "extra_call", "tool_changed"):
            findings = assert_same_diff(base, Path(agent_recordings[f"{prefix}-{scenario}"]))
            assert len(findings) == 1, (prefix, scenario, findings)


# --------------------------------------------------------------------------- generated


def test_inspect_on_compact_steps_prints_the_full_listing_on_real_agents(
    agent_recordings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every format, with and without ``--limit``: the same bytes; each step listed is read
    back once, and only those."""
    compact_listed = 0
    for path in map(Path, agent_recordings.values()):
        session = load_compact_steps(path).sessions()[-1]
        for fmt in ("table", "json"):
            for limit in (None, 0, 1, 3, 10_000):
                extra = [] if limit is None else ["--limit", str(limit)]
                read = inspect_read_backs(path, ["--format", fmt, *extra], monkeypatch)
                assert len(read) == len(set(read)) == listed_compact_steps(path, limit)
                compact_listed += len(read)
            read = inspect_read_backs(
                path, ["--format", fmt, "--session", session, "--limit", "2"], monkeypatch
            )
            assert len(read) == listed_compact_steps(path, 2, session)
        assert inspect_read_backs(path, ["--no-steps"], monkeypatch) == []
    assert compact_listed > 0


def test_generated_recordings_diff_the_same_both_ways(tmp_path: Path) -> None:
    base, cand, same = tmp_path / "b.jsonl", tmp_path / "c.jsonl", tmp_path / "s.jsonl"
    write_large(str(base), 5001)
    write_large(str(cand), 5001, changed=2500)
    write_large(str(same), 5001)
    assert_same_recording(base)
    assert assert_same_diff(base, same) == []
    (finding,) = assert_same_diff(base, cand)
    assert finding["kind"] == "output_changed"
    assert finding["candidate"]["sequence"] == 2500
    assert finding["candidate"]["span_id"] == f"{0x1000_0000_0000_0000 + 2500:016x}"


def test_damaged_recordings_read_the_same_both_ways(tmp_path: Path) -> None:
    good = tmp_path / "g.jsonl"
    write_large(str(good), 3500)  # 4 lines
    lines = good.read_bytes().splitlines(keepends=True)
    doc = json.loads(lines[1])
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][3]["spanId"] = "xyz"  # invalid span
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        lines[0]
        + json.dumps(doc).encode()
        + b"\n"
        + b'{"resourceSpans": [oops\n'
        + lines[2]
        + lines[3][:100]  # torn tail
    )
    assert_same_recording(bad)
    full, _ = _quiet_load(bad)
    assert len(full.skipped) == 2
    # a directory with a file that cannot be read at all
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.jsonl").write_bytes(lines[0])
    (d / "b.jsonl").write_bytes(b"not json\n")
    with gzip.open(d / "c.jsonl.gz", "wb") as f:
        f.write(lines[2])
    assert_same_recording(d)
    assert list(_quiet_load(d)[0].errors) == [str(d / "b.jsonl")]


def test_a_malformed_checkpoint_is_named_the_same_way_by_every_path(tmp_path: Path) -> None:
    from tests.test_cli_output import hostile_spans

    path = tmp_path / "r.jsonl"
    write_recording(path, hostile_spans(2, broken_checkpoint=True))  # type: ignore[arg-type]
    assert_same_recording(path)
    with pytest.warns(RecordingWarning) as record:
        summarize_recording(path).checkpoints()
    assert [str(w.message) for w in record] == [
        f"skipped checkpoint: {path}:1: checkpoint broken: span carries neither state nor digest"
    ]


def test_keep_spans_default_keeps_the_sdk_spans(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 10)
    rec = load_recording(path)
    assert len(rec.spans) == 10 and rec.span_count == 10 and len(rec) == 10


# --------------------------------------------------------------------------- progress


class FakeClock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _phases(text: str) -> dict[str, list[int]]:
    """Phase name -> the percentages drawn for it, in order (line output)."""
    out: dict[str, list[int]] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\[[#.]{30}\] +(\d+)% (.+) [\d.]+/[\d.]+(?: \w+)? \(\d+\.\ds\)", line)
        assert m is not None, line
        out.setdefault(m.group(2), []).append(int(m.group(1)))
    return out


def _run(argv: list[str], stderr: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> str:
    args = build_parser().parse_args(argv)
    args.clock = FakeClock()
    monkeypatch.setattr(sys, "stderr", stderr)
    out = io.StringIO()
    assert args.func(args, out) in (0, 1)
    return out.getvalue()


def test_diff_progress_moves_in_every_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cand = tmp_path / "base.jsonl", tmp_path / "cand.jsonl"
    write_large(str(base), 9000)  # 9 lines, over 2 chunks of 4096 steps
    write_large(str(cand), 9000, changed=10)
    err = io.StringIO()
    out = _run(["diff", str(base), str(cand), "--progress", "--format", "json"], err, monkeypatch)
    assert json.loads(out)["findings"][0]["kind"] == "output_changed"  # stdout: JSON only
    phases = _phases(err.getvalue())
    assert list(phases) == [
        "loading baseline base.jsonl",
        "normalizing baseline",
        "loading candidate cand.jsonl",
        "normalizing candidate",
        "comparing steps",
        "aligning and comparing pairs",
        "rendering",
    ]
    for name, pcts in phases.items():
        assert pcts[0] == 0 and pcts[-1] == 100, (name, pcts)
        assert pcts == sorted(pcts), (name, pcts)
        if name.startswith(("loading", "normalizing", "comparing steps")):
            assert any(0 < p < 100 for p in pcts), (name, pcts)  # it moved in between


def test_inspect_progress_moves_in_every_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 9000)
    err = io.StringIO()
    out = _run(["inspect", str(path), "--progress"], err, monkeypatch)
    assert out.splitlines()[1] == "9000 spans, 1 session, 0 checkpoints"
    phases = _phases(err.getvalue())
    assert list(phases) == ["loading r.jsonl", "normalizing", "rendering"]
    for name, pcts in phases.items():
        assert pcts[0] == 0 and pcts[-1] == 100 and any(0 < p < 100 for p in pcts), name
    err = io.StringIO()
    _run(["inspect", str(path), "--progress", "--no-steps"], err, monkeypatch)
    pcts = _phases(err.getvalue())["loading r.jsonl"]
    assert pcts[0] == 0 and pcts[-1] == 100 and any(0 < p < 100 for p in pcts)


def test_progress_on_a_terminal_redraws_one_line_and_clears_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 3000)
    term = Terminal()
    _run(["inspect", str(path), "--no-steps"], term, monkeypatch)  # a terminal: on by default
    text = term.getvalue()
    assert "\n" not in text
    assert text.count("\r") > 3
    assert "100% loading r.jsonl" in text
    assert text.endswith("\r")
    assert text.rsplit("\r", 2)[-2].strip() == ""  # the last redraw blanks the line
    term = Terminal()
    _run(["inspect", str(path), "--no-steps", "--quiet"], term, monkeypatch)
    assert term.getvalue() == ""


def test_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 3000)
    err = io.StringIO()
    _run(["diff", str(path), str(path)], err, monkeypatch)
    assert err.getvalue() == ""
    assert not progress_enabled(io.StringIO(), quiet=False, forced=False)
    assert progress_enabled(io.StringIO(), quiet=False, forced=True)
    assert not progress_enabled(Terminal(), quiet=True, forced=True)


def test_counting_steps_reports_its_first_pass_only() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    progress = Progress(stream, True, clock=clock, interval=0)
    progress.phase("p", 10)
    ended: list[int] = []
    seq = CountingSteps(list(range(10)), progress, every=4, then=lambda: ended.append(1))
    assert list(seq) == list(range(10)) and len(seq) == 10 and seq[3] == 3
    assert list(seq) == list(range(10))
    assert ended == [1]
    assert [line.split("%")[0][-3:].strip() for line in stream.getvalue().splitlines()] == [
        "0",
        "40",
        "80",
        "100",
    ]


def test_the_generator_writes_about_800_bytes_per_span(tmp_path: Path) -> None:
    size = write_large(str(tmp_path / "r.jsonl"), 2000)
    assert 700 * 2000 < size < 900 * 2000
    assert os.path.getsize(tmp_path / "r.jsonl") == size


def test_the_streaming_outline_prints_what_the_full_listing_prints(
    tmp_path: Path, pipeline: Any
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay import checkpoint
    from otel_replay.cli import inspect as cli_inspect
    from otel_replay.cli.progress import Progress
    from otel_replay.core import conventions as c

    assert isinstance(pipeline.exporter, InMemorySpanExporter)
    for sid in ("alpha", "beta"):
        with pipeline.tracer.start_as_current_span("run", attributes={c.SESSION_ID: sid}):
            checkpoint({"n": 1}, tracer=pipeline.tracer)
            with pipeline.tracer.start_as_current_span("child"):  # session from its trace
                pass
            checkpoint({"n": 2}, tracer=pipeline.tracer, label="second")
    with pipeline.tracer.start_as_current_span("orphan"):  # its own trace, no session
        pass
    path = tmp_path / "r.jsonl"
    write_recording(path, pipeline.exporter.get_finished_spans())
    for extra in ([], ["--session", "beta"]):
        args = build_parser().parse_args(["inspect", str(path), "--no-steps", "--quiet", *extra])
        outline, full = io.StringIO(), io.StringIO()
        assert cli_inspect._outline(args, outline, Progress(io.StringIO(), False)) == 0
        assert cli_inspect._inspect(args, full, Progress(io.StringIO(), False)) == 0
        assert outline.getvalue() == full.getvalue()
        assert "checkpoint" in outline.getvalue()
    text = outline.getvalue().splitlines()
    assert text[1] == "9 spans, 1 session, 2 checkpoints"  # all spans, the one session
    assert text[3] == "Session beta  (4 steps, 2 checkpoints)"
    args = build_parser().parse_args(["inspect", str(path), "--no-steps", "--session", "nope"])
    assert cli_inspect._outline(args, io.StringIO(), Progress(io.StringIO(), False)) == 2
