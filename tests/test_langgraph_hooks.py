from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run
from otel_replay.integrations.langgraph import (
    LAST_NODES_KEY,
    LangGraphRestoreError,
    LangGraphTarget,
    langgraph_state,
    restore_langgraph,
)
from otel_replay.restore.api import restore

QUESTION = HumanMessage("Weather in Paris?", id="h-1")
TOOL_CALL = AIMessage(
    "", id="ai-1", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}]
)
TOOL_RESULT = ToolMessage("18C, sunny", tool_call_id="call-1", id="tool-1")


class State(TypedDict):
    messages: Annotated[list, add_messages]
    visited: Annotated[list[str], operator.add]


def build_graph(responses: list[AIMessage], ran: list[str]):
    """agent -> (tools -> agent)* -> END, with a fake chat model and a real checkpointer."""
    model = GenericFakeChatModel(messages=iter(responses))

    def agent(state: State) -> dict:
        ran.append("agent")
        return {"messages": [model.invoke(state["messages"])], "visited": ["agent"]}

    def tools(state: State) -> dict:
        ran.append("tools")
        call = state["messages"][-1].tool_calls[0]
        assert call["args"] == {"city": "Paris"}
        return {"messages": [TOOL_RESULT], "visited": ["tools"]}

    def route(state: State) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    g = StateGraph(State)
    g.add_node("agent", agent)
    g.add_node("tools", tools)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tools", END])
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=InMemorySaver())


def record_mid_run_state():
    """Run the graph once; return the langgraph state captured right after the tool call
    was decided (next = tools), and the final state of the recorded run."""
    ran: list[str] = []
    graph = build_graph([TOOL_CALL, AIMessage("It is 18C and sunny.", id="ai-2")], ran)
    cfg = {"configurable": {"thread_id": "recorded"}}
    final = graph.invoke({"messages": [QUESTION], "visited": []}, cfg)
    assert ran == ["agent", "tools", "agent"]
    (mid,) = [s for s in graph.get_state_history(cfg) if s.next == ("tools",)]
    return langgraph_state(graph, mid.config), final


def test_langgraph_state_shape():
    state, _ = record_mid_run_state()
    assert state["next"] == ["tools"]
    assert state["metadata"][LAST_NODES_KEY] == ["agent"]
    assert state["metadata"]["source"] == "loop"
    assert state["values"]["visited"] == ["agent"]
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    assert state["values"]["messages"][1]["data"]["tool_calls"][0]["id"] == "call-1"


def test_restore_resumes_a_real_graph_to_completion(pipeline):
    state, recorded_final = record_mid_run_state()
    with agent_run("graph-agent", session_id="lg-sess", tracer=pipeline.tracer):
        cid = checkpoint(state, framework="langgraph", label="tool-decided", tracer=pipeline.tracer)

    # a new process: a fresh graph, fresh checkpointer, a model that answers differently
    ran: list[str] = []
    graph = build_graph([AIMessage("Paris: 18C and sunny.", id="ai-new")], ran)
    cfg = {"configurable": {"thread_id": "restored"}}
    result = restore(cid, target=LangGraphTarget(graph, cfg), source=pipeline.processor)
    assert result.ok, result.hook_errors
    assert isinstance(result.target, LangGraphTarget)
    assert result.target.graph is graph
    assert result.target.config == cfg
    assert result.target.restored_config["configurable"]["thread_id"] == "restored"

    snap = graph.get_state(cfg)
    assert snap.next == ("tools",)
    assert snap.values == {"messages": [QUESTION, TOOL_CALL], "visited": ["agent"]}
    assert ran == []

    final = graph.invoke(None, cfg)
    assert ran == ["tools", "agent"]
    assert final == {
        "messages": [
            QUESTION,
            TOOL_CALL,
            TOOL_RESULT,
            AIMessage("Paris: 18C and sunny.", id="ai-new"),
        ],
        "visited": ["agent", "tools", "agent"],
    }
    assert type(final["messages"][1]) is AIMessage
    assert graph.get_state(cfg).next == ()
    # the recorded run ended the same way (apart from the model's new answer)
    assert recorded_final["visited"] == final["visited"]


def test_restore_overwrites_a_thread_that_already_has_state():
    state, _ = record_mid_run_state()
    ran: list[str] = []
    graph = build_graph(
        [TOOL_CALL, AIMessage("first", id="ai-a"), AIMessage("second", id="ai-b")], ran
    )
    cfg = {"configurable": {"thread_id": "busy"}}
    graph.invoke({"messages": [QUESTION], "visited": []}, cfg)
    assert graph.get_state(cfg).values["visited"] == ["agent", "tools", "agent"]
    ran.clear()
    restore_langgraph(state, LangGraphTarget(graph, cfg))
    assert graph.get_state(cfg).values == {"messages": [QUESTION, TOOL_CALL], "visited": ["agent"]}
    final = graph.invoke(None, cfg)
    assert ran == ["tools", "agent"]
    assert final["visited"] == ["agent", "tools", "agent"]
    assert final["messages"][-1] == AIMessage("second", id="ai-b")


def test_writer_is_inferred_from_static_edges_without_the_hint():
    state, _ = record_mid_run_state()
    # next = agent: the node whose static edges lead exactly there is "tools"
    state = {
        "values": {
            "messages": state["values"]["messages"]
            + [{"type": "tool", "data": TOOL_RESULT.model_dump(mode="json")}],
            "visited": ["agent", "tools"],
        },
        "next": ["agent"],
        "metadata": {},
    }
    ran: list[str] = []
    graph = build_graph([AIMessage("done", id="ai-done")], ran)
    cfg = {"configurable": {"thread_id": "inferred"}}
    restore_langgraph(state, LangGraphTarget(graph, cfg))
    assert graph.get_state(cfg).next == ("agent",)
    final = graph.invoke(None, cfg)
    assert ran == ["agent"]
    assert final["visited"] == ["agent", "tools", "agent"]
    assert final["messages"][-1] == AIMessage("done", id="ai-done")


def test_wrong_target_is_reported_as_hook_error(pipeline):
    state, _ = record_mid_run_state()
    with agent_run("graph-agent", session_id="lg-sess2", tracer=pipeline.tracer):
        cid = checkpoint(state, framework="langgraph", tracer=pipeline.tracer)
    result = restore(cid, source=pipeline.processor)
    assert result.target is None
    (err,) = result.hook_errors
    assert err.framework == "langgraph"
    assert err.hook == "otel_replay.integrations.langgraph.restore_langgraph"
    assert isinstance(err.exception, TypeError)
    assert "LangGraphTarget(graph, config)" in str(err.exception)


def test_unreproducible_next_is_an_error_and_a_fresh_thread_is_removed(pipeline):
    state, _ = record_mid_run_state()
    # claim "tools" produced a checkpoint whose next is "tools": its edge also triggers "agent"
    state["metadata"][LAST_NODES_KEY] = ["tools"]
    graph = build_graph([], [])
    cfg = {"configurable": {"thread_id": "bad"}}
    with agent_run("graph-agent", session_id="lg-sess3", tracer=pipeline.tracer):
        cid = checkpoint(state, framework="langgraph", tracer=pipeline.tracer)
    target = LangGraphTarget(graph, cfg)
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.target is target
    (err,) = result.hook_errors
    assert isinstance(err.exception, LangGraphRestoreError)
    assert str(err.exception) == (
        "after restoring, thread 'bad' would run ['agent', 'tools'] next, but the checkpoint "
        "recorded ['tools']; the thread was deleted again"
    )
    assert graph.get_state(cfg).created_at is None


def test_unknown_state_keys_are_rejected():
    state, _ = record_mid_run_state()
    state["values"]["nope"] = 1
    graph = build_graph([], [])
    cfg = {"configurable": {"thread_id": "keys"}}
    with pytest.raises(
        LangGraphRestoreError,
        match=r"^state keys \['nope'\] are not channels of the graph \(channels: \['messages', 'visited'\]\)$",
    ):
        restore_langgraph(state, LangGraphTarget(graph, cfg))
    assert graph.get_state(cfg).created_at is None
