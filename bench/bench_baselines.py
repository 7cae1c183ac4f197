"""Baseline lookups of ``otel-replay serve --baselines DIR`` in a recording store that is being
written: the incremental index (only new or changed files read) against reading the whole
directory on every change, in the same run.

    .venv/bin/python bench/bench_baselines.py                    # 20 files of 100 runs, 5 rounds
    .venv/bin/python bench/bench_baselines.py --files 4 --runs 10 --rounds 1

The store holds ``--files`` recording files of ``--runs`` baseline runs each (a root, a
checkpoint, a tool call, an LLM call). Each lookup follows one more baseline run appended to
one of the files (the worker's own file, written continuously) and asks for its checkpoint,
as a worker does for the first restored run of a new checkpoint. Prints the median time per
lookup of each way and the files and bytes the index read per lookup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

from otel_replay.formats.files import write_recording
from otel_replay.restore.sources import RecordingSource
from otel_replay.serve.baselines import BaselineFinder, Provenance


def baseline_runs(n: int) -> tuple[list[ReadableSpan], list[str]]:
    """The spans of ``n`` baseline runs and their checkpoint ids."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    ids = []
    for _ in range(n):
        session = uuid.uuid4().hex
        ckpt = uuid.uuid4().hex
        ids.append(ckpt)
        base = {"agent_replay.session.id": session}
        root = tracer.start_span(
            "invoke_agent a", attributes={**base, "agent_replay.step.sequence": 1}
        )
        ctx = set_span_in_context(root)
        state = json.dumps({"order": "A-17"})
        tracer.start_span(
            "checkpoint planned",
            context=ctx,
            attributes={
                **base,
                "agent_replay.step.sequence": 2,
                "agent_replay.step.kind": "checkpoint",
                "agent_replay.checkpoint.id": ckpt,
                "agent_replay.checkpoint.sequence": 1,
                "agent_replay.checkpoint.state": state,
            },
        ).end()
        tracer.start_span(
            "execute_tool lookup_order",
            context=ctx,
            attributes={
                **base,
                "agent_replay.step.sequence": 3,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.result": json.dumps({"status": "shipped"}),
            },
        ).end()
        tracer.start_span(
            "chat m",
            context=ctx,
            attributes={
                **base,
                "agent_replay.step.sequence": 4,
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m",
            },
        ).end()
        root.end()
    provider.shutdown()
    return list(memory.get_finished_spans()), ids


def _append(path: Path, spans: list[ReadableSpan], scratch: Path) -> None:
    write_recording(scratch, spans)
    with open(path, "ab") as f:
        f.write(scratch.read_bytes())


def measure(files: int, runs: int, lookups: int) -> dict[str, Any]:
    """Seconds per lookup of each way and files read per lookup, over ``lookups`` appends."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        for i in range(files):
            spans, _ids = baseline_runs(runs)
            write_recording(store / f"spans-w{i}.jsonl", spans)
        finder = BaselineFinder(store)
        assert finder.index is not None
        finder.index.refresh()
        read_before = finder.index.files_read
        bytes_before = finder.index.bytes_read
        full: list[float] = []
        incremental: list[float] = []
        for _ in range(lookups):
            spans, (ckpt,) = baseline_runs(1)
            _append(store / "spans-w0.jsonl", spans, Path(tmp) / "one.jsonl")
            t0 = time.perf_counter()
            whole = RecordingSource(store)
            got_full = whole.steps_after(whole.find_checkpoint(ckpt))
            t1 = time.perf_counter()
            got = finder.lookup(Provenance(uuid.uuid4().hex, ckpt))
            t2 = time.perf_counter()
            assert [s.span_id for s in got] == [s.span_id for s in got_full]
            full.append(t1 - t0)
            incremental.append(t2 - t1)
        files_per_lookup = (finder.index.files_read - read_before) / lookups
        bytes_per_lookup = (finder.index.bytes_read - bytes_before) / lookups
        store_bytes = sum(p.stat().st_size for p in store.iterdir())
    return {
        "bytes_read_per_lookup": bytes_per_lookup,
        "store_bytes": store_bytes,
        "full": statistics.median(full),
        "incremental": statistics.median(incremental),
        "files_read_per_lookup": files_per_lookup,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--runs", type=int, default=100, help="baseline runs per file")
    ap.add_argument("--lookups", type=int, default=10, help="lookups per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    rows = [measure(args.files, args.runs, args.lookups) for _ in range(args.rounds)]
    full = statistics.median(r["full"] for r in rows)
    inc = statistics.median(r["incremental"] for r in rows)
    spans = args.files * args.runs * 4
    print(
        f"store: {args.files} files, {spans} spans; one file appended before each lookup; "
        f"median of {args.rounds} rounds of {args.lookups} lookups"
    )
    print(f"  whole directory re-read : {full * 1000:9.2f} ms per lookup ({args.files} files)")
    last = rows[-1]
    print(
        f"  incremental index       : {inc * 1000:9.2f} ms per lookup "
        f"({last['files_read_per_lookup']:.0f} file, {last['bytes_read_per_lookup']:.0f} of "
        f"{last['store_bytes']} bytes: the lines appended)"
    )
    print(f"  ratio whole / incremental: {full / inc:.1f}")
    return rows


if __name__ == "__main__":
    main()
