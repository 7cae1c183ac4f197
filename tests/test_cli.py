from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, decision, tool_call
from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from otel_replay.formats.exporter import RecordingExporter


def _record(path: Path, sid: str, tools, confidence=0.9) -> str:
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path)))
    t = provider.get_tracer("t")
    with agent_run("agent", session_id=sid, tracer=t):
        cid = checkpoint({"q": 1}, label="start", tracer=t)
        for name, args, result in tools:
            with tool_call(name, args, tracer=t) as tc:
                tc.set_result(result)
        with decision("finish", action="answer", confidence=confidence, tracer=t):
            pass
    provider.shutdown()
    return cid


BASE = [("search", {"q": "a", "filters": [{"op": "eq"}]}, ["d1"]), ("fetch", {"id": "d1"}, "t")]


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()


def test_inspect_table_and_json(tmp_path):
    rec = tmp_path / "rec.jsonl"
    cid = _record(rec, "s1", BASE)
    code, text = run_cli("inspect", str(rec))
    assert code == 0
    lines = text.splitlines()
    assert lines[1] == "5 spans, 1 session, 1 checkpoint"
    assert lines[3] == "Session s1  (5 steps, 1 checkpoint)"
    assert f"1  {cid}  start" in text
    code, text = run_cli("inspect", str(rec), "--format", "json")
    doc = json.loads(text)
    (sess,) = doc["sessions"]
    assert sess["session_id"] == "s1"
    assert [ck["checkpoint_id"] for ck in sess["checkpoints"]] == [cid]
    assert [(s["sequence"], s["kind"], s["name"]) for s in sess["steps"]] == [
        (1, "agent", "agent"),
        (2, "checkpoint", "start"),
        (3, "tool", "search"),
        (4, "tool", "fetch"),
        (5, "decision", "finish"),
    ]


def test_inspect_missing_file_is_a_clear_error(tmp_path, capsys):
    code, _ = run_cli("inspect", str(tmp_path / "nope.jsonl"))
    assert code == 3
    assert "nope.jsonl" in capsys.readouterr().err


def test_diff_identical_exit_zero(tmp_path):
    _record(tmp_path / "a.jsonl", "s", BASE)
    _record(tmp_path / "b.jsonl", "s", BASE)
    code, text = run_cli(
        "diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--fail-on", "info"
    )
    assert code == 0
    code, text = run_cli(
        "diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--format", "json"
    )
    assert json.loads(text)["findings"] == []


@pytest.mark.parametrize(
    "fail_on, expected_code",
    [("info", 1), ("warning", 1), ("critical", 0), ("never", 0)],
)
def test_diff_exit_codes_for_warning_drift(tmp_path, fail_on, expected_code):
    _record(tmp_path / "a.jsonl", "s", BASE)
    changed = [("search", {"q": "a", "filters": [{"op": "ne"}]}, ["d1"]), BASE[1]]
    _record(tmp_path / "b.jsonl", "s", changed)
    code, _ = run_cli(
        "diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--fail-on", fail_on
    )
    assert code == expected_code


def test_diff_critical_and_formats(tmp_path):
    _record(tmp_path / "a.jsonl", "s", BASE, confidence=0.9)
    _record(tmp_path / "b.jsonl", "s", BASE, confidence=0.3)
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    code, text = run_cli("diff", a, b, "--format", "json")
    assert code == 1
    doc = json.loads(text)
    assert [(f["kind"], f["severity"]) for f in doc["findings"]] == [
        ("confidence_changed", "critical")
    ]
    code, md = run_cli("diff", a, b, "--format", "markdown")
    assert code == 1
    assert "confidence_changed" in md and "|" in md
    code, table = run_cli("diff", a, b, "--fail-on", "never")
    assert code == 0
    assert "confidence_changed" in table


def test_diff_paths_and_ignored_paths(tmp_path):
    _record(tmp_path / "a.jsonl", "s", BASE)
    changed = [("search", {"q": "a", "filters": [{"op": "ne"}]}, ["d1"]), BASE[1]]
    _record(tmp_path / "b.jsonl", "s", changed)
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    code, text = run_cli("diff", a, b, "--format", "json")
    (finding,) = json.loads(text)["findings"]
    assert (finding["kind"], finding["paths"]) == ("arguments_changed", ["$.filters[0].op"])
    code, text = run_cli("diff", a, b, "--format", "json", "--ignore-path", "$.filters[*].op")
    assert json.loads(text)["findings"] == []


def test_diff_progress_on_stderr(tmp_path, capsys):
    _record(tmp_path / "a.jsonl", "s", BASE)
    code, _ = run_cli("diff", str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl"), "--progress")
    err = capsys.readouterr().err
    assert code == 0
    assert err.splitlines()[-1].startswith("[##############################] 100% rendering 1/1")


def test_console_script_entry_point(tmp_path):
    rec = tmp_path / "r.jsonl"
    _record(rec, "s", BASE)
    proc = subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", "inspect", str(rec), "--no-steps"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Session s" in proc.stdout
    assert c.KIND_TOOL not in proc.stdout.split("Session s")[1].split("\n")[0]
