"""One change, one finding for nested calls (docs/drift.md): a call nested inside another
call (a ``tool_call`` inside a tool call, an LLM call made inside a tool) whose changed
result changes the enclosing call's result is one finding, on the nested call, with the
enclosing call's changed result (and the changed output of the LLM call reading it) as
related changes.

Runs are recorded with our helpers through the real SDK, the ``ReplayProcessor`` and the
``RecordingExporter``, and compared by ``compare()``, ``compare_profiled()``, the
``DriftProcessor`` and ``otel-replay diff``; the LangGraph agent (a ``@traced_tool`` inside a
LangChain ``@tool``, traced by OpenInference, whose nested span has no parent) runs through
the pytest plugin.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run, llm_call, tool_call
from otel_replay.cli.main import main
from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare, compare_profiled
from otel_replay.drift.fingerprint import profile
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.processor import DriftProcessor
from otel_replay.drift.report import DriftReport
from otel_replay.drift.sessions import match_sessions
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording
from otel_replay.model.steps import Step, normalize_span
from otel_replay.restore.tracking import TrackingRegistry
from tests.conftest import points_by_attributes

pytest_plugins = ["pytester"]

SUNNY = {"sky": "sunny", "temperature": 21}


def _agent(tracer: Any, sid: str, **knobs: Any) -> None:
    """A model call asks for ``weather``; ``weather`` calls ``lookup`` (and ``geocode``),
    and, with ``summarize``, a model inside the tool; a final model call reads the result.

    Knobs: ``sky`` (lookup's result), ``city`` (geocode's result), ``note`` (appended by
    ``weather`` itself), ``summary`` (the nested model's answer), ``deep`` (``lookup``
    calls ``station`` and returns its reading), ``lookup=False`` (``weather`` skips it)."""
    sky = knobs.get("sky", "sunny")
    with agent_run("agent", session_id=sid, tracer=tracer):
        with llm_call("gpt-4o", messages="Weather in Paris?", tracer=tracer) as m:
            m.set_output([{"role": "assistant", "content": "call weather"}])
        with tool_call("weather", {"city": "Paris"}, tracer=tracer) as outer:
            with tool_call("geocode", {"q": "Paris"}, tracer=tracer) as g:
                g.set_result({"city": knobs.get("city", "Paris")})
            if knobs.get("lookup", True):
                with tool_call("lookup", {"city": "Paris"}, tracer=tracer) as inner:
                    if "deep" in knobs:
                        with tool_call("station", {"id": 7}, tracer=tracer) as st:
                            st.set_result({"reading": knobs["deep"]})
                        sky = knobs["deep"]
                    inner.set_result({**SUNNY, "sky": sky})
            else:
                sky = "unknown"
            text = f"{sky} in {knobs.get('city', 'Paris')}{knobs.get('note', '')}"
            if "summary" in knobs:
                with llm_call("gpt-4o-mini", messages=text, tracer=tracer) as s:
                    s.set_output([{"role": "assistant", "content": knobs["summary"]}])
                text = knobs["summary"]
            outer.set_result(text)
        with llm_call("gpt-4o", messages=text, tracer=tracer) as m:
            m.set_output([{"role": "assistant", "content": f"It is {text}."}])


def _record(path: Path, **knobs: Any) -> str:
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(str(path))))
    try:
        _agent(provider.get_tracer("tests"), "s1", **knobs)
    finally:
        provider.shutdown()
    return str(path)


def _steps(path: str) -> list[Step]:
    (pair,) = match_sessions(load_recording(path), load_recording(path))
    return [s for s in pair.baseline.steps if s.kind not in ("plumbing", "checkpoint")]


def _name(ref: Any) -> str:
    return f"{ref.kind} {ref.name}"


def _shape(report: DriftReport) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(kind, step, related as (kind, step)) per finding."""
    return [
        (
            f.kind.value,
            _name(f.candidate or f.baseline),
            [(r.kind.value, _name(r.candidate or r.baseline)) for r in f.related],
        )
        for f in report.findings
    ]


def _diff(base: str, cand: str) -> tuple[int, dict[str, Any]]:
    buf = io.StringIO()
    code = main(["diff", base, cand, "--format", "json", "--fail-on", "warning"], out=buf)
    return code, json.loads(buf.getvalue())


#: scenario -> (knobs, expected findings as in _shape)
SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, str, list[tuple[str, str]]]]]] = {
    "same": ({}, []),
    # the nested call's result changed: so did the enclosing call's and the model reading it
    "nested_result": (
        {"sky": "rainy"},
        [
            (
                "output_changed",
                "tool lookup",
                [("output_changed", "tool weather"), ("output_changed", "llm gpt-4o")],
            )
        ],
    ),
    # the enclosing call changed its result itself: one finding on it, not linked to a
    # nested call
    "outer_result": (
        {"note": "!"},
        [("output_changed", "tool weather", [("output_changed", "llm gpt-4o")])],
    ),
    # two nested calls changed: two causes; the first one takes the enclosing call's result
    "two_nested": (
        {"sky": "rainy", "city": "Lyon"},
        [
            (
                "output_changed",
                "tool geocode",
                [("output_changed", "tool weather"), ("output_changed", "llm gpt-4o")],
            ),
            ("output_changed", "tool lookup", []),
        ],
    ),
    # three levels: the innermost changed call takes both enclosing calls' results
    "deep": (
        {"deep": "foggy"},
        [
            (
                "output_changed",
                "tool station",
                [
                    ("output_changed", "tool lookup"),
                    ("output_changed", "tool weather"),
                    ("output_changed", "llm gpt-4o"),
                ],
            )
        ],
    ),
    # the nested call is no longer made: the missing call is the cause
    "nested_missing": (
        {"lookup": False},
        [
            (
                "missing_step",
                "tool lookup",
                [("output_changed", "tool weather"), ("output_changed", "llm gpt-4o")],
            )
        ],
    ),
    # an LLM call made inside the tool answered differently
    "nested_llm": (
        {"summary": "cloudy"},
        [
            (
                "output_changed",
                "llm gpt-4o-mini",
                [("output_changed", "tool weather"), ("output_changed", "llm gpt-4o")],
            )
        ],
    ),
}
BASES = {"deep": {"deep": "sunny"}, "nested_llm": {"summary": "sunny"}}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_nested_change_is_one_finding(tmp_path: Path, scenario: str) -> None:
    knobs, want = SCENARIOS[scenario]
    base_knobs = BASES.get(scenario, {})
    base = _record(tmp_path / "base.jsonl", **base_knobs)
    cand = _record(tmp_path / "cand.jsonl", **{**base_knobs, **knobs})
    b, cs = _steps(base), _steps(cand)
    report = compare(b, cs)
    assert _shape(report) == want
    # the DriftProcessor's shortcut path gives the same report
    pol = DriftPolicy()
    assert _shape(compare_profiled(profile(b, pol), profile(cs, pol), pol)) == want
    code, doc = _diff(base, cand)
    assert code == (1 if want else 0)
    assert [
        (
            f["kind"],
            f"{(f['candidate'] or f['baseline'])['kind']} {(f['candidate'] or f['baseline'])['name']}",
            [
                (r["kind"], f"{r['candidate']['kind']} {r['candidate']['name']}")
                for r in f["related"]
            ],
        )
        for f in doc["findings"]
    ] == [(k, s, [tuple(r) for r in rel]) for k, s, rel in want]
    if want:  # the first divergence is the cause, the nested call
        assert report.first_divergence is not None
        first = report.findings[0]
        assert report.first_divergence.position == first.position
        side = "candidate" if first.candidate is not None else "baseline"
        assert getattr(report.first_divergence, side) == getattr(first, side)
        by_id = {s.span_id: s for s in cs}
        for rel in first.related:
            assert rel.candidate is not None and rel.candidate.span_id in by_id


def test_drift_processor_marks_the_enclosing_call_as_caused_by_the_nested_one() -> None:
    """A tracked run whose nested call changed its result: one cause event on the nested
    call's span, the enclosing call's and the reading model's events carry caused_by, the
    findings metric counts one."""
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
        _agent(tracer, "base")
        baseline = sorted(
            (normalize_span(s) for s in session("base") if s.parent is not None),
            key=lambda s: s.sequence,
        )
        drift.track("cand", baseline)
        _agent(tracer, "cand", sky="rainy")
        report = drift.reports["cand"]
        (f,) = report.findings
        assert f.candidate is not None and _name(f.candidate) == "tool lookup"
        assert [(r.kind.value, _name(r.candidate)) for r in f.related if r.candidate] == [
            ("output_changed", "tool weather"),
            ("output_changed", "llm gpt-4o"),
        ]
        events = {
            s.context.span_id: [e for e in s.events if e.name == c.DRIFT_EVENT]
            for s in session("cand")
        }
        (cause,) = events[int(f.candidate.span_id, 16)]
        assert c.DRIFT_CAUSED_BY not in (cause.attributes or {})
        for rel in f.related:
            assert rel.candidate is not None
            (ev,) = events[int(rel.candidate.span_id, 16)]
            assert (ev.attributes or {})[c.DRIFT_CAUSED_BY] == f.candidate.span_id
        assert sum(len(v) for v in events.values()) == 3
        assert list(points_by_attributes(reader, c.METRIC_DRIFT_FINDINGS).values()) == [1]
        assert drift.errors.count == 0
    finally:
        provider.shutdown()
        meters.shutdown()


def _langgraph_agent(async_: bool) -> tuple[str, str]:
    """The LangGraph agent of tests/test_pytest_plugin.py (a ``@traced_tool`` inside a
    LangChain ``@tool``, OpenInference), with the nested call's sky and a note the
    LangChain tool adds as settings."""
    from tests.test_pytest_plugin import LANGGRAPH_AGENT, LANGGRAPH_TEST

    inner = 'def lookup_weather(city: str) -> dict:\n    return {"city": city, "sky": '
    assert LANGGRAPH_AGENT.count(inner + '"sunny"') == 1
    outer = "return json.dumps(lookup_weather(city))"
    assert LANGGRAPH_AGENT.count(outer) == 1
    agent = (
        LANGGRAPH_AGENT.replace(inner + '"sunny"', inner + "SKY")
        .replace(outer, 'return json.dumps({**lookup_weather(city), "note": NOTE})')
        .replace("LOOKUP = True", 'SKY = "sunny"\nNOTE = None\nLOOKUP = True')
    )
    test = LANGGRAPH_TEST
    if async_:
        agent = (
            agent.replace("@tool\ndef get_weather", "@tool\nasync def get_weather")
            .replace("def run_agent(", "async def run_agent(")
            .replace("out = graph.invoke(", "out = await graph.ainvoke(")
        )
        test = test.replace("import agent\n", "import asyncio\n\nimport agent\n").replace(
            "agent.run_agent(run.tracer_provider)",
            "asyncio.run(agent.run_agent(run.tracer_provider))",
        )
    return agent, test


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_langgraph_nested_traced_tool_change_is_one_finding(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, async_: bool
) -> None:
    """Under OpenInference the nested @traced_tool's span has no parent: the plugin's
    recorded enclosing span links it, so its changed result is the one finding and the
    LangChain tool's changed result is its related change."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    from tests.test_pytest_plugin import _failures, _match, _project, _run, _set

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # inner runs name their plugins
    agent, test = _langgraph_agent(async_)
    _project(pytester, test=test, agent=agent)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _run(pytester).assert_outcomes(passed=1)  # the same behaviour: no finding
    _set(pytester, SKY="rainy")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*test_weather session-1: 1 drift finding, max severity warning: 0 critical, "
            "1 warning, 0 info (4 baseline steps, 4 candidate steps, mode align)",
        ],
    )
    lines = [ln.strip() for ln in _failures(result).splitlines()]
    assert [ln for ln in lines if "output_changed" in ln] == [
        "[warning] output_changed: output of tool 'lookup_weather' changed at step 2: $.sky",
        "caused: output_changed: output of tool 'get_weather' changed at step 1: $.sky",
    ]
    # the LangChain tool changed its own result, its nested call did not: one finding on it
    _set(pytester, SKY="sunny", NOTE="windy")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    lines = [ln.strip() for ln in _failures(result).splitlines()]
    assert [ln for ln in lines if "output_changed" in ln] == [
        "[warning] output_changed: output of tool 'get_weather' changed at step 1: $.note",
    ]
