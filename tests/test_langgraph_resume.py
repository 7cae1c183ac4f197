"""restore() resumes real LangGraph graphs at checkpoints recorded by ReplayCheckpointer:
create_react_agent v1 and v2 (Send), a subgraph, an interrupt(), async graphs; forked with
LangGraph's own checkpoint id when the saver has it, written from the recorded state when not."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

import asyncio
import json
import warnings
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.integrations.langgraph import (
    LangGraphRestoreError,
    LangGraphTarget,
    ReplayCheckpointer,
    restore_langgraph,
)
from otel_replay.restore.api import arestore, restore
from tests.conftest import Pipeline
from tests.lgagent import INSTRUMENTATIONS, ScriptedChatModel, instrumentation, make_tools
from tests.test_langgraph_checkpointer import subgraph_parent

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


def agent(
    p: Pipeline, version: str, log: list[str], saver: Any = None, final: str = "Sunny."
) -> Any:
    model = ScriptedChatModel(script=[("", [("get_weather", {"city": "Paris"})]), (final, [])])
    cp = ReplayCheckpointer(saver or InMemorySaver(), tracer=p.tracer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(model, make_tools(log=log), checkpointer=cp, version=version)
    return graph, cp, model


def record(p: Pipeline, version: str) -> tuple[Any, Any, str]:
    """Run the ReAct agent once; return (graph, its model, the 'tools' checkpoint id)."""
    log: list[str] = []
    graph, cp, model = agent(p, version, log)
    with agent_run("agent", session_id="rec", tracer=p.tracer):
        graph.invoke(
            {"messages": [HumanMessage("Weather in Paris?")]}, {"configurable": {"thread_id": "t1"}}
        )
    assert log == ["get_weather(Paris)"]
    return graph, model, cp.recorded[2]


def assert_resumed(
    graph: Any, config: dict[str, Any], log: list[str], model: Any, final: str
) -> None:
    assert graph.get_state(config).next == ("tools",)
    out = graph.invoke(None, config)
    assert log == ["get_weather(Paris)"]
    assert model.calls == 1
    msgs = out["messages"]
    assert [type(m) for m in msgs] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert msgs[2].content == "sunny in Paris"
    assert msgs[2].tool_call_id == msgs[1].tool_calls[0]["id"]
    assert msgs[3].content == final


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_react_agent_resumes_in_a_new_process(pipeline: Pipeline, version: str) -> None:
    _, _, cid = record(pipeline, version)
    # a new process: new graph, new (empty) saver, the model's answer after the tool
    log: list[str] = []
    model = ScriptedChatModel(script=[("Paris: sunny.", [])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(
            model, make_tools(log=log), checkpointer=InMemorySaver(), version=version
        )
    cfg = {"configurable": {"thread_id": "restored"}}
    result = restore(cid, target=LangGraphTarget(graph, cfg), source=pipeline.processor)
    result.raise_for_hook_errors()
    assert result.target.config == cfg
    assert_resumed(graph, result.target.config, log, model, "Paris: sunny.")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_react_agent_forks_at_the_langgraph_checkpoint_the_saver_still_has(
    pipeline: Pipeline, version: str
) -> None:
    graph, model, cid = record(pipeline, version)
    ckpt = pipeline.processor.get_checkpoint(cid)
    lg_id = json.loads(ckpt.state_json)["metadata"]["otel_replay.langgraph"]["checkpoint_id"]
    # same thread: LangGraph's time travel from the recorded checkpoint id
    result = restore(
        cid,
        target=LangGraphTarget(graph, {"configurable": {"thread_id": "t1"}}),
        source=pipeline.processor,
    )
    result.raise_for_hook_errors()
    conf = result.target.config["configurable"]
    assert (conf["thread_id"], conf["checkpoint_id"]) == ("t1", lg_id)
    model.script = [*model.script, ("Forked.", [])]
    out = graph.invoke(None, result.target.config)
    assert out["messages"][-1].content == "Forked."
    assert model.calls == 3
    # another, empty thread: InMemorySaver cannot copy a thread, so the recorded state is
    # written there instead, with the same pending task
    result = restore(
        cid,
        target=LangGraphTarget(graph, {"configurable": {"thread_id": "copy"}}),
        source=pipeline.processor,
    )
    result.raise_for_hook_errors()
    assert result.target.config == {"configurable": {"thread_id": "copy"}}
    assert graph.get_state(result.target.config).next == ("tools",)


def test_async_graph_resumes(pipeline: Pipeline) -> None:
    _, _, cid = record(pipeline, "v2")
    log: list[str] = []
    model = ScriptedChatModel(script=[("Async answer.", [])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(model, make_tools(log=log), checkpointer=InMemorySaver())

    async def main() -> Any:
        cfg = {"configurable": {"thread_id": "a"}}
        result = await arestore(cid, target=LangGraphTarget(graph, cfg), source=pipeline.processor)
        result.raise_for_hook_errors()
        assert (await graph.aget_state(result.target.config)).next == ("tools",)
        chunks = [c async for c in graph.astream(None, result.target.config, stream_mode="updates")]
        return chunks

    chunks = asyncio.run(main())
    assert [next(iter(ch)) for ch in chunks] == ["tools", "agent"]
    assert log == ["get_weather(Paris)"]
    assert chunks[-1]["agent"]["messages"][-1].content == "Async answer."


@pytest.mark.parametrize("which", INSTRUMENTATIONS)
def test_subgraph_resumes_at_the_parent_checkpoint(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    cp = ReplayCheckpointer(InMemorySaver(), tracer=pipeline.tracer)
    with (
        instrumentation(which, pipeline, monkeypatch),
        agent_run("agent", session_id="rec", tracer=pipeline.tracer),
    ):
        subgraph_parent(cp).invoke({"items": []}, {"configurable": {"thread_id": "t"}})
    spans = {
        (
            s.attributes[c.CHECKPOINT_LANGGRAPH_CHECKPOINT_NS],
            tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]),
        ): s
        for s in pipeline.exporter.get_finished_spans()
        if c.CHECKPOINT_ID in s.attributes
    }
    cid = spans[("", ("sub",))].attributes[c.CHECKPOINT_ID]
    fresh = subgraph_parent(InMemorySaver())
    cfg = {"configurable": {"thread_id": "r"}}
    result = restore(cid, target=LangGraphTarget(fresh, cfg), source=pipeline.processor)
    result.raise_for_hook_errors()
    assert fresh.get_state(cfg).next == ("sub",)
    assert fresh.get_state(cfg).values == {"items": ["first"]}
    assert fresh.invoke(None, result.target.config) == {"items": ["first", "a", "b"]}


class Ask(TypedDict):
    question: str
    answer: str


def interrupting(saver: Any, asked: list[str]) -> Any:
    def human(s: Ask) -> dict[str, str]:
        asked.append(s["question"])
        return {"answer": interrupt(s["question"])}

    g = StateGraph(Ask)
    g.add_node("prepare", lambda s: {"question": s["question"] + "?"})
    g.add_node("human", human)
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "human")
    g.add_edge("human", END)
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("which", INSTRUMENTATIONS)
def test_interrupt_is_pending_again_after_restore(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    asked: list[str] = []
    cp = ReplayCheckpointer(InMemorySaver(), nodes={"human"}, tracer=pipeline.tracer)
    with (
        instrumentation(which, pipeline, monkeypatch),
        agent_run("agent", session_id="rec", tracer=pipeline.tracer),
    ):
        out = interrupting(cp, asked).invoke(
            {"question": "Go", "answer": ""}, {"configurable": {"thread_id": "t"}}
        )
    assert out["__interrupt__"][0].value == "Go?"
    (cid,) = cp.recorded
    asked.clear()
    fresh = interrupting(InMemorySaver(), asked)
    cfg = {"configurable": {"thread_id": "r"}}
    result = restore(cid, target=LangGraphTarget(fresh, cfg), source=pipeline.processor)
    result.raise_for_hook_errors()
    assert fresh.get_state(cfg).next == ("human",)
    again = fresh.invoke(None, result.target.config)
    assert again["__interrupt__"][0].value == "Go?"
    assert fresh.invoke(Command(resume="yes"), result.target.config) == {
        "question": "Go?",
        "answer": "yes",
    }
    assert asked == ["Go?", "Go?"]


def test_pending_task_mismatch_names_both(pipeline: Pipeline) -> None:
    _, _, cid = record(pipeline, "v2")
    state = json.loads(pipeline.processor.get_checkpoint(cid).state_json)
    state["metadata"]["otel_replay.sends"] = []  # recorded tools, but no task for them
    state["metadata"]["otel_replay.langgraph"] = None
    state["next"] = ["tools", "tools"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = create_react_agent(
            ScriptedChatModel(script=[]), make_tools(), checkpointer=InMemorySaver()
        )
    with pytest.raises(LangGraphRestoreError) as err:
        restore_langgraph(state, LangGraphTarget(graph, {"configurable": {"thread_id": "m"}}))
    assert str(err.value) == (
        "after restoring, thread 'm' would run ['tools'] next, but the checkpoint recorded "
        "['tools', 'tools']; the thread was deleted again"
    )
    assert graph.get_state({"configurable": {"thread_id": "m"}}).created_at is None
