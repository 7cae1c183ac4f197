"""ReplayCheckpointer on real LangGraph graphs: where the checkpoint spans land, what they
carry, which are kept, subgraphs, async graphs, SqliteSaver."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph")  # the langgraph extra

import asyncio
import json
import warnings
from typing import Any, TypedDict

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from otel_replay.capture.spans import agent_run
from otel_replay.core import conventions as c
from otel_replay.integrations.langgraph import (
    CONFIG_KEY,
    LAST_NODES_KEY,
    SENDS_KEY,
    CheckpointInfo,
    ReplayCheckpointer,
)
from otel_replay.model.steps import normalize_span
from tests.conftest import Pipeline
from tests.lgagent import (
    INSTRUMENTATIONS,
    ScriptedChatModel,
    instrumentation,
    make_tools,
    recording_scope,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


def react(saver: Any, version: str = "v2", **kwargs: Any) -> tuple[Any, ReplayCheckpointer]:
    model = ScriptedChatModel(
        script=[("", [("get_weather", {"city": "Paris"})]), ("Sunny in Paris.", [])]
    )
    cp = saver if isinstance(saver, ReplayCheckpointer) else ReplayCheckpointer(saver, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, make_tools(), checkpointer=cp, version=version), cp


def checkpoint_spans(p: Pipeline) -> list[Any]:
    spans = [s for s in p.exporter.get_finished_spans() if c.CHECKPOINT_ID in (s.attributes or {})]
    return sorted(spans, key=lambda s: s.attributes[c.STEP_SEQUENCE])


def by_sequence(p: Pipeline) -> list[Any]:
    return sorted(p.exporter.get_finished_spans(), key=lambda s: s.attributes[c.STEP_SEQUENCE])


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("which", INSTRUMENTATIONS)
def test_checkpoints_land_where_langgraph_creates_them(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, which: str, version: str
) -> None:
    graph, cp = react(InMemorySaver(), version, tracer=pipeline.tracer)
    cfg = {"configurable": {"thread_id": "t1"}}
    with instrumentation(which, pipeline, monkeypatch), recording_scope(which, pipeline.tracer):
        with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
            graph.invoke({"messages": [HumanMessage("Weather in Paris?")]}, cfg)
    ckpts = checkpoint_spans(pipeline)
    nexts = [tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]) for s in ckpts]
    assert nexts == [("__start__",), ("agent",), ("tools",), ("agent",), ()]
    assert [s.name for s in ckpts] == [
        "checkpoint __start__",
        "checkpoint agent",
        "checkpoint tools",
        "checkpoint agent",
        "checkpoint end",
    ]
    assert len(cp.recorded) == 5
    history = {s.config["configurable"]["checkpoint_id"]: s for s in graph.get_state_history(cfg)}
    for span in ckpts:
        a = span.attributes
        assert a[c.SESSION_ID] == "s1"
        assert a[c.CHECKPOINT_LANGGRAPH_THREAD_ID] == "t1"
        assert a[c.CHECKPOINT_LANGGRAPH_CHECKPOINT_NS] == ""
        snap = history[a[c.CHECKPOINT_LANGGRAPH_CHECKPOINT_ID]]
        assert tuple(a[c.CHECKPOINT_LANGGRAPH_NEXT]) == snap.next
        assert a[c.CHECKPOINT_LANGGRAPH_STEP] == snap.metadata["step"]
    # the "tools" checkpoint sits after the model call that asked for the tool and before
    # the tool runs, whatever the background save did (LangChain calls reported by the
    # instrumentation, or by our tracing() without one)
    steps = [normalize_span(s) for s in by_sequence(pipeline)]
    kinds = [(st.kind, st.name) for st in steps if st.kind in ("llm", "tool", "checkpoint")]
    assert kinds == [
        ("checkpoint", "__start__"),
        ("checkpoint", "agent"),
        ("llm", kinds[2][1]),
        ("checkpoint", "tools"),
        ("tool", "get_weather"),
        ("checkpoint", "agent"),
        ("llm", kinds[2][1]),
        ("checkpoint", "end"),
    ]
    tools_ckpt = ckpts[2].attributes[c.CHECKPOINT_ID]
    after = pipeline.processor.steps_after(tools_ckpt)
    assert [(s.kind, s.name) for s in after if s.kind in ("llm", "tool")] == [
        ("tool", "get_weather"),
        ("llm", kinds[2][1]),
    ]


def test_state_of_a_send_checkpoint(pipeline: Pipeline) -> None:
    graph, _ = react(InMemorySaver(), "v2", tracer=pipeline.tracer)
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        graph.invoke(
            {"messages": [HumanMessage("Weather in Paris?")]}, {"configurable": {"thread_id": "t"}}
        )
    tools = checkpoint_spans(pipeline)[2]
    state = json.loads(tools.attributes[c.CHECKPOINT_STATE])
    assert state["next"] == ["tools"]
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    md = state["metadata"]
    assert md[LAST_NODES_KEY] == ["agent"]
    assert md["source"] == "loop" and md["step"] == 1
    assert md[CONFIG_KEY]["thread_id"] == "t"
    (send,) = md[SENDS_KEY]
    assert send["node"] == "tools"
    assert send["arg"]["tool_call"]["name"] == "get_weather"
    assert send["arg"]["tool_call"]["args"] == {"city": "Paris"}


def test_selection_by_node_and_by_predicate(pipeline: Pipeline) -> None:
    graph, cp = react(InMemorySaver(), nodes={"tools"}, tracer=pipeline.tracer)
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        graph.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "a"}})
    assert [s.name for s in checkpoint_spans(pipeline)] == ["checkpoint tools"]
    assert len(cp.recorded) == 1

    seen: list[CheckpointInfo] = []

    def late(info: CheckpointInfo) -> bool:
        seen.append(info)
        return (info.step or 0) >= 2

    pipeline.exporter.clear()
    graph, cp = react(InMemorySaver(), when=late, tracer=pipeline.tracer)
    with agent_run("agent", session_id="s2", tracer=pipeline.tracer):
        graph.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "b"}})
    assert [s.name for s in checkpoint_spans(pipeline)] == ["checkpoint agent", "checkpoint end"]
    assert [i.step for i in seen] == [-1, 0, 1, 2, 3]
    assert [i.source for i in seen] == ["input", "loop", "loop", "loop", "loop"]
    assert seen[2].next == ("tools",) and seen[2].thread_id == "b"
    assert [type(m).__name__ for m in seen[2].values["messages"]] == ["HumanMessage", "AIMessage"]


def test_update_state_is_not_recorded_by_default(pipeline: Pipeline) -> None:
    graph, cp = react(InMemorySaver(), tracer=pipeline.tracer)
    cfg = {"configurable": {"thread_id": "u"}}
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        graph.invoke({"messages": [HumanMessage("hi")]}, cfg)
        graph.update_state(cfg, {"messages": [HumanMessage("more")]})
    assert len(cp.recorded) == 5


class SubState(TypedDict):
    items: list[str]


def subgraph_parent(saver: Any) -> Any:
    sub = StateGraph(SubState)
    sub.add_node("inner_a", lambda s: {"items": s["items"] + ["a"]})
    sub.add_node("inner_b", lambda s: {"items": s["items"] + ["b"]})
    sub.add_edge(START, "inner_a")
    sub.add_edge("inner_a", "inner_b")
    sub.add_edge("inner_b", END)
    parent = StateGraph(SubState)
    parent.add_node("first", lambda s: {"items": s["items"] + ["first"]})
    parent.add_node("sub", sub.compile())
    parent.add_edge(START, "first")
    parent.add_edge("first", "sub")
    parent.add_edge("sub", END)
    return parent.compile(checkpointer=saver)


def test_subgraph_checkpoints_carry_their_namespace(pipeline: Pipeline) -> None:
    cp = ReplayCheckpointer(InMemorySaver(), tracer=pipeline.tracer)
    graph = subgraph_parent(cp)
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        assert graph.invoke({"items": []}, {"configurable": {"thread_id": "t"}}) == {
            "items": ["first", "a", "b"]
        }
    got = [
        (
            s.attributes[c.CHECKPOINT_LANGGRAPH_CHECKPOINT_NS].split(":")[0],
            tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]),
        )
        for s in checkpoint_spans(pipeline)
    ]
    assert got == [
        ("", ("__start__",)),
        ("", ("first",)),
        ("", ("sub",)),
        ("sub", ("__start__",)),
        ("sub", ("inner_a",)),
        ("sub", ("inner_b",)),
        ("sub", ()),
        ("", ()),
    ]
    sub_names = [s.name for s in checkpoint_spans(pipeline)][3:7]
    assert sub_names == [
        "checkpoint sub/__start__",
        "checkpoint sub/inner_a",
        "checkpoint sub/inner_b",
        "checkpoint sub/end",
    ]


def test_async_graph_records_the_same_checkpoints(pipeline: Pipeline) -> None:
    graph, cp = react(InMemorySaver(), tracer=pipeline.tracer)

    async def main() -> None:
        with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
            await graph.ainvoke(
                {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "t"}}
            )

    asyncio.run(main())
    nexts = [tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]) for s in checkpoint_spans(pipeline)]
    assert nexts == [("__start__",), ("agent",), ("tools",), ("agent",), ()]


def test_sqlite_saver_sync_and_async(pipeline: Pipeline, tmp_path: Any) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    with SqliteSaver.from_conn_string(str(tmp_path / "sync.db")) as saver:
        graph, cp = react(saver, tracer=pipeline.tracer)
        with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
            graph.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "t"}})
        assert len(cp.recorded) == 5
        assert cp.setup == saver.setup  # saver-specific names pass through

    async def main() -> int:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "async.db")) as saver:
            graph, cp = react(saver, tracer=pipeline.tracer)
            with agent_run("agent", session_id="s2", tracer=pipeline.tracer):
                await graph.ainvoke(
                    {"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "t"}}
                )
            return len(cp.recorded)

    assert asyncio.run(main()) == 5
    sessions = [s.attributes[c.SESSION_ID] for s in checkpoint_spans(pipeline)]
    assert sorted(sessions) == ["s1"] * 5 + ["s2"] * 5


class Odd(TypedDict):
    thing: Any


def test_unrecordable_state_is_skipped_and_counted(pipeline: Pipeline) -> None:
    g = StateGraph(Odd)
    g.add_node("make", lambda s: {"thing": {1, 2}})
    g.add_edge(START, "make")
    g.add_edge("make", END)
    cp = ReplayCheckpointer(
        InMemorySaver(), tracer=pipeline.tracer, meter_provider=pipeline.meter_provider
    )
    graph = g.compile(checkpointer=cp)
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        out = graph.invoke({"thing": 1}, {"configurable": {"thread_id": "t"}})
    assert out["thing"] == {1, 2}
    assert [
        tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]) for s in checkpoint_spans(pipeline)
    ] == [
        ("__start__",),
        ("make",),
    ]
    points = pipeline.metric_points(c.METRIC_PROCESSOR_ERRORS)
    assert [(a[c.ATTR_COMPONENT], v) for a, v in points] == [("langgraph_checkpointer", 1)]


def test_wraps_only_savers() -> None:
    with pytest.raises(TypeError, match="wraps a LangGraph BaseCheckpointSaver, got dict"):
        ReplayCheckpointer({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("durability", "nexts"),
    [
        ("sync", [("__start__",), ("agent",), ("tools",), ("agent",), ()]),
        ("exit", [()]),
    ],
)
def test_durability_modes(
    pipeline: Pipeline, durability: str, nexts: list[tuple[str, ...]]
) -> None:
    graph, cp = react(InMemorySaver(), tracer=pipeline.tracer)
    with agent_run("agent", session_id="s1", tracer=pipeline.tracer):
        graph.invoke(
            {"messages": [HumanMessage("hi")]},
            {"configurable": {"thread_id": "d"}},
            durability=durability,
        )
    got = [tuple(s.attributes[c.CHECKPOINT_LANGGRAPH_NEXT]) for s in checkpoint_spans(pipeline)]
    assert got == nexts
    assert len(cp.recorded) == len(nexts)
