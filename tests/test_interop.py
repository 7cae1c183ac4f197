"""Spans from the real OpenInference and OpenLLMetry (traceloop) LangChain instrumentations
normalize into otel-replay steps.

Real instrumentors, real LangChain objects (a fake chat model and a ``@tool``), a real SDK
``TracerProvider`` with ``ReplayProcessor``: no network, no keys. Each instrumentor is
uninstrumented in the fixture teardown so no global LangChain hook leaks into other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest.importorskip("langchain_core")
wrapt = pytest.importorskip("wrapt")  # the interop extra's instrumentations bring it

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.spans import agent_run  # noqa: E402
from otel_replay.drift.compare import compare  # noqa: E402
from otel_replay.drift.policy import DriftKind  # noqa: E402
from otel_replay.model.steps import Step, normalize_span  # noqa: E402
from tests.conftest import Pipeline, make_pipeline  # noqa: E402

MODEL = "fake-gpt-1"
PROMPT = "What is the weather in Paris?"
ANSWER = "It is sunny in Paris"


class FakeModel(GenericFakeChatModel):
    """A fake chat model with a model name (LangChain reports it as ``ls_model_name``)."""

    model_name: str = MODEL


def _instrumentor(which: str) -> tuple[Any, Any]:
    """(instrumentation module, instrumentor)."""
    if which == "openinference":
        mod = pytest.importorskip("openinference.instrumentation.langchain")
        return mod, mod.LangChainInstrumentor()
    mod = pytest.importorskip("opentelemetry.instrumentation.langchain")
    return mod, mod.LangchainInstrumentor()


def _record_wraps(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[tuple[Any, str, Any]]:
    """Record what ``module`` patches through ``wrap_function_wrapper``: (owner, attribute,
    original value), so the teardown can put back whatever ``uninstrument()`` leaves.

    opentelemetry-instrumentation-langchain 0.62 calls ``unwrap("langchain_core.callbacks",
    "BaseCallbackManager.__init__")``, which resolves ``"BaseCallbackManager.__init__"`` as
    a single attribute of the module and so unwraps nothing (same for its LangGraph
    wrappers): its callback handler, bound to this test's provider, would stay installed.
    """
    originals: list[tuple[Any, str, Any]] = []
    real = module.wrap_function_wrapper

    def recording(target: Any, name: str, wrapper: Any) -> Any:
        owner, attr, original = wrapt.resolve_path(target, name)
        originals.append((owner, attr, vars(owner).get(attr, original)))
        return real(target, name, wrapper)

    monkeypatch.setattr(module, "wrap_function_wrapper", recording)
    return originals


@contextmanager
def _instrumented(which: str, p: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Instrument LangChain with ``which`` on ``p``'s provider; always uninstrument."""
    module, inst = _instrumentor(which)
    originals = _record_wraps(monkeypatch, module)
    try:
        inst.instrument(tracer_provider=p.provider)
        yield
    finally:
        inst.uninstrument()
        for owner, attr, original in reversed(originals):
            if vars(owner).get(attr) is not original:
                setattr(owner, attr, original)


@pytest.fixture(params=["openinference", "openllmetry"])
def instrumented(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Pipeline]]:
    p = make_pipeline()
    try:
        with _instrumented(request.param, p, monkeypatch):
            yield request.param, p
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()


@pytest.mark.parametrize("which", ["openinference", "openllmetry"])
def test_uninstrument_leaves_no_hook(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.callbacks import BaseCallbackManager
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    p = make_pipeline()
    with _instrumented(which, p, monkeypatch):
        FakeListChatModel(responses=["a"]).invoke("x")
        assert len(p.exporter.get_finished_spans()) == 1
    assert not hasattr(vars(BaseCallbackManager)["__init__"], "__wrapped__")
    FakeListChatModel(responses=["b"]).invoke("y")
    assert len(p.exporter.get_finished_spans()) == 1
    p.provider.shutdown()
    p.meter_provider.shutdown()


def _run(p: Pipeline, session_id: str, weather: str) -> tuple[str, list[Step]]:
    """Model asks for a tool call; checkpoint; tool runs; model answers. Returns the
    checkpoint id and the steps after it."""

    @tool
    def get_weather(city: str, unit: str = "C") -> str:
        """Current weather for a city."""
        return f"{weather} in {city}"

    model = FakeModel(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {"name": "get_weather", "args": {"city": "Paris", "unit": "F"}, "id": "c1"}
                    ],
                ),
                AIMessage(
                    content=ANSWER,
                    usage_metadata={"input_tokens": 11, "output_tokens": 5, "total_tokens": 16},
                ),
            ]
        )
    )
    with agent_run("agent", session_id=session_id, tracer=p.tracer):
        first = model.invoke(PROMPT)
        cid = checkpoint({"messages": [PROMPT]}, label="after-plan", tracer=p.tracer)
        result = get_weather.invoke(first.tool_calls[0])
        assert isinstance(result, ToolMessage)
        model.invoke([("user", PROMPT), first, result])
    return cid, p.processor.steps_after(cid)


def _texts(messages: Any) -> list[str]:
    return [
        part["content"]
        for m in messages
        for part in m["parts"]
        if part.get("type") == "text" and part.get("content")
    ]


def test_llm_and_tool_spans_normalize(instrumented: tuple[str, Pipeline]) -> None:
    which, p = instrumented
    cid, after = _run(p, "sess-1", "sunny")

    # Everything landed in the agent's session, in sequence order after the checkpoint.
    assert [(s.kind, s.name) for s in after] == [("tool", "get_weather"), ("llm", MODEL)]
    ckpt = p.processor.get_checkpoint(cid)
    assert ckpt.session_id == "sess-1"
    assert all(s.sequence is not None for s in after)
    seqs = [s.sequence or 0 for s in after]
    assert seqs == sorted(seqs) and seqs[0] == (ckpt.step_sequence or 0) + 1
    assert all(s.session_id == "sess-1" for s in after)

    spans = p.exporter.get_finished_spans()
    steps = [normalize_span(s) for s in spans]
    assert {s.session_id for s in steps} == {"sess-1"}
    assert all(s.trace_id == steps[0].trace_id for s in steps)
    llms = sorted((s for s in steps if s.kind == "llm"), key=lambda s: s.sequence or 0)
    assert [s.name for s in llms] == [MODEL, MODEL]

    # LLM: the prompt is in the input, the tool call / answer in the output.
    plan, final = llms
    assert _texts(plan.inputs) == [PROMPT]
    assert plan.outputs[0]["role"] == "assistant"
    call = next(x for x in plan.outputs[0]["parts"] if x["type"] == "tool_call")
    assert (call["name"], call["arguments"]) == ("get_weather", {"city": "Paris", "unit": "F"})
    assert _texts(final.outputs) == [ANSWER]
    assert PROMPT in _texts(final.inputs)
    assert (final.input_tokens, final.output_tokens) == (11, 5)

    # Tool: name, arguments and result.
    (t,) = [s for s in after if s.kind == "tool"]
    assert t.name == "get_weather" and t.tool_name == "get_weather"
    assert t.inputs == {"city": "Paris", "unit": "F"}
    assert t.outputs == "sunny in Paris"

    # Which raw attributes carried them (mapping built from what each package emits).
    a = t.attributes
    if which == "openinference":
        assert a["openinference.span.kind"] == "TOOL" and a["tool.name"] == "get_weather"
        assert plan.attributes["llm.model_name"] == MODEL
        assert plan.attributes["llm.input_messages.0.message.content"] == PROMPT
    else:
        assert a["traceloop.span.kind"] == "tool" and a["gen_ai.tool.name"] == "get_weather"
        assert a["gen_ai.operation.name"] == "execute_tool"
        # no model field on the chat model: traceloop records "unknown" as the request model
        assert plan.attributes["gen_ai.request.model"] == "unknown"
        assert plan.attributes["traceloop.association.properties.ls_model_name"] == MODEL


def test_changed_tool_result_is_output_drift(instrumented: tuple[str, Pipeline]) -> None:
    _, p = instrumented
    _, base = _run(p, "run-a", "sunny")
    _, same = _run(p, "run-b", "sunny")
    _, cand = _run(p, "run-c", "rainy")
    assert {s.session_id for s in cand} == {"run-c"}

    assert not compare(base, same).has_drift  # run-specific ids do not count as drift
    report = compare(base, cand)
    kinds = [(f.kind, f.candidate.name if f.candidate else None) for f in report.findings]
    assert kinds == [(DriftKind.OUTPUT_CHANGED, "get_weather")]
    (f,) = report.findings
    assert "sunny in Paris" in str(f.expected) and "rainy in Paris" in str(f.actual)


def test_openinference_using_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenInference's ``session.id`` (set at span start by ``using_session``) is the session."""
    oi = pytest.importorskip("openinference.instrumentation")
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    p = make_pipeline()
    try:
        with _instrumented("openinference", p, monkeypatch), oi.using_session("oi-session"):
            FakeListChatModel(responses=["hi there"]).invoke("hello")
        (span,) = p.exporter.get_finished_spans()
        step = normalize_span(span)
        assert span.attributes is not None and span.attributes["session.id"] == "oi-session"
        assert (step.session_id, step.kind, step.name) == ("oi-session", "llm", span.name)
        assert step.name == "FakeListChatModel"  # no model name recorded: the span name
        assert _texts(step.inputs) == ["hello"] and _texts(step.outputs) == ["hi there"]
    finally:
        p.provider.shutdown()
        p.meter_provider.shutdown()
