"""An agent fleet's producer that uses ONLY the OpenTelemetry SDK (no otel_replay import): the
SDK-only support agent of ``tests/serve_producer.py`` (sessions, steps, a checkpoint and
restored runs marked with the attributes of docs/semantic-conventions.md), run as a separate
process that exports over OTLP, as an agent in any language would.

    fleet_producer.py run --endpoint HOST:PORT --service NAME --session ID --trace-id HEX32[,HEX32]
        [--baseline] (a run that takes a checkpoint; its id is printed)
        [--restore-from SESSION:TRACE:CHECKPOINT] (a restored run of that checkpoint)
        [--status shipped|lost] (the tool's result; "lost" is the planted change)
        [--open-root] (the restored run's root span never ends, so it is never exported: a run
        that stays open, as one of a crashed or still running agent)
        A second trace id: the session goes on in a second trace (a plain run each).
    fleet_producer.py load --endpoint URL|HOST:PORT --service NAME --runs N --duration S
        [--restored-every K --restore-from SESSION:TRACE:CHECKPOINT]
        (N runs of 3 spans paced evenly over about S seconds; every K-th one an identical
        restored run of that checkpoint)

``--endpoint`` is OTLP/gRPC ``host:port``, or an ``http://host:port`` base URL for OTLP/HTTP
protobuf (``/v1/traces`` is appended). The trace ids of ``run`` are the ones given, so the
caller chooses which worker the Collector's trace-id hashing picks. Prints one JSON line: what
was sent, the span ids (hex) by step, and the spans in failed exports (a lost batch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.serve_producer import Agent, Run  # noqa: E402  (SDK only, like this script)


class FixedTraceIds(RandomIdGenerator):
    """Trace ids from a list (one per root span), then random ones."""

    def __init__(self, trace_ids: Sequence[int]) -> None:
        self._trace_ids = list(trace_ids)

    def generate_trace_id(self) -> int:
        return self._trace_ids.pop(0) if self._trace_ids else super().generate_trace_id()


class CountingExporter(SpanExporter):
    """Forwards to the OTLP exporter; counts spans handed over and spans in failed exports."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class FleetAgent(Agent):
    """``serve_producer.Agent`` with chosen trace ids and its own batching."""

    def __init__(
        self, exporter: SpanExporter, service: str, trace_ids: Sequence[int] = (), **batch: Any
    ) -> None:
        self.provider = TracerProvider(
            resource=Resource({"service.name": service}), id_generator=FixedTraceIds(trace_ids)
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter, **batch))
        self.tracer = self.provider.get_tracer("sdk-agent")


def otlp_exporter(endpoint: str) -> SpanExporter:
    if endpoint.startswith(("http://", "https://")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=30)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter(endpoint=endpoint, insecure=True, timeout=30)


def _source(spec: str) -> Run:
    session, trace_id, checkpoint = spec.split(":")
    return Run(session, checkpoint, trace_id, {})


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    counting = CountingExporter(otlp_exporter(args.endpoint))
    trace_ids = args.trace_id.split(",")
    agent = FleetAgent(counting, args.service, [int(t, 16) for t in trace_ids])
    if args.baseline:
        run = agent.baseline(args.session)
        sent = 4  # root, checkpoint, tool, chat
    elif args.restore_from:
        run = agent.restored(
            _source(args.restore_from),
            args.session,
            status=args.status,
            end_root=not args.open_root,
        )
        sent = 2 if args.open_root else 3
    else:
        run = agent.plain(args.session)
        sent = 3
    spans = dict(run.span_ids)
    for n in range(2, len(trace_ids) + 1):  # the session goes on in another trace
        more = agent.plain(args.session)
        spans.update({f"{step}#{n}": span_id for step, span_id in more.span_ids.items()})
        sent += 3
    agent.shutdown()
    return {
        "session": args.session,
        "trace_id": args.trace_id,
        "checkpoint": run.checkpoint,
        "spans": spans,
        "sent": sent,
        "exported": counting.exported,
        "failed": counting.failed,
    }


def cmd_load(args: argparse.Namespace) -> dict[str, Any]:
    counting = CountingExporter(otlp_exporter(args.endpoint))
    # a queue that holds everything: the SDK never drops on its side, so a loss is the service's
    agent = FleetAgent(
        counting,
        args.service,
        max_queue_size=args.runs * 3 + 1,
        max_export_batch_size=512,
        schedule_delay_millis=100,
        export_timeout_millis=60000,
    )
    source = _source(args.restore_from) if args.restore_from else None
    restored = 0
    start = time.monotonic()
    for i in range(args.runs):
        if source is not None and args.restored_every and i % args.restored_every == 0:
            agent.restored(source, f"load-{i}")
            restored += 1
        else:
            agent.plain(f"load-{i}")
        delay = start + args.duration * (i + 1) / args.runs - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    agent.shutdown()
    return {
        "sent": args.runs * 3,
        "restored_runs": restored,
        "exported": counting.exported,
        "failed": counting.failed,
        "seconds": round(time.monotonic() - start, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    load = sub.add_parser("load")
    for p in (run, load):
        p.add_argument("--endpoint", required=True)
        p.add_argument("--service", required=True)
        p.add_argument("--restore-from")
    run.add_argument("--session", required=True)
    run.add_argument("--trace-id", required=True)
    run.add_argument("--baseline", action="store_true")
    run.add_argument("--status", default="shipped")
    run.add_argument("--open-root", action="store_true")
    load.add_argument("--runs", type=int, required=True)
    load.add_argument("--duration", type=float, required=True)
    load.add_argument("--restored-every", type=int, default=0)
    args = parser.parse_args(argv)
    out = cmd_run(args) if args.cmd == "run" else cmd_load(args)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
