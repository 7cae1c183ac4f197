"""A PydanticAI agent (``pydantic-ai-slim``) with real tools and a scripted
``FunctionModel`` (fresh tool-call ids per run), traced by PydanticAI's built-in
OpenTelemetry instrumentation (``agent.instrument = InstrumentationSettings(...)``, the 2.x spelling of
``Agent(instrument=...)``)."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from tests.agents.script import MODEL, PROMPT, TOOL_DOCS, TOOLS, Script


def make_pydantic_runner(provider: TracerProvider, version: int | None = None) -> Any:
    """A runner (script -> final answer) for a PydanticAI agent traced on ``provider``."""
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.models.instrumented import InstrumentationSettings

    def run(script: Script) -> str:
        def model_fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            index = sum(isinstance(m, ModelResponse) for m in messages)
            turn = script.turn(index)
            if isinstance(turn, str):
                return ModelResponse(parts=[TextPart(turn)], model_name=MODEL)
            return ModelResponse(
                parts=[
                    ToolCallPart(c.name, dict(c.args), tool_call_id=f"call_{uuid.uuid4().hex[:24]}")
                    for c in turn
                ],
                model_name=MODEL,
            )

        kwargs: dict[str, Any] = {"tracer_provider": provider, "include_content": True}
        if version is not None:
            kwargs["version"] = version
        agent = Agent(FunctionModel(model_fn, model_name=MODEL), name="weather_agent")
        agent.instrument = InstrumentationSettings(**kwargs)  # = Agent(instrument=...)
        for name, impl in TOOLS.items():
            agent.tool_plain(name=name, description=TOOL_DOCS[name])(_bind(impl, script))
        result = agent.run_sync(PROMPT)
        return str(result.output)

    return run


def _bind(impl: Any, script: Script) -> Any:
    def tool(city: str) -> str:
        return str(impl(script.world, city))

    return tool
