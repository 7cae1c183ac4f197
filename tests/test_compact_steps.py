"""``otel-replay diff`` loads JSON lines as compact steps (``load_compact_steps``): steps
without instance or attribute dicts that read their content back from the file when a
comparison or a finding needs it. Same steps and findings as the general path (the shared
checks of ``tests/test_large_recordings.py`` run on every recording there, damaged, real
agents and ``tests/test_outline_decode.py``'s edits included); here: what is kept, what is
read back, the fallback per line and the digest of fingerprints."""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.sessions import match_sessions
from otel_replay.formats import compact_load, steps_decode
from otel_replay.formats.compact_load import load_compact_steps
from otel_replay.formats.errors import RecordingError
from otel_replay.formats.files import load_recording
from otel_replay.model.compact_step import CompactStep, read_each
from otel_replay.model.step_print import KEEP_CHARS, compact_print, fingerprint, print_digest
from otel_replay.model.steps import Step
from tests.test_large_recordings import (
    assert_same_diff,
    assert_same_recording,
    inspect_read_backs,
)

pytest.importorskip("msgspec")  # extra "fast"

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from large_recording import write_large  # noqa: E402

sys.path.remove(str(BENCH))


def _read_back(steps: list[Any]) -> list[int]:
    """Sequences of the compact steps whose full step was read back."""
    return [s.sequence for s in steps if type(s) is CompactStep and s._full is not None]


def test_a_compact_step_keeps_no_dicts_and_reads_nothing_back_while_loading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 2500)  # 3 lines
    rec = load_compact_steps(path)
    steps = rec.steps()
    assert len(steps) == 2500
    assert {type(s) for s in steps} == {CompactStep}
    assert not hasattr(steps[0], "__dict__")
    assert CompactStep.__slots__ and all(not hasattr(s, "__dict__") for s in steps)
    assert _read_back(steps) == []
    full = load_recording(path, keep_spans=False).steps()
    tool = steps[1]  # sequence 2
    assert tool.sequence == 2 and tool.kind == "tool"
    assert tool.outputs == {"forecast": "sunny", "high_c": 22}
    assert tool.attributes == full[1].attributes
    assert tool.full().to_dict() == full[1].to_dict()
    assert _read_back(steps) == [2]


def test_diff_reads_back_only_the_steps_that_differ(tmp_path: Path) -> None:
    base, same, cand = (tmp_path / f"{n}.jsonl" for n in ("base", "same", "cand"))
    write_large(str(base), 3000)
    write_large(str(same), 3000)
    write_large(str(cand), 3000, changed=1500)
    policy = DriftPolicy()
    b = load_compact_steps(base)
    for other, read_back, findings in ((same, [], 0), (cand, [1500], 1)):
        o = load_compact_steps(other)
        (pair,) = match_sessions(b, o, policy=policy)
        report = compare(pair.baseline.steps, pair.candidate.steps, policy)
        assert len(report.findings) == findings
        assert _read_back(pair.baseline.steps) == read_back
        assert _read_back(pair.candidate.steps) == read_back
    # the finding's details, read back from the files, are the general path's
    assert len(assert_same_diff(base, cand)) == 1


def _cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["diff", *argv], out=buf)
    return code, buf.getvalue()


def test_diff_prints_the_same_report_from_compact_and_full_steps(tmp_path: Path) -> None:
    base, cand = tmp_path / "base.jsonl", tmp_path / "cand.jsonl"
    write_large(str(base), 1200)
    write_large(str(cand), 1200, changed=600)
    compact = _cli(str(base), str(cand), "--format", "json", "--fail-on", "warning")
    # a report file needs every step's content: the full steps are loaded
    full = _cli(
        str(base),
        str(cand),
        "--format",
        "json",
        "--fail-on",
        "warning",
        "--output",
        str(tmp_path / "r.md"),
    )
    assert compact == full
    assert compact[0] == 1
    (finding,) = json.loads(compact[1])["findings"]
    assert finding["kind"] == "output_changed" and finding["candidate"]["sequence"] == 600


def _three_lines(tmp_path: Path) -> Path:
    """Three lines of 4 spans; the middle line has an array attribute (general path)."""
    src = tmp_path / "src.jsonl"
    write_large(str(src), 12)
    doc = json.loads(src.read_bytes())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    lines = []
    for k in range(3):
        part = json.loads(json.dumps(doc))
        part["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[4 * k : 4 * k + 4]
        lines.append(part)
    lines[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {
            "key": "gen_ai.response.finish_reasons",
            "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
        }
    )
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(json.dumps(d).encode() + b"\n" for d in lines))
    return path


def test_inspect_limit_reads_back_only_the_steps_it_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 2500)  # 3 lines of 1000 spans
    decoded: list[Any] = []
    parts = compact_load.LineReader._parts

    def counted(self: Any, line: Any) -> Any:
        if line not in self._lines:
            decoded.append(line)
        return parts(self, line)

    monkeypatch.setattr(compact_load.LineReader, "_parts", counted)
    for fmt in ("table", "json"):
        read = inspect_read_backs(path, ["--format", fmt, "--limit", "20"], monkeypatch)
        assert [index for _, index in read] == list(range(1, 21))  # the root sorts last
        assert len(decoded) == 1
        decoded.clear()
        read = inspect_read_backs(path, ["--format", fmt], monkeypatch)
        assert len(read) == len(set(read)) == 2500
        assert len(decoded) == 3  # in file order: each line decoded once
        decoded.clear()


def test_read_each_reads_each_line_once_in_any_order_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 2500)  # 3 lines
    steps = load_compact_steps(path).steps()
    mixed = steps[::-1][:1500] + steps[:1000:3]  # every line, out of file order
    decoded: list[Any] = []
    parts = compact_load.LineReader._parts

    def counted(self: Any, line: Any) -> Any:
        if line not in self._lines:
            decoded.append(line)
        return parts(self, line)

    monkeypatch.setattr(compact_load.LineReader, "_parts", counted)
    steps[6].full()  # kept: used as it is (in mixed)
    done: list[int] = []
    got = read_each(mixed, lambda s: (s.sequence, s.outputs), done.append, every=1000)
    assert len(decoded) == 3
    assert done == [1000, 1834]  # 1500 + 334 steps
    assert _read_back(steps) == [7]
    full = load_recording(path, keep_spans=False).steps()
    assert got == [(s.sequence, s.outputs) for s in full[::-1][:1500] + full[:1000:3]]


def test_a_line_of_another_shape_falls_back_to_full_steps(tmp_path: Path) -> None:
    path = _three_lines(tmp_path)
    steps = load_compact_steps(path).steps()
    by_seq = {s.sequence: type(s) for s in steps}
    # line 1: the root and sequences 1-3; line 2: 4-7 (general path); line 3: 8-11
    assert by_seq == {
        None: CompactStep,
        **{n: CompactStep for n in (1, 2, 3)},
        **{n: Step for n in (4, 5, 6, 7)},
        **{n: CompactStep for n in (8, 9, 10, 11)},
    }
    assert_same_recording(path)


def test_compressed_files_and_no_msgspec_give_full_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 1500)
    gz = tmp_path / "r.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert {type(s) for s in load_compact_steps(gz).steps()} == {Step}
    assert_same_recording(gz)
    monkeypatch.setattr(compact_load, "AVAILABLE", False)
    assert {type(s) for s in load_compact_steps(path).steps()} == {Step}


def test_every_line_of_a_generated_recording_is_read_as_compact_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[bool] = []
    read = steps_decode.StepLines.read

    def spy(self: Any, *args: Any) -> Any:
        out = read(self, *args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(steps_decode.StepLines, "read", spy)
    path = tmp_path / "r.jsonl"
    write_large(str(path), 5000)
    load_compact_steps(path)
    assert taken == [True] * 5


def test_a_checkpoint_line_takes_the_general_path(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 6)
    doc = json.loads(path.read_bytes())
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    span["attributes"].append({"key": c.CHECKPOINT_ID, "value": {"stringValue": "ck-1"}})
    path.write_bytes(json.dumps(doc).encode() + b"\n")
    steps = load_compact_steps(path).steps()
    assert {type(s) for s in steps} == {Step}
    assert [s.checkpoint_id for s in steps if s.checkpoint_id] == ["ck-1"]


def test_equal_fingerprints_have_equal_digests_and_others_differ() -> None:
    a = {c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"x":1}', c.GEN_AI_TOOL_CALL_RESULT: '{"y":2}'}
    b = dict(a)
    b[c.GEN_AI_TOOL_CALL_RESULT] = '{"y":3}'
    fa, fb = fingerprint("tool", a, "ok"), fingerprint("tool", dict(a), "ok")
    assert fa == fb and print_digest(fa) == print_digest(fb)
    assert print_digest(fingerprint("tool", b, "ok")) != print_digest(fa)
    assert print_digest(fingerprint("tool", a, "error")) != print_digest(fa)
    # a string never stands for the number it spells
    assert print_digest(("1", "ok")) != print_digest((1, "ok"))
    assert print_digest((True, bool, "ok")) != print_digest((1, int, "ok"))
    # never equal: a fresh object() (fields not fingerprinted exactly) or a NaN
    fresh = (object(),)
    assert print_digest(fresh) != print_digest(fresh)
    nan = (("k", float, math.nan), "ok")
    assert print_digest(nan) != print_digest(nan)
    # an LLM step without output source keeps its None (the "content not captured" note)
    assert print_digest((None, 5, 6, "ok"))[0] is None
    assert print_digest(("[]", 5, 6, "ok"))[0] == 1


def test_a_short_fingerprint_is_kept_and_a_long_one_digested() -> None:
    short = ("x" * 60, "y" * 60, "ok")
    long = ("x" * 60, "y" * (KEEP_CHARS - 59), "ok")
    assert compact_print(short) is short
    assert compact_print(long) == print_digest(long) and len(compact_print(long)) == 2
    assert len(compact_print(("s", ("k", str, "v" * KEEP_CHARS), "ok"))) == 2  # digested
    # a kept fingerprint never equals a digest (no fingerprint has two items)
    assert {len(fingerprint(k, {}, "ok")) for k in ("tool", "llm", "decision", "other")} == {
        3,
        4,
        5,
        1,
    }


def test_a_step_read_back_from_a_changed_file_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 2500)
    steps = load_compact_steps(path).steps()
    path.write_bytes(path.read_bytes()[:-10])  # the last line cut
    message = f"{path}: changed while it was read (at byte offset "
    with pytest.raises(RecordingError, match=re.escape(message)):
        steps[-2].outputs  # noqa: B018 - read back from the last line
    path.write_bytes(b"{}\n" * 3)  # no span where the first line was
    with pytest.raises(RecordingError, match=re.escape(f"{message}0)")):
        steps[0].attributes  # noqa: B018
