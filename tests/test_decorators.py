"""``@traced_tool`` / ``@traced_llm`` in every form: bare, empty call, name, keywords; sync and
async; the wrapper keeps the function's metadata; bad arguments are a clear TypeError."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.util._once import Once

from otel_replay import agent_run, checkpoint, restore, traced_llm, traced_tool
from otel_replay.core import conventions as c
from tests.conftest import Pipeline, make_pipeline


@pytest.fixture
def global_pipeline() -> Iterator[Pipeline]:
    """A real pipeline installed as the global TracerProvider (bare decorators take no
    tracer), and the previous global provider put back afterwards."""
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = None, Once()
    p = make_pipeline()
    trace.set_tracer_provider(p.provider)
    try:
        yield p
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved


def _spans(p: Pipeline) -> list[tuple[str, dict[str, object]]]:
    return [(s.name, dict(s.attributes or {})) for s in p.exporter.get_finished_spans()]


def _tool_span(p: Pipeline) -> tuple[str, str, str]:
    [(name, attrs)] = _spans(p)
    return (
        name,
        str(attrs[c.GEN_AI_TOOL_CALL_ARGUMENTS]),
        str(attrs[c.GEN_AI_TOOL_CALL_RESULT]),
    )


def test_bare_traced_tool_runs_the_tool_and_records_a_span(global_pipeline):
    @traced_tool
    def lookup_order(order: str) -> dict:
        """Look an order up."""
        return {"order": order, "status": "shipped"}

    assert lookup_order("A-17") == {"order": "A-17", "status": "shipped"}
    assert _tool_span(global_pipeline) == (
        "execute_tool lookup_order",
        '{"order": "A-17"}',
        '{"order": "A-17", "status": "shipped"}',
    )


def test_empty_call_traced_tool_is_named_after_the_function(global_pipeline):
    @traced_tool()
    def lookup_order(order: str) -> str:
        return "shipped"

    assert lookup_order(order="A-17") == "shipped"
    assert _tool_span(global_pipeline) == (
        "execute_tool lookup_order",
        '{"order": "A-17"}',
        "shipped",
    )


@pytest.mark.parametrize("form", ["positional", "keyword"])
def test_named_traced_tool_with_keywords(pipeline, form):
    kwargs = {"importance": 0.75, "tracer": pipeline.tracer}
    deco = (
        traced_tool("orders", **kwargs)
        if form == "positional"
        else traced_tool(name="orders", **kwargs)
    )

    @deco
    def lookup_order(order: str) -> str:
        return "shipped"

    assert lookup_order("A-17") == "shipped"
    [(name, attrs)] = _spans(pipeline)
    assert name == "execute_tool orders"
    assert attrs[c.GEN_AI_TOOL_NAME] == "orders"
    assert attrs[c.STEP_IMPORTANCE] == 0.75


def test_bare_async_traced_tool(global_pipeline):
    @traced_tool
    async def lookup_order(order: str) -> str:
        await asyncio.sleep(0)
        return f"{order} shipped"

    assert inspect.iscoroutinefunction(lookup_order)
    assert asyncio.run(lookup_order("A-17")) == "A-17 shipped"
    assert _tool_span(global_pipeline) == (
        "execute_tool lookup_order",
        '{"order": "A-17"}',
        "A-17 shipped",
    )


def _llm_span(p: Pipeline) -> tuple[str, str, list[dict]]:
    [(name, attrs)] = _spans(p)
    return (
        name,
        str(attrs[c.GEN_AI_REQUEST_MODEL]),
        json.loads(str(attrs[c.GEN_AI_OUTPUT_MESSAGES])),
    )


def _answer(text: str) -> list[dict]:
    return [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]


@pytest.mark.parametrize("form", ["bare", "empty"])
def test_traced_llm_without_a_model_is_named_after_the_function(global_pipeline, form):
    def fake_model(messages: list[str]) -> str:
        return f"{len(messages)} notes"

    model = traced_llm(fake_model) if form == "bare" else traced_llm()(fake_model)
    assert model(["a", "b"]) == "2 notes"
    assert _llm_span(global_pipeline) == ("chat fake_model", "fake_model", _answer("2 notes"))


@pytest.mark.parametrize("form", ["positional", "keyword"])
def test_traced_llm_with_a_model(pipeline, form):
    deco = (
        traced_llm("gpt-test", tracer=pipeline.tracer)
        if form == "positional"
        else traced_llm(model="gpt-test", tracer=pipeline.tracer)
    )

    @deco
    def ask(messages: list[str]) -> str:
        return "yes"

    assert ask(["q"]) == "yes"
    assert _llm_span(pipeline) == ("chat gpt-test", "gpt-test", _answer("yes"))


def test_bare_async_traced_llm(global_pipeline):
    @traced_llm
    async def fake_model(messages: list[str]) -> str:
        await asyncio.sleep(0)
        return "async answer"

    assert asyncio.run(fake_model(["q"])) == "async answer"
    assert _llm_span(global_pipeline) == ("chat fake_model", "fake_model", _answer("async answer"))


@pytest.mark.parametrize(
    "decorate",
    [traced_tool, traced_tool(), traced_tool("t"), traced_llm, traced_llm(), traced_llm("m")],
    ids=["tool-bare", "tool-empty", "tool-named", "llm-bare", "llm-empty", "llm-named"],
)
@pytest.mark.parametrize("is_async", [False, True])
def test_wrapper_keeps_name_docstring_and_signature(decorate, is_async):
    if is_async:

        async def fn(messages: list[str], limit: int = 2, *, verbose: bool = False) -> str:
            """Answer the messages."""
            return ""
    else:

        def fn(messages: list[str], limit: int = 2, *, verbose: bool = False) -> str:  # type: ignore[misc]
            """Answer the messages."""
            return ""

    wrapped = decorate(fn)
    assert wrapped is not fn
    assert wrapped.__name__ == "fn"
    assert wrapped.__qualname__ == fn.__qualname__
    assert wrapped.__doc__ == "Answer the messages."
    assert wrapped.__wrapped__ is fn
    assert inspect.signature(wrapped) == inspect.signature(fn)
    assert inspect.iscoroutinefunction(wrapped) is is_async


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: traced_tool(42),
            r"^traced_tool\(\) takes a name \(str\) or the function to decorate, got int$",
        ),
        (
            lambda: traced_llm(b"m"),
            r"^traced_llm\(\) takes a name \(str\) or the function to decorate, got bytes$",
        ),
        (lambda: traced_tool("t")(42), r"^@traced_tool\(\.\.\.\) decorates a function, got int$"),
        (lambda: traced_llm()(None), r"^@traced_llm\(\.\.\.\) decorates a function, got NoneType$"),
    ],
    ids=["tool-int", "llm-bytes", "tool-deco-int", "llm-deco-none"],
)
def test_bad_arguments_are_a_clear_type_error(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_bare_traced_tool_is_served_in_a_cached_reexecution(global_pipeline):
    executed: list[str] = []

    @traced_tool
    def lookup_order(order: str) -> str:
        executed.append(order)
        return f"{order} shipped"

    with agent_run("agent", session_id="bare-src"):
        cid = checkpoint({"order": "A-17"}, label="planned")
        assert lookup_order("A-17") == "A-17 shipped"
    result = restore(cid, source=global_pipeline.processor)
    with result.run("agent"), result.reexecute("replay") as rx:
        assert lookup_order("A-17") == "A-17 shipped"
    assert executed == ["A-17"]
    assert rx.stats["served"] == 1
