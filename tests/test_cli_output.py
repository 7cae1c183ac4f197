"""What the ``otel-replay`` commands write to a terminal: control characters escaped, broken
pipes ending quietly (exit code 141), ``--strict``, each warning once, malformed checkpoints
named without aborting the listing, ``inspect --limit``."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.cli.main import _PrefixFormatter, main
from otel_replay.cli.render import EXIT_BROKEN_PIPE, terminal_text
from otel_replay.core import conventions as c
from otel_replay.formats.files import write_recording

ROOT = Path(__file__).resolve().parents[1]
SID = "s\x1b[31mred"
TOOL = "evil\x1b]0;pwned\x07"


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()


def cli_process(*argv: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(kw.pop("env", {}))  # type: ignore[call-overload]
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", *argv],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
        **kw,  # type: ignore[call-overload]
    )


def hostile_spans(n_tools: int = 1, *, broken_checkpoint: bool = False) -> list[object]:
    """Real SDK spans of one session whose id, tool name and arguments carry escape codes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.cli_output")
    with tracer.start_as_current_span("invoke_agent", attributes={c.SESSION_ID: SID}):
        for n in range(n_tools):
            attrs = {
                c.SESSION_ID: SID,
                c.STEP_SEQUENCE: n + 1,
                c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL,
                c.GEN_AI_TOOL_NAME: TOOL,
                c.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps({"q": "\x1b[2J\u202e\x9b"}),
            }
            with tracer.start_as_current_span(f"execute_tool {TOOL}", attributes=attrs):
                pass
        if broken_checkpoint:
            attrs = {
                c.SESSION_ID: SID,
                c.STEP_SEQUENCE: n_tools + 1,
                c.STEP_KIND: c.KIND_CHECKPOINT,
                c.CHECKPOINT_ID: "broken",
            }
            with tracer.start_as_current_span("checkpoint broken", attributes=attrs):
                pass
    provider.shutdown()
    return list(exporter.get_finished_spans())


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.jsonl"
    write_recording(path, hostile_spans())  # type: ignore[arg-type]
    return path


def test_terminal_text_escapes_controls_bidi_and_lone_surrogates() -> None:
    assert terminal_text("a\x1b[31mb\x07\x7f\x9b\u202e\ud800\tc\nd") == (
        "a\\x1b[31mb\\x07\\x7f\\x9b\\u202e\\ud800\tc\nd"
    )
    assert terminal_text("a\tb\nc\rd", cell=True) == "a\\tb\\nc\\rd"
    assert terminal_text("plain ünïcode ✓") == "plain ünïcode ✓"


def test_escape_sequences_in_a_recording_reach_the_terminal_escaped(hostile: Path) -> None:
    proc = cli_process("inspect", str(hostile))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    text = proc.stdout.decode()
    assert "Session s\\x1b[31mred  (2 steps, 0 checkpoints)" in text.splitlines()
    (tool_row,) = [line for line in text.splitlines() if line.startswith("1 ")]
    assert tool_row.split()[:3] == ["1", "tool", "evil\\x1b]0;pwned\\x07"]
    # the input is shown as JSON (which escapes ESC itself); the rest is escaped for the terminal
    assert tool_row.endswith('{"q": "\\u001b[2J\\u202e\\x9b"}')


def test_json_output_is_unchanged_by_the_escaping(hostile: Path) -> None:
    proc = cli_process("inspect", str(hostile), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["sessions"][0]["session_id"] == SID
    assert doc["sessions"][0]["steps"][0]["name"] == TOOL
    # json.dump(ensure_ascii=False) escapes control characters itself: the bytes are the ones
    # of the document printed without the terminal escaping
    code, out = run_cli("inspect", str(hostile), "--format", "json")
    assert code == 0
    assert proc.stdout.decode() == out


def test_diff_table_escapes_session_ids_and_names(tmp_path: Path) -> None:
    base = tmp_path / "base.jsonl"
    cand = tmp_path / "cand.jsonl"
    write_recording(base, hostile_spans(1))  # type: ignore[arg-type]
    write_recording(cand, hostile_spans(2))  # type: ignore[arg-type]
    proc = cli_process("diff", str(base), str(cand), "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in proc.stdout + proc.stderr
    assert "s\\x1b[31mred" in proc.stdout.decode()
    assert "evil\\x1b]0;pwned\\x07" in proc.stdout.decode()


def test_log_lines_of_a_backend_are_escaped() -> None:
    import logging

    record = logging.LogRecord("x", logging.WARNING, "f", 1, "HTTP 500 \x1b[2Jboom", (), None)
    assert _PrefixFormatter("demo").format(record) == (
        "otel-replay demo: warning: HTTP 500 \\x1b[2Jboom"
    )


class _Hostile(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that rejects every export with escape codes in its status line."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"rejected"
        self.send_response(400, "\x1b]0;pwned\x07\x1b[2Jbad request")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile_backend() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_backend_status_lines_reach_the_terminal_escaped(
    hostile_backend: str, tmp_path: Path
) -> None:
    proc = cli_process(
        "demo",
        "--out",
        str(tmp_path / "out"),
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": hostile_backend,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in proc.stderr and b"\x07" not in proc.stderr
    assert b"\\x1b]0;pwned\\x07\\x1b[2Jbad request" in proc.stderr


def test_inspect_into_head_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_recording(path, hostile_spans(3000))  # type: ignore[arg-type]  # > a pipe buffer
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cli = subprocess.Popen(
        [sys.executable, "-m", "otel_replay.cli", "inspect", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert cli.stdout is not None and cli.stderr is not None
    head = subprocess.Popen(["head", "-1"], stdin=cli.stdout, stdout=subprocess.PIPE)
    cli.stdout.close()
    first, _ = head.communicate(timeout=120)
    stderr = cli.stderr.read()
    assert cli.wait(timeout=120) == EXIT_BROKEN_PIPE == 141
    assert first == f"Recording: {path}\n".encode()
    assert stderr == b""


@pytest.mark.parametrize("command", ["inspect", "diff"])
def test_a_closed_stdout_ends_quietly(command: str, hostile: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    args = [str(hostile)] * (2 if command == "diff" else 1)
    try:
        proc = cli_process(command, *args, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == b""


def damaged(tmp_path: Path) -> tuple[Path, int]:
    """A recording with a corrupt middle line, a malformed checkpoint span and a torn tail;
    returns it and the line of the checkpoint span."""
    spans = hostile_spans(2, broken_checkpoint=True)
    path = tmp_path / "damaged.jsonl"
    write_recording(path, spans[:2])  # type: ignore[arg-type]
    good = path.read_bytes()
    write_recording(path, spans[2:])  # type: ignore[arg-type]
    rest = path.read_bytes()
    path.write_bytes(good + b'{"resourceSpans": [bad\n' + rest + good[:20])
    return path, 3


def test_inspect_names_a_malformed_checkpoint_and_lists_the_rest(tmp_path: Path) -> None:
    path, line = damaged(tmp_path)
    proc = cli_process("inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().splitlines() == [
        f"otel-replay inspect: warning: {path}:2: skipped corrupt line (23 bytes, number of "
        "spans lost unknown): invalid JSON: Expecting value (column 20)",
        f"otel-replay inspect: warning: {path}:4: skipped truncated last line (20 bytes, no "
        "trailing newline; the writer probably crashed)",
        f"otel-replay inspect: warning: skipped checkpoint: {path}:{line}: checkpoint broken: "
        "span carries neither state nor digest",
    ]
    out = proc.stdout.decode().splitlines()
    assert out[1] == "4 spans, 1 session, 0 checkpoints"
    assert [row.split()[:2] for row in out[6:]] == [
        ["1", "tool"],
        ["2", "tool"],
        ["3", "checkpoint"],
        ["other", "invoke_agent"],
    ]


def test_strict_fails_at_the_first_damage(tmp_path: Path) -> None:
    path, _ = damaged(tmp_path)
    for argv in (["inspect", str(path)], ["diff", str(path), str(path)]):
        proc = cli_process(*argv, "--strict")
        assert proc.returncode == 3
        assert proc.stdout == b""
        assert proc.stderr.decode().splitlines() == [
            f"otel-replay {argv[0]}: error: {path}:2: invalid JSON: Expecting value (column 20)"
        ]


def test_strict_names_a_malformed_checkpoint(tmp_path: Path) -> None:
    spans = hostile_spans(1, broken_checkpoint=True)
    path = tmp_path / "r.jsonl"
    write_recording(path, spans)  # type: ignore[arg-type]
    proc = cli_process("inspect", str(path), "--strict")
    assert proc.returncode == 3
    assert proc.stderr.decode().splitlines() == [
        f"otel-replay inspect: error: {path}:1: checkpoint broken: span carries neither state "
        "nor digest"
    ]


def test_diff_prints_each_warning_once(tmp_path: Path) -> None:
    path, _ = damaged(tmp_path)
    proc = cli_process("diff", str(path), str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.decode().splitlines()
    corrupt = (
        f"otel-replay diff: warning: {path}:2: skipped corrupt line (23 bytes, number of "
        "spans lost unknown): invalid JSON: Expecting value (column 20)"
    )
    torn = (
        f"otel-replay diff: warning: {path}:4: skipped truncated last line (20 bytes, no "
        "trailing newline; the writer probably crashed)"
    )
    assert lines == [corrupt, torn]  # the same file read twice: each warning once


def test_a_directory_reports_the_bad_file_once(tmp_path: Path) -> None:
    write_recording(tmp_path / "a.jsonl", hostile_spans(1))  # type: ignore[arg-type]
    (tmp_path / "b.jsonl").write_bytes(b"not json\n")
    proc = cli_process("inspect", str(tmp_path), "--no-steps")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().splitlines() == [
        f"otel-replay inspect: warning: skipped file: {tmp_path / 'b.jsonl'}:1: invalid JSON: "
        "Expecting value (column 1)"
    ]
    assert proc.stdout.decode().splitlines()[0] == f"Recording: {tmp_path / 'a.jsonl'}"


def test_inspect_limit_lists_n_steps_and_says_how_many_were_left_out(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_recording(path, hostile_spans(5))  # type: ignore[arg-type]
    code, out = run_cli("inspect", str(path), "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert [row.split()[0] for row in lines[6:8]] == ["1", "2"]
    assert lines[8:] == ["", "4 more steps not shown (--limit 2)"]
    code, out = run_cli("inspect", str(path), "--limit", "2", "--format", "json")
    (session,) = json.loads(out)["sessions"]
    assert [s["sequence"] for s in session["steps"]] == [1, 2]
    assert session["steps_not_shown"] == 4
    code, out = run_cli("inspect", str(path), "--limit", "6")
    assert "not shown" not in out
