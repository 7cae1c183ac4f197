from __future__ import annotations

import importlib
import sys

import pytest

pytest.importorskip("langchain_core")  # the langchain extra

from langchain_core.agents import AgentAction
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_to_dict,
)

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run
from otel_replay.integrations.langchain import MESSAGE_TYPES, message_from_json, restore_langchain
from otel_replay.restore.api import restore

MESSAGES = [
    SystemMessage("You are terse."),
    HumanMessage("Weather in Paris?"),
    AIMessage(
        "",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}],
    ),
    ToolMessage("18C, sunny", tool_call_id="call-1"),
    AIMessage("It is 18C and sunny."),
]


def _checkpoint(pipeline, state):
    with agent_run("lc-agent", session_id="lc-sess", tracer=pipeline.tracer):
        return checkpoint(state, framework="langchain", tracer=pipeline.tracer)


def test_messages_and_intermediate_steps_become_langchain_objects(pipeline):
    cid = _checkpoint(
        pipeline,
        {
            "messages": MESSAGES,
            "intermediate_steps": [
                (AgentAction(tool="weather", tool_input={"city": "Paris"}, log="calling"), "18C")
            ],
            "run_name": "forecast",
            "run_id": "run-7",
            "metadata": {"user": "u1"},
        },
    )
    # the recorded state is in messages_to_dict form
    result = restore(cid, source=pipeline.processor)
    assert result.ok, result.hook_errors
    assert [m["type"] for m in result.state["messages"]] == ["system", "human", "ai", "tool", "ai"]
    restored = result.target
    assert [type(m) for m in restored["messages"]] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        AIMessage,
    ]
    assert restored["messages"] == MESSAGES
    assert restored["messages"][2].tool_calls == [
        {"name": "weather", "args": {"city": "Paris"}, "id": "call-1", "type": "tool_call"}
    ]
    assert restored["messages"][3].tool_call_id == "call-1"
    assert restored["intermediate_steps"] == [
        (AgentAction(tool="weather", tool_input={"city": "Paris"}, log="calling"), "18C")
    ]
    assert type(restored["intermediate_steps"][0]) is tuple
    assert restored["run_name"] == "forecast"
    assert restored["run_id"] == "run-7"
    assert restored["metadata"] == {"user": "u1"}


def test_messages_to_dict_form_and_plain_role_dicts_are_accepted(pipeline):
    cid = _checkpoint(
        pipeline,
        {
            "messages": messages_to_dict([HumanMessage("hi")])
            + [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hey"},
                {"role": "tool", "content": "42", "tool_call_id": "c9"},
            ]
        },
    )
    result = restore(cid, source=pipeline.processor)
    assert result.ok, result.hook_errors
    assert result.target["messages"] == [
        HumanMessage("hi"),
        SystemMessage("be nice"),
        HumanMessage("hello"),
        AIMessage("hey"),
        ToolMessage("42", tool_call_id="c9"),
    ]
    assert result.target["intermediate_steps"] == []
    assert result.target["metadata"] == {}


def test_restore_into_dict_and_object_targets(pipeline):
    cid = _checkpoint(pipeline, {"messages": [HumanMessage("q")], "run_name": "r"})

    class Agent:
        def __init__(self) -> None:
            self.messages: list = []
            self.other = 1

    target_dict = {"messages": [], "keep": True}
    r1 = restore(cid, target=target_dict, source=pipeline.processor)
    assert r1.target == {
        "messages": [HumanMessage("q")],
        "keep": True,
        "intermediate_steps": [],
        "run_name": "r",
        "run_id": None,
        "metadata": {},
    }
    assert target_dict == {"messages": [], "keep": True}

    agent = Agent()
    r2 = restore(cid, target=agent, source=pipeline.processor)
    assert r2.target is not agent
    assert r2.target.messages == [HumanMessage("q")]
    assert r2.target.run_name == "r"
    assert r2.target.other == 1
    assert agent.messages == []


def test_unknown_message_type_is_a_hook_error_and_nothing_is_imported(pipeline):
    # a crafted recording naming a module path: never imported, reported as a hook error
    cid = _checkpoint(
        pipeline, {"messages": [{"type": "os.system", "data": {"content": "rm -rf /"}}]}
    )
    target = {"messages": []}
    result = restore(cid, target=target, source=pipeline.processor)
    assert result.target is target
    assert target == {"messages": []}
    (err,) = result.hook_errors
    assert err.framework == "langchain"
    assert err.hook == "otel_replay.integrations.langchain.restore_langchain"
    assert isinstance(err.exception, ValueError)
    assert str(err.exception).startswith(
        "messages[0]: unknown message type 'os.system'; allowed: ["
    )


def test_message_type_allow_list_is_explicit():
    assert MESSAGE_TYPES["human"] is HumanMessage
    assert MESSAGE_TYPES["ai"] is AIMessage
    with pytest.raises(ValueError, match=r"unknown message type 'langchain_core\.Foo'"):
        message_from_json({"type": "langchain_core.Foo", "data": {"content": "x"}})
    with pytest.raises(ValueError, match=r"langchain state has unknown keys \['bogus'\]"):
        restore_langchain({"bogus": 1})


def test_missing_langchain_core_gives_install_hint(monkeypatch):
    monkeypatch.delitem(sys.modules, "otel_replay.integrations.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core.messages", None)
    with pytest.raises(ImportError, match=r"pip install otel-replay\[langchain\]"):
        importlib.import_module("otel_replay.integrations.langchain")


def test_missing_langgraph_gives_install_hint(monkeypatch):
    monkeypatch.delitem(sys.modules, "otel_replay.integrations.langgraph", raising=False)
    monkeypatch.setitem(sys.modules, "langgraph.types", None)
    with pytest.raises(ImportError, match=r"pip install otel-replay\[langgraph\]"):
        importlib.import_module("otel_replay.integrations.langgraph")
