"""Per-span cost of the otel-replay processors, measured side by side with the bare SDK.

Every variant is a real ``TracerProvider`` whose spans end up in a ``BatchSpanProcessor``
with a no-op exporter. Spans are created with the plain tracer API: runs of one root span
(carrying ``agent_replay.session.id``) and ``--run`` child spans with three attributes.

Variants:

* ``sdk``               bare SDK + BatchSpanProcessor (the reference)
* ``no-op processor``   + a ``SpanProcessor()`` that does nothing: the SDK's cost of one more
  processor, the floor for any processor
* ``replay idle``       + ReplayProcessor, session without a checkpoint
* ``replay buffering``  + ReplayProcessor, session after a checkpoint (bounded buffer full)
* ``drift untracked``   + ReplayProcessor + DriftProcessor wrapping the batch processor, while
  another session is tracked (with none tracked, spans are not even looked at)
* ``drift tracked``     as above, every run tracked against a baseline run (compared at its end)
  and agreeing with it (the common case after a restore)
* ``drift tracked, 1 change``  as above, but one tool call per run has other arguments: the
  run is compared in full and its drift reported (not a target row)
* ``redaction``         + RedactionProcessor (default rules) + ReplayProcessor, idle

Variants are interleaved round by round in a random order, each round timing one chunk of
spans per variant (wall time, including a final ``force_flush`` so the export thread's
work is counted). Process CPU time is the measure (all threads; steadier than wall time on
a shared machine); wall time is shown too. The ratio of a variant is the median over rounds
of ``chunk CPU time / sdk chunk CPU time of the same round``.

Usage: ``python bench/bench_spans.py [--rounds 40] [--chunk 2000] [--json out.json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.redaction import RedactionProcessor
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.restore.tracking import TrackingRegistry

TARGETS = {
    "replay idle": 0.05,
    "replay buffering": 0.10,
    "drift untracked": 0.05,
    "drift tracked": 0.20,
}

CHILD_ATTRS = {
    c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL,
    c.GEN_AI_TOOL_NAME: "search",
    c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"query": "weather in Paris", "k": 3}',
}
CHANGED_ATTRS = {
    **CHILD_ATTRS,
    c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"query": "weather in Rome", "k": 3}',
}


def _root_attrs(session_id: str) -> dict[str, str]:
    return {
        c.SESSION_ID: session_id,
        c.STEP_KIND: c.KIND_AGENT,
        c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT,
        c.GEN_AI_AGENT_NAME: "bench",
    }


class NoOpExporter(SpanExporter):
    """Accepts and drops every batch."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Variant:
    """One pipeline and the function that emits a chunk of spans through it."""

    name: str
    provider: TracerProvider
    emit: Callable[[int], None]
    samples: list[float] = field(default_factory=list)  # CPU ns per span, one per round
    wall: list[float] = field(default_factory=list)  # wall ns per span, one per round


def _batch() -> BatchSpanProcessor:
    # a long schedule delay: the export thread only wakes for full batches and flushes
    return BatchSpanProcessor(
        NoOpExporter(),
        max_queue_size=8192,
        schedule_delay_millis=60_000,
        meter_provider=NoOpMeterProvider(),
    )


def _emitter(
    tracer: trace.Tracer,
    run_len: int,
    session: Callable[[], str],
    before_run: Callable[[str], None] | None = None,
    changed: int = -1,
) -> Callable[[int], None]:
    """Emit runs of ``run_len`` spans; child number ``changed`` gets other arguments."""

    def emit(n: int) -> None:
        done = 0
        while done < n:
            sid = session()
            if before_run is not None:
                before_run(sid)
            with tracer.start_as_current_span("invoke_agent bench", attributes=_root_attrs(sid)):
                for i in range(min(run_len, n - done) - 1):
                    with tracer.start_as_current_span(
                        "execute_tool search",
                        attributes=CHANGED_ATTRS if i == changed else CHILD_ATTRS,
                    ):
                        pass
            done += run_len

    return emit


def build(run_len: int) -> list[Variant]:
    """Create every variant's pipeline (with its warm state: checkpoint, baseline)."""
    mp = NoOpMeterProvider()
    variants: list[Variant] = []

    p = TracerProvider()
    p.add_span_processor(_batch())
    variants.append(Variant("sdk", p, _emitter(p.get_tracer("b"), run_len, lambda: "s-sdk")))

    p = TracerProvider()
    p.add_span_processor(SpanProcessor())
    p.add_span_processor(_batch())
    variants.append(
        Variant("no-op processor", p, _emitter(p.get_tracer("b"), run_len, lambda: "noop"))
    )

    p = TracerProvider()
    p.add_span_processor(ReplayProcessor(meter_provider=mp))
    p.add_span_processor(_batch())
    variants.append(Variant("replay idle", p, _emitter(p.get_tracer("b"), run_len, lambda: "idle")))

    p = TracerProvider()
    p.add_span_processor(ReplayProcessor(meter_provider=mp))
    p.add_span_processor(_batch())
    t = p.get_tracer("b")
    with t.start_as_current_span("invoke_agent bench", attributes=_root_attrs("buf")):
        checkpoint({"plan": "x"}, label="start", tracer=t)
    variants.append(Variant("replay buffering", p, _emitter(t, run_len, lambda: "buf")))

    p = TracerProvider()
    p.add_span_processor(ReplayProcessor(meter_provider=mp))
    untracked = DriftProcessor(_batch(), registry=TrackingRegistry(), meter_provider=mp)
    untracked.track("another-session", [])  # some other run is tracked meanwhile
    p.add_span_processor(untracked)
    variants.append(
        Variant("drift untracked", p, _emitter(p.get_tracer("b"), run_len, lambda: "untracked"))
    )

    variants.append(_tracked("drift tracked", run_len, changed=-1))
    variants.append(_tracked("drift tracked, 1 change", run_len, changed=run_len // 2))

    p = TracerProvider()
    p.add_span_processor(RedactionProcessor(meter_provider=mp))
    p.add_span_processor(ReplayProcessor(meter_provider=mp))
    p.add_span_processor(_batch())
    variants.append(
        Variant("redaction+replay idle", p, _emitter(p.get_tracer("b"), run_len, lambda: "red"))
    )
    return variants


def _tracked(name: str, run_len: int, changed: int) -> Variant:
    """Runs tracked against a baseline run of the same shape (the steps after its
    checkpoint); child number ``changed`` of every run gets other arguments."""
    mp = NoOpMeterProvider()
    p = TracerProvider()
    replay = ReplayProcessor(meter_provider=mp)
    drift = DriftProcessor(_batch(), registry=TrackingRegistry(), meter_provider=mp)
    p.add_span_processor(replay)
    p.add_span_processor(drift)
    t = p.get_tracer("b")
    with t.start_as_current_span("invoke_agent bench", attributes=_root_attrs("baseline")):
        cid = checkpoint({"plan": "x"}, label="start", tracer=t)
        for _ in range(run_len - 1):
            with t.start_as_current_span("execute_tool search", attributes=CHILD_ATTRS):
                pass
    baseline = replay.steps_after(cid)
    counter = iter(range(1 << 62))
    emit = _emitter(
        t,
        run_len,
        lambda: f"{name}-{next(counter)}",
        lambda sid: drift.track(sid, baseline, agent_name="bench"),
        changed=changed,
    )
    return Variant(name, p, emit)


def write_json(path: str | None, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (nothing when ``path`` is None)."""
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)


def measure(variants: list[Variant], rounds: int, chunk: int, warmup: int, seed: int) -> None:
    """Interleave the variants round by round (random order); store ns/span per round."""
    rnd = random.Random(seed)
    order = list(variants)
    for r in range(warmup + rounds):
        rnd.shuffle(order)
        for v in order:
            gc.collect()
            w0, c0 = time.perf_counter_ns(), time.process_time_ns()
            v.emit(chunk)
            v.provider.force_flush()
            cpu, wall = time.process_time_ns() - c0, time.perf_counter_ns() - w0
            if r >= warmup:
                v.samples.append(cpu / chunk)
                v.wall.append(wall / chunk)


def results(variants: list[Variant]) -> list[dict[str, Any]]:
    """Median ns/span and median per-round ratio to ``sdk`` of every variant."""
    ref = variants[0]
    out = []
    for v in variants:
        ratios = [s / b for s, b in zip(v.samples, ref.samples, strict=True)]
        ratio = statistics.median(ratios)
        target = TARGETS.get(v.name)
        out.append(
            {
                "variant": v.name,
                "median_ns_per_span": statistics.median(v.samples),
                "median_wall_ns_per_span": statistics.median(v.wall),
                "ratio": ratio,
                "added_pct": (ratio - 1) * 100,
                "ratio_q1_q3": _quartiles(ratios),
                "target_pct": None if target is None else target * 100,
                "met": None if target is None else ratio - 1 <= target,
            }
        )
    return out


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 4:
        return (min(xs), max(xs))
    q = statistics.quantiles(xs, n=4)
    return (q[0], q[2])


def print_table(rows: list[dict[str, Any]], file: Any = sys.stdout) -> None:
    """The results as a plain-text table."""
    print(
        f"{'variant':<24} {'CPU ns/span':>11} {'wall ns':>9} {'x sdk':>7} {'added':>8} {'IQR x sdk':>13} "
        f"{'target':>7} {'met':>4}",
        file=file,
    )
    for r in rows:
        q1, q3 = r["ratio_q1_q3"]
        target = "" if r["target_pct"] is None else f"<={r['target_pct']:.0f}%"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(
            f"{r['variant']:<24} {r['median_ns_per_span']:>11,.0f} {r['median_wall_ns_per_span']:>9,.0f} {r['ratio']:>7.3f} "
            f"{r['added_pct']:>+7.1f}% {q1:>6.3f}-{q3:<6.3f} {target:>7} {met:>4}",
            file=file,
        )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--chunk", type=int, default=1000, help="spans per variant and round")
    parser.add_argument("--run", type=int, default=50, help="spans per run (root + children)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    variants = build(args.run)
    t0 = time.perf_counter()
    measure(variants, args.rounds, args.chunk, args.warmup, args.seed)
    rows = results(variants)
    print(
        f"per-span cost: {args.rounds} rounds x {args.chunk} spans per variant, runs of "
        f"{args.run} spans, interleaved ({time.perf_counter() - t0:.0f} s)"
    )
    print_table(rows)
    for v in variants:
        v.provider.shutdown()
    write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
