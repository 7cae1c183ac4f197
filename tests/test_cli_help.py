"""The ``otel-replay`` command line's contract: help text on every argument, documented exit
codes (one case of each), the ``otel-replay COMMAND:`` prefix on every error and warning, and
counted nouns in the right number."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_replay.cli.main import build_parser, main
from otel_replay.cli.render import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    count,
    exit_codes_epilog,
)
from tests.test_cli import BASE, _record

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    top = build_parser()
    yield "", top
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_argument_and_option_of_every_command_has_help() -> None:
    missing = []
    seen = 0
    for name, parser in _parsers():
        for action in parser._actions:
            seen += 1
            text = action.help
            if text is None or text == argparse.SUPPRESS or not text.strip():
                missing.append(
                    (name or "otel-replay", "/".join(action.option_strings) or action.dest)
                )
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not (choice.help or "").strip():
                        missing.append(("otel-replay", choice.dest))
    assert missing == []
    # otel-replay 3 (-h, --version, COMMAND), demo 3, inspect 9, diff 19, serve 14
    assert seen == 48


def test_every_help_ends_with_its_exit_codes() -> None:
    names = []
    for name, parser in _parsers():
        names.append(name)
        text = parser.format_help()
        assert text.endswith(exit_codes_epilog(name) + "\n")
        documented = [int(m) for m in re.findall(r"^  (\d+)  ", text.split("exit codes:")[1], re.M)]
        assert documented == list(EXIT_CODES[name])
    assert names == ["", "demo", "inspect", "diff", "serve"]


def test_the_readme_documents_the_exit_codes() -> None:
    text = README.read_text()
    rows = re.findall(r"^\| `(\d+)` \| (.+?) \|$", text, re.M)
    assert [int(code) for code, _ in rows] == [
        EXIT_OK,
        EXIT_DRIFT,
        EXIT_USAGE,
        EXIT_ERROR,
        EXIT_BROKEN_PIPE,
    ]


# --- one case of each documented exit code, for each command ------------------------------------
def _demo(tmp: Path, *extra: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.run(
        [sys.executable, "-m", "otel_replay.cli", "demo", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _in_process(*argv: str) -> Callable[[Path, pytest.CaptureFixture], tuple[int, str, str]]:
    def run(tmp: Path, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
        _record(tmp / "a.jsonl", "s", BASE, confidence=0.9)
        _record(tmp / "b.jsonl", "s", BASE, confidence=0.3)  # a critical drift
        (tmp / "not-a-dir").write_text("x")
        buf = io.StringIO()
        code = main([a.format(tmp=tmp) for a in argv], out=buf)
        return code, buf.getvalue(), capsys.readouterr().err

    return run


def _serve_until_sigterm(tmp: Path, _capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``otel-replay serve`` started, stopped by SIGTERM after its ready line."""
    import signal

    from tests.otlp_sink import otlp_sink

    with otlp_sink() as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otel_replay.cli",
                "serve",
                "--grpc-port",
                "0",
                "--http-port",
                "0",
                "--downstream",
                sink.url,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    return proc.returncode, ready + out, err


def _closed_stdout(tmp: Path, command: str, *names: str) -> tuple[int, str, str]:
    """``command`` with a stdout whose reader is gone (``| head`` after its lines)."""
    _record(tmp / "a.jsonl", "s", BASE, confidence=0.9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "otel_replay.cli", command, *(str(tmp / n) for n in names)],
            cwd=ROOT,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc.returncode, "", proc.stderr


CASES: dict[tuple[str, int], Callable[[Path, pytest.CaptureFixture], tuple[int, str, str]]] = {
    ("serve", EXIT_OK): _serve_until_sigterm,
    ("serve", EXIT_USAGE): _in_process("serve", "--grpc-port", "x"),
    ("demo", EXIT_OK): lambda tmp, _: _demo(tmp, "--out", str(tmp / "out")),
    ("demo", EXIT_USAGE): lambda tmp, _: _demo(tmp, "--format", "xml"),
    ("demo", EXIT_ERROR): lambda tmp, _: (
        (tmp / "file").write_text("x"),
        _demo(tmp, "--out", str(tmp / "file")),
    )[1],
    ("inspect", EXIT_OK): _in_process("inspect", "{tmp}/a.jsonl"),
    ("inspect", EXIT_USAGE): _in_process("inspect", "{tmp}/a.jsonl", "--session", "nosuch"),
    ("inspect", EXIT_ERROR): _in_process("inspect", "{tmp}/nope.jsonl"),
    ("diff", EXIT_OK): _in_process("diff", "{tmp}/a.jsonl", "{tmp}/a.jsonl"),
    ("diff", EXIT_DRIFT): _in_process("diff", "{tmp}/a.jsonl", "{tmp}/b.jsonl"),
    ("diff", EXIT_USAGE): _in_process("diff", "{tmp}/a.jsonl", "{tmp}/b.jsonl", "--mode", "x"),
    ("diff", EXIT_ERROR): _in_process("diff", "{tmp}/a.jsonl", "{tmp}/not-a-dir/b.jsonl"),
    ("inspect", EXIT_BROKEN_PIPE): lambda tmp, _: _closed_stdout(tmp, "inspect", "a.jsonl"),
    ("diff", EXIT_BROKEN_PIPE): lambda tmp, _: _closed_stdout(tmp, "diff", "a.jsonl", "a.jsonl"),
    ("", EXIT_OK): _in_process("--version"),
    ("", EXIT_USAGE): _in_process("nosuchcommand"),
}


def test_every_documented_exit_code_has_a_case() -> None:
    documented = {(cmd, code) for cmd, codes in EXIT_CODES.items() if cmd for code in codes}
    assert {k for k in CASES if k[0]} == documented
    # the top-level codes are the commands' codes
    assert set(EXIT_CODES[""]) == {code for _, code in documented}


def _check_prefix(command: str, err: str) -> None:
    """Every line on stderr is part of a usage block or starts with ``otel-replay COMMAND: ``."""
    prefix = f"otel-replay {command}: " if command else "otel-replay: "
    lines = err.splitlines()
    if lines and lines[0].startswith("usage: "):
        lines = lines[next(i for i, ln in enumerate(lines) if ln.startswith(prefix)) :]
    assert all(ln.startswith(prefix) for ln in lines), err


@pytest.mark.parametrize("case", list(CASES), ids=lambda k: f"{k[0] or 'otel-replay'}-{k[1]}")
def test_documented_exit_code(
    case: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    command, expected = case
    code, out, err = CASES[case](tmp_path, capsys)
    assert code == expected, out + err
    _check_prefix(command, err)
    if command == "serve" and expected == EXIT_OK:  # its one summary line, by design
        assert out.startswith("otel-replay serve: ready grpc=127.0.0.1:")
        assert err.startswith("otel-replay serve: stopped worker=")
        assert err.count("\n") == 1
    elif expected in (EXIT_OK, EXIT_DRIFT, EXIT_BROKEN_PIPE):
        assert err == ""
    else:
        prefix = f"otel-replay {command}: " if command else "otel-replay: "
        assert err.splitlines()[-1].startswith(prefix + "error: "), err


# --- counted nouns ------------------------------------------------------------------------------
def test_counts_are_singular_for_one() -> None:
    assert [count(n, "session") for n in (0, 1, 2)] == ["0 sessions", "1 session", "2 sessions"]
    assert count(1, "hook error") == "1 hook error"


def test_diff_table_counts_steps_in_the_right_number(tmp_path: Path) -> None:
    _record(tmp_path / "one.jsonl", "s", [])  # compared: the decision (checkpoints are not)
    _record(tmp_path / "two.jsonl", "t", [("search", {"q": "a"}, [])])
    one, two = str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")
    code, text = run_cli("diff", one, one)
    assert code == 0
    assert text.splitlines()[0] == "baseline session s (1 step) vs candidate session s (1 step)"
    assert text.splitlines()[1] == "no drift (1 baseline step, 1 candidate step, mode align)"
    code, text = run_cli("diff", one, two, "--fail-on", "never")
    assert text.splitlines()[0] == "baseline session s (1 step) vs candidate session t (2 steps)"


def test_drift_summary_counts_findings_in_the_right_number(tmp_path: Path) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE, confidence=0.9)
    _record(tmp_path / "b.jsonl", "s", BASE, confidence=0.3)
    code, text = run_cli("diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"))
    assert code == 1
    assert text.splitlines()[1] == (
        "1 drift finding, max severity critical: 1 critical, 0 warning, 0 info "
        "(3 baseline steps, 3 candidate steps, mode align)"
    )


def test_log_lines_carry_the_command_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    monkeypatch.setenv("OTEL_REPLAY_RECORDING_MAX_LINE_BYTES", "not-a-number-cli")
    code, _ = run_cli("inspect", str(tmp_path / "a.jsonl"))
    assert code == 0
    assert capsys.readouterr().err == (
        "otel-replay inspect: warning: OTEL_REPLAY_RECORDING_MAX_LINE_BYTES='not-a-number-cli' "
        "is not a positive integer; using the default 67108864\n"
    )


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()
