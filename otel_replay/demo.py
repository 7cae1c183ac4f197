"""``otel-replay demo``: record the example agent, restore it, replay it, re-execute it with a
change and report the drift. Runs offline; exports over OTLP when an endpoint is set."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TextIO

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_replay.checkpoints import DirectoryCheckpointStore
from otel_replay.cli import checkpoints_of, render_table
from otel_replay.demo_agent import AGENT_NAME, ResearchAgent
from otel_replay.processor import ReplayProcessor
from otel_replay.recordings import RecordingExporter, RecordingFormat, load_recording

__all__ = ["run_demo", "QUESTION"]

QUESTION = "What does OpenTelemetry do with traces?"


def _otlp_exporters(endpoint: str) -> tuple[SpanExporter, MetricReader]:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=1000)
    return OTLPSpanExporter(), reader


def _clear_previous(recording_dir: Path) -> None:
    """Remove files an earlier demo run wrote (and nothing else)."""
    if not recording_dir.is_dir():
        return
    for p in recording_dir.iterdir():
        if p.is_file() and p.name.startswith("spans-") and p.suffix in (".jsonl", ".binpb"):
            p.unlink()
    ck = recording_dir / "checkpoints"
    if ck.is_dir():
        shutil.rmtree(ck)


def run_demo(
    *,
    out_dir: Path,
    fmt: RecordingFormat = "jsonl",
    otlp_endpoint: str | None = None,
    out: TextIO,
) -> int:
    """Run every demo stage, printing a readable report to ``out``; returns the exit code."""
    started = time.perf_counter()
    recording_dir = out_dir / "recording"
    recording_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(recording_dir)

    resource = Resource.create({"service.name": "otel-replay-demo"})
    readers: list[MetricReader] = []
    span_exporters: list[SpanExporter] = []
    if otlp_endpoint:
        span_exp, reader = _otlp_exporters(otlp_endpoint)
        span_exporters.append(span_exp)
        readers.append(reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    provider = TracerProvider(resource=resource)
    store = DirectoryCheckpointStore(recording_dir / "checkpoints")
    replay_processor = ReplayProcessor(checkpoint_store=store, meter_provider=meter_provider)
    provider.add_span_processor(replay_processor)
    recorder = RecordingExporter(recording_dir, format=fmt)
    provider.add_span_processor(BatchSpanProcessor(recorder))
    for exp in span_exporters:
        provider.add_span_processor(BatchSpanProcessor(exp))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("otel_replay.demo")

    out.write(f"otel-replay demo: recording to {recording_dir}\n")
    if otlp_endpoint:
        out.write(f"exporting spans and metrics over OTLP to {otlp_endpoint}\n")

    # 1. Record ------------------------------------------------------------------------------
    agent = ResearchAgent(tracer=tracer)
    session_id, answer = agent.run(QUESTION, session_id="demo-session")
    out.write(f"\n== 1. Recorded a run of {AGENT_NAME} (session {session_id})\n")
    out.write(f"answer: {answer}\n")
    ckpts = replay_processor.checkpoints(session_id)
    out.write(
        render_table(
            ["#", "checkpoint", "label", "at step", "state", "buffered steps after it"],
            [
                [
                    ck.sequence,
                    ck.id,
                    ck.label,
                    ck.step_sequence,
                    f"{ck.state_size} B {ck.state_location}",
                    len(replay_processor.steps_after(ck.id)),
                ]
                for ck in ckpts
            ],
        )
        + "\n"
    )
    planned = ckpts[0]
    out.write(f"\nSteps buffered after checkpoint '{planned.label}':\n")
    out.write(
        render_table(
            ["seq", "kind", "name", "importance"],
            [
                [s.sequence, s.kind, s.name, f"{s.importance:.1f}"]
                for s in replay_processor.steps_after(planned.id)
            ],
        )
        + "\n"
    )

    provider.force_flush()
    meter_provider.force_flush()
    provider.shutdown()
    meter_provider.shutdown()

    rec = load_recording(recording_dir)
    rec_ckpts = checkpoints_of(rec.steps())
    out.write(
        f"\nRecording {recording_dir}: {len(rec.spans)} spans, {len(rec.sessions())} session(s), "
        f"{len(rec_ckpts)} checkpoints (inspect it with: otel-replay inspect {recording_dir})\n"
    )
    out.write(f"done in {time.perf_counter() - started:.2f}s\n")
    return 0
