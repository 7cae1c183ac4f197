"""One change, one finding for a ``@traced_tool`` nested in a LangChain ``@tool`` traced by
OpenInference (whose tool span is never current), outside the pytest plugin: runs recorded
through the ``ReplayProcessor`` and the ``RecordingExporter``, compared by ``otel-replay
diff`` and by the ``DriftProcessor`` against a recording. The ``ReplayProcessor`` notes the
call the nested span ran inside (``agent_replay.step.enclosing_span_id``)."""

from __future__ import annotations

import asyncio
import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.prebuilt")
pytest.importorskip("openinference.instrumentation.langchain")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from openinference.instrumentation.langchain import LangChainInstrumentor  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from otel_replay.capture.processor import ReplayProcessor  # noqa: E402
from otel_replay.capture.spans import agent_run, traced_tool  # noqa: E402
from otel_replay.cli.main import main  # noqa: E402
from otel_replay.core import conventions as c  # noqa: E402
from otel_replay.drift.processor import DriftProcessor  # noqa: E402
from otel_replay.formats.exporter import RecordingExporter  # noqa: E402
from otel_replay.formats.files import load_recording  # noqa: E402
from otel_replay.restore.tracking import TrackingRegistry  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


class _FakeModel(GenericFakeChatModel):
    model_name: str = "fake-gpt-1"

    def bind_tools(self, tools: Any, **kwargs: Any) -> _FakeModel:
        return self


def _run_agent(
    provider: TracerProvider,
    sky: str,
    *,
    session: str | None = None,
    cities: tuple[str, ...] = ("Paris",),
    async_: bool = False,
) -> None:
    """A LangGraph ReAct agent whose LangChain tool ``get_weather`` calls the
    ``@traced_tool`` ``lookup_weather`` (its result's sky is ``sky``); one model turn asks
    for ``get_weather`` once per city (in parallel for several); in an ``agent_run`` of
    ``session`` unless it is None."""
    tracer = provider.get_tracer("tests")

    @traced_tool("lookup_weather", tracer=tracer)
    def lookup_weather(city: str) -> dict[str, Any]:
        return {"city": city, "sky": sky, "temperature": 21}

    if async_:

        @tool
        async def get_weather(city: str) -> str:
            """The weather in a city."""
            return json.dumps(lookup_weather(city))

    else:

        @tool
        def get_weather(city: str) -> str:  # type: ignore[misc]
            """The weather in a city."""
            return json.dumps(lookup_weather(city))

    calls = [
        {"name": "get_weather", "args": {"city": city}, "id": f"call_{i}"}
        for i, city in enumerate(cities)
    ]
    answers = iter([AIMessage(content="", tool_calls=calls), AIMessage(content="Done.")])
    inst = LangChainInstrumentor()
    inst.instrument(tracer_provider=provider)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = create_react_agent(_FakeModel(messages=answers), [get_weather])
        request = {"messages": [("user", "Weather?")]}
        with agent_run("agent", session_id=session, tracer=tracer) if session else _Null():
            if async_:
                asyncio.run(graph.ainvoke(request))
            else:
                graph.invoke(request)
    finally:
        inst.uninstrument()


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _record(path: Path, sky: str, **kw: Any) -> str:
    provider = TracerProvider()
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(SimpleSpanProcessor(RecordingExporter(str(path))))
    try:
        _run_agent(provider, sky, **kw)
    finally:
        provider.shutdown()
    return str(path)


def _diff(base: str, cand: str) -> tuple[int, list[tuple[str, str, list[tuple[str, str]]]]]:
    """Exit code and (kind, step name, related as (kind, step name)) per finding."""
    buf = io.StringIO()
    code = main(["diff", base, cand, "--format", "json", "--fail-on", "warning"], out=buf)
    doc = json.loads(buf.getvalue())
    return code, [
        (
            f["kind"],
            (f["candidate"] or f["baseline"])["name"],
            [(r["kind"], r["candidate"]["name"]) for r in f["related"]],
        )
        for f in doc["findings"]
    ]


def _spans(path: str) -> dict[str, dict[str, Any]]:
    """Span name -> span (OTLP JSON) of a recording with one span per name."""
    out: dict[str, dict[str, Any]] = {}
    for line in Path(path).read_text().splitlines():
        for rs in json.loads(line).get("resourceSpans", ()):
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    out.setdefault(sp["name"], sp)
    return out


def _attr(span: dict[str, Any], key: str) -> Any:
    for kv in span.get("attributes") or ():
        if kv["key"] == key:
            return next(iter(kv["value"].values()))
    return None


ONE_FINDING = [("output_changed", "lookup_weather", [("output_changed", "get_weather")])]


@pytest.mark.parametrize("session", ["s1", None], ids=["agent_run", "no_agent_run"])
def test_diff_of_recordings_gives_one_finding_on_the_nested_call(
    tmp_path: Path, session: str | None
) -> None:
    base = _record(tmp_path / "base.jsonl", "sunny", session=session)
    same = _record(tmp_path / "same.jsonl", "sunny", session=session)
    cand = _record(tmp_path / "cand.jsonl", "rainy", session=session)
    spans = _spans(base)
    inner, outer = spans["execute_tool lookup_weather"], spans["get_weather"]
    assert _attr(inner, c.STEP_ENCLOSING_SPAN_ID) == outer["spanId"]
    # the nested call is in the session of the call it ran inside
    assert _attr(inner, c.SESSION_ID) == _attr(outer, c.SESSION_ID)
    assert [n for n, s in spans.items() if _attr(s, c.STEP_ENCLOSING_SPAN_ID)] == [
        "execute_tool lookup_weather"
    ]
    assert _diff(base, same) == (0, [])
    assert _diff(base, cand) == (1, ONE_FINDING)


def test_drift_processor_against_a_recording_gives_one_finding(tmp_path: Path) -> None:
    base = _record(tmp_path / "base.jsonl", "sunny", session="s1")
    # the run's root ends after its comparison: as in a restored run, the steps under it
    baseline = [s for s in load_recording(base).steps_for_session("s1") if s.parent_span_id]
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    drift = DriftProcessor(SimpleSpanProcessor(exporter), registry=TrackingRegistry())
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(drift)
    try:
        drift.track("same", baseline)
        _run_agent(provider, "sunny", session="same")
        assert drift.reports["same"].findings == []
        drift.track("cand", baseline)
        _run_agent(provider, "rainy", session="cand")
        (f,) = drift.reports["cand"].findings
        assert f.candidate is not None
        assert (f.kind.value, f.candidate.name) == ("output_changed", "lookup_weather")
        assert [(r.kind.value, r.candidate.name) for r in f.related if r.candidate] == [
            ("output_changed", "get_weather")
        ]
        assert drift.errors.count == 0
    finally:
        provider.shutdown()


def test_parallel_tool_calls_on_threads_are_noted_in_their_own_call(tmp_path: Path) -> None:
    """Two LangChain tool calls run in parallel threads: each nested call is noted inside
    the tool call open on its thread."""
    base = _record(tmp_path / "base.jsonl", "sunny", session="s1", cities=("Paris", "Lyon"))
    lines = Path(base).read_text().splitlines()
    spans = [
        sp
        for line in lines
        for rs in json.loads(line).get("resourceSpans", ())
        for ss in rs["scopeSpans"]
        for sp in ss["spans"]
    ]
    outer = {_attr(s, "input.value"): s["spanId"] for s in spans if s["name"] == "get_weather"}
    inner = {
        json.loads(_attr(s, c.GEN_AI_TOOL_CALL_ARGUMENTS))["city"]: _attr(
            s, c.STEP_ENCLOSING_SPAN_ID
        )
        for s in spans
        if s["name"] == "execute_tool lookup_weather"
    }
    assert sorted(outer) == ["Lyon", "Paris"]
    assert inner == outer


def test_async_tool_calls_in_parallel_note_nothing(tmp_path: Path) -> None:
    """Async LangChain runs OpenInference's callbacks on other threads: which tool call a
    nested call ran inside is not certain, and nothing is noted."""
    base = _record(
        tmp_path / "base.jsonl", "sunny", session="s1", cities=("Paris", "Lyon"), async_=True
    )
    spans = [
        sp
        for line in Path(base).read_text().splitlines()
        for rs in json.loads(line).get("resourceSpans", ())
        for ss in rs["scopeSpans"]
        for sp in ss["spans"]
    ]
    assert [s["name"] for s in spans].count("execute_tool lookup_weather") == 2
    assert [s["name"] for s in spans if _attr(s, c.STEP_ENCLOSING_SPAN_ID)] == []


@pytest.mark.xfail(
    strict=True,
    reason="async LangChain starts OpenInference's tool span on another thread: the nested "
    "call is only known to run inside it when no other call overlapped it, which is known "
    "after the nested span has ended, so nothing is noted on the span and the changed "
    "nested call is two findings",
)
def test_async_single_tool_call_gives_one_finding(tmp_path: Path) -> None:
    base = _record(tmp_path / "base.jsonl", "sunny", session="s1", async_=True)
    cand = _record(tmp_path / "cand.jsonl", "rainy", session="s1", async_=True)
    assert _diff(base, cand) == (1, ONE_FINDING)


def test_async_single_tool_call_notes_nothing(tmp_path: Path) -> None:
    """What async LangChain gives today: the nested call's parent is the run's root, nothing
    noted, two findings."""
    base = _record(tmp_path / "base.jsonl", "sunny", session="s1", async_=True)
    cand = _record(tmp_path / "cand.jsonl", "rainy", session="s1", async_=True)
    spans = _spans(base)
    assert _attr(spans["execute_tool lookup_weather"], c.STEP_ENCLOSING_SPAN_ID) is None
    code, findings = _diff(base, cand)
    assert (code, [(k, n) for k, n, _ in findings]) == (
        1,
        [("output_changed", "get_weather"), ("output_changed", "lookup_weather")],
    )
