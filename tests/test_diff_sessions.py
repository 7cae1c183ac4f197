"""``otel-replay diff`` picks sessions it can name and refuses to compare nothing: unknown
checkpoints and sessions, empty sides and ambiguous pairings are usage errors (exit 2); the
report names both sessions in every format; latency and token drift are opt-in."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, tool_call
from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from otel_replay.formats.exporter import RecordingExporter
from tests.test_cli import BASE, _record

MS = 1_000_000


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), out=buf)
    return code, buf.getvalue()


def _record_sessions(path: Path, runs: list[tuple[str, str, list[tuple[str, int]]]]) -> None:
    """One run per (session, agent, [(tool, duration ms)]) with explicit timings."""
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path)))
    t = provider.get_tracer("t")
    clock = 1_700_000_000_000 * MS
    for sid, agent, tools in runs:
        root = t.start_span(
            f"invoke_agent {agent}",
            start_time=clock,
            attributes={
                c.SESSION_ID: sid,
                c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT,
                c.GEN_AI_AGENT_NAME: agent,
            },
        )
        from opentelemetry import trace

        ctx = trace.set_span_in_context(root)
        for name, ms in tools:
            span = t.start_span(
                f"execute_tool {name}",
                context=ctx,
                start_time=clock,
                attributes={
                    c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL,
                    c.GEN_AI_TOOL_NAME: name,
                    c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": 1}',
                    c.GEN_AI_TOOL_CALL_RESULT: '"ok"',
                },
            )
            clock += ms * MS
            span.end(end_time=clock)
        root.end(end_time=clock)
    provider.shutdown()


def test_unknown_checkpoint_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    a = str(tmp_path / "a.jsonl")
    code, out = run_cli("diff", a, a, "--checkpoint", "no-such-checkpoint")
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert err.startswith(
        "otel-replay diff: error: baseline: checkpoint 'no-such-checkpoint' is not in "
    )
    assert "(sessions found: s (agent 'agent', 3 steps))" in err


def test_known_checkpoint_compares_the_steps_after_it(tmp_path: Path) -> None:
    cid = _record(tmp_path / "a.jsonl", "s", BASE)
    a = str(tmp_path / "a.jsonl")
    code, out = run_cli("diff", a, a, "--checkpoint", cid, "--format", "json")
    doc = json.loads(out)
    assert (code, doc["baseline_steps"], doc["findings"]) == (0, 3, [])


def test_invalid_ignore_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    a = str(tmp_path / "a.jsonl")
    code, _ = run_cli("diff", a, a, "--ignore-path", "doc_id")
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        "otel-replay diff: error: argument --ignore-path: ignore pattern must start with "
        "'$': 'doc_id' (paths look like $.key, $..key, $.items[*].id)"
    )


def test_nothing_to_compare_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    _record_sessions(tmp_path / "empty.jsonl", [("e", "agent", [])])  # a root span only
    code, out = run_cli("diff", str(tmp_path / "a.jsonl"), str(tmp_path / "empty.jsonl"))
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert err.strip().endswith(
        "has no session with steps to compare (sessions found: e (agent 'agent', 0 steps))"
    )
    assert "nothing to compare: the candidate" in err


def test_unknown_session_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    a = str(tmp_path / "a.jsonl")
    code, _ = run_cli("diff", a, a, "--session", "nope")
    assert code == 2
    assert "baseline: session 'nope' not in" in capsys.readouterr().err


def test_sessions_paired_by_agent_and_reported_per_pair(tmp_path: Path) -> None:
    runs = [("a1", "planner", [("search", 1)]), ("a2", "writer", [("fetch", 1)])]
    _record_sessions(tmp_path / "a.jsonl", runs)
    _record_sessions(
        tmp_path / "b.jsonl",
        [("b2", "writer", [("fetch", 1)]), ("b1", "planner", [("lookup", 1)])],
    )
    code, out = run_cli(
        "diff",
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
        "--format",
        "json",
        "--fail-on",
        "warning",
    )
    doc = json.loads(out)
    pairs = [(r["baseline_session"], r["candidate_session"]) for r in doc["reports"]]
    assert pairs == [("a1", "b1"), ("a2", "b2")]
    assert [[f["kind"] for f in r["findings"]] for r in doc["reports"]] == [["tool_changed"], []]
    assert code == 1


def test_sessions_that_cannot_be_paired_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _record_sessions(
        tmp_path / "a.jsonl", [("a1", "planner", [("s", 1)]), ("a2", "writer", [("s", 1)])]
    )
    _record_sessions(tmp_path / "b.jsonl", [("b1", "critic", [("s", 1)])])
    code, _ = run_cli("diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"))
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot pair sessions" in err and "--session / --candidate-session" in err


def test_every_format_names_both_sessions(tmp_path: Path) -> None:
    _record(tmp_path / "a.jsonl", "base-run", BASE)
    _record(tmp_path / "b.jsonl", "cand-run", BASE)
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    _, out = run_cli("diff", a, b, "--format", "json")
    doc = json.loads(out)
    assert (doc["baseline_session"], doc["candidate_session"]) == ("base-run", "cand-run")
    line = "baseline session base-run (3 steps) vs candidate session cand-run (3 steps)"
    for fmt in ("table", "markdown"):
        _, out = run_cli("diff", a, b, "--format", fmt)
        assert line in out


def test_latency_is_off_by_default_and_reported_once_when_asked(tmp_path: Path) -> None:
    _record_sessions(tmp_path / "a.jsonl", [("a", "agent", [("search", 1), ("fetch", 2)])])
    _record_sessions(tmp_path / "b.jsonl", [("b", "agent", [("search", 200), ("fetch", 2)])])
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    code, out = run_cli("diff", a, b, "--format", "json", "--fail-on", "warning")
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out = run_cli(
        "diff", a, b, "--format", "json", "--fail-on", "warning", "--latency-threshold", "2"
    )
    (f,) = json.loads(out)["findings"]
    assert (code, f["kind"], f["candidate"]["name"]) == (1, "latency_regression", "search")
    # the floor is on the increase: +40 ms is under the default 50 ms
    _record_sessions(tmp_path / "c.jsonl", [("c", "agent", [("search", 41), ("fetch", 2)])])
    code, out = run_cli(
        "diff", a, str(tmp_path / "c.jsonl"), "--format", "json", "--latency-threshold", "2"
    )
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out = run_cli(
        "diff",
        a,
        str(tmp_path / "c.jsonl"),
        "--format",
        "json",
        "--latency-threshold",
        "2",
        "--latency-floor-ms",
        "30",
        "--ignore-kind",
        "latency_regression",
    )
    assert (code, json.loads(out)["findings"]) == (0, [])


def test_invalid_threshold_is_a_usage_error(tmp_path: Path) -> None:
    _record(tmp_path / "a.jsonl", "s", BASE)
    a = str(tmp_path / "a.jsonl")
    code, _ = run_cli("diff", a, a, "--latency-threshold", "fast")
    assert code == 2


def test_tool_call_ids_are_not_drift(tmp_path: Path) -> None:
    """Our own tool spans with per-run call ids in the arguments and result."""
    for name, call_id in (("a", "call_Xq1w2e3r4t5y"), ("b", "call_Zz9x8c7v6b5n")):
        provider = TracerProvider()
        provider.add_span_processor(ReplayProcessor())
        provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(tmp_path / name)))
        t = provider.get_tracer("t")
        with agent_run("agent", session_id=name, tracer=t):
            with tool_call("search", {"q": "x", "call": call_id}, tracer=t) as tc:
                tc.set_result({"text": f"done by {call_id}", "id": call_id})
        provider.shutdown()
    code, out = run_cli("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    assert (code, json.loads(out)["findings"]) == (0, [])


def _record_llm(path: Path, sid: str, tokens: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(path)))
    t = provider.get_tracer("t")
    with agent_run("agent", session_id=sid, tracer=t):
        t.start_span(
            "chat m",
            attributes={
                c.GEN_AI_OPERATION_NAME: "chat",
                c.GEN_AI_REQUEST_MODEL: "m",
                c.GEN_AI_OUTPUT_MESSAGES: '[{"role": "assistant", "parts": []}]',
                c.GEN_AI_USAGE_INPUT_TOKENS: tokens,
                c.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
            },
        ).end()
    provider.shutdown()


def test_token_usage_is_off_by_default_and_needs_ratio_and_floor(tmp_path: Path) -> None:
    _record_llm(tmp_path / "a.jsonl", "a", 10)
    _record_llm(tmp_path / "b.jsonl", "b", 30)
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    code, out = run_cli("diff", a, b, "--format", "json", "--fail-on", "warning")
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out = run_cli(
        "diff", a, b, "--format", "json", "--fail-on", "warning", "--token-threshold", "2"
    )
    (f,) = json.loads(out)["findings"]
    assert (code, f["kind"], f["actual"]["total_tokens"]) == (1, "token_usage_regression", 30)
    code, out = run_cli(
        "diff", a, b, "--format", "json", "--token-threshold", "2", "--token-floor", "50"
    )
    assert (code, json.loads(out)["findings"]) == (0, [])
