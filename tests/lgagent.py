"""A real LangGraph ReAct agent for tests: a scripted fake chat model (a ``BaseChatModel``
that answers like a real model, with fresh random tool-call ids on every run), real
``@tool`` functions, and the real instrumentations (OpenInference, OpenLLMetry) set up and
torn down as in tests/test_interop.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool

from tests.conftest import Pipeline
from tests.test_interop import _instrumented

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
