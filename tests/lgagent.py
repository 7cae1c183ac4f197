"""A real LangGraph ReAct agent for tests: a scripted fake chat model (a ``BaseChatModel``
that answers like a real model, with fresh random tool-call ids on every run), real
``@tool`` functions, and the real instrumentations (OpenInference, OpenLLMetry) set up and
torn down as in tests/test_interop.py."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.drift.processor import DriftProcessor
from otel_replay.integrations.langchain_calls import tracing
from otel_replay.integrations.langgraph import ReplayCheckpointer
from otel_replay.model.stores import set_checkpoint_store
from otel_replay.restore.tracking import REGISTRY
from tests.conftest import Pipeline
from tests.test_interop import _instrumented

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

MODEL = "fake-react-1"
INSTRUMENTATIONS = ("none", "openinference", "openllmetry")


class ScriptedChatModel(BaseChatModel):
    """Answers with ``script[i]`` on its i-th call: ``(text, [(tool name, args), ...])``.

    Tool-call ids are fresh on every call, as real models make them. Counts calls in
    ``calls`` so tests can tell served answers (no call) from live ones."""

    script: list[Any]
    model_name: str = MODEL
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _next(self) -> AIMessage:
        text, tool_calls = self.script[self.calls]
        self.calls += 1
        return AIMessage(
            content=text,
            tool_calls=[
                {"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
                for n, a in tool_calls
            ],
            usage_metadata={"input_tokens": 20, "output_tokens": 7, "total_tokens": 27},
            id=f"run-{uuid.uuid4().hex[:8]}",
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next())])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._next()
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=msg.content,
                tool_call_chunks=[
                    {"name": t["name"], "args": _json(t["args"]), "id": t["id"], "index": i}
                    for i, t in enumerate(msg.tool_calls)
                ],
                usage_metadata=msg.usage_metadata,
                id=msg.id,
            )
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def weather_script(final: str = "It is sunny in Paris.") -> list[Any]:
    return [("", [("get_weather", {"city": "Paris"})]), (final, [])]


def make_tools(weather: str = "sunny", log: list[str] | None = None) -> list[Any]:
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        if log is not None:
            log.append(f"get_weather({city})")
        return f"{weather} in {city}"

    return [get_weather]


@contextmanager
def instrumentation(which: str, p: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``which`` of :data:`INSTRUMENTATIONS` installed on ``p``'s provider, always removed."""
    if which == "none":
        yield
        return
    with _instrumented(which, p, monkeypatch):
        yield


@dataclass
class DriftPipeline:
    """A provider with ReplayProcessor and DriftProcessor (global REGISTRY) and metrics."""

    provider: TracerProvider
    tracer: Any
    processor: ReplayProcessor
    exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    meter_provider: MeterProvider

    def session_spans(self, session_id: str) -> list[Any]:
        return [
            s
            for s in self.exporter.get_finished_spans()
            if (s.attributes or {}).get(c.SESSION_ID) == session_id
        ]


@contextmanager
def drift_pipeline() -> Iterator[DriftPipeline]:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    processor = ReplayProcessor(meter_provider=meter_provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(
        DriftProcessor(SimpleSpanProcessor(exporter), meter_provider=meter_provider)
    )
    previous = set_checkpoint_store(None)
    tracked = set(REGISTRY._runs)
    try:
        yield DriftPipeline(
            provider, provider.get_tracer("tests"), processor, exporter, reader, meter_provider
        )
    finally:
        provider.shutdown()
        meter_provider.shutdown()
        set_checkpoint_store(previous)
        for sid in set(REGISTRY._runs) - tracked:
            REGISTRY.unregister(sid)


def recording_scope(which: str, tracer: Any) -> Any:
    """What records LangChain calls: the instrumentation, or our tracing() without one."""
    return tracing(tracer) if which == "none" else nullcontext()


def record_react(
    p: Any, which: str, script: list[Any] | None = None, version: str = "v2"
) -> tuple[Any, list[str]]:
    """Run the ReAct agent once in session ``rec``; (checkpointer, tool log)."""
    log: list[str] = []
    cp = ReplayCheckpointer(InMemorySaver(), tracer=p.tracer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(
            ScriptedChatModel(script=script or weather_script()),
            make_tools(log=log),
            checkpointer=cp,
            version=version,
        )
    with recording_scope(which, p.tracer), agent_run("agent", session_id="rec", tracer=p.tracer):
        graph.invoke(
            {"messages": [HumanMessage("Weather in Paris?")]}, {"configurable": {"thread_id": "t"}}
        )
    return cp, log


def react_graph(
    script: list[Any], weather: str = "sunny", log: list[str] | None = None, **kw: Any
) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(script=script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(
            model, make_tools(weather, log), checkpointer=InMemorySaver(), **kw
        )
    return graph, model


@pytest.fixture(params=INSTRUMENTATIONS)
def instrumented_pipeline(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, DriftPipeline]]:
    """``(instrumentation name, pipeline)`` for each of no instrumentation, OpenInference and
    OpenLLMetry (import it into a test module to use it as its ``rig``)."""
    with drift_pipeline() as p, instrumentation(request.param, p, monkeypatch):  # type: ignore[arg-type]
        yield request.param, p
