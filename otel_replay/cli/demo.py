"""``otel-replay demo``: record the example agent, restore it, replay it, re-execute it with a
change and report the drift. Runs offline; exports spans, metrics and drift log events over OTLP
when an endpoint is set."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from otel_replay.cli.otlp import (
    DEMO_SERVICE_NAME,
    EXPORT_TIMEOUT_S,
    PROBE_TIMEOUT_S,
    Breaker,
    ExporterLog,
    demo_resource,
    otlp_exporters,
    otlp_logger_provider,
    unreachable,
)
from otel_replay.cli.render import (
    checkpoints_of,
    count,
    exit_codes_epilog,
    paragraphs,
    render_table,
    warning,
)
from otel_replay.core import conventions as c
from otel_replay.core.env import sdk_disabled

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter

    from otel_replay.formats.files import RecordingFormat
    from otel_replay.model.steps import Step

__all__ = ["run_demo", "QUESTION", "add_demo_parser", "cmd_demo"]

QUESTION = "What does OpenTelemetry do with traces?"


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


def _yes_no(value: bool | None) -> str:
    return "not compared" if value is None else ("yes" if value else "no")


def run_demo(
    *,
    out_dir: Path,
    fmt: RecordingFormat = "jsonl",
    otlp_endpoint: str | None = None,
    out: TextIO,
) -> int:
    """Run every demo stage, printing a readable report to ``out``; returns the exit code.

    With ``OTEL_SDK_DISABLED=true`` nothing can be recorded: it says so and returns 0.
    """
    if sdk_disabled():
        out.write(
            f"otel-replay demo: the OpenTelemetry SDK is disabled ({c.ENV_SDK_DISABLED}=true), "
            "so nothing can be recorded, restored or compared.\n"
            f"Unset {c.ENV_SDK_DISABLED} (or set it to false) to run the demo.\n"
        )
        return 0
    started = time.perf_counter()
    recording_dir = out_dir / "recording"
    recording_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(recording_dir)

    resource = demo_resource()
    readers: list[MetricReader] = []
    span_exporters: list[SpanExporter] = []
    logger_provider: Any = None
    if otlp_endpoint:
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        why = unreachable(otlp_endpoint, protocol)
        if why is not None:
            warning(
                "demo",
                f"OTLP endpoint {otlp_endpoint} is unreachable ({why}); recording locally "
                "only, nothing is exported",
            )
            otlp_endpoint = None
    exporter_log = ExporterLog()
    breaker = Breaker()
    with exporter_log.installed():
        if otlp_endpoint:
            span_exp, reader = otlp_exporters(breaker)
            span_exporters.append(span_exp)
            if reader is not None:
                readers.append(reader)
            logger_provider = otlp_logger_provider(resource, breaker)
        code = _run(
            recording_dir,
            fmt,
            resource,
            span_exporters,
            readers,
            logger_provider,
            otlp_endpoint,
            out,
            started,
        )
    if otlp_endpoint:
        summary = exporter_log.summary(otlp_endpoint, breaker.skipped)
        if summary is not None:
            warning("demo", summary)
    return code


def _run(
    recording_dir: Path,
    fmt: RecordingFormat,
    resource: Resource,
    span_exporters: list[SpanExporter],
    readers: list[MetricReader],
    logger_provider: Any,
    otlp_endpoint: str | None,
    out: TextIO,
    started: float,
) -> int:
    # the processors, SDK providers and the agent are imported here, not at module level:
    # building the ``otel-replay`` parser (every command) does not load them
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.cli.demo_agent import AGENT_NAME, CHANGED_CORPUS, AgentState, ResearchAgent
    from otel_replay.drift.processor import DriftProcessor
    from otel_replay.formats.exporter import RecordingExporter
    from otel_replay.formats.files import load_recording
    from otel_replay.model.stores import DirectoryCheckpointStore
    from otel_replay.restore.api import restore

    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    provider = TracerProvider(resource=resource)
    store = DirectoryCheckpointStore(recording_dir / "checkpoints")
    replay_processor = ReplayProcessor(checkpoint_store=store, meter_provider=meter_provider)
    provider.add_span_processor(replay_processor)
    recorder = RecordingExporter(recording_dir, format=fmt)
    exporters: list[SpanProcessor] = [BatchSpanProcessor(recorder)]
    exporters += [BatchSpanProcessor(exp) for exp in span_exporters]
    drift_processor = DriftProcessor(
        exporters, meter_provider=meter_provider, logger_provider=logger_provider
    )
    provider.add_span_processor(drift_processor)
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("otel_replay.cli.demo")

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
    provider.force_flush()  # the recording on disk is the source of the next stages

    # 2. Restore + event replay ------------------------------------------------------------
    out.write(
        f"\n== 2. Restored checkpoint '{planned.label}' ({planned.id}) from the recording "
        f"and replayed the steps after it\n"
    )

    def show(step: Step) -> None:
        out.write(
            f"  replay #{step.sequence:<3} {step.kind:<10} {step.name:<18} "
            f"importance {step.importance:.1f}\n"
        )

    restored = restore(
        planned.id,
        target=AgentState(),
        source=recording_dir,
        replay=True,
        on_replay_event=show,
        tracer=tracer,
    )
    state = restored.target
    out.write(
        f"restored AgentState: step={state.step!r} query={state.query!r} "
        f"question={state.question!r}; {count(restored.replayed, 'step')} replayed "
        f"({count(len(restored.hook_errors), 'hook error')})\n"
    )

    # 3. Cached re-execution, same world: everything served from the recording ------------
    rerun = restore(
        planned.id, target=AgentState(), source=recording_dir, track_drift=True, tracer=tracer
    )
    with rerun.run(AGENT_NAME), rerun.reexecute("hybrid", meter_provider=meter_provider) as rx:
        agent.act(rerun.target)
    out.write(
        f"\n== 3. Re-executed from '{planned.label}' in hybrid mode (session {rerun.session_id}): "
        f"tool calls served {rx.stats['served']}, live {rx.stats['live']}, "
        f"miss {rx.stats['miss']}; drift detected: {_yes_no(rerun.drift_detected)}\n"
    )

    # 4. Re-execution with a change: the search index now ranks another document ---------
    changed = restore(
        planned.id, target=AgentState(), source=recording_dir, track_drift=True, tracer=tracer
    )
    changed_agent = ResearchAgent(corpus=CHANGED_CORPUS, tracer=tracer)
    with changed.run(AGENT_NAME), changed.reexecute("live", meter_provider=meter_provider):
        answer2 = changed_agent.act(changed.target)
    report = changed.report
    out.write(
        f"\n== 4. Re-executed live against a changed search index (session "
        f"{changed.session_id}, run {changed.run_id})\n"
    )
    out.write(f"answer: {answer2}\n")
    if report is not None:
        out.write(report.render_table() + "\n")
    lineage = [ck for ck in replay_processor.checkpoints(changed.session_id) if ck.parent_id]
    if lineage:
        out.write(
            f"lineage: checkpoint '{lineage[0].label}' of the restored run has parent "
            f"{lineage[0].parent_id} (the restored-from checkpoint)\n"
        )

    provider.force_flush()
    meter_provider.force_flush()
    provider.shutdown()
    meter_provider.shutdown()
    if logger_provider is not None:
        logger_provider.shutdown()

    rec = load_recording(recording_dir)
    rec_ckpts = checkpoints_of(rec.steps())
    out.write(
        f"\nRecording {recording_dir}: {count(len(rec.spans), 'span')}, "
        f"{count(len(rec.sessions()), 'session')}, {count(len(rec_ckpts), 'checkpoint')} "
        f"(inspect it with: otel-replay inspect {recording_dir.parent})\n"
    )
    if otlp_endpoint:
        out.write(
            "\nDrift events are on the drifting spans of session "
            f"{changed.session_id}: look it up in Jaeger/Phoenix; metrics are "
            "agent_replay_drift_findings_total and friends in Prometheus; drift log events "
            "and verdicts went to the OTLP logs endpoint.\n"
        )
    out.write(f"done in {time.perf_counter() - started:.2f}s\n")
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    return run_demo(
        out_dir=Path(args.out),
        fmt=args.format,
        otlp_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        out=out,
    )


def add_demo_parser(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the built-in example agent: record, restore, replay and detect drift",
        description=paragraphs(
            "Runs a deterministic example agent (no network, no keys) with the otel-replay "
            "processors installed and records it to OUT/recording (read it back with "
            "'otel-replay inspect OUT').",
            "If OTEL_EXPORTER_OTLP_ENDPOINT is set, spans and metrics are exported there too "
            "(OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf; OTEL_METRICS_EXPORTER=none "
            "for traces only). An endpoint that refuses the connection or does not answer "
            f"within {PROBE_TIMEOUT_S:g} s is reported in one line and skipped; each export "
            f"gives up after {EXPORT_TIMEOUT_S:g} s unless OTEL_EXPORTER_OTLP_TIMEOUT is set.",
            "The resource is the SDK's (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES); "
            f"service.name is {DEMO_SERVICE_NAME} when neither sets one.",
        ),
        epilog=exit_codes_epilog("demo"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out",
        default="otel-replay-demo",
        metavar="OUT",
        help="output directory; the recording goes to OUT/recording, replacing the files of "
        "an earlier demo run there (default: otel-replay-demo)",
    )
    demo.add_argument(
        "--format",
        choices=["jsonl", "protobuf"],
        default="jsonl",
        help="recording format: OTLP JSON lines (.jsonl) or length-prefixed OTLP protobuf "
        "(.binpb) (default: jsonl)",
    )
    demo.set_defaults(func=cmd_demo)
