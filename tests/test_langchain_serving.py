"""Cached re-execution of a real LangGraph ReAct agent: LangChain tools and chat models are
served from the recording without code changes, under no instrumentation, OpenInference and
OpenLLMetry; hybrid goes live at the first miss, replay raises DivergenceError."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

import asyncio
import functools
import operator
import threading
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.integrations.langchain_calls import patched, tracing
from otel_replay.integrations.langgraph import LangGraphTarget
from otel_replay.model.steps import normalize_span
from otel_replay.replay.reexecution import DivergenceError, Reexecution
from otel_replay.restore.api import restore
from tests.conftest import points_by_attributes
from tests.lgagent import (
    MODEL,
    DriftPipeline,
    ScriptedChatModel,
    drift_pipeline,
    instrumented_pipeline,
    make_tools,
    react_graph,
    record_react,
)

USAGE = {"input_tokens": 20, "output_tokens": 7, "total_tokens": 27}


rig = instrumented_pipeline  # the fixture, under this module's name


def calls_of(p: DriftPipeline, session_id: str) -> list[Any]:
    steps = [normalize_span(s) for s in p.session_spans(session_id)]
    return sorted((s for s in steps if s.kind in ("llm", "tool")), key=lambda s: s.sequence or 0)


def restored(p: DriftPipeline, cid: str, graph: Any, **kw: Any) -> Any:
    result = restore(
        cid,
        target=LangGraphTarget(graph, {"configurable": {"thread_id": "r"}}),
        source=p.processor,
        tracer=p.tracer,
        **kw,
    )
    result.raise_for_hook_errors()
    return result


def test_hybrid_serves_every_recorded_call_with_its_types(rig: tuple[str, DriftPipeline]) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    log: list[str] = []
    graph, model = react_graph(script=[], log=log)  # any live model call would fail
    result = restored(p, cp.recorded[1], graph)  # before the first model call
    with result.reexecute("hybrid", meter_provider=p.meter_provider) as rx, result.run("agent"):
        out = graph.invoke(None, result.target.config)
    assert rx.stats == {"served": 3, "live": 0, "miss": 0}
    assert [k.step_key for k in rx.calls] == [
        "llm:fake-react-1#1",
        "tool:get_weather#1",
        "llm:fake-react-1#2",
    ]
    assert rx.went_live_at is None and rx.remaining == []
    assert (model.calls, log) == (0, [])
    human, ask, answer, final = out["messages"]
    assert type(ask) is AIMessage and ask.content == ""
    assert [(t["name"], t["args"]) for t in ask.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert ask.usage_metadata == USAGE
    assert type(answer) is ToolMessage and answer.content == "sunny in Paris"
    assert answer.tool_call_id == ask.tool_calls[0]["id"]
    assert (
        type(final) is AIMessage
        and final.content == "It is sunny in Paris."
        and final.tool_calls == []
    )
    assert final.usage_metadata == USAGE
    # one span per call, marked as served
    spans = calls_of(p, result.session_id)
    assert [(s.kind, s.name) for s in spans] == [
        ("llm", MODEL),
        ("tool", "get_weather"),
        ("llm", MODEL),
    ]
    assert [s.attributes[c.REPLAY_SERVED_FROM_RECORDING] for s in spans] == [True, True, True]
    assert [s.attributes[c.REPLAY_STEP_KEY] for s in spans] == [k.step_key for k in rx.calls]
    assert spans[1].outputs == "sunny in Paris"
    assert points_by_attributes(p.metric_reader, c.METRIC_REPLAY_STEPS) == {
        ((c.ATTR_OUTCOME, "served"),): 3
    }
    assert not patched()


def test_hybrid_goes_live_at_the_first_miss(rig: tuple[str, DriftPipeline]) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    log: list[str] = []
    # the restored agent has a system prompt: its first model call is not the recorded one
    graph, model = react_graph(
        script=[("", [("get_weather", {"city": "Paris"})]), ("Live answer.", [])],
        log=log,
        prompt="Be brief.",
    )
    result = restored(p, cp.recorded[1], graph)
    with result.reexecute("hybrid") as rx, result.run("agent"):
        out = graph.invoke(None, result.target.config)
    assert rx.stats == {"served": 0, "live": 2, "miss": 1}
    assert rx.went_live_at is not None
    assert rx.went_live_at.step_key == "llm:fake-react-1#1"
    assert (
        rx.went_live_at.reason == "the arguments differ from the recorded step llm:fake-react-1#1"
    )
    assert (model.calls, log) == (2, ["get_weather(Paris)"])
    assert out["messages"][-1].content == "Live answer."
    spans = calls_of(p, result.session_id)
    assert [s.attributes[c.REPLAY_SERVED_FROM_RECORDING] for s in spans] == [False, False, False]


def test_replay_raises_divergence_naming_expected_and_actual(
    rig: tuple[str, DriftPipeline],
) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    graph, model = react_graph(script=[], prompt="Be brief.")
    result = restored(p, cp.recorded[1], graph)
    with pytest.raises(DivergenceError) as err:
        with result.reexecute("replay"), result.run("agent"):
            graph.invoke(None, result.target.config)
    e = err.value
    assert (e.expected_key, e.actual_key) == ("llm:fake-react-1#1", "llm:fake-react-1#1")
    assert e.reason == "the arguments differ from the recorded step llm:fake-react-1#1"
    assert [m["role"] for m in e.expected_arguments] == ["user"]
    assert [m["role"] for m in e.actual_arguments] == ["system", "user"]
    assert str(e).startswith("divergence at llm:fake-react-1#1: the arguments differ")
    assert model.calls == 0
    assert not patched()


def test_parallel_tool_calls_meet_their_own_results() -> None:
    """Two calls of one tool in one step (v2 Send): each is matched by its arguments, not by
    the order the calls start in."""
    script = [
        ("", [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]),
        ("Both.", []),
    ]
    with drift_pipeline() as p:
        cp, log = record_react(p, "none", script=script)
        assert sorted(log) == ["get_weather(Paris)", "get_weather(Rome)"]
        graph, _ = react_graph(script=[], weather="WRONG")
        result = restored(p, cp.recorded[2], graph)  # the two tool tasks pending
        with result.reexecute("replay") as rx, result.run("agent"):
            out = graph.invoke(None, result.target.config)
    results = {m.tool_call_id: m.content for m in out["messages"] if isinstance(m, ToolMessage)}
    ask = out["messages"][1]
    assert {t["args"]["city"]: results[t["id"]] for t in ask.tool_calls} == {
        "Paris": "sunny in Paris",
        "Rome": "sunny in Rome",
    }
    assert rx.stats == {"served": 3, "live": 0, "miss": 0}


def _record_direct(p: DriftPipeline) -> list[Any]:
    """One model call and one tool call recorded by tracing() after a checkpoint."""
    model = ScriptedChatModel(script=[("", [("get_weather", {"city": "Oslo"})])])
    (tool,) = make_tools("snowy")
    with tracing(p.tracer), agent_run("agent", session_id="d", tracer=p.tracer):
        cid = checkpoint({"step": 0}, tracer=p.tracer)
        model.invoke("Weather in Oslo?")
        tool.invoke({"city": "Oslo"})
    return p.processor.steps_after(cid)


def test_streaming_and_async_calls_are_served() -> None:
    with drift_pipeline() as p:
        baseline = _record_direct(p)
        model = ScriptedChatModel(script=[])
        (tool,) = make_tools("WRONG")
        with Reexecution(baseline, "replay", tracer=p.tracer) as rx:
            chunks = list(model.stream("Weather in Oslo?"))
            assert tool.invoke({"city": "Oslo"}) == "snowy in Oslo"
        assert {type(ch) for ch in chunks} == {AIMessageChunk}
        whole = functools.reduce(operator.add, chunks)
        assert [(t["name"], t["args"]) for t in whole.tool_calls] == [
            ("get_weather", {"city": "Oslo"})
        ]
        assert whole.usage_metadata == USAGE
        assert rx.stats == {"served": 2, "live": 0, "miss": 0}

        async def main() -> tuple[Any, Any, Any]:
            async with Reexecution(baseline, "replay", tracer=p.tracer) as arx:
                msg = await model.ainvoke("Weather in Oslo?")
                result = await tool.ainvoke({"city": "Oslo"})
            async with Reexecution(baseline, "replay", tracer=p.tracer) as srx:
                streamed = [ch async for ch in model.astream("Weather in Oslo?")]
            return msg, result, (arx.stats, srx.stats, streamed)

        msg, result, (astats, sstats, streamed) = asyncio.run(main())
        assert type(msg) is AIMessage and msg.tool_calls[0]["args"] == {"city": "Oslo"}
        assert result == "snowy in Oslo"
        assert astats == {"served": 2, "live": 0, "miss": 0}
        assert sstats == {"served": 1, "live": 0, "miss": 0}
        assert functools.reduce(operator.add, streamed).tool_calls[0]["name"] == "get_weather"
        assert model.calls == 0


def test_nothing_stays_patched_and_other_contexts_run_unchanged() -> None:
    originals = (
        vars(BaseTool)["run"],
        vars(BaseChatModel)["_generate_with_cache"],
        vars(BaseChatModel)["stream"],
    )
    with drift_pipeline() as p:
        baseline = _record_direct(p)
        (tool,) = make_tools("live")
        seen: list[Any] = []
        with Reexecution(baseline, "replay", tracer=p.tracer):
            assert patched()
            # a thread started without this context is outside the re-execution
            t = threading.Thread(target=lambda: seen.append(tool.invoke({"city": "Oslo"})))
            t.start()
            t.join()
        assert seen == ["live in Oslo"]
    assert not patched()
    assert (
        vars(BaseTool)["run"],
        vars(BaseChatModel)["_generate_with_cache"],
        vars(BaseChatModel)["stream"],
    ) == originals


def test_model_call_outside_the_recording_is_a_divergence_in_replay() -> None:
    with drift_pipeline() as p:
        baseline = _record_direct(p)
        with Reexecution(baseline, "replay", tracer=p.tracer):
            with pytest.raises(DivergenceError) as err:
                ScriptedChatModel(script=[("x", [])]).invoke([HumanMessage("Something else")])
    assert err.value.expected_key == "llm:fake-react-1#1"
    assert err.value.actual_arguments == [
        {"role": "user", "parts": [{"type": "text", "content": "Something else"}]}
    ]


def test_graph_streamed_by_messages_is_served() -> None:
    with drift_pipeline() as p:
        cp, _ = record_react(p, "none")
        graph, model = react_graph(script=[])
        result = restored(p, cp.recorded[1], graph)
        with result.reexecute("hybrid") as rx, result.run("agent"):
            out = list(graph.stream(None, result.target.config, stream_mode="messages"))
    assert rx.stats == {"served": 3, "live": 0, "miss": 0}
    assert [(type(m).__name__, m.content, md["langgraph_node"]) for m, md in out] == [
        ("AIMessage", "", "agent"),
        ("ToolMessage", "sunny in Paris", "tools"),
        ("AIMessage", "It is sunny in Paris.", "agent"),
    ]
    assert model.calls == 0


def test_async_graph_is_served(rig: tuple[str, DriftPipeline]) -> None:
    which, p = rig
    cp, _ = record_react(p, which)
    log: list[str] = []
    graph, model = react_graph(script=[], log=log)
    result = restored(p, cp.recorded[1], graph)

    async def main() -> Any:
        async with result.reexecute("hybrid") as rx:
            with result.run("agent"):
                out = await graph.ainvoke(None, result.target.config)
        return rx, out

    rx, out = asyncio.run(main())
    assert rx.stats == {"served": 3, "live": 0, "miss": 0}
    assert (model.calls, log) == (0, [])
    assert out["messages"][2].content == "sunny in Paris"
    assert out["messages"][3].usage_metadata == USAGE
