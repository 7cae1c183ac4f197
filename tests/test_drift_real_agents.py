"""Drift on real agent traces: a real LangGraph ReAct agent (``create_react_agent``, real
tools, a scripted chat model with fresh tool-call ids per run) traced by the real
OpenInference, OpenLLMetry and OpenTelemetry GenAI LangChain instrumentations, and a
tool-calling loop on the real ``openai`` client against a local fake server traced by the
OpenTelemetry GenAI OpenAI instrumentation (default and latest-experimental spellings), and
a PydanticAI agent (``FunctionModel``) traced by PydanticAI's own instrumentation,
recorded with our ``RecordingExporter`` and compared with ``otel-replay diff``.

Two runs that behave the same give zero findings; each planted change gives exactly one
finding, on the right span, with its consequences as related changes; exit codes follow
``--fail-on warning``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

pytest.importorskip("langgraph")

from otel_replay.cli.main import main  # noqa: E402
from otel_replay.drift.compare import compare  # noqa: E402
from otel_replay.drift.sessions import match_sessions  # noqa: E402
from otel_replay.formats.files import load_recording  # noqa: E402
from otel_replay.model.steps import Step  # noqa: E402
from tests.agents.instrument import LANGCHAIN_CONVENTIONS, OPENAI_CONVENTIONS  # noqa: E402
from tests.agents.langgraph_react import run_react_agent  # noqa: E402
from tests.agents.record import (  # noqa: E402
    record_openai_scenarios,
    record_pydantic_scenarios,
    record_scenarios,
)
from tests.agents.script import BASELINE, MODEL, SCENARIOS  # noqa: E402

#: scenario -> (baseline recording, candidate recording)
PAIRS = {
    "same": ("base", "same"),
    "tool_changed": ("base", "tool_changed"),
    "arguments_changed": ("base", "arguments_changed"),
    "result_changed": ("base", "result_changed"),
    "extra_call": ("base", "extra_call"),
    "missing_call": ("extra_call", "base"),
    "answer_changed": ("base", "answer_changed"),
    "parallel_same": ("parallel", "parallel_again"),
    "parallel_reordered": ("parallel", "parallel_reordered"),
}


#: (framework, convention); ``langgraph_plain``: recorded with the RecordingExporter
#: alone (no ReplayProcessor: sessions are traces, steps ordered by start time)
AGENTS = (
    [("langgraph", c) for c in LANGCHAIN_CONVENTIONS]
    + [("langgraph_plain", "openinference"), ("langgraph_plain", "openllmetry")]
    + [("openai", c) for c in OPENAI_CONVENTIONS]
    + [("pydantic_ai", "pydantic_ai")]
)


@pytest.fixture(scope="module", params=AGENTS, ids=[f"{a}-{c}" for a, c in AGENTS])
def recordings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, str]]:
    framework, convention = request.param
    scripts = {"base": BASELINE, **SCENARIOS, "parallel_again": SCENARIOS["parallel"]}
    directory = str(tmp_path_factory.mktemp(f"{framework}-{convention}"))
    if framework == "openai":
        pytest.importorskip("openai")
        return convention, record_openai_scenarios(convention, directory, scripts)
    if framework == "pydantic_ai":
        pytest.importorskip("pydantic_ai")
        return convention, record_pydantic_scenarios(directory, scripts)
    return convention, record_scenarios(
        convention,
        run_react_agent,
        directory,
        scripts,
        replay_processor=framework != "langgraph_plain",
    )


def diff(*argv: str) -> tuple[int, dict[str, Any]]:
    buf = io.StringIO()
    code = main(["diff", *argv, "--format", "json", "--fail-on", "warning"], out=buf)
    return code, json.loads(buf.getvalue())


def steps_of(path: str) -> list[Step]:
    """The compared steps of the one comparable session of a recording."""
    (pair,) = match_sessions(load_recording(path), load_recording(path))
    return [s for s in pair.baseline.steps if s.kind not in ("plumbing", "checkpoint")]


def span(steps: list[Step], kind: str, index: int = 0, name: str | None = None) -> str:
    """Span id of the ``index``-th step of ``kind`` (and ``name``)."""
    found = [s for s in steps if s.kind == kind and (name is None or s.name == name)]
    return found[index].span_id


def summary(f: dict[str, Any]) -> tuple[Any, ...]:
    return (
        f["kind"],
        f["baseline"]["span_id"] if f["baseline"] else None,
        f["candidate"]["span_id"] if f["candidate"] else None,
        tuple((r["kind"], (r["candidate"] or r["baseline"])["span_id"]) for r in f["related"]),
    )


def expected(scenario: str, b: list[Step], c: list[Step]) -> list[tuple[Any, ...]]:
    """The one finding each scenario must give: (kind, baseline span, candidate span,
    related changes as (kind, span))."""
    if scenario in ("same", "parallel_same", "parallel_reordered"):
        return []
    if scenario == "tool_changed":
        return [
            (
                "tool_changed",
                span(b, "tool"),
                span(c, "tool"),
                (("output_changed", span(c, "llm", 0)),),
            )
        ]
    if scenario == "arguments_changed":  # the result changed with the arguments
        return [
            (
                "arguments_changed",
                span(b, "tool"),
                span(c, "tool"),
                (("output_changed", span(c, "tool")), ("output_changed", span(c, "llm", 0))),
            )
        ]
    if scenario == "result_changed":
        return [("output_changed", span(b, "tool"), span(c, "tool"), ())]
    if scenario == "extra_call":  # the extra round: its tool call and model call
        return [
            (
                "unexpected_step",
                None,
                span(c, "tool", name="get_time"),
                (("unexpected_step", span(c, "llm", 1)),),
            )
        ]
    if scenario == "missing_call":
        return [
            (
                "missing_step",
                span(b, "tool", name="get_time"),
                None,
                (("missing_step", span(b, "llm", 1)),),
            )
        ]
    assert scenario == "answer_changed"
    return [("output_changed", span(b, "llm", 1), span(c, "llm", 1), ())]


@pytest.mark.parametrize("scenario", list(PAIRS))
def test_one_change_one_finding(recordings: tuple[str, dict[str, str]], scenario: str) -> None:
    convention, paths = recordings
    base, cand = (paths[n] for n in PAIRS[scenario])
    code, report = diff(base, cand)
    want = expected(scenario, steps_of(base), steps_of(cand))
    assert [summary(f) for f in report["findings"]] == want, convention
    assert code == (1 if want else 0)
    assert report["notes"] == []
    assert report["baseline_session"] == load_recording(base).sessions()[-1]
    assert report["candidate_session"] == load_recording(cand).sessions()[-1]
    if want:  # the first divergence is the cause
        cause = report["findings"][0]
        fd = report["first_divergence"]
        side = "candidate" if cause["candidate"] else "baseline"
        assert (fd["position"], fd[side]) == (cause["position"], cause[side])
    else:
        assert report["first_divergence"] is None
        assert report["candidate_steps"] == report["baseline_steps"] > 0


def test_same_steps_compared_on_every_convention(recordings: tuple[str, dict[str, str]]) -> None:
    """What is compared: the agent's LLM and tool calls, no plumbing span."""
    _, paths = recordings
    assert [(s.kind, s.name) for s in steps_of(paths["base"])] == [
        ("llm", MODEL),
        ("tool", "get_weather"),
        ("llm", MODEL),
    ]


def test_strict_mode_keeps_the_order_of_parallel_calls(
    recordings: tuple[str, dict[str, str]],
) -> None:
    """The reordered run's model issued the two calls in the other order: ``align`` mode
    ignores that, ``strict`` mode reports it on that model call."""
    _, paths = recordings
    base, cand = load_recording(paths["parallel"]), load_recording(paths["parallel_reordered"])
    (pair,) = match_sessions(base, cand, mode="strict")
    assert compare(pair.baseline.steps, pair.candidate.steps).findings == []
    report = compare(pair.baseline.steps, pair.candidate.steps, mode="strict")
    on_llm = [
        (f.kind.value, f.candidate.span_id)
        for f in report.findings
        if f.candidate is not None and f.candidate.kind == "llm"
    ]
    first_llm = next(s for s in pair.candidate.steps if s.kind == "llm")
    assert on_llm == [("output_changed", first_llm.span_id)]


def test_openllmetry_create_agent_trace_is_not_a_session(tmp_path: Any) -> None:
    """OpenLLMetry writes the agent's definition as a trace of its own, before the run:
    ``diff`` compares the run, and says so."""
    paths = record_scenarios(
        "openllmetry",
        run_react_agent,
        str(tmp_path),
        {"base": BASELINE, "cand": SCENARIOS["tool_changed"]},
    )
    rec = load_recording(paths["base"])
    first, run = rec.sessions()
    assert [s.span_name for s in rec.steps_for_session(first)] == ["create_agent weather_agent"]
    code, report = diff(paths["base"], paths["cand"])
    assert (code, report["baseline_session"]) == (1, run)
    assert [f["kind"] for f in report["findings"]] == ["tool_changed"]


def test_content_not_captured_is_said_once(tmp_path: Any) -> None:
    """GenAI instrumentation without message content: the LLM steps are compared by what
    is there (model, tokens, status) and the report says once that messages were not."""
    paths = record_scenarios(
        "genai",
        run_react_agent,
        str(tmp_path),
        {"base": BASELINE, "same": BASELINE},
        content="NO_CONTENT",
    )
    code, report = diff(paths["base"], paths["same"])
    assert (code, report["findings"]) == (0, [])
    assert report["notes"] == [
        "message content was not captured on 4 of 4 LLM steps (baseline 2, candidate 2): "
        "their messages were not compared; enable content capture in the instrumentation "
        "to compare them"
    ]


def test_openai_content_in_log_events_only_is_said(tmp_path: Any) -> None:
    """Latest spelling with content on the ``gen_ai.client.inference.operation.details``
    log event only: the spans carry no messages, and the report says so once."""
    pytest.importorskip("openai")
    logs: list[Any] = []
    paths = record_openai_scenarios(
        "openai_latest",
        str(tmp_path),
        {"base": BASELINE, "cand": SCENARIOS["answer_changed"]},
        logs=logs,
        content="EVENT_ONLY",
    )
    events = [getattr(r, "log_record", r) for r in logs]
    assert [e.event_name for e in events] == ["gen_ai.client.inference.operation.details"] * 4
    assert all("gen_ai.output.messages" in (e.attributes or {}) for e in events)
    code, report = diff(paths["base"], paths["cand"])
    assert (code, report["findings"]) == (0, [])
    assert report["notes"] == [
        "message content was not captured on 4 of 4 LLM steps (baseline 2, candidate 2): "
        "their messages were not compared; enable content capture in the instrumentation "
        "to compare them"
    ]


def test_openai_content_from_log_events_with_event_content_processor(tmp_path: Any) -> None:
    """With ``EventContentProcessor`` the event's messages are on the spans, so a changed
    final answer is found although the instrumentation wrote content to events only."""
    pytest.importorskip("openai")
    paths = record_openai_scenarios(
        "openai_latest",
        str(tmp_path),
        {"base": BASELINE, "same": BASELINE, "cand": SCENARIOS["answer_changed"]},
        content="EVENT_ONLY",
        event_content=True,
    )
    llms = [s for s in steps_of(paths["cand"]) if s.kind == "llm"]
    assert [s.attributes["agent_replay.content.from_event"] for s in llms] == [True, True]
    code, report = diff(paths["base"], paths["same"])
    assert (code, report["findings"], report["notes"]) == (0, [], [])
    code, report = diff(paths["base"], paths["cand"])
    assert code == 1 and report["notes"] == []
    assert [summary(f) for f in report["findings"]] == [
        ("output_changed", span(steps_of(paths["base"]), "llm", 1), llms[1].span_id, ())
    ]


def test_drift_processor_on_a_real_agent() -> None:
    """A tracked run of the real agent under OpenInference: one finding, its related
    change's span event marked with its cause, metrics counting the cause only."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.capture.spans import agent_run
    from otel_replay.core import conventions as c
    from otel_replay.drift.processor import DriftProcessor
    from otel_replay.model.steps import normalize_span
    from otel_replay.restore.tracking import TrackingRegistry
    from tests.agents.instrument import instrumented
    from tests.conftest import points_by_attributes

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    drift = DriftProcessor(
        SimpleSpanProcessor(exporter), registry=TrackingRegistry(), meter_provider=meters
    )
    provider.add_span_processor(ReplayProcessor(meter_provider=meters))
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("tests")

    def session(sid: str) -> list[Any]:
        return [
            s
            for s in exporter.get_finished_spans()
            if s.attributes is not None and s.attributes.get(c.SESSION_ID) == sid
        ]

    try:
        with pytest.MonkeyPatch.context() as mp, instrumented("openinference", provider, mp):
            with agent_run("weather_agent", session_id="base", tracer=tracer):
                run_react_agent(BASELINE)
            baseline = sorted(
                (normalize_span(s) for s in session("base") if s.parent is not None),
                key=lambda s: s.sequence,
            )
            drift.track("cand", baseline)
            with agent_run("weather_agent", session_id="cand", tracer=tracer):
                run_react_agent(SCENARIOS["tool_changed"])
        report = drift.reports["cand"]
        (f,) = report.findings
        assert (f.kind.value, f.candidate.name if f.candidate else None) == (
            "tool_changed",
            "get_forecast",
        )
        (rel,) = f.related
        assert rel.kind.value == "output_changed" and rel.candidate is not None
        events = {
            s.context.span_id: [e for e in s.events if e.name == c.DRIFT_EVENT]
            for s in session("cand")
        }
        assert f.candidate is not None
        (cause_event,) = events[int(f.candidate.span_id, 16)]
        assert c.DRIFT_CAUSED_BY not in (cause_event.attributes or {})
        (rel_event,) = events[int(rel.candidate.span_id, 16)]
        assert (rel_event.attributes or {})[c.DRIFT_CAUSED_BY] == f.candidate.span_id
        assert sum(len(v) for v in events.values()) == 2
        points = points_by_attributes(reader, c.METRIC_DRIFT_FINDINGS)
        assert list(points.values()) == [1]
        assert drift.errors.count == 0
    finally:
        provider.shutdown()
        meters.shutdown()
