"""What ``inspect`` and ``diff`` read for a PATH (files, directories, one level down) and what
they say about inputs without spans."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otel_replay.cli.main import main
from otel_replay.formats.files import load_recording
from otel_replay.formats.locate import locate_recording
from tests.test_cli import BASE, _record

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output directory of a real ``otel-replay demo --out OUT`` run."""
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", "demo", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    return out


def test_inspect_the_demo_output_directory(demo_out: Path, capsys: pytest.CaptureFixture) -> None:
    (spans_file,) = (demo_out / "recording").glob("spans-*.jsonl")
    code, text = run_cli("inspect", str(demo_out), "--no-steps")
    assert code == 0
    assert capsys.readouterr().err == ""
    lines = text.splitlines()
    assert lines[0] == f"Recording: {spans_file}"
    rec = load_recording(spans_file)
    assert len(rec.spans) == 30
    assert lines[1] == "30 spans, 4 sessions, 4 checkpoints"
    # the same document as for the recording directory itself
    assert run_cli("inspect", str(demo_out), "--format", "json") == run_cli(
        "inspect", str(demo_out / "recording"), "--format", "json"
    )


def test_diff_the_demo_output_directories(
    demo_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    other = tmp_path / "other"
    shutil.copytree(demo_out, other)
    code, text = run_cli("diff", str(demo_out), str(other), "--format", "json")
    assert capsys.readouterr().err == ""
    assert code == 0
    doc = json.loads(text)  # the demo's four sessions, each paired with itself
    assert [
        (r["baseline_session"] == r["candidate_session"], r["findings"], r["candidate_steps"])
        for r in doc["reports"]
    ] == [(True, [], 6), (True, [], 5), (True, [], 5), (True, [], 5)]


def test_a_directory_with_recordings_at_two_levels_is_read_once(tmp_path: Path) -> None:
    _record(tmp_path / "a.jsonl", "top", BASE)
    _record(tmp_path / "sub" / "b.jsonl", "below", BASE)
    assert locate_recording(tmp_path) == str(tmp_path)
    code, text = run_cli("inspect", str(tmp_path), "--format", "json")
    assert code == 0
    doc = json.loads(text)
    assert doc["paths"] == [str(tmp_path / "a.jsonl")]
    assert [s["session_id"] for s in doc["sessions"]] == ["top"]
    assert len(doc["sessions"][0]["steps"]) == 5


def test_the_checkpoint_store_below_a_recording_is_not_read(tmp_path: Path) -> None:
    rec_dir = tmp_path / "out" / "recording"
    _record(rec_dir / "spans-1.jsonl", "s", BASE)
    (rec_dir / "checkpoints").mkdir()
    (rec_dir / "checkpoints" / "0123.binpb").write_bytes(b"\x0a\x04ckpt")
    assert locate_recording(tmp_path / "out") == str(rec_dir)
    assert locate_recording(rec_dir) == str(rec_dir)
    code, text = run_cli("inspect", str(tmp_path / "out"), "--format", "json")
    assert code == 0
    assert json.loads(text)["paths"] == [str(rec_dir / "spans-1.jsonl")]
    # a checkpoints/ directory alone is not a recording
    only_ckpts = tmp_path / "only"
    shutil.copytree(rec_dir / "checkpoints", only_ckpts / "checkpoints")
    code, _ = run_cli("inspect", str(only_ckpts))
    assert code == 3


def test_recordings_in_several_subdirectories_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _record(tmp_path / "run2" / "r.jsonl", "s", BASE)
    _record(tmp_path / "run1" / "r.jsonl", "s", BASE)
    (tmp_path / "empty").mkdir()
    code, _ = run_cli("diff", str(tmp_path), str(tmp_path / "run1"))
    assert code == 3
    assert capsys.readouterr().err == (
        f"otel-replay diff: error: {tmp_path}: no recording files directly in the directory, "
        f"but 2 of its subdirectories hold recordings: {tmp_path / 'run1'}, "
        f"{tmp_path / 'run2'} (give one of them)\n"
    )


def test_a_directory_without_recordings_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    _record(tmp_path / "a" / "b" / "deep.jsonl", "s", BASE)  # two levels down: not searched
    code, _ = run_cli("inspect", str(tmp_path))
    assert code == 3
    assert capsys.readouterr().err == (
        f"otel-replay inspect: error: {tmp_path}: no recording files (*.jsonl, *.json, "
        "*.binpb) in the directory or in its subdirectories\n"
    )


# --- inputs without spans ----------------------------------------------------------------------
def test_diff_of_an_empty_jsonl_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    good = tmp_path / "good.jsonl"
    _record(good, "s", BASE)
    code, text = run_cli("diff", str(empty), str(good))
    assert (code, text) == (3, "")
    assert capsys.readouterr().err == (
        f"otel-replay diff: error: baseline {empty}: no spans (the file is empty); "
        "nothing to compare\n"
    )
    code, text = run_cli("diff", str(good), str(empty))
    assert (code, text) == (3, "")
    assert capsys.readouterr().err == (
        f"otel-replay diff: error: candidate {empty}: no spans (the file is empty); "
        "nothing to compare\n"
    )


def test_diff_of_a_junk_binpb_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    junk = tmp_path / "junk.binpb"
    junk.write_bytes(b"\x00\x00\x00\x10abc")  # a length prefix promising more than is there
    code, text = run_cli("diff", str(junk), str(junk))
    assert (code, text) == (3, "")
    assert capsys.readouterr().err == (
        f"otel-replay diff: warning: {junk}: at byte offset 0: skipped truncated last frame "
        "(7 bytes left, expected 20 bytes; the writer probably crashed)\n"
        f"otel-replay diff: error: baseline {junk}: no spans (it holds only a truncated last "
        "record, which was skipped); nothing to compare\n"
    )


def test_diff_of_a_directory_of_recordings_without_spans(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b'{"resourceSpans":[]}\n')
    code, _ = run_cli("diff", str(tmp_path), str(tmp_path))
    assert code == 3
    assert capsys.readouterr().err == (
        f"otel-replay diff: error: baseline {tmp_path}: no spans in its 2 recording files "
        "(a.jsonl, b.jsonl); nothing to compare\n"
    )


def test_inspect_of_an_input_without_spans_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spanless = tmp_path / "spanless.jsonl"
    spanless.write_bytes(b'{"resourceSpans":[]}\n')
    code, text = run_cli("inspect", str(spanless))
    assert code == 0
    assert text == f"Recording: {spanless}\n0 spans, 0 sessions, 0 checkpoints\n"
    message = f"{spanless}: no spans (it holds no spans)"
    assert capsys.readouterr().err == f"otel-replay inspect: warning: {message}\n"
    code, text = run_cli("inspect", str(spanless), "--format", "json")
    assert code == 0
    assert json.loads(text) == {"paths": [str(spanless)], "warnings": [message], "sessions": []}
    assert capsys.readouterr().err == f"otel-replay inspect: warning: {message}\n"


def test_inspect_of_the_collector_recording_prints_no_sdk_log_line(
    capsys: pytest.CaptureFixture,
) -> None:
    data = ROOT / "tests" / "data" / "recordings" / "collector-ptrace.jsonl"
    code, text = run_cli("inspect", str(data), "--no-steps")
    assert code == 0
    assert text.splitlines()[1] == "2 spans, 2 sessions, 0 checkpoints"
    # The fixture's second span has empty ids (so the one warning about them), and its first
    # span an invalid tracestate ("state"), which the SDK's parser would log about.
    assert capsys.readouterr().err == (
        f"otel-replay inspect: warning: {data}: 1 span with an absent or all-zero trace id or "
        "span id (invalid in OTLP; such spans cannot be linked to their parents or children)\n"
    )
