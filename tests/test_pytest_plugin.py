"""The pytest plugin (``agent_baseline`` fixture), run through pytest's own ``pytester``.

Each test writes a small test project (an agent made of our ``agent_run`` / ``traced_tool`` /
``traced_llm`` helpers and a fake model, no network) and runs pytest on it in-process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from opentelemetry import trace

pytest_plugins = ["pytester"]

WORKTREE = Path(__file__).resolve().parent.parent
PLUGIN = "otel_replay.pytest_plugin.plugin"

AGENT = """
import json

from otel_replay import agent_run, traced_llm, traced_tool

EXTRA_TOOL = False
CITY = "Paris"
TEMPERATURE = 21.0


@traced_tool()
def get_weather(city: str) -> dict:
    return {"city": city, "temperature": TEMPERATURE, "sky": "sunny"}


@traced_tool()
def get_time(city: str) -> str:
    return "12:00"


@traced_llm("fake-model-1")
def model(messages):
    return f"answer after {len(messages)} message(s)"


def run_agent(question: str) -> str:
    with agent_run("weather", session_id="volatile-session-id-123") as run:
        plan = model([{"role": "user", "content": question}])
        weather = get_weather(CITY)
        if EXTRA_TOOL:
            get_time(CITY)
        answer = model([question, plan, json.dumps(weather)])
        return answer
"""

TEST = """
import agent


def test_weather(agent_baseline):
    with agent_baseline() as run:
        agent.run_agent("weather in Paris?")
"""


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs load only the plugins they name (scanning every installed package's
    entry points costs about a second per run)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _args(pytester: pytest.Pytester, *extra: str) -> list[str]:
    return ["-p", PLUGIN, "-p", "no:cacheprovider", *extra]


def _project(pytester: pytest.Pytester, test: str = TEST, agent: str = AGENT) -> None:
    pytester.makepyfile(agent=agent, test_agent=test)


def _run(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(*_args(pytester, *extra))


def _match(result: pytest.RunResult, lines: list[str]) -> None:
    """``fnmatch_lines`` with ``[`` taken literally (findings print ``[warning]``)."""
    result.stdout.fnmatch_lines([ln.replace("[", "[[]") for ln in lines])


def _failures(result: pytest.RunResult) -> str:
    """The FAILURES section of the output (under CI=true the short summary repeats it)."""
    return result.stdout.str().partition("short test summary info")[0]


def _baseline(pytester: pytest.Pytester, name: str = "test_weather") -> Path:
    return pytester.path / "tests" / "agent_baselines" / "test_agent" / f"{name}.jsonl"


def _set(pytester: pytest.Pytester, **values: object) -> None:
    """Change module-level settings of the agent module (a one-line change to the agent)."""
    text = (pytester.path / "agent.py").read_text()
    for k, v in values.items():
        lines = [f"{k} = {v!r}" if ln.startswith(f"{k} = ") else ln for ln in text.splitlines()]
        text = "\n".join(lines) + "\n"
    (pytester.path / "agent.py").write_text(text)


def test_missing_baseline_fails_with_the_command_that_creates_it(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no agent baseline at tests/agent_baselines/test_agent/test_weather.jsonl",
            "*record it (and commit the file) with:",
            "*pytest 'test_agent.py::test_weather' --otel-replay-record",
        ]
    )


def test_record_writes_a_baseline_that_then_passes(pytester: pytest.Pytester) -> None:
    _project(pytester)
    rec = _run(pytester, "--otel-replay-record")
    rec.assert_outcomes(passed=1)
    rec.stdout.fnmatch_lines(
        ["*wrote 1 agent baseline:", "*tests/agent_baselines/test_agent/test_weather.jsonl"]
    )
    path = _baseline(pytester)
    lines = path.read_text().splitlines()
    spans = [json.loads(ln)["resourceSpans"][0]["scopeSpans"][0]["spans"][0] for ln in lines]
    assert [s["name"] for s in spans] == [
        "invoke_agent weather",
        "chat fake-model-1",
        "execute_tool get_weather",
        "chat fake-model-1",
    ]
    # volatile values are normalized out: ids, times, the session id
    assert [s["spanId"] for s in spans] == [f"{i:016x}" for i in range(1, 5)]
    assert {s["traceId"] for s in spans} == {f"{1:032x}"}
    assert spans[0]["startTimeUnixNano"] == "1577836800000000000"
    assert "volatile-session-id-123" not in path.read_text()
    assert '"stringValue":"session-1"' in lines[0]
    passed = _run(pytester)
    passed.assert_outcomes(passed=1)
    passed.stdout.fnmatch_lines(["*compared 1 session with their baselines: 0 failed"])


def test_recording_twice_gives_identical_files(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    first = _baseline(pytester).read_bytes()
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    assert _baseline(pytester).read_bytes() == first


def test_inserted_tool_call_fails_with_a_report_naming_it(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, EXTRA_TOOL=True)
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*agent run differs from its baseline tests/agent_baselines/test_agent/test_weather.jsonl",
            "*test_agent.py::test_weather session-1 (invoke_agent weather): 1 drift finding*",
            "*first divergence at step 3: expected llm 'fake-model-1', got tool 'get_time'*",
            "*[warning] unexpected_step: unexpected step at 3: tool 'get_time'",
            '*+ actual:   {"kind": "tool", "name": "get_time", "sequence": 4}',
            "*if the new behaviour is intended, update the baseline with:",
            "*pytest 'test_agent.py::test_weather' --otel-replay-record",
        ],
    )
    assert _failures(result).count("unexpected_step") == 1


def test_changed_argument_shows_expected_and_actual_per_path(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, CITY="Lyon")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*[warning] arguments_changed: arguments of tool 'get_weather' changed at step 2: $.city",
            "*$.city",
            '*- expected: "Paris"',
            '*+ actual:   "Lyon"',
        ],
    )


def test_numeric_tolerance_from_the_marker(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, TEMPERATURE=21.4)
    _run(pytester).assert_outcomes(failed=1)
    tolerant = TEST.replace(
        "def test_weather",
        "import pytest\n\n@pytest.mark.agent_baseline(numeric_tolerance=0.5)\ndef test_weather",
    )
    pytester.makepyfile(test_agent=tolerant)
    _run(pytester).assert_outcomes(passed=1)
    pytester.makepyfile(
        test_agent=TEST.replace("agent_baseline()", "agent_baseline(numeric_tolerance=0.1)")
    )
    _run(pytester).assert_outcomes(failed=1)


def test_ignored_paths_and_kinds_from_pyproject(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, CITY="Lyon")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*[warning] arguments_changed: arguments of tool 'get_weather' changed at step 2: $.city",
            "*caused: output_changed: output of tool 'get_weather' changed at step 2: $.city",
        ],
    )
    # the city is in the tool's arguments and in its result: both diffs ignore the path
    pytester.makefile(".toml", pyproject='[tool.otel-replay]\nignore_paths = ["$.city"]\n')
    _run(pytester).assert_outcomes(passed=1)
    pytester.makefile(
        ".toml", pyproject='[tool.otel-replay]\nignore_drift = ["arguments_changed"]\n'
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    assert "arguments_changed" not in result.stdout.str()
    # without the argument change the tool's changed output is its own finding (a warning)
    assert _failures(result).count("[warning] output_changed") == 1
    pytester.makefile(
        ".toml",
        pyproject='[tool.otel-replay]\nignore_drift = ["arguments_changed"]\nfail_on = "critical"\n',
    )
    _run(pytester).assert_outcomes(passed=1)


def test_fail_on_and_fail_kinds_from_the_fixture(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, EXTRA_TOOL=True)
    pytester.makepyfile(
        test_agent=TEST.replace("agent_baseline()", "agent_baseline(fail_on='critical')")
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    pytester.makepyfile(
        test_agent=TEST.replace("agent_baseline()", "agent_baseline(fail_kinds=['missing_step'])")
    )
    _run(pytester).assert_outcomes(passed=1)
    pytester.makepyfile(
        test_agent=TEST.replace(
            "agent_baseline()", "agent_baseline(fail_kinds=['unexpected_step'])"
        )
    )
    _run(pytester).assert_outcomes(failed=1)


def test_order_insensitive_groups(pytester: pytest.Pytester) -> None:
    agent = AGENT.replace(
        "        weather = get_weather(CITY)\n",
        "        if REVERSED:\n            get_time(CITY)\n        weather = get_weather(CITY)\n"
        "        if not REVERSED:\n            get_time(CITY)\n",
    ).replace("EXTRA_TOOL = False", "EXTRA_TOOL = False\nREVERSED = False")
    _project(pytester, agent=agent)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, REVERSED=True)
    _run(pytester).assert_outcomes(failed=1)
    pytester.makepyfile(
        test_agent=TEST.replace(
            "agent_baseline()", "agent_baseline(order_insensitive=[['get_weather', 'get_time']])"
        )
    )
    _run(pytester).assert_outcomes(passed=1)


def test_invalid_setting_is_a_clear_error(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makefile(".toml", pyproject='[tool.otel-replay]\nfail_on = "sometimes"\n')
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: otel-replay: *pyproject.toml [[]tool.otel-replay]: fail_on must be one of "
            "info, warning, critical, never, got 'sometimes'"
        ]
    )


def test_replay_serves_recorded_calls_and_fails_on_a_missing_one(
    pytester: pytest.Pytester,
) -> None:
    agent = (
        AGENT.replace(
            "def model(messages):\n",
            "def model(messages):\n    if LIVE_BLOCKED:\n        raise RuntimeError('live model call')\n",
        )
        .replace(
            "def get_weather(city: str) -> dict:\n",
            "def get_weather(city: str) -> dict:\n    if LIVE_BLOCKED:\n        raise RuntimeError('live tool call')\n",
        )
        .replace("EXTRA_TOOL = False", "EXTRA_TOOL = False\nLIVE_BLOCKED = False")
    )
    _project(
        pytester, test=TEST.replace("agent_baseline()", "agent_baseline(replay=True)"), agent=agent
    )
    missing = _run(pytester)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(
        ["*no agent baseline at tests/agent_baselines/test_agent/test_weather.jsonl"]
    )
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    # every live call now raises: the run passes only when all of them are served
    _set(pytester, LIVE_BLOCKED=True)
    pytester.makepyfile(
        test_agent=TEST.replace("agent_baseline()", "agent_baseline(replay=True)")
        + "    assert run.reexecution.stats == {'served': 3, 'live': 0, 'miss': 0}\n"
        + "    from otel_replay.capture.spans import current_call_interceptor\n"
        + "    assert current_call_interceptor() is None\n"
    )
    _run(pytester).assert_outcomes(passed=1)
    _set(pytester, CITY="Lyon")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replay: the agent made 1 call that tests/agent_baselines/test_agent/test_weather.jsonl does not have",
            "*at tool:get_weather#1: the arguments differ from the recorded step tool:get_weather#1",
            '*- expected: tool:get_weather#1 with {"city": "Paris"}',
            '*+ actual:   tool:get_weather#1 with {"city": "Lyon"}',
            "*pytest 'test_agent.py::test_weather' --otel-replay-record",
        ]
    )


def test_the_plugin_leaves_no_global_otel_state(pytester: pytest.Pytester) -> None:
    before_provider = trace._TRACER_PROVIDER
    before_done = trace._TRACER_PROVIDER_SET_ONCE._done
    _project(pytester)
    pytester.makepyfile(
        test_agent=TEST
        + """

from opentelemetry import trace
from otel_replay.pytest_plugin.routing import ROUTER

LATE = trace.get_tracer("late")


def test_outside_blocks_spans_go_nowhere(agent_baseline):
    with agent_baseline(name="other") as run:
        LATE.start_span("inside").end()
    assert ROUTER.active is None
    LATE.start_span("outside").end()
    assert [s.name for s in run.spans] == ["inside"]
"""
    )
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=2)
    _run(pytester).assert_outcomes(passed=2)
    assert trace._TRACER_PROVIDER is before_provider
    assert trace._TRACER_PROVIDER_SET_ONCE._done is before_done
    from otel_replay.pytest_plugin.routing import ROUTER

    assert ROUTER.active is None and ROUTER.fallback is None


def test_works_under_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(WORKTREE), str(pytester.path)]))
    tests = "".join(
        TEST.replace("test_weather", f"test_weather_{i}").replace("import agent\n", "")
        for i in range(4)
    )
    _project(pytester, test="import agent\n" + tests)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=4)
    args = _args(pytester, "-p", "xdist", "-n", "2", "--otel-replay-output", "report.json")
    run = pytester.runpytest_subprocess(*args)
    run.assert_outcomes(passed=4)
    doc = json.loads((pytester.path / "report.json").read_text())
    assert doc["summary"] == {"sessions": 4, "failed": 0, "findings": 0}
    _set(pytester, EXTRA_TOOL=True)
    failing = pytester.runpytest_subprocess(*args)
    failing.assert_outcomes(failed=4)
    doc = json.loads((pytester.path / "report.json").read_text())
    assert doc["summary"] == {"sessions": 4, "failed": 4, "findings": 4}


LANGGRAPH_AGENT = '''
import json

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from openinference.instrumentation.langchain import LangChainInstrumentor

from otel_replay import traced_tool

SECOND_CITY = None
LOOKUP = True  # False: the LangChain tool answers without its nested @traced_tool


class FakeModel(GenericFakeChatModel):
    model_name: str = "fake-gpt-1"

    def bind_tools(self, tools, **kwargs):
        return self


@traced_tool("lookup_weather")
def lookup_weather(city: str) -> dict:
    return {"city": city, "sky": "sunny", "temperature": 21}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    if not LOOKUP:
        return json.dumps({"city": city, "sky": "sunny", "temperature": 21})
    return json.dumps(lookup_weather(city))


def run_agent(tracer_provider):
    answers = [AIMessage(content="", tool_calls=[
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_Xy12ab34cd56"}
    ])]
    if SECOND_CITY:  # the model asks for one more tool call, in a second round
        answers.append(AIMessage(content="", tool_calls=[
            {"name": "get_weather", "args": {"city": SECOND_CITY}, "id": "call_Zz98ab76ef54"}
        ]))
    answers.append(AIMessage(content="It is sunny in Paris."))
    model = FakeModel(messages=iter(answers))
    inst = LangChainInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    try:
        graph = create_react_agent(model, [get_weather])
        out = graph.invoke({"messages": [("user", "Weather in Paris?")]})
    finally:
        inst.uninstrument()
    return out["messages"][-1].content
'''

LANGGRAPH_TEST = """
import agent


def test_weather(agent_baseline):
    with agent_baseline() as run:
        assert agent.run_agent(run.tracer_provider) == "It is sunny in Paris."
"""


def test_langgraph_agent_traced_by_openinference(pytester: pytest.Pytester) -> None:
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    _project(pytester, test=LANGGRAPH_TEST, agent=LANGGRAPH_AGENT)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    first = _baseline(pytester).read_text()
    names = [
        json.loads(ln)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"]
        for ln in first.splitlines()
    ]
    assert names.count("get_weather") == 1 and names.count("execute_tool lookup_weather") == 1
    # fresh ids and run ids every run, normalized out: the same behaviour, the same file
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    assert _baseline(pytester).read_text() == first
    _run(pytester).assert_outcomes(passed=1)
    # one-line change: the model asks for a second tool call
    _set(pytester, SECOND_CITY="Lyon")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*test_weather session-1: 1 drift finding, max severity warning: 0 critical, "
            "1 warning, 0 info (4 baseline steps, 7 candidate steps, mode align)",
            "*first divergence at step 4: expected llm 'fake-gpt-1', got tool 'get_weather'",
            "*[warning] unexpected_step: unexpected step at 4: tool 'get_weather'",
        ],
    )
    out = _failures(result)
    # the extra round is one finding, the tool call, with the calls of that round attached;
    # LangGraph's plumbing spans are not compared (docs/drift.md)
    assert out.count("[warning] unexpected_step: ") == 1
    assert [ln.strip() for ln in out.splitlines() if "unexpected step at" in ln] == [
        "[warning] unexpected_step: unexpected step at 4: tool 'get_weather'",
        "caused: unexpected_step: unexpected step at 3: llm 'fake-gpt-1'",
        "caused: unexpected_step: unexpected step at 5: tool 'lookup_weather'",
    ]
    assert "session-2" not in result.stdout.str()
    # ignore_steps leaves the extra round's calls as they are (no plumbing is compared)
    pytester.makefile(".toml", pyproject='[tool.otel-replay]\nignore_steps = ["other", "agent"]\n')
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    out = _failures(result)
    assert [ln.split(": ")[-1] for ln in out.splitlines() if "unexpected step at" in ln] == [
        "tool 'get_weather'",
        "llm 'fake-gpt-1'",
        "tool 'lookup_weather'",
    ]
    (pytester.path / "pyproject.toml").unlink()


def test_langgraph_replay_serves_the_tool_without_its_nested_calls(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    _project(pytester, test=LANGGRAPH_TEST, agent=LANGGRAPH_AGENT)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    # replay: the traced tool inside the LangChain @tool is served from the baseline
    pytester.makepyfile(
        test_agent=LANGGRAPH_TEST.replace("agent_baseline()", "agent_baseline(replay=True)")
        + "    assert run.reexecution.stats == {'served': 3, 'live': 0, 'miss': 0}\n"
    )
    _run(pytester).assert_outcomes(passed=1)


def _spans(path: Path) -> list[dict[str, object]]:
    return [
        json.loads(ln)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        for ln in path.read_text().splitlines()
    ]


def _attr_value(span: dict[str, object], key: str) -> object:
    for kv in span["attributes"]:  # type: ignore[attr-defined]
        if kv["key"] == key:
            return next(iter(kv["value"].values()))
    return None


def test_async_langgraph_replay_serves_the_tool_without_its_nested_calls(
    pytester: pytest.Pytester,
) -> None:
    """Async: LangChain runs OpenInference's callbacks in a background thread, so the tool
    span opens on another thread than the @traced_tool inside the tool."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    agent = (
        LANGGRAPH_AGENT.replace("@tool\ndef get_weather", "@tool\nasync def get_weather")
        .replace("def run_agent(", "async def run_agent(")
        .replace("out = graph.invoke(", "out = await graph.ainvoke(")
    )
    test = LANGGRAPH_TEST.replace("import agent\n", "import asyncio\n\nimport agent\n").replace(
        "agent.run_agent(run.tracer_provider)", "asyncio.run(agent.run_agent(run.tracer_provider))"
    )
    _project(pytester, test=test, agent=agent)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    (inner,) = [
        s for s in _spans(_baseline(pytester)) if s["name"] == "execute_tool lookup_weather"
    ]
    (outer,) = [s for s in _spans(_baseline(pytester)) if s["name"] == "get_weather"]
    assert _attr_value(inner, "agent_replay.step.enclosing_span_id") == outer["spanId"]
    pytester.makepyfile(
        test_agent=test.replace("agent_baseline()", "agent_baseline(replay=True)")
        + "    assert run.reexecution.stats == {'served': 3, 'live': 0, 'miss': 0}\n"
    )
    _run(pytester).assert_outcomes(passed=1)


def test_langgraph_baseline_records_the_call_a_parentless_span_ran_inside(
    pytester: pytest.Pytester,
) -> None:
    """OpenInference does not make its tool span current: the @traced_tool inside the
    LangChain tool starts a trace of its own, and the baseline names the tool span it ran in."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    _project(pytester, test=LANGGRAPH_TEST, agent=LANGGRAPH_AGENT)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    spans = _spans(_baseline(pytester))
    (outer,) = [s for s in spans if s["name"] == "get_weather"]
    (inner,) = [s for s in spans if s["name"] == "execute_tool lookup_weather"]
    assert "parentSpanId" not in inner and inner["traceId"] != outer["traceId"]
    key = "agent_replay.step.enclosing_span_id"
    assert _attr_value(inner, key) == outer["spanId"]
    assert [s["name"] for s in spans if _attr_value(s, key) is not None] == [inner["name"]]


def test_langgraph_missing_nested_call_of_a_live_tool_is_reported(
    pytester: pytest.Pytester,
) -> None:
    """The nesting recorded for replay hides nothing when the outer call runs: the LangChain
    tool answering without its nested @traced_tool is one missing step, on that tool."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    _project(pytester, test=LANGGRAPH_TEST, agent=LANGGRAPH_AGENT)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, LOOKUP=False)
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*test_weather session-1: 1 drift finding, max severity warning: 0 critical, "
            "1 warning, 0 info (4 baseline steps, 3 candidate steps, mode align)",
            "*first divergence at step 2: expected tool 'lookup_weather', got llm 'fake-gpt-1'",
            "*[warning] missing_step: missing step at 2: tool 'lookup_weather'",
        ],
    )
    assert _failures(result).count("missing_step") == 1


def test_plugin_writes_reports(pytester: pytest.Pytester) -> None:
    etree = pytest.importorskip("lxml.etree")
    two = TEST + TEST.replace("test_weather", "test_weather_again").replace("import agent\n", "")
    _project(pytester, test=two)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=2)
    _set(pytester, EXTRA_TOOL=True)
    outs = ["out/r.xml", "out/r.md", "out/r.html", "out/r.json"]
    result = _run(pytester, *[a for o in outs for a in ("--otel-replay-output", o)])
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([f"report written to {o}" for o in outs])
    schema = etree.XMLSchema(etree.parse(str(WORKTREE / "tests/data/schemas/junit-10.xsd")))
    doc = etree.parse(str(pytester.path / "out/r.xml"))
    schema.assertValid(doc)
    cases = doc.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "test_agent.py::test_weather session-1 (invoke_agent weather)",
        "test_agent.py::test_weather_again session-1 (invoke_agent weather)",
    ]
    assert [[f.get("type") for f in c.findall("failure")] for c in cases] == [
        ["unexpected_step"],
        ["unexpected_step"],
    ]
    md = (pytester.path / "out/r.md").read_text()
    assert "**FAIL: 2 of 2 sessions failed (2 findings: 0 critical, 2 warning, 0 info)**" in md
    html = (pytester.path / "out/r.html").read_text()
    assert html.count('class="row step-row finding sev-warning first-divergence"') == 2


def test_entry_point_registers_the_plugin() -> None:
    import tomllib

    data = tomllib.loads((WORKTREE / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["pytest11"] == {"otel_replay": PLUGIN}
    import importlib

    mod = importlib.import_module(PLUGIN)
    assert callable(mod.agent_baseline) and callable(mod.pytest_addoption)


def test_routing_falls_back_to_the_global_provider_outside_blocks() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.pytest_plugin.routing import routed

    saved_provider, saved_once = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE
    saved_done = saved_once._done
    user, user_spans = TracerProvider(), InMemorySpanExporter()
    user.add_span_processor(SimpleSpanProcessor(user_spans))
    block, block_spans = TracerProvider(), InMemorySpanExporter()
    block.add_span_processor(SimpleSpanProcessor(block_spans))
    try:
        trace._TRACER_PROVIDER = user  # as if the application had set its provider
        with routed(block):
            tracer = trace.get_tracer("app")
            tracer.start_span("in block").end()
            with pytest.raises(RuntimeError, match="cannot be nested"):
                with routed(block):
                    pass
        assert trace._TRACER_PROVIDER is user
        tracer.start_span("after block").end()
        assert [s.name for s in block_spans.get_finished_spans()] == ["in block"]
        assert [s.name for s in user_spans.get_finished_spans()] == ["after block"]
    finally:
        trace._TRACER_PROVIDER = saved_provider
        trace._TRACER_PROVIDER_SET_ONCE = saved_once
        saved_once._done = saved_done
        user.shutdown()
        block.shutdown()


def test_async_block_and_unknown_marker_setting(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test="""
import asyncio

import pytest

import agent


def test_async(agent_baseline):
    async def main():
        async with agent_baseline() as run:
            agent.run_agent("weather in Paris?")
        return run

    asyncio.run(main())


@pytest.mark.agent_baseline(fail_onn="warning")
def test_typo(agent_baseline):
    with agent_baseline():
        agent.run_agent("weather in Paris?")
""",
    )
    result = _run(pytester, "--otel-replay-record")
    result.assert_outcomes(passed=1, errors=1)  # a bad setting fails the fixture's setup
    result.stdout.fnmatch_lines(
        [
            "*test_agent.py::test_typo: @pytest.mark.agent_baseline: unknown setting 'fail_onn' (known: *"
        ]
    )
    _run(pytester, "-k", "test_async").assert_outcomes(passed=1)


def test_normalized_lines_replace_volatile_values_consistently() -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.capture.processor import ReplayProcessor
    from otel_replay.pytest_plugin.baseline import normalized_lines

    def run(uuid: str, call: str) -> list[str]:
        provider = TracerProvider(resource=Resource({"service.name": "svc"}))
        exporter = InMemorySpanExporter()
        provider.add_span_processor(ReplayProcessor())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t", "9.9.9")
        with tracer.start_as_current_span("root", attributes={"thread.id": 7}):
            with tracer.start_as_current_span(
                "tool",
                attributes={
                    "gen_ai.tool.call.id": call,
                    "input.value": json.dumps({"run_id": uuid, "tool_call_id": call}),
                    "zeta": 1,
                    "alpha": "plain",
                },
            ):
                pass
        provider.shutdown()
        return normalized_lines(exporter.get_finished_spans())

    a = run("0b5e3c9a-2f0e-4c41-9d0a-6f1e2b3c4d5e", "call_AbCdEf123456")
    b = run("7d1f0e2c-9a8b-4c3d-8e7f-0a1b2c3d4e5f", "call_ZyXwVu987654")
    assert a == b
    tool = json.loads(a[1])["resourceSpans"][0]["scopeSpans"][0]
    assert tool["scope"] == {"name": "t"}  # the scope version is dropped
    attrs = {kv["key"]: kv["value"] for kv in tool["spans"][0]["attributes"]}
    assert list(attrs) == sorted(attrs)
    assert attrs["gen_ai.tool.call.id"] == {"stringValue": "call-1"}
    assert json.loads(attrs["input.value"]["stringValue"]) == {
        "run_id": "uuid-1",
        "tool_call_id": "call-1",
    }
    root = json.loads(a[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert "thread.id" not in {kv["key"] for kv in root["attributes"]}
    assert root["endTimeUnixNano"] > tool["spans"][0]["endTimeUnixNano"]


def test_parametrized_and_class_tests_get_their_own_baselines(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test="""
import pytest

import agent


@pytest.mark.parametrize("city", ["Paris", "Oslo"])
def test_city(agent_baseline, city):
    agent.CITY = city
    with agent_baseline():
        agent.run_agent("weather?")


class TestAgent:
    def test_twice(self, agent_baseline):
        with agent_baseline():
            agent.run_agent("weather?")
        with agent_baseline():
            agent.run_agent("weather again?")
""",
    )
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=3)
    base = pytester.path / "tests" / "agent_baselines" / "test_agent"
    assert sorted(p.name for p in base.iterdir()) == [
        "TestAgent.test_twice-2.jsonl",
        "TestAgent.test_twice.jsonl",
        "test_city_Oslo.jsonl",
        "test_city_Paris.jsonl",
    ]
    _run(pytester).assert_outcomes(passed=3)


def test_a_block_without_spans_fails_in_both_modes(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test="def test_weather(agent_baseline):\n    with agent_baseline():\n        pass\n",
    )
    for args in (["--otel-replay-record"], []):
        result = _run(pytester, *args)
        result.assert_outcomes(failed=1)
        what = "written to" if args else "compared with"
        result.stdout.fnmatch_lines(
            [f"the agent_baseline block recorded no spans, so nothing was {what} tests/*"]
        )
    assert not _baseline(pytester).exists()


def test_confidence_thresholds(pytester: pytest.Pytester) -> None:
    agent = (
        AGENT.replace(
            "from otel_replay import agent_run, traced_llm, traced_tool",
            "from otel_replay import agent_run, decision, traced_llm, traced_tool",
        )
        .replace(
            "        weather = get_weather(CITY)\n",
            "        with decision('route', action='weather', confidence=CONFIDENCE):\n"
            "            pass\n        weather = get_weather(CITY)\n",
        )
        .replace("EXTRA_TOOL = False", "EXTRA_TOOL = False\nCONFIDENCE = 0.9")
    )
    _project(pytester, agent=agent)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    _set(pytester, CONFIDENCE=0.6)
    _run(pytester).assert_outcomes(passed=1)  # a change of 0.3 is under the 0.4 default
    pytester.makefile(".toml", pyproject="[tool.otel-replay]\nconfidence_warning = 0.2\n")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    _match(
        result,
        [
            "*[warning] confidence_changed: confidence of decision 'route' changed at step 2: "
            "0.9 -> 0.6 (delta -0.30)"
        ],
    )


def test_a_corrupt_baseline_fails_with_where_and_the_fix(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=1)
    path = _baseline(pytester)
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n{not json\n" + "\n".join(lines[1:]) + "\n")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "the agent baseline tests/agent_baselines/test_agent/test_weather.jsonl cannot be "
            "read: *test_weather.jsonl:2*",
            "record it again with:",
            "  pytest 'test_agent.py::test_weather' --otel-replay-record",
        ]
    )


def test_processor_failures_while_recording_fail_the_test(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test="""
import agent
from otel_replay.capture.processor import ReplayProcessor


def test_weather(agent_baseline, monkeypatch):
    def broken(self, sid):
        raise RuntimeError("boom")

    monkeypatch.setattr(ReplayProcessor, "_new_counter", broken)
    with agent_baseline():
        agent.run_agent("weather in Paris?")
""",
    )
    result = _run(pytester, "--otel-replay-record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "otel-replay's span processors failed 4 times while recording this block (logged "
            "on the 'otel_replay' logger), so the recording may be incomplete"
        ]
    )
    assert not _baseline(pytester).exists()


def test_nested_blocks_are_an_error(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test="""
import pytest


def test_nested(agent_baseline):
    with agent_baseline():
        with pytest.raises(RuntimeError, match="cannot be nested or run concurrently"):
            with agent_baseline(name="inner"):
                pass
""",
    )
    result = _run(pytester, "--otel-replay-record")
    result.assert_outcomes(failed=1)  # the outer block recorded no spans
    result.stdout.fnmatch_lines(["the agent_baseline block recorded no spans*"])


def test_nesting_is_noted_only_where_it_is_known() -> None:
    import threading

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_replay.pytest_plugin.nesting import NestingProcessor

    provider, exporter, nesting = TracerProvider(), InMemorySpanExporter(), NestingProcessor()
    provider.add_span_processor(nesting)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    # an instrumentation that never makes its spans current (OpenInference)
    detached = provider.get_tracer("openinference.instrumentation.langchain")

    def in_thread(name: str) -> None:
        worker = threading.Thread(target=lambda: tracer.start_span(name).end())
        worker.start()
        worker.join()

    def child(name: str, parent: object) -> object:
        return detached.start_span(name, context=trace.set_span_in_context(parent))  # type: ignore[arg-type]

    try:
        outer = tracer.start_span("outer")  # open, not current
        with tracer.start_as_current_span("current"):
            tracer.start_span("child").end()  # has a parent: nothing to note
        tracer.start_span("inside").end()
        in_thread("thread, under ours")  # open elsewhere but ours: it would have been current
        outer.end()
        node = detached.start_span("tools")
        tool = child("tool", node)
        in_thread("thread, under tool")  # the innermost open span, never current: inside it
        tool.end()  # type: ignore[attr-defined]
        a, b = child("tool a", node), child("tool b", node)
        in_thread("thread, two open")  # two tools run in parallel: which one is unknown
        b.end()  # type: ignore[attr-defined]
        in_thread("thread, under a")  # only a is open now, but a ran alongside b
        a.end()  # type: ignore[attr-defined]
        node.end()
        tracer.start_span("after").end()
        spans = exporter.get_finished_spans()
        names = {format(s.context.span_id, "016x"): s.name for s in spans}
        assert {names[k]: names[v] for k, v in nesting.enclosing(spans).items()} == {
            "current": "outer",
            "inside": "outer",
            "thread, under tool": "tool",
        }
    finally:
        provider.shutdown()


PARALLEL_AGENT = '''
import contextvars
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from openinference.instrumentation.langchain import LangChainInstrumentor

from otel_replay import agent_run, traced_tool

CITIES = ["Paris", "Lyon", "Oslo", "Rome"]
TURNS = [0, 1, 2, 3]  # the order in which the worker threads start their calls
CLOUDY = None  # a city where the weather tool answers differently


class FakeModel(GenericFakeChatModel):
    model_name: str = "fake-gpt-1"

    def bind_tools(self, tools, **kwargs):
        return self


@traced_tool("lookup_weather")
def lookup_weather(city: str) -> dict:
    return {"city": city, "sky": "cloudy" if city == CLOUDY else "sunny"}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return json.dumps(lookup_weather(city))


def run_graph(tracer_provider, version):
    """A parallel tool node: the model asks for four tool calls at once."""
    calls = [{"name": "get_weather", "args": {"city": c}, "id": f"call_{c}0123456789"}
             for c in CITIES]
    model = FakeModel(messages=iter([AIMessage(content="", tool_calls=calls),
                                     AIMessage(content="All sunny.")]))
    inst = LangChainInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    try:
        graph = create_react_agent(model, [get_weather], version=version)
        return graph.invoke({"messages": [("user", "Weather?")]})["messages"][-1].content
    finally:
        inst.uninstrument()


turn = threading.Condition()
started = [0]
together = threading.Barrier(len(CITIES))


@traced_tool("fetch_weather")
def fetch_weather(city: str) -> dict:
    with turn:  # this call's span has started: let the next thread start its call
        started[0] += 1
        turn.notify_all()
    together.wait(10)  # all four calls are open at once
    return lookup_weather(city)


def worker(i):
    with turn:
        turn.wait_for(lambda: TURNS[started[0]] == i, 10)
    return fetch_weather(CITIES[i])


def run_threads():
    """Four tool calls on a thread pool, started in the order TURNS gives."""
    started[0] = 0
    with agent_run("fan-out", session_id="fan-out-0123456789"):
        with ThreadPoolExecutor(len(CITIES)) as pool:
            futures = [pool.submit(contextvars.copy_context().run, worker, i)
                       for i in range(len(CITIES))]
            return [f.result()["city"] for f in futures]
'''

PARALLEL_TEST = """
import agent


def test_send_tasks(agent_baseline):
    with agent_baseline() as run:
        assert agent.run_graph(run.tracer_provider, "v2") == "All sunny."


def test_tool_node(agent_baseline):
    with agent_baseline() as run:
        assert agent.run_graph(run.tracer_provider, "v1") == "All sunny."


def test_threads(agent_baseline):
    with agent_baseline():
        assert agent.run_threads() == agent.CITIES
"""


def test_parallel_calls_give_byte_identical_baselines(pytester: pytest.Pytester) -> None:
    """Calls that ran in parallel (LangGraph's Send tasks and ToolNode, a thread pool whose
    calls start in a different order each time) are written in one order: recording again
    gives the same bytes, a matching run passes, one changed call is one finding."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    _project(pytester, test=PARALLEL_TEST, agent=PARALLEL_AGENT)
    names = ["test_send_tasks", "test_tool_node", "test_threads"]
    files: list[dict[str, str]] = []
    for turns in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2], [0, 1, 2, 3]):
        _set(pytester, TURNS=turns)
        _run(pytester, "--otel-replay-record").assert_outcomes(passed=3)
        files.append({n: _baseline(pytester, n).read_text() for n in names})
    assert all(f == files[0] for f in files[1:])
    # the calls the model asked for in the order it asked, the thread pool's by their inputs
    for n, tool, order in (
        ("test_send_tasks", "get_weather", ["Paris", "Lyon", "Oslo", "Rome"]),
        ("test_tool_node", "get_weather", ["Paris", "Lyon", "Oslo", "Rome"]),
        ("test_threads", "fetch_weather", ["Lyon", "Oslo", "Paris", "Rome"]),
    ):
        spans = _spans(_baseline(pytester, n))
        cities = [
            json.loads(str(_attr_value(s, "gen_ai.tool.call.arguments") or "{}")).get("city")
            or _attr_value(s, "input.value")
            for s in spans
            if s["name"] in (tool, f"execute_tool {tool}")
        ]
        assert cities == order, n
    _set(pytester, TURNS=[2, 3, 0, 1])
    _run(pytester).assert_outcomes(passed=3)
    # one call answers differently: one finding per test, on that call (the weather lookup),
    # the tool returning its answer as its related change, whatever order the calls ran in
    _set(pytester, CLOUDY="Oslo", TURNS=[3, 1, 2, 0])
    result = _run(pytester)
    result.assert_outcomes(failed=3)
    out = _failures(result)
    findings = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("[")]
    assert findings == [
        *["[warning] output_changed: output of tool 'lookup_weather' changed at step 6: $.sky"] * 2,
        "[warning] output_changed: output of tool 'lookup_weather' changed at step 4: $.sky",
    ]
    assert [ln.strip() for ln in out.splitlines() if ln.strip().startswith("caused:")] == [
        *["caused: output_changed: output of tool 'get_weather' changed at step 5: $.sky"] * 2,
        "caused: output_changed: output of tool 'fetch_weather' changed at step 3: $.sky",
    ]
    assert out.count('+ actual:   "cloudy"') == 6
    # the model asks for another city in place of the last one: findings at that call's place
    _set(pytester, CLOUDY=None, CITIES=["Paris", "Lyon", "Oslo", "Bern"], TURNS=[1, 0, 3, 2])
    result = _run(pytester, "-k", "not threads")
    result.assert_outcomes(failed=2)
    out = _failures(result)
    findings = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("[")]
    assert (
        findings
        == [
            "[warning] arguments_changed: arguments of tool 'get_weather' changed at step 7: $",
            "[warning] arguments_changed: arguments of tool 'lookup_weather' changed at step 8: $.city",
        ]
        * 2
    )


STALE_TEST = """
import agent


def test_weather(agent_baseline):
    with agent_baseline():
        agent.run_agent("weather in Paris?")


def test_twice(agent_baseline):
    with agent_baseline():
        agent.run_agent("weather?")
    with agent_baseline():
        agent.run_agent("weather again?")


def test_old(agent_baseline):
    with agent_baseline():
        agent.run_agent("old question")
"""

STALE_LINES = [
    "*2 stale agent baselines (no test uses them: the test was deleted or renamed, or has "
    "fewer blocks now):",
    "*  tests/agent_baselines/test_agent/test_old.jsonl",
    "*  tests/agent_baselines/test_agent/test_twice-2.jsonl",
    "*delete them with a run of the same tests with --otel-replay-record",
]


def test_stale_baselines_are_reported_for_fully_run_files_and_deleted_on_record(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, test=STALE_TEST)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=3)
    base = pytester.path / "tests" / "agent_baselines" / "test_agent"
    files = ["test_old.jsonl", "test_twice-2.jsonl", "test_twice.jsonl", "test_weather.jsonl"]
    assert sorted(p.name for p in base.iterdir()) == files
    # test_old deleted, test_twice down to one block
    text = STALE_TEST.split("\n\ndef test_old")[0].replace(
        '    with agent_baseline():\n        agent.run_agent("weather again?")\n', ""
    )
    pytester.makepyfile(test_agent=text)
    result = _run(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == 0  # reported, not a failure
    result.stdout.fnmatch_lines(STALE_LINES)
    # partial runs do not know what the other tests use: no report
    for args in (
        ["-k", "test_weather"],
        ["test_agent.py::test_twice"],
        ["--deselect", "test_agent.py::test_twice"],
    ):
        result = _run(pytester, *args)
        assert "stale agent baseline" not in result.stdout.str(), args
    # stopped early (-x): the rest did not run
    _set(pytester, CITY="Oslo")
    result = _run(pytester, "-x")
    result.assert_outcomes(failed=1)
    assert "stale agent baseline" not in result.stdout.str()
    _set(pytester, CITY="Paris")
    # a failing test keeps its files (it may still want them), so does a skipped one
    pytester.makepyfile(
        test_agent=text.replace(
            "def test_twice(agent_baseline):\n",
            "def test_twice(agent_baseline):\n    assert False\n",
        )
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 stale agent baseline (no test uses them*",
            "*  tests/agent_baselines/test_agent/test_old.jsonl",
        ]
    )
    assert "test_twice-2.jsonl" not in result.stdout.str()
    # --otel-replay-record deletes them
    pytester.makepyfile(test_agent=text)
    result = _run(pytester, "--otel-replay-record")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*deleted 2 stale agent baselines (no test uses them):",
            "*  tests/agent_baselines/test_agent/test_old.jsonl",
            "*  tests/agent_baselines/test_agent/test_twice-2.jsonl",
        ]
    )
    assert sorted(p.name for p in base.iterdir()) == ["test_twice.jsonl", "test_weather.jsonl"]
    result = _run(pytester)
    result.assert_outcomes(passed=2)
    assert "stale agent baseline" not in result.stdout.str()


def test_baselines_of_a_deleted_test_file_are_stale(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_other=TEST.replace("test_weather", "test_other"))
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=2)
    (pytester.path / "test_other.py").unlink()
    # even a partial run sees that the file is gone
    result = _run(pytester, "test_agent.py::test_weather")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 stale agent baseline (no test uses them*",
            "*  tests/agent_baselines/test_other/test_other.jsonl",
        ]
    )
    result = _run(pytester, "--otel-replay-record")
    result.stdout.fnmatch_lines(["*deleted 1 stale agent baseline (no test uses them):"])
    assert not (pytester.path / "tests" / "agent_baselines" / "test_other").exists()
    assert _baseline(pytester).is_file()


def test_stale_baselines_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _project(pytester, test=STALE_TEST)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=3)
    text = STALE_TEST.split("\n\ndef test_old")[0].replace(
        '    with agent_baseline():\n        agent.run_agent("weather again?")\n', ""
    )
    pytester.makepyfile(test_agent=text)
    result = _run(pytester, "-p", "xdist.plugin", "-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(STALE_LINES)
    result = _run(pytester, "-p", "xdist.plugin", "-n", "2", "-k", "test_weather")
    result.assert_outcomes(passed=1)
    assert "stale agent baseline" not in result.stdout.str()


def test_canonical_order_reorders_only_concurrent_siblings() -> None:
    from otel_replay.pytest_plugin.ordering import canonical_order

    def span(sid: str, name: str, start: int, end: int, parent: str = "p") -> dict[str, object]:
        return {
            "spanId": sid,
            "parentSpanId": parent,
            "name": name,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
        }

    root = {"spanId": "p", "name": "root", "startTimeUnixNano": "0", "endTimeUnixNano": "100"}
    names = lambda spans, threads=None: [  # noqa: E731
        spans[i]["name"] for i in canonical_order(spans, threads)
    ]
    # one after the other: the order they ran in, whatever their names
    assert names([root, span("a", "z", 1, 2), span("b", "y", 3, 4)]) == ["root", "z", "y"]
    # interleaved on one thread (asyncio tasks): by what they did
    assert names([root, span("a", "z", 1, 5), span("b", "y", 2, 6)]) == ["root", "y", "z"]
    # one inside the other on one thread (a span that was not made current): nested, kept
    assert names([root, span("a", "z", 1, 6), span("b", "y", 2, 5)]) == ["root", "z", "y"]
    # overlapping on two threads: by what they did; the children follow their parent
    spans = [root, span("a", "z", 1, 6), span("b", "y", 2, 5), span("c", "x", 3, 4, "a")]
    assert names(spans, {"p": 1, "a": 2, "b": 3, "c": 2}) == ["root", "y", "z", "x"]


def test_parallel_langgraph_tools_replay_without_their_nested_calls(
    pytester: pytest.Pytester,
) -> None:
    """Four LangChain tools run in parallel worker threads, each calling a @traced_tool:
    replay serves the four tools and the two model calls, and expects none of the nested
    calls."""
    pytest.importorskip("langgraph.prebuilt")
    pytest.importorskip("openinference.instrumentation.langchain")
    test = PARALLEL_TEST.split("\n\ndef test_threads")[0] + "\n"
    _project(pytester, test=test, agent=PARALLEL_AGENT)
    _run(pytester, "--otel-replay-record").assert_outcomes(passed=2)
    stats = "    assert run.reexecution.stats == {'served': 6, 'live': 0, 'miss': 0}\n"
    replay = test.replace("agent_baseline()", "agent_baseline(replay=True)").replace(
        '== "All sunny."\n', '== "All sunny."\n' + stats
    )
    pytester.makepyfile(test_agent=replay)
    _run(pytester).assert_outcomes(passed=2)
