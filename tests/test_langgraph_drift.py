"""Drift of resumed real LangGraph runs against their recording, under no instrumentation,
OpenInference and OpenLLMetry: an unchanged resumed run has zero findings; a changed tool
result gives exactly one finding, on that tool's span."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift.policy import DriftKind
from otel_replay.integrations.langgraph import LangGraphTarget
from otel_replay.restore.api import restore
from tests.lgagent import (
    DriftPipeline,
    drift_pipeline,
    instrumented_pipeline,
    react_graph,
    record_react,
    recording_scope,
)

#: steps compared after the "tools" checkpoint: the tool call and the final model call
#: (framework plumbing is not compared, docs/drift.md)
COMPARED_AFTER_TOOLS = {"none": 2, "openinference": 2, "openllmetry": 2}


rig = instrumented_pipeline  # the fixture, under this module's name


def resume(
    p: DriftPipeline,
    which: str,
    cid: str,
    script: list[Any],
    weather: str,
    mode: str | None,
    version: str = "v2",
) -> Any:
    graph, _ = react_graph(script=script, weather=weather, version=version)
    result = restore(
        cid,
        target=LangGraphTarget(graph, {"configurable": {"thread_id": "r"}}),
        source=p.processor,
        track_drift=True,
        tracer=p.tracer,
    )
    result.raise_for_hook_errors()
    with recording_scope(which, p.tracer):
        if mode is None:
            with result.run("agent"):
                graph.invoke(None, result.target.config)
        else:
            with result.reexecute(mode), result.run("agent"):  # type: ignore[arg-type]
                graph.invoke(None, result.target.config)
    assert result.tracking is not None and result.tracking.finished.is_set()
    return result


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_unchanged_resumed_run_has_no_findings(
    rig: tuple[str, DriftPipeline], version: str
) -> None:
    which, p = rig
    cp, _ = record_react(p, which, version=version)
    result = resume(
        p, which, cp.recorded[2], [("It is sunny in Paris.", [])], "sunny", None, version
    )
    report = result.report
    assert report.findings == []
    assert report.baseline_steps == report.candidate_steps == COMPARED_AFTER_TOOLS[which]
    assert result.drift_detected is False
    roots = [
        s.name for s in p.session_spans(result.session_id) if s.attributes.get(c.REPLAY_RESUME_ROOT)
    ]
    assert (
        roots
        == {
            "none": [],
            "openinference": ["LangGraph"],
            "openllmetry": ["LangGraph.workflow", "invoke_agent LangGraph"],
        }[which]
    )


def test_changed_tool_result_is_one_finding_on_the_tool(rig: tuple[str, DriftPipeline]) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    result = resume(p, which, cp.recorded[2], [("It is sunny in Paris.", [])], "rainy", None)
    (finding,) = result.report.findings
    assert finding.kind is DriftKind.OUTPUT_CHANGED
    assert finding.candidate.name == finding.baseline.name == "get_weather"
    assert finding.candidate.kind == "tool"


def test_hybrid_resumed_run_has_no_findings(rig: tuple[str, DriftPipeline]) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    # from before the first model call: every model and tool call is served
    result = resume(p, which, cp.recorded[1], [], "WRONG", "hybrid")
    assert result.report.findings == []
    assert result.report.candidate_steps == result.report.baseline_steps > 0


def test_unchanged_live_run_from_before_a_model_call_has_no_findings() -> None:
    with drift_pipeline() as p:
        cp, _ = record_react(p, "none")
        from tests.lgagent import weather_script

        result = resume(p, "none", cp.recorded[1], weather_script(), "sunny", None)
        assert result.report.findings == []
