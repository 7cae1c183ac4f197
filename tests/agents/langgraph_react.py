"""A real LangGraph ReAct agent (``create_react_agent``) with real ``@tool`` functions and a
scripted chat model that, like a real one, returns fresh tool-call ids on every run."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool

from tests.agents.script import MODEL, PROMPT, TOOL_DOCS, TOOLS, Script


class ScriptedChatModel(BaseChatModel):
    """Answers the i-th call (i = number of AI messages in the input) with ``script.turn(i)``."""

    script: Any
    model_name: str = MODEL

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        index = sum(isinstance(m, AIMessage) for m in messages)
        turn = self.script.turn(index)
        usage = {"input_tokens": 10 + index, "output_tokens": 5, "total_tokens": 15 + index}
        if isinstance(turn, str):
            msg = AIMessage(content=turn, usage_metadata=usage)
        else:
            msg = AIMessage(
                content="",
                tool_calls=[
                    {"name": c.name, "args": dict(c.args), "id": f"call_{uuid.uuid4().hex[:24]}"}
                    for c in turn
                ],
                usage_metadata=usage,
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def make_tools(script: Script) -> list[BaseTool]:
    """The real LangChain tools, reading ``script.world``."""

    def bind(name: str) -> BaseTool:
        impl = TOOLS[name]

        def run(city: str) -> str:
            return impl(script.world, city)

        return StructuredTool.from_function(run, name=name, description=TOOL_DOCS[name])

    return [bind(n) for n in TOOLS]


def run_react_agent(script: Script, *, name: str = "weather_agent") -> str:
    """Run the agent once on :data:`~tests.agents.script.PROMPT`; return its final answer."""
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still there
        warnings.simplefilter("ignore", DeprecationWarning)
        agent = create_react_agent(ScriptedChatModel(script=script), make_tools(script), name=name)
    out = agent.invoke({"messages": [HumanMessage(PROMPT)]})
    return str(out["messages"][-1].content)
