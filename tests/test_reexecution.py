from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.trace import StatusCode

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run, current_call_interceptor, traced_llm, traced_tool
from otel_replay.core import conventions as c
from otel_replay.replay.matching import argument_digest
from otel_replay.replay.reexecution import (
    CallRecord,
    DivergenceError,
    RecordedStepError,
    Reexecution,
    WentLive,
)
from otel_replay.restore.api import restore


class Tools:
    """Decorated tools and model that log every real execution in ``executed``."""

    def __init__(self, p) -> None:
        self.executed: list[tuple[str, object]] = []
        ex = self.executed

        @traced_tool("search", tracer=p.tracer)
        def search(q: str, limit: int = 2) -> list[str]:
            ex.append(("search", q))
            return [f"{q}-{i}" for i in range(limit)]

        @traced_tool("fetch", tracer=p.tracer)
        def fetch(doc_id: str) -> dict:
            ex.append(("fetch", doc_id))
            return {"id": doc_id, "text": f"text of {doc_id}"}

        @traced_llm("fake-model", tracer=p.tracer)
        def model(messages: list[str]) -> str:
            ex.append(("llm", len(messages)))
            return f"answer from {len(messages)} notes"

        self.search, self.fetch, self.model = search, fetch, model


def agent_body(tools: Tools, *, first_fetch: str | None = None, follow_up: str = "otel traces"):
    hits = tools.search("otel")
    docs = [tools.fetch(first_fetch if (i == 0 and first_fetch) else h) for i, h in enumerate(hits)]
    answer = tools.model([d["text"] for d in docs])
    more = tools.search(follow_up)
    return hits, docs, answer, more


RECORDED = (
    ["otel-0", "otel-1"],
    [{"id": "otel-0", "text": "text of otel-0"}, {"id": "otel-1", "text": "text of otel-1"}],
    "answer from 2 notes",
    ["otel traces-0", "otel traces-1"],
)
KEYS = ["tool:search#1", "tool:fetch#1", "tool:fetch#2", "llm:fake-model#1", "tool:search#2"]


def record(p):
    tools = Tools(p)
    with agent_run("agent", session_id="rx-src", tracer=p.tracer):
        cid = checkpoint({"query": "otel"}, label="planned", tracer=p.tracer)
        assert agent_body(tools) == RECORDED
    return cid


def _served_spans(p, session_id):
    return [
        (s.attributes[c.REPLAY_STEP_KEY], s.attributes[c.REPLAY_SERVED_FROM_RECORDING])
        for s in p.exporter.get_finished_spans()
        if s.attributes.get(c.SESSION_ID) == session_id and c.REPLAY_STEP_KEY in s.attributes
    ]


def test_strict_replay_serves_every_call_without_running_it(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with result.run("agent"), result.reexecute("replay") as rx:
        assert current_call_interceptor() is rx
        out = agent_body(tools)
    assert current_call_interceptor() is None
    assert out == RECORDED
    assert tools.executed == []
    assert rx.stats == {"served": 5, "live": 0, "miss": 0}
    assert [(r.step_key, r.outcome) for r in rx.calls] == [(k, "served") for k in KEYS]
    assert rx.remaining == []
    assert rx.went_live_at is None
    assert _served_spans(pipeline, result.session_id) == [(k, True) for k in KEYS]
    served_search = [
        s
        for s in pipeline.exporter.get_finished_spans()
        if s.attributes.get(c.REPLAY_STEP_KEY) == "tool:search#1"
    ][0]
    assert served_search.attributes[c.GEN_AI_TOOL_CALL_RESULT] == '["otel-0", "otel-1"]'
    assert served_search.attributes[c.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"q": "otel"}'
    run_span = [
        s for s in pipeline.exporter.get_finished_spans() if s.name == "invoke_agent agent"
    ][-1]
    assert run_span.attributes[c.REPLAY_MODE] == "replay"


def test_hybrid_goes_live_at_the_first_changed_argument(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with result.run("agent") as run, result.reexecute("hybrid") as rx:
        out = agent_body(tools, first_fetch="changed")
    hits, docs, answer, more = out
    assert hits == ["otel-0", "otel-1"]
    assert docs == [
        {"id": "changed", "text": "text of changed"},
        {"id": "otel-1", "text": "text of otel-1"},
    ]
    assert answer == "answer from 2 notes"
    # search#1 was served; from fetch#1 on everything ran live, even calls that would match
    assert tools.executed == [
        ("fetch", "changed"),
        ("fetch", "otel-1"),
        ("llm", 2),
        ("search", "otel traces"),
    ]
    assert rx.calls == [
        CallRecord("tool:search#1", "tool", "search", "served"),
        CallRecord("tool:fetch#1", "tool", "fetch", "miss"),
        CallRecord("tool:fetch#2", "tool", "fetch", "live"),
        CallRecord("llm:fake-model#1", "llm", "fake-model", "live"),
        CallRecord("tool:search#2", "tool", "search", "live"),
    ]
    assert rx.went_live_at == WentLive(
        "tool:fetch#1", "the arguments differ from the recorded step tool:fetch#1"
    )
    assert rx.stats == {"served": 1, "live": 3, "miss": 1}
    assert _served_spans(pipeline, result.session_id) == [
        ("tool:search#1", True),
        ("tool:fetch#1", False),
        ("tool:fetch#2", False),
        ("llm:fake-model#1", False),
        ("tool:search#2", False),
    ]
    run_span = [
        s for s in pipeline.exporter.get_finished_spans() if s.name == "invoke_agent agent"
    ][-1]
    assert run_span.context.span_id == run.span_context.span_id
    assert run_span.attributes[c.REPLAY_MODE] == "hybrid"


def test_strict_replay_raises_on_a_changed_argument(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with pytest.raises(DivergenceError) as err, result.reexecute("replay") as rx:
        agent_body(tools, first_fetch="changed")
    e = err.value
    assert (e.expected_key, e.actual_key) == ("tool:fetch#1", "tool:fetch#1")
    assert e.expected_arguments == {"doc_id": "otel-0"}
    assert e.actual_arguments == {"doc_id": "changed"}
    assert str(e) == (
        "divergence at tool:fetch#1: the arguments differ from the recorded step tool:fetch#1; "
        'expected tool:fetch#1 with arguments {"doc_id": "otel-0"}, got tool:fetch#1 with '
        'arguments {"doc_id": "changed"}'
    )
    assert tools.executed == []
    assert rx.stats == {"served": 1, "live": 0, "miss": 1}
    (span,) = [
        s
        for s in pipeline.exporter.get_finished_spans()
        if s.attributes.get(c.REPLAY_STEP_KEY) == "tool:fetch#1"
        and s.status.status_code is StatusCode.ERROR
    ]
    assert span.attributes[c.REPLAY_SERVED_FROM_RECORDING] is False
    assert span.status.description.startswith("DivergenceError: divergence at tool:fetch#1")


def test_strict_replay_raises_on_a_call_beyond_the_recording(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with result.reexecute("replay") as rx:
        agent_body(tools)
        with pytest.raises(DivergenceError) as err:
            tools.search("one more")
    assert err.value.expected_key is None
    assert err.value.actual_key == "tool:search#3"
    assert str(err.value) == (
        "divergence at tool:search#3: the recording has no further tool call 'search'; "
        'got tool:search#3 with arguments {"q": "one more"}'
    )
    assert rx.stats == {"served": 5, "live": 0, "miss": 1}


def test_live_mode_runs_everything_and_still_assigns_keys(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with result.run("agent"), result.reexecute("live") as rx:
        out = agent_body(tools)
        tools.search("extra")
    assert out == RECORDED
    assert [name for name, _ in tools.executed] == [
        "search",
        "fetch",
        "fetch",
        "llm",
        "search",
        "search",
    ]
    assert [r.step_key for r in rx.calls] == KEYS + ["tool:search#3"]
    assert rx.stats == {"served": 0, "live": 6, "miss": 0}
    assert _served_spans(pipeline, result.session_id) == [
        (k, False) for k in KEYS + ["tool:search#3"]
    ]


def test_outcomes_are_counted_in_the_replay_steps_metric(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools = Tools(pipeline)
    with result.reexecute("hybrid", meter_provider=pipeline.meter_provider):
        agent_body(tools, first_fetch="changed")
    points = {a[c.ATTR_OUTCOME]: v for a, v in pipeline.metric_points(c.METRIC_REPLAY_STEPS)}
    assert points == {"served": 1, "miss": 1, "live": 3}


def test_explicit_call_tool_and_call_llm(pipeline):
    cid = record(pipeline)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    rx = result.reexecute("replay")
    ran = []
    assert rx.call_tool("search", {"q": "otel"}, lambda: ran.append("search")) == [
        "otel-0",
        "otel-1",
    ]
    assert rx.call_tool("fetch", {"doc_id": "otel-0"}, lambda: ran.append("f")) == {
        "id": "otel-0",
        "text": "text of otel-0",
    }
    answer = rx.call_llm(
        "fake-model", ["text of otel-0", "text of otel-1"], lambda: ran.append("m")
    )
    assert answer == "answer from 2 notes"
    assert ran == []
    assert [r.step_key for r in rx.calls] == ["tool:search#1", "tool:fetch#1", "llm:fake-model#1"]
    assert rx.remaining == ["tool:fetch#2", "tool:search#2"]


def test_parallel_threads_keep_their_keys_straight(pipeline):
    tools = Tools(pipeline)
    queries = ["alpha", "beta", "gamma", "delta"]
    with agent_run("agent", session_id="rx-par", tracer=pipeline.tracer):
        cid = checkpoint({"q": queries}, tracer=pipeline.tracer)
        for q in queries:
            tools.search(q)
    recorded_keys = {
        s.attributes[c.GEN_AI_TOOL_CALL_ARGUMENTS]: f"tool:search#{i + 1}"
        for i, s in enumerate(
            sorted(
                (
                    s
                    for s in pipeline.exporter.get_finished_spans()
                    if s.name == "execute_tool search"
                ),
                key=lambda s: s.attributes[c.STEP_SEQUENCE],
            )
        )
    }
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    tools2 = Tools(pipeline)
    barrier = threading.Barrier(len(queries))

    def call(q):
        barrier.wait(5)
        return tools2.search(q)

    with result.run("agent"), result.reexecute("replay") as rx:
        with ThreadPoolExecutor(max_workers=len(queries)) as pool:
            futures = {
                q: pool.submit(contextvars.copy_context().run, call, q) for q in reversed(queries)
            }
            answers = {q: f.result(5) for q, f in futures.items()}
    assert answers == {q: [f"{q}-0", f"{q}-1"] for q in queries}
    assert tools2.executed == []
    assert rx.stats == {"served": 4, "live": 0, "miss": 0}
    spans = [
        s
        for s in pipeline.exporter.get_finished_spans()
        if s.attributes.get(c.SESSION_ID) == result.session_id and s.name == "execute_tool search"
    ]
    assert {
        s.attributes[c.GEN_AI_TOOL_CALL_ARGUMENTS]: s.attributes[c.REPLAY_STEP_KEY] for s in spans
    } == recorded_keys
    assert sorted(r.step_key for r in rx.calls) == sorted(recorded_keys.values())


def test_asyncio_gather_assigns_keys_in_call_order(pipeline):
    executed = []

    @traced_tool("lookup", tracer=pipeline.tracer)
    async def lookup(key: str) -> str:
        await asyncio.sleep(0)
        executed.append(key)
        return key.upper()

    async def recorded_run():
        with agent_run("agent", session_id="rx-async", tracer=pipeline.tracer):
            cid = checkpoint({"k": 1}, tracer=pipeline.tracer)
            assert await asyncio.gather(lookup("a"), lookup("b"), lookup("c")) == ["A", "B", "C"]
        return cid

    cid = asyncio.run(recorded_run())
    executed.clear()
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)

    async def replayed(order):
        async with result.reexecute("replay") as rx:
            out = await asyncio.gather(*(lookup(k) for k in order))
        return out, rx

    out, rx = asyncio.run(replayed(["a", "b", "c"]))
    assert out == ["A", "B", "C"]
    assert [r.step_key for r in rx.calls] == ["tool:lookup#1", "tool:lookup#2", "tool:lookup#3"]
    out, rx = asyncio.run(replayed(["c", "a", "b"]))
    assert out == ["C", "A", "B"]
    assert [r.step_key for r in rx.calls] == ["tool:lookup#3", "tool:lookup#1", "tool:lookup#2"]
    assert executed == []
    # hybrid with a new argument in the middle of a gather: only that call and later ones run
    out, rx = asyncio.run(_hybrid_gather(result, lookup, ["a", "z", "c"]))
    assert out == ["A", "Z", "C"]
    assert [(r.step_key, r.outcome) for r in rx.calls] == [
        ("tool:lookup#1", "served"),
        ("tool:lookup#2", "miss"),
        ("tool:lookup#3", "live"),
    ]
    assert sorted(executed) == ["c", "z"]


async def _hybrid_gather(result, fn, order):
    async with result.reexecute("hybrid") as rx:
        out = await asyncio.gather(*(fn(k) for k in order))
    return out, rx


def test_serving_a_call_uses_up_the_calls_recorded_inside_it(pipeline):
    executed = []

    @traced_tool("inner", tracer=pipeline.tracer)
    def inner(x: str) -> str:
        executed.append(("inner", x))
        return f"inner({x})"

    @traced_tool("outer", tracer=pipeline.tracer)
    def outer(x: str) -> str:
        executed.append(("outer", x))
        return f"outer({inner(x)})"

    with agent_run("agent", session_id="rx-nest", tracer=pipeline.tracer):
        cid = checkpoint({}, tracer=pipeline.tracer)
        outer("a")
        inner("b")
    executed.clear()
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    with result.reexecute("replay") as rx:
        assert outer("a") == "outer(inner(a))"
        assert inner("b") == "inner(b)"
    assert executed == []
    assert [r.step_key for r in rx.calls] == ["tool:outer#1", "tool:inner#2"]
    assert rx.remaining == []


def test_recorded_failure_is_raised_when_served(pipeline):
    @traced_tool("flaky", tracer=pipeline.tracer)
    def flaky(n: int) -> int:
        raise ValueError(f"bad {n}")

    with agent_run("agent", session_id="rx-err", tracer=pipeline.tracer):
        cid = checkpoint({}, tracer=pipeline.tracer)
        with pytest.raises(ValueError):
            flaky(1)
    result = restore(cid, source=pipeline.processor, tracer=pipeline.tracer)
    with result.reexecute("replay") as rx, pytest.raises(RecordedStepError) as err:
        flaky(1)
    assert str(err.value) == "recorded step tool:flaky#1 failed: ValueError: bad 1"
    assert rx.stats == {"served": 1, "live": 0, "miss": 0}


def test_reexecution_validates_mode_and_digest_is_canonical():
    with pytest.raises(ValueError, match="mode must be one of"):
        Reexecution([], "fast")  # type: ignore[arg-type]
    assert argument_digest({"b": 1, "a": [1, 2]}) == argument_digest({"a": [1, 2], "b": 1})
    assert argument_digest({"a": 1}) != argument_digest({"a": 2})
