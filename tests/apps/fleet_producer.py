"""An agent fleet's producer that uses ONLY the OpenTelemetry SDK (no otel_replay import): it
marks sessions, steps, a checkpoint and restored runs with the attributes of
docs/semantic-conventions.md and exports them over OTLP, as an agent in any language would.

    fleet_producer.py run --endpoint HOST:PORT --service NAME --session ID --trace-id HEX32[,HEX32]
        (a second trace id: the session goes on in a second trace, as a resumed agent does)
        [--checkpoint-id ID] (baseline: a run that takes this checkpoint)
        [--restore-from SESSION:TRACE:CHECKPOINT --run-id ID] (a restored run of that checkpoint)
        [--status shipped|lost] (the tool's result; "lost" is the planted change)
        [--open-root] (the run's root span never ends, so it is never exported: a run that
        stays open, as one of a crashed or still running agent)
    fleet_producer.py load --endpoint URL|HOST:PORT --service NAME --spans N --duration S
        [--restored-every K --restore-from SESSION:TRACE:CHECKPOINT]
        (N spans in runs of 5, paced evenly over about S seconds; every K-th run is an
        identical restored run of that checkpoint)

``--endpoint`` is OTLP/gRPC ``host:port``, or an ``http://host:port`` base URL for OTLP/HTTP
protobuf (``/v1/traces`` is appended). Prints one JSON line: what was sent, with the ids of
the spans (hex) by role, and the exporter's failures (a failed export is a lost batch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Tracer, set_span_in_context

AGENT = "support-agent"
MODEL = "gpt-4o"
QUESTION = [{"role": "user", "parts": [{"type": "text", "content": "Where is order A-17?"}]}]
ANSWER = [{"role": "assistant", "parts": [{"type": "text", "content": "It is on its way."}]}]


class FixedTraceIds(RandomIdGenerator):
    """Trace ids from a list (one per root span), random span ids: lets the caller choose
    which worker the Collector's trace-id hashing picks."""

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
        self.failed_exports = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
            self.failed_exports += 1
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(endpoint: str) -> SpanExporter:
    if endpoint.startswith(("http://", "https://")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=30)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter(endpoint=endpoint, insecure=True, timeout=30)


def _hex(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def emit_run(
    tracer: Tracer,
    session: str,
    *,
    checkpoint_id: str | None = None,
    provenance: dict[str, str] | None = None,
    status: str = "shipped",
    seq: Any = None,
    end_root: bool = True,
) -> dict[str, str]:
    """One agent run (one trace). A baseline run: chat, checkpoint, tool, chat; a restored run
    (``provenance`` on its root): the steps after the checkpoint, tool and chat. Returns the
    span ids by role. ``seq`` continues a session's step numbering (default: from 1)."""
    seq = seq if seq is not None else iter(range(1, 1000))
    ids: dict[str, str] = {}

    # provenance on every span (the run is recognized on whichever span arrives first), but the
    # run id only on its root: a span carrying it is the run's root
    # (docs/semantic-conventions.md, "Replay provenance")
    every = {k: v for k, v in (provenance or {}).items() if k != "agent_replay.replay.run_id"}

    def attrs(**extra: Any) -> dict[str, Any]:
        return {
            "agent_replay.session.id": session,
            "agent_replay.step.sequence": next(seq),
            **every,
            **extra,
        }

    root_attrs = attrs(
        **{
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT,
            "gen_ai.conversation.id": session,
            **(provenance or {}),
        }
    )
    with tracer.start_as_current_span(
        f"invoke_agent {AGENT}", attributes=root_attrs, end_on_exit=end_root
    ) as root:
        ids["root"] = _hex(root)
        ctx = set_span_in_context(root)
        if checkpoint_id is not None:
            with tracer.start_as_current_span(
                f"chat {MODEL}",
                context=ctx,
                attributes=attrs(
                    **{
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": MODEL,
                        "gen_ai.input.messages": json.dumps(QUESTION),
                        "gen_ai.output.messages": json.dumps(ANSWER),
                    }
                ),
            ) as span:
                ids["plan"] = _hex(span)
            state = json.dumps({"data": {"order": "A-17"}}, separators=(",", ":"), sort_keys=True)
            with tracer.start_as_current_span(
                "checkpoint planned",
                context=ctx,
                attributes=attrs(
                    **{
                        "agent_replay.step.kind": "checkpoint",
                        "agent_replay.checkpoint.id": checkpoint_id,
                        "agent_replay.checkpoint.sequence": 1,
                        "agent_replay.checkpoint.label": "planned",
                        "agent_replay.checkpoint.framework": "custom",
                        "agent_replay.checkpoint.state": state,
                    }
                ),
            ) as span:
                ids["checkpoint"] = _hex(span)
        with tracer.start_as_current_span(
            "execute_tool lookup_order",
            context=ctx,
            attributes=attrs(
                **{
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.arguments": json.dumps({"order": "A-17"}),
                    "gen_ai.tool.call.result": json.dumps({"status": status}),
                }
            ),
        ) as span:
            ids["tool"] = _hex(span)
        with tracer.start_as_current_span(
            f"chat {MODEL}",
            context=ctx,
            attributes=attrs(
                **{
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": MODEL,
                    "gen_ai.input.messages": json.dumps(QUESTION),
                    "gen_ai.output.messages": json.dumps(ANSWER),
                }
            ),
        ) as span:
            ids["answer"] = _hex(span)
    return ids


def _provider(service: str, trace_ids: Sequence[int] = ()) -> TracerProvider:
    return TracerProvider(
        resource=Resource.create({"service.name": service}),
        id_generator=FixedTraceIds(trace_ids),
    )


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    counting = CountingExporter(otlp_exporter(args.endpoint))
    trace_ids = args.trace_id.split(",")
    provider = _provider(args.service, [int(t, 16) for t in trace_ids])
    provider.add_span_processor(BatchSpanProcessor(counting, schedule_delay_millis=200))
    tracer = provider.get_tracer("fleet-producer")
    provenance = None
    if args.restore_from:
        source_session, source_trace, checkpoint_id = args.restore_from.split(":")
        provenance = {
            "agent_replay.replay.run_id": args.run_id,
            "agent_replay.replay.checkpoint_id": checkpoint_id,
            "agent_replay.replay.source.session_id": source_session,
            "agent_replay.replay.source.trace_id": source_trace,
            "agent_replay.replay.mode": "live",
        }
    seq = iter(range(1, 1000))
    ids = emit_run(
        tracer,
        args.session,
        checkpoint_id=args.checkpoint_id,
        provenance=provenance,
        status=args.status,
        seq=seq,
        end_root=not args.open_root,
    )
    sent = len(ids) - (1 if args.open_root else 0)
    for n, _ in enumerate(trace_ids[1:], start=2):  # the session goes on in another trace
        more = emit_run(tracer, args.session, status=args.status, seq=seq)
        ids.update({f"{role}#{n}": span_id for role, span_id in more.items()})
        sent += len(more)
    provider.shutdown()
    return {
        "session": args.session,
        "trace_id": args.trace_id,
        "spans": ids,
        "sent": sent,
        "exported": counting.exported,
        "failed": counting.failed,
    }


def cmd_load(args: argparse.Namespace) -> dict[str, Any]:
    counting = CountingExporter(otlp_exporter(args.endpoint))
    provider = _provider(args.service)
    # a queue that holds everything: the SDK never drops on its side, so a loss is the service's
    provider.add_span_processor(
        BatchSpanProcessor(
            counting,
            max_queue_size=args.spans + 1,
            max_export_batch_size=512,
            schedule_delay_millis=100,
            export_timeout_millis=60000,
        )
    )
    tracer = provider.get_tracer("fleet-producer")
    runs = args.spans // 5
    start = time.monotonic()
    restored = 0
    for i in range(runs):
        provenance = None
        if args.restored_every and i % args.restored_every == 0:
            source_session, source_trace, checkpoint_id = args.restore_from.split(":")
            provenance = {
                "agent_replay.replay.run_id": f"load-run-{i}",
                "agent_replay.replay.checkpoint_id": checkpoint_id,
                "agent_replay.replay.source.session_id": source_session,
                "agent_replay.replay.source.trace_id": source_trace,
                "agent_replay.replay.mode": "live",
            }
            restored += 1
        emit_run(tracer, f"load-{i}", provenance=provenance)  # 3 spans
        # two more plain spans (another session), so a run is 5
        with tracer.start_as_current_span(
            "decision route", attributes={"agent_replay.session.id": f"load-{i}-x"}
        ):
            pass
        with tracer.start_as_current_span(
            "other", attributes={"agent_replay.session.id": f"load-{i}-x"}
        ):
            pass
        due = start + args.duration * (i + 1) / runs
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    provider.shutdown()
    return {
        "sent": runs * 5,
        "restored_runs": restored,
        "exported": counting.exported,
        "failed": counting.failed,
        "failed_exports": counting.failed_exports,
        "seconds": round(time.monotonic() - start, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    load = sub.add_parser("load")
    for p in (run, load):
        p.add_argument("--endpoint", required=True)
        p.add_argument("--service", required=True)
    run.add_argument("--session", required=True)
    run.add_argument("--trace-id", required=True)
    run.add_argument("--checkpoint-id")
    run.add_argument("--restore-from")
    run.add_argument("--run-id")
    run.add_argument("--status", default="shipped")
    run.add_argument("--open-root", action="store_true")
    load.add_argument("--spans", type=int, required=True)
    load.add_argument("--duration", type=float, required=True)
    load.add_argument("--restored-every", type=int, default=0)
    load.add_argument("--restore-from")
    args = parser.parse_args(argv)
    out = cmd_run(args) if args.cmd == "run" else cmd_load(args)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
