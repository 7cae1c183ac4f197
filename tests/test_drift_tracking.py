"""``restore(..., track_drift=True)``: the report is there when the run ends, or a clear
:class:`DriftTrackingError` says what is missing; ``result.report`` is never silently None."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_replay import (
    DriftProcessor,
    DriftReport,
    DriftTrackingError,
    ReplayProcessor,
    agent_run,
    arestore,
    checkpoint,
    restore,
    tool_call,
)
from otel_replay.core import conventions as c
from otel_replay.restore import tracking
from otel_replay.restore.tracking import REGISTRY


@dataclass
class Rig:
    provider: TracerProvider
    tracer: Tracer
    replay: ReplayProcessor
    drift: DriftProcessor
    exporter: InMemorySpanExporter


@pytest.fixture
def rig() -> Iterator[Rig]:
    provider = TracerProvider()
    replay = ReplayProcessor()
    exporter = InMemorySpanExporter()
    drift = DriftProcessor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    try:
        yield Rig(provider, provider.get_tracer("t"), replay, drift, exporter)
    finally:
        provider.shutdown()


def _steps(tracer: Tracer, order: str, refund: str | None = None) -> None:
    with tool_call("lookup_order", {"order": order}, tracer=tracer) as call:
        call.set_result({"status": "shipped"})
    with tool_call("refund", {"order": refund or order}, tracer=tracer) as call:
        call.set_result("ok")


def _record(tracer: Tracer) -> str:
    with agent_run("support", session_id="ticket-42", tracer=tracer):
        cid = checkpoint({"order": "A-17"}, label="planned", tracer=tracer)
        _steps(tracer, "A-17")
    return cid


def test_no_drift_processor_is_a_clear_error_at_restore_time(rig, monkeypatch):
    cid = _record(rig.tracer)
    # as in a process without any DriftProcessor (other tests may leave theirs alive)
    monkeypatch.setattr(REGISTRY, "_comparers", weakref.WeakSet())
    tracked_before = len(REGISTRY)
    with pytest.raises(DriftTrackingError) as err:
        restore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer)
    assert str(err.value) == (
        "track_drift=True needs a DriftProcessor to compare the restored run with its "
        "baseline, and none is active: add one to the TracerProvider, wrapping your export "
        "processor(s): provider.add_span_processor(DriftProcessor(BatchSpanProcessor(exporter)))"
        " (from otel_replay import DriftProcessor)"
    )
    assert len(REGISTRY) == tracked_before


def test_arestore_without_a_drift_processor_is_the_same_error(rig, monkeypatch):
    cid = _record(rig.tracer)
    monkeypatch.setattr(REGISTRY, "_comparers", weakref.WeakSet())
    with pytest.raises(DriftTrackingError, match=r"^track_drift=True needs a DriftProcessor"):
        asyncio.run(arestore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer))


def test_arestore_run_gets_its_report(rig):
    cid = _record(rig.tracer)
    result = asyncio.run(arestore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer))
    with result.run("support"):
        _steps(rig.tracer, "A-17")
    assert result.drift_detected is False


def test_a_shut_down_drift_processor_is_not_active(monkeypatch):
    monkeypatch.setattr(REGISTRY, "_comparers", weakref.WeakSet())
    drift = DriftProcessor([])
    assert REGISTRY.compared is True
    drift.shutdown()
    assert REGISTRY.compared is False


def test_same_run_gives_a_report_without_drift_when_the_run_ends(rig):
    cid = _record(rig.tracer)
    result = restore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer)
    assert (result.report, result.drift_detected) == (None, None)  # not ended yet
    with result.run("support"):
        _steps(rig.tracer, "A-17")
    assert isinstance(result.report, DriftReport)
    assert result.drift_detected is False
    assert result.report.findings == []
    assert result.report.summary() == "no drift (2 baseline steps, 2 candidate steps, mode align)"
    assert result.report.render_table().startswith(result.report.summary())


def test_planted_change_gives_one_finding_on_the_changed_span(rig):
    cid = _record(rig.tracer)
    result = restore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer)
    with result.run("support"):
        _steps(rig.tracer, "A-17", refund="B-99")  # the one planted change
    report = result.report
    assert result.drift_detected is True
    [finding] = report.findings
    assert (finding.kind.value, finding.candidate.name, finding.paths) == (
        "arguments_changed",
        "refund",
        ("$.order",),
    )
    [refund] = [
        s
        for s in rig.exporter.get_finished_spans()
        if s.name == "execute_tool refund" and s.attributes[c.SESSION_ID] == result.session_id
    ]
    assert finding.candidate.span_id == format(refund.context.span_id, "016x")
    assert [e.name for e in refund.events] == [c.DRIFT_EVENT]


def test_run_under_a_local_parent_span_is_compared_when_run_exits(rig):
    cid = _record(rig.tracer)
    result = restore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer)
    with rig.tracer.start_as_current_span("job"):  # the run's span is not a trace root
        with result.run("support"):
            _steps(rig.tracer, "A-17")
        assert result.drift_detected is False  # decided when result.run() exited
    assert result.report.summary() == "no drift (2 baseline steps, 2 candidate steps, mode align)"
    assert result.session_id not in REGISTRY
    exported = [
        s.name
        for s in rig.exporter.get_finished_spans()
        if (s.attributes or {}).get(c.SESSION_ID) == result.session_id
    ]
    assert exported == ["execute_tool lookup_order", "execute_tool refund", "invoke_agent support"]


def test_run_on_a_provider_without_the_drift_processor_raises_on_report(rig):
    cid = _record(rig.tracer)
    other = TracerProvider()  # the run's spans never reach rig.drift
    other.add_span_processor(ReplayProcessor())
    try:
        result = restore(cid, source=rig.replay, track_drift=True, tracer=other.get_tracer("t"))
        with result.run("support"):
            _steps(other.get_tracer("t"), "A-17")
    finally:
        other.shutdown()
    message = (
        f"the tracked run (session {result.session_id}) ended but no DriftProcessor saw its "
        "spans: add provider.add_span_processor(DriftProcessor(...)) to the TracerProvider "
        "whose tracer runs the restored agent (restore(..., tracer=...) or the global one)"
    )
    with pytest.raises(DriftTrackingError) as err:
        result.report  # noqa: B018
    assert str(err.value) == message
    with pytest.raises(DriftTrackingError):
        result.drift_detected  # noqa: B018
    assert result.session_id not in REGISTRY


def test_a_failed_comparison_is_an_error_not_none(rig, monkeypatch):
    cid = _record(rig.tracer)
    result = restore(cid, source=rig.replay, track_drift=True, tracer=rig.tracer)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted")

    monkeypatch.setattr(rig.drift, "_compare", broken)
    with result.run("support"):
        _steps(rig.tracer, "A-17")
    with pytest.raises(DriftTrackingError) as err:
        result.report  # noqa: B018
    assert str(err.value) == (
        "comparing the tracked run failed: RuntimeError('planted') (see the otel_replay log)"
    )
    assert rig.drift.errors.count == 1


def test_registry_module_keeps_its_public_names():
    assert {"TrackedRun", "TrackingRegistry", "REGISTRY"} <= set(tracking.__all__)
