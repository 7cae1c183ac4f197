"""Shared fixtures: a real TracerProvider wired with otel-replay processors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_replay.capture.checkpoint import SESSION_CLOCK
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.model.stores import set_checkpoint_store


@dataclass
class Pipeline:
    provider: TracerProvider
    tracer: Tracer
    processor: ReplayProcessor
    exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    meter_provider: MeterProvider

    def metric_points(self, name: str) -> list[tuple[dict[str, object], float]]:
        """(attributes, value) of every data point of metric ``name``."""
        data = self.metric_reader.get_metrics_data()
        out: list[tuple[dict[str, object], float]] = []
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        for p in m.data.data_points:
                            out.append((dict(p.attributes or {}), p.value))
        return out


def points_by_attributes(reader: InMemoryMetricReader, name: str) -> dict[tuple, float]:
    """Values of metric ``name``'s data points, keyed by their sorted attribute items."""
    out: dict[tuple, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        out[tuple(sorted((p.attributes or {}).items()))] = p.value
    return out


def make_pipeline(**processor_kwargs: object) -> Pipeline:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    processor = ReplayProcessor(meter_provider=meter_provider, **processor_kwargs)  # type: ignore[arg-type]
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Pipeline(
        provider=provider,
        tracer=provider.get_tracer("tests"),
        processor=processor,
        exporter=exporter,
        metric_reader=reader,
        meter_provider=meter_provider,
    )


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    previous = set_checkpoint_store(None)
    p = make_pipeline()
    try:
        yield p
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()
        set_checkpoint_store(previous)


@pytest.fixture(autouse=True)
def _isolate_checkpoint_numbering() -> Iterator[None]:
    """checkpoint() numbers checkpoints per session in a process-wide clock: start each test
    from an empty clock and put the previous state back afterwards."""
    saved = SESSION_CLOCK.snapshot()
    SESSION_CLOCK.restore(type(saved)())
    try:
        yield
    finally:
        SESSION_CLOCK.restore(saved)
