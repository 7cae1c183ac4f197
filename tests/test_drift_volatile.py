"""Volatile values, plumbing and list alignment: the documented defaults are the code's,
and each rule does what docs/drift.md says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare
from otel_replay.drift.jsondiff import json_diff
from otel_replay.drift.policy import (
    DEFAULT_IGNORE_PATHS,
    DEFAULT_VOLATILE_VALUES,
    DriftPolicy,
    validate_ignore_path,
)
from otel_replay.model.span_shapes import _classify
from tests.spanfactory import SpanFactory

DOC = Path(__file__).resolve().parents[1] / "docs" / "drift.md"


def _table(name: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- BEGIN {name}:.*?-->(.*?)<!-- END {name} -->", text, re.S)
    assert block is not None, name
    rows = [line for line in block.group(1).splitlines() if line.startswith("| `")]
    return [row.split("`")[1] for row in rows]


def test_documented_ignore_paths_are_the_defaults() -> None:
    assert tuple(_table("ignore paths")) == DEFAULT_IGNORE_PATHS


def test_documented_volatile_values_are_the_defaults() -> None:
    assert tuple(_table("volatile values")) == DEFAULT_VOLATILE_VALUES


VOL = DriftPolicy().volatile


@pytest.mark.parametrize(
    "a, b",
    [
        ("call_Xq1w2e3r4t5y6u", "call_Zz9x8c7v6b5n4m"),
        ("toolu_01AbCdEfGhIj", "toolu_01KlMnOpQrSt"),
        ("chatcmpl-abc123def456", "chatcmpl-zyx987wvu654"),
        (
            "lc_run--01a233e6-7c9b-7565-a97b-2e112af93b75-0",
            "lc_run--02b344f7-8d0c-8676-b08c-3f223b04c861-0",
        ),
        ("run-4c312e11-37c2-4724-bddb-4dfa972e35ac", "run-5d423f22-48d3-5835-cecc-5eab083f46bd"),
        ("4c312e11-37c2-4724-bddb-4dfa972e35ac", "5d423f22-48d3-5835-cecc-5eab083f46bd"),
        ("done by call_Xq1w2e3r4t5y6u.", "done by call_Zz9x8c7v6b5n4m."),
    ],
)
def test_generated_ids_are_not_drift(a: str, b: str) -> None:
    assert json_diff({"v": a}, {"v": b}, volatile=VOL) == []
    assert [ch.path for ch in json_diff({"v": a}, {"v": b})] == ["$.v"]


def test_uuids_inside_text_and_other_strings_are_compared() -> None:
    a = "doc 4c312e11-37c2-4724-bddb-4dfa972e35ac"
    b = "doc 5d423f22-48d3-5835-cecc-5eab083f46bd"
    assert [ch.path for ch in json_diff({"v": a}, {"v": b}, volatile=VOL)] == ["$.v"]
    assert [ch.path for ch in json_diff(["call_12"], ["call_34"], volatile=VOL)] == ["$[0]"]


def test_default_paths_cover_message_part_ids() -> None:
    msgs = [{"role": "assistant", "parts": [{"type": "tool_call", "id": "a1", "name": "t"}]}]
    other = [{"role": "assistant", "parts": [{"type": "tool_call", "id": "b2", "name": "t"}]}]
    assert json_diff(msgs, other, ignore=DEFAULT_IGNORE_PATHS) == []
    assert json_diff({"id": "doc-1"}, {"id": "doc-2"}, ignore=DEFAULT_IGNORE_PATHS) != []


def test_head_insertion_in_a_list_is_one_change() -> None:
    base = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    cand = [{"role": "system", "content": "be brief"}, *base]
    changes = json_diff(base, cand)
    assert [(ch.path, ch.op) for ch in changes] == [("$[0]", "added")]
    removed = json_diff(cand, base)
    assert [(ch.path, ch.op) for ch in removed] == [("$[0]", "removed")]
    edited = [*base[:2], {"role": "user", "content": "X"}, *base[3:], {"role": "user"}]
    assert [(ch.path, ch.op) for ch in json_diff(base, edited)] == [
        ("$[2].content", "changed"),
        ("$[5]", "added"),
    ]


def test_invalid_ignore_path_names_the_problem() -> None:
    with pytest.raises(ValueError, match="must start with '\\$'"):
        validate_ignore_path("doc_id")
    assert validate_ignore_path("$..doc_id") == "$..doc_id"


@pytest.mark.parametrize(
    "attrs, kind",
    [
        ({"openinference.span.kind": "CHAIN"}, c.KIND_PLUMBING),
        (
            {"openinference.span.kind": "AGENT", "metadata": '{"langgraph_node": "agent"}'},
            c.KIND_PLUMBING,
        ),
        ({"openinference.span.kind": "AGENT", "metadata": "{}"}, c.KIND_AGENT),
        ({"openinference.span.kind": "TOOL", "tool.name": "t"}, c.KIND_TOOL),
        ({"traceloop.span.kind": "task"}, c.KIND_PLUMBING),
        (
            {"traceloop.span.kind": "workflow", c.GEN_AI_OPERATION_NAME: "invoke_agent"},
            c.KIND_PLUMBING,
        ),
        ({c.GEN_AI_OPERATION_NAME: "execute_task"}, c.KIND_PLUMBING),
        ({c.GEN_AI_OPERATION_NAME: "create_agent"}, c.KIND_PLUMBING),
        ({c.GEN_AI_OPERATION_NAME: "invoke_agent"}, c.KIND_AGENT),
        ({c.STEP_KIND: "plumbing"}, c.KIND_PLUMBING),
    ],
)
def test_plumbing_classification(attrs: dict[str, str], kind: str) -> None:
    assert _classify(attrs, "span")[0] == kind


def test_plumbing_is_compared_in_strict_mode_only() -> None:
    runs = []
    for text in ("a", "b"):
        f = SpanFactory(text)
        steps = [
            f.tool("search", {"q": 1}, {"hits": 1}),
            f.emit("RunnableSequence", {"openinference.span.kind": "CHAIN", "output.value": text}),
        ]
        f.close()
        runs.append(steps)
    aligned, strict = compare(*runs), compare(*runs, mode="strict")
    assert (aligned.findings, aligned.baseline_steps) == ([], 1)
    assert (strict.findings, strict.baseline_steps) == ([], 2)


def _nested_run(tool_ms: int) -> list:
    """invoke_agent outer > invoke_agent inner > execute_tool search (``tool_ms`` long)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.model.steps import normalize_span

    ms = 1_000_000
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("t")
    t0 = 1_700_000_000_000 * ms
    agent = {c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT, c.SESSION_ID: "s"}
    outer = t.start_span("outer", start_time=t0, attributes={**agent, c.GEN_AI_AGENT_NAME: "o"})
    inner = t.start_span(
        "inner",
        context=trace.set_span_in_context(outer),
        start_time=t0,
        attributes={**agent, c.GEN_AI_AGENT_NAME: "i"},
    )
    tool = t.start_span(
        "execute_tool search",
        context=trace.set_span_in_context(inner),
        start_time=t0,
        attributes={c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL, c.GEN_AI_TOOL_NAME: "search"},
    )
    end = t0 + tool_ms * ms
    for span in (tool, inner, outer):
        span.end(end_time=end)
    steps = [normalize_span(s) for s in exporter.get_finished_spans()]
    provider.shutdown()
    return sorted((s for s in steps if s.parent_span_id), key=lambda s: s.name)


def test_latency_is_reported_once_on_the_step_that_got_slower() -> None:
    base, cand = _nested_run(2), _nested_run(400)
    report = compare(base, cand)
    assert [(f.kind.value, f.candidate.name if f.candidate else None) for f in report.findings] == [
        ("latency_regression", "search")
    ]
    # +45 ms is under the 50 ms floor even though it is 20x slower
    assert compare(_nested_run(2), _nested_run(47)).findings == []


def test_sessions_notes_and_related_survive_every_format() -> None:
    from otel_replay.drift.report import DriftReport

    f = SpanFactory("a")
    base = [f.llm("m", "plan", input_tokens=1, output_tokens=1), f.tool("search", {"q": 1}, 1)]
    f.close()
    g = SpanFactory("b")
    cand = [g.llm("m", "plan 2", input_tokens=1, output_tokens=1), g.tool("search", {"q": 2}, 1)]
    g.close()
    report = compare(base, cand)
    report.baseline_session, report.candidate_session = "a", "b"
    report.notes.append("a note")
    (finding,) = report.findings
    assert [r.kind.value for r in finding.related] == ["output_changed"]
    assert DriftReport.from_proto(report.to_proto().SerializeToString()) == report
    assert DriftReport.from_json(report.to_json()) == report
    for text in (report.to_markdown(), report.render_table()):
        assert "baseline session a (2 steps) vs candidate session b (2 steps)" in text
        assert "a note" in text
        assert "[related: output_changed on llm 'm' #1]" in text


def test_a_replaced_round_is_one_missing_and_one_unexpected_finding() -> None:
    f = SpanFactory("a")
    base = [f.decision("route", "search"), f.tool("search", {"q": 1}, 1)]
    f.close()
    g = SpanFactory("b")
    cand = [g.llm("m", "plan"), g.tool("fetch", {"u": 1}, 2)]
    g.close()
    report = compare(base, cand)
    got = [
        (
            x.kind.value,
            (x.candidate or x.baseline).name,  # type: ignore[union-attr]
            [(r.kind.value, (r.candidate or r.baseline).name) for r in x.related],  # type: ignore[union-attr]
        )
        for x in report.findings
    ]
    assert got == [
        ("missing_step", "search", [("missing_step", "route")]),
        ("unexpected_step", "fetch", [("unexpected_step", "m")]),
    ]
