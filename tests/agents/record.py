"""Run a real agent under a real instrumentation and record its spans with our
``RecordingExporter``: :class:`AgentRecorder` (one instrumented provider, many runs) and the
``agent_recorder`` fixture (:mod:`tests.agents.fixtures`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_replay.capture.event_content import EventContentProcessor
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.formats.exporter import RecordingExporter
from tests.agents.instrument import instrumented
from tests.agents.script import Script

#: (framework, convention) pairs the drift tests run: the LangGraph agent under each
#: LangChain instrumentation, the openai client loop under each OpenAI instrumentation.
Runner = Callable[[Script], Any]


class _Switch(SpanExporter):
    """Forwards to the current run's :class:`RecordingExporter`."""

    def __init__(self) -> None:
        self.target: SpanExporter | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.target is None:
            return SpanExportResult.SUCCESS
        return self.target.export(spans)

    def shutdown(self) -> None:
        pass


class AgentRecorder:
    """A tracer provider (with ``ReplayProcessor`` unless ``replay_processor=False``) under
    ``convention``'s instrumentation; :meth:`record` runs an agent and writes one file."""

    def __init__(
        self,
        convention: str,
        directory: str,
        mp: pytest.MonkeyPatch,
        *,
        replay_processor: bool = True,
        content: str = "SPAN_ONLY",
        event_content: bool = False,
    ) -> None:
        self.convention = convention
        self.directory = directory
        self.provider = TracerProvider()
        self.logger_provider = LoggerProvider()
        self.event_content: EventContentProcessor | None = None
        if event_content:
            self.event_content = EventContentProcessor(meter_provider=NoOpMeterProvider())
            self.provider.add_span_processor(self.event_content)
            self.logger_provider.add_log_record_processor(self.event_content)
        if replay_processor:
            self.provider.add_span_processor(ReplayProcessor(meter_provider=NoOpMeterProvider()))
        self._switch = _Switch()
        self.provider.add_span_processor(SimpleSpanProcessor(self._switch))
        self.logs = _LogSink()
        self.logger_provider.add_log_record_processor(self.logs)
        self._stack = ExitStack()
        self._stack.enter_context(
            instrumented(
                convention,
                self.provider,
                mp,
                logger_provider=self.logger_provider,
                meter_provider=NoOpMeterProvider(),
                content=content,
            )
        )
        self.runs = 0

    def record(self, runner: Runner, script: Script, name: str | None = None) -> str:
        """Run ``runner(script)`` and return the path of its recording."""
        self.runs += 1
        path = os.path.join(self.directory, f"{name or f'run{self.runs}'}.jsonl")
        exporter = RecordingExporter(path)
        self._switch.target = exporter
        try:
            runner(script)
            self.provider.force_flush()
        finally:
            self._switch.target = None
            exporter.shutdown()
        return path

    def close(self) -> None:
        self._stack.close()
        self.provider.shutdown()
        self.logger_provider.shutdown()


class _LogSink(LogRecordProcessor):
    """Log records emitted by the instrumentation (the GenAI ``...operation.details``
    events), in emission order."""

    def __init__(self) -> None:
        self.target: Any = None
        self.records: list[Any] = []

    def on_emit(self, log_record: Any) -> None:
        self.records.append(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def record_scenarios(
    convention: str,
    runner: Runner,
    directory: str,
    scripts: dict[str, Script],
    **recorder_kwargs: Any,
) -> dict[str, str]:
    """Record one run per script (name -> recording path) under ``convention``; the
    instrumentation is removed afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        rec = AgentRecorder(convention, directory, mp, **recorder_kwargs)
        try:
            return {name: rec.record(runner, script, name) for name, script in scripts.items()}
        finally:
            rec.close()


def record_openai_scenarios(
    convention: str,
    directory: str,
    scripts: dict[str, Script],
    logs: list[Any] | None = None,
    **recorder_kwargs: Any,
) -> dict[str, str]:
    """:func:`record_scenarios` for the ``openai`` client loop against a fake server;
    the log records the instrumentation emitted are appended to ``logs``."""
    from tests.agents.openai_loop import fake_openai_server, make_openai_runner

    with pytest.MonkeyPatch.context() as mp, fake_openai_server() as server:
        rec = AgentRecorder(convention, directory, mp, **recorder_kwargs)
        try:
            runner = make_openai_runner(server, rec.provider.get_tracer("tests.agents"))
            return {name: rec.record(runner, script, name) for name, script in scripts.items()}
        finally:
            if logs is not None:
                logs.extend(rec.logs.records)
            rec.close()


def record_pydantic_scenarios(
    directory: str, scripts: dict[str, Script], version: int | None = None
) -> dict[str, str]:
    """Record one PydanticAI run per script (its instrumentation is per agent: nothing
    global to install or remove)."""
    from tests.agents.pydantic_agent import make_pydantic_runner

    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor(meter_provider=NoOpMeterProvider()))
    switch = _Switch()
    provider.add_span_processor(SimpleSpanProcessor(switch))
    runner = make_pydantic_runner(provider, version)
    out = {}
    try:
        for name, script in scripts.items():
            path = os.path.join(directory, f"{name}.jsonl")
            exporter = RecordingExporter(path)
            switch.target = exporter
            try:
                runner(script)
                provider.force_flush()
            finally:
                switch.target = None
                exporter.shutdown()
            out[name] = path
    finally:
        provider.shutdown()
    return out
