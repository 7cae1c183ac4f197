"""Emit telemetry with the plain OTel Python SDK, in the exact shape otel-replay emits it.

No otel_replay import on purpose: these tests pin the wire contract (span names, attributes,
span events, metric names/units/attributes) that the backends, collector config and Grafana
dashboard rely on. Names mirror ``otel_replay/conventions.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

DRIFT_EVENT = "agent_replay.drift"
SCOPE = "otel_replay"

# expected drift event attributes on the drifting span
DRIFT_KIND = "output_changed"
DRIFT_SEVERITY = "warning"
DRIFT_DESCRIPTION = "tool output differs from the baseline run"
DRIFT_EXPECTED = '{"results": ["a", "b"]}'
DRIFT_ACTUAL = '{"results": ["a", "c"]}'
DRIFT_BASELINE_SEQUENCE = 3
STEP_SEQUENCE = 3


def unique_service(prefix: str = "otel-replay-e2e") -> str:
    """A service.name (Prometheus ``job``) unique to one test, so assertions are exact."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def grpc_span_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10)


def http_span_exporter(traces_url: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=traces_url, timeout=10)


def tracer_provider(service: str, exporter: SpanExporter, **resource: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@dataclass
class DriftingTrace:
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex, the drifting `execute_tool search` span
    root_span_id: str
    session_id: str


def emit_drifting_trace(
    provider: TracerProvider,
    session_id: str | None = None,
    *,
    extra_span_attributes: dict[str, str] | None = None,
    on_drift=None,
) -> DriftingTrace:
    """An ``invoke_agent`` root with a drifting ``execute_tool search`` child span.

    ``on_drift`` is called inside the drifting span (e.g. to record the drift metrics there,
    which gives them exemplars carrying this trace id).
    """
    session_id = session_id or f"sess-{uuid.uuid4().hex[:8]}"
    tracer = provider.get_tracer(SCOPE)
    with tracer.start_as_current_span(
        "invoke_agent research-agent",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "research-agent",
            "gen_ai.conversation.id": session_id,
        },
    ) as root:
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.conversation.id": session_id,
                "agent_replay.step.sequence": STEP_SEQUENCE,
                **(extra_span_attributes or {}),
            },
        ) as span:
            span.add_event(
                DRIFT_EVENT,
                attributes={
                    "agent_replay.drift.kind": DRIFT_KIND,
                    "agent_replay.drift.severity": DRIFT_SEVERITY,
                    "agent_replay.drift.description": DRIFT_DESCRIPTION,
                    "agent_replay.drift.expected": DRIFT_EXPECTED,
                    "agent_replay.drift.actual": DRIFT_ACTUAL,
                    "agent_replay.drift.baseline.sequence": DRIFT_BASELINE_SEQUENCE,
                },
            )
            if on_drift is not None:
                on_drift()
            ctx = span.get_span_context()
    provider.force_flush()
    return DriftingTrace(
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        root_span_id=format(root.get_span_context().span_id, "016x"),
        session_id=session_id,
    )


def emit_plain_trace(provider: TracerProvider, *, error: bool = False) -> str:
    """A non-drifting agent trace (root + tool span); returns its trace id (hex)."""
    tracer = provider.get_tracer(SCOPE)
    session_id = f"sess-{uuid.uuid4().hex[:8]}"
    with tracer.start_as_current_span(
        "invoke_agent research-agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": session_id},
    ) as root:
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.conversation.id": session_id,
                "agent_replay.step.sequence": 1,
            },
        ) as span:
            if error:
                span.set_status(Status(StatusCode.ERROR, "tool failed"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    return trace_id


# ---------------------------------------------------------------------------- metrics
AGENT = "research-agent"

# (kind, severity) -> findings count recorded by emit_drift_metrics
FINDINGS = {("output_changed", "warning"): 3, ("tool_changed", "critical"): 2}
RUNS = 4
CRITICAL_RUNS = 1
REPLAY_STEPS = {"served": 5, "live": 2, "miss": 1}
BUFFER_STEPS = 7  # up-down: +10 -3
BUFFER_BYTES = 2048  # up-down: +4096 -2048
BUFFER_SESSIONS = 2  # up-down: +3 -1
EVICTIONS = {"max_steps": 3, "max_bytes": 1}
PROCESSOR_ERRORS = {"exporter": 2}


def meter_provider(service: str, otlp_grpc_endpoint: str):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=otlp_grpc_endpoint, insecure=True, timeout=10),
        export_interval_millis=3_600_000,  # exported explicitly with force_flush()
    )
    return MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": service})
    )


class DriftMetrics:
    """The otel-replay instruments, created on one MeterProvider (names/units as the product)."""

    def __init__(self, provider) -> None:
        meter = provider.get_meter(SCOPE)
        self.findings = meter.create_counter(
            "agent_replay.drift.findings", unit="{finding}", description="Drift findings"
        )
        self.runs = meter.create_counter(
            "agent_replay.drift.runs", unit="{run}", description="Runs compared"
        )
        self.critical_runs = meter.create_counter(
            "agent_replay.drift.critical_runs", unit="{run}", description="Runs with critical drift"
        )
        self.replay_steps = meter.create_counter(
            "agent_replay.replay.steps", unit="{step}", description="Replay step outcomes"
        )
        self.buffer_steps = meter.create_up_down_counter(
            "agent_replay.buffer.steps", unit="{step}", description="Steps buffered"
        )
        self.buffer_bytes = meter.create_up_down_counter(
            "agent_replay.buffer.size", unit="By", description="Bytes buffered"
        )
        self.buffer_sessions = meter.create_up_down_counter(
            "agent_replay.buffer.sessions", unit="{session}", description="Sessions buffered"
        )
        self.evictions = meter.create_counter(
            "agent_replay.buffer.evictions", unit="{step}", description="Buffered steps evicted"
        )
        self.errors = meter.create_counter(
            "agent_replay.processor.errors", unit="{error}", description="Processor errors"
        )

    def record_findings(self, findings: Iterable[tuple[tuple[str, str], int]]) -> None:
        for (kind, severity), count in findings:
            self.findings.add(
                count,
                {
                    "agent_replay.drift.kind": kind,
                    "agent_replay.drift.severity": severity,
                    "gen_ai.agent.name": AGENT,
                },
            )

    def record_rest(self) -> None:
        agent = {"gen_ai.agent.name": AGENT}
        self.runs.add(RUNS, agent)
        self.critical_runs.add(CRITICAL_RUNS, agent)
        for outcome, count in REPLAY_STEPS.items():
            self.replay_steps.add(count, {"agent_replay.replay.outcome": outcome})
        self.buffer_steps.add(10)
        self.buffer_steps.add(-3)
        self.buffer_bytes.add(4096)
        self.buffer_bytes.add(-2048)
        self.buffer_sessions.add(3)
        self.buffer_sessions.add(-1)
        for reason, count in EVICTIONS.items():
            self.evictions.add(count, {"agent_replay.eviction.reason": reason})
        for component, count in PROCESSOR_ERRORS.items():
            self.errors.add(count, {"agent_replay.component": component})


@dataclass
class EmittedTelemetry:
    service: str  # service.name == Prometheus job label
    drifting: DriftingTrace
    meter_provider: object
    tracer_provider: TracerProvider

    def close(self) -> None:
        # NB: shutdown exports once more; a cumulative point without exemplars then replaces
        # the one with exemplars in the collector's prometheus exporter (the SDK resets its
        # exemplar reservoirs after each collection). Close after Prometheus has scraped.
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()


def emit_all(otlp_grpc_endpoint: str, service: str | None = None) -> EmittedTelemetry:
    """One drifting trace plus every otel-replay metric, via the collector's OTLP/gRPC port.

    The findings are recorded inside the drifting span, as the product does, so the findings
    counter carries an exemplar with the drifting trace id. Providers stay open (like a live
    agent process) until ``close()``.
    """
    service = service or unique_service()
    tp = tracer_provider(service, grpc_span_exporter(otlp_grpc_endpoint))
    mp = meter_provider(service, otlp_grpc_endpoint)
    metrics = DriftMetrics(mp)
    try:
        drifting = emit_drifting_trace(
            tp, on_drift=lambda: metrics.record_findings(FINDINGS.items())
        )
        metrics.record_rest()
        assert mp.force_flush(timeout_millis=15_000), "metric export failed"
    except BaseException:
        mp.shutdown()
        tp.shutdown()
        raise
    return EmittedTelemetry(
        service=service, drifting=drifting, meter_provider=mp, tracer_provider=tp
    )
