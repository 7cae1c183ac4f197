"""Write and load 100k spans in both recording formats and print spans/s.

Usage: python bench/bench_recordings.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_replay.formats import json_text
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording, write_recording


def make_spans(n: int) -> list[ReadableSpan]:
    """Agent-like spans: one session per 50 steps, GenAI attributes, an event on LLM steps."""
    mem = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench-agent", "deployment.environment": "dev"})
    )
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer("otel_replay.bench", "0.1.0")
    for i in range(n):
        llm = i % 2 == 0
        with tracer.start_as_current_span("chat gpt-4o" if llm else "execute_tool search") as span:
            span.set_attributes(
                {
                    "agent_replay.session.id": f"session-{i // 50}",
                    "agent_replay.step.sequence": i % 50,
                    "gen_ai.operation.name": "chat" if llm else "execute_tool",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 120 + i % 7,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.tool.name": "search",
                    "agent_replay.step.input": '{"query": "weather in Paris", "k": 3}',
                    "agent_replay.step.output": '{"answer": "sunny, 21C"}',
                    "tags": ("a", "b", "c"),
                    "temperature": 0.2,
                }
            )
            if llm:
                span.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop"})
            if i % 97 == 0:
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    return list(mem.get_finished_spans())


class Timer:
    """Wall and CPU time of a block (CPU time is steadier on a shared machine)."""

    def __enter__(self) -> Timer:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return (
            f"{n / self.wall:>9,.0f} spans/s wall  {n / self.cpu:>9,.0f} spans/s CPU"
            f"  ({self.wall:.2f} s)"
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"generating {n} spans ...", flush=True)
    spans = make_spans(n)
    print(f"JSON codec: {'orjson' if json_text._orjson is not None else 'stdlib json'}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("jsonl", "protobuf"):
            ext = ".jsonl" if fmt == "jsonl" else ".binpb"
            # 1 span per export, as with SimpleSpanProcessor (worst case: one record per span)
            path = os.path.join(tmp, "exporter" + ext)
            exporter = RecordingExporter(path, format=fmt)
            with Timer() as t:
                for span in spans:
                    exporter.export([span])
            exporter.shutdown()
            size = os.path.getsize(path)
            print(f"{fmt:8} export, 1 span/record    {t.rate(n)}  {size / n:.0f} B/span")
            with Timer() as t:
                rec = load_recording(path)
            assert len(rec.spans) == n
            print(f"{fmt:8} load,   1 span/record    {t.rate(n)}")
            del rec
            # batched (BatchSpanProcessor-like / write_recording: 1000 spans per record)
            path = os.path.join(tmp, "batched" + ext)
            with Timer() as t:
                write_recording(path, spans, format=fmt)
            size = os.path.getsize(path)
            print(f"{fmt:8} write,  1000 spans/record {t.rate(n)}  {size / n:.0f} B/span")
            with Timer() as t:
                rec = load_recording(path)
            assert len(rec.spans) == n
            print(f"{fmt:8} load,   1000 spans/record {t.rate(n)}")
            del rec


if __name__ == "__main__":
    main()
