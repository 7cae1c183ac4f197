"""Resident memory across a long soak: checkpoints, buffering and drift tracking all on.

A ``TracerProvider`` with ``ReplayProcessor`` and ``DriftProcessor`` (wrapping a
``BatchSpanProcessor`` with a no-op exporter) runs sessions of ``--run`` spans: a root span,
a checkpoint, then tool spans with a few attributes. Every session is tracked against a
baseline (the first session's steps after its checkpoint), so each one is held, compared and
enriched when its root ends. The process RSS (psutil) is sampled every ``--sample`` spans.

Pass criteria: after the warm-up (the replay buffer is full: ``--max-sessions`` sessions),
RSS grows by at most ``--max-growth-mb``; the buffer never holds more than its bounds; the
drift processor holds nothing between runs.

Usage: ``python bench/bench_memory.py [--spans 100000]`` (the full soak: ``--spans 1000000``)
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import psutil
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry


class CountingExporter(SpanExporter):
    """Counts and drops every span."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; return the measurements and whether the criteria hold."""
    mp = NoOpMeterProvider()
    provider = TracerProvider()
    replay = ReplayProcessor(
        max_steps=args.max_steps, max_sessions=args.max_sessions, meter_provider=mp
    )
    exporter = CountingExporter()
    batch = BatchSpanProcessor(
        exporter, max_queue_size=16384, schedule_delay_millis=200, meter_provider=mp
    )
    registry = TrackingRegistry()
    drift = DriftProcessor(batch, registry=registry, meter_provider=mp)
    provider.add_span_processor(replay)
    provider.add_span_processor(drift)
    tracer = provider.get_tracer("bench.memory")
    proc = psutil.Process()

    def run(session_id: str, n: int) -> str:
        root_attrs = {
            c.SESSION_ID: session_id,
            c.STEP_KIND: c.KIND_AGENT,
            c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT,
            c.GEN_AI_AGENT_NAME: "soak",
        }
        with tracer.start_as_current_span("invoke_agent soak", attributes=root_attrs):
            cid = checkpoint({"session": session_id, "plan": ["a", "b"]}, tracer=tracer)
            for i in range(n - 2):
                with tracer.start_as_current_span(
                    "execute_tool search",
                    attributes={
                        c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL,
                        c.GEN_AI_TOOL_NAME: "search",
                        c.GEN_AI_TOOL_CALL_ARGUMENTS: f'{{"query": "q{i % 10}", "k": 3}}',
                        c.GEN_AI_TOOL_CALL_RESULT: '{"hits": ["d1", "d2"]}',
                    },
                ):
                    pass
        return cid

    baseline_cid = run("baseline", args.run)
    baseline = replay.steps_after(baseline_cid)
    done = args.run
    samples: list[tuple[int, float]] = []
    max_buffered = 0
    max_held = 0
    warmup_spans = args.run * (args.max_sessions + 2)
    t0 = time.perf_counter()
    k = 0
    next_sample = 0
    while done < args.spans:
        sid = f"soak-{k}"
        k += 1
        drift.track(sid, baseline, agent_name="soak")
        run(sid, args.run)
        done += args.run
        max_buffered = max(max_buffered, replay.buffered_steps)
        max_held = max(max_held, sum(len(h.spans) for h in drift._held.values()))
        if done >= next_sample:
            gc.collect()
            samples.append((done, proc.memory_info().rss / 2**20))
            next_sample = done + args.sample
            if args.verbose:
                print(f"  {done:>9,} spans  RSS {samples[-1][1]:8.1f} MiB", flush=True)
    provider.force_flush()
    elapsed = time.perf_counter() - t0
    gc.collect()
    samples.append((done, proc.memory_info().rss / 2**20))
    after = [mb for n, mb in samples if n >= warmup_spans]
    base_mb = after[0] if after else samples[-1][1]
    growth = (max(after) - base_mb) if after else 0.0
    bound_steps = args.max_steps * args.max_sessions
    result = {
        "spans": done,
        "seconds": elapsed,
        "spans_per_s": (done - args.run) / elapsed,
        "rss_start_mb": samples[0][1],
        "rss_after_warmup_mb": base_mb,
        "rss_max_mb": max(mb for _, mb in samples),
        "rss_end_mb": samples[-1][1],
        "growth_after_warmup_mb": growth,
        "warmup_spans": warmup_spans,
        "max_buffered_steps": max_buffered,
        "buffer_bound_steps": bound_steps,
        "buffered_sessions": len(replay.sessions()),
        "max_held_spans_between_runs": max_held,
        "tracked_left": len(registry),
        "drift_reports": len(drift.reports),
        "exported": exporter.exported,
        "ok": bool(
            growth <= args.max_growth_mb
            and max_buffered <= bound_steps
            and len(replay.sessions()) <= args.max_sessions
            and max_held == 0
            and len(registry) == 0
        ),
    }
    provider.shutdown()
    return result


def print_result(r: dict[str, Any], file: Any = sys.stdout) -> None:
    """A short human-readable summary."""
    print(
        f"memory soak: {r['spans']:,} spans in {r['seconds']:.0f} s "
        f"({r['spans_per_s']:,.0f} spans/s), warm-up {r['warmup_spans']:,} spans",
        file=file,
    )
    print(
        f"  RSS start {r['rss_start_mb']:.1f} MiB, after warm-up {r['rss_after_warmup_mb']:.1f}, "
        f"max {r['rss_max_mb']:.1f}, end {r['rss_end_mb']:.1f}; "
        f"growth after warm-up {r['growth_after_warmup_mb']:+.1f} MiB",
        file=file,
    )
    print(
        f"  buffer: max {r['max_buffered_steps']:,} steps (bound {r['buffer_bound_steps']:,}), "
        f"{r['buffered_sessions']} sessions; drift: {r['max_held_spans_between_runs']} spans "
        f"held between runs, {r['tracked_left']} runs left tracked; exported {r['exported']:,}",
        file=file,
    )
    print(f"  {'PASS' if r['ok'] else 'FAIL'}", file=file)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000, help="spans in the soak")
    parser.add_argument("--run", type=int, default=1000, help="spans per session (1 checkpoint)")
    parser.add_argument("--max-sessions", type=int, default=20, help="ReplayProcessor bound")
    parser.add_argument("--max-steps", type=int, default=10_000, help="ReplayProcessor bound")
    parser.add_argument("--sample", type=int, default=10_000, help="spans between RSS samples")
    parser.add_argument("--max-growth-mb", type=float, default=50.0)
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    result = soak(args)
    print_result(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
