"""The example project under examples/ci_gate: its committed baselines pass, recording
again reproduces them byte for byte, and the one-line change its README documents makes
both tests fail with the report the README shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ci_gate"
OLD = 'SYSTEM_PROMPT = "You are a weather assistant. Answer with the current weather."'
NEW = (
    'SYSTEM_PROMPT = "You are a weather assistant. Answer with the current weather and the '
    'local time."'
)
BASELINES = "tests/agent_baselines/test_agent"


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs load only the plugins they name (entry point scanning is slow)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _args(pytester: pytest.Pytester, *extra: str) -> list[str]:
    return ["-p", "otel_replay.pytest_plugin.plugin", "-p", "no:cacheprovider", *extra]


@pytest.fixture
def example(pytester: pytest.Pytester) -> pytest.Pytester:
    for item in EXAMPLE.iterdir():
        if item.name in ("__pycache__", ".pytest_cache"):
            continue
        dest = pytester.path / item.name
        if item.is_dir():
            shutil.copytree(item, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(item, dest)
    return pytester


def test_the_example_passes_with_its_committed_baselines(example: pytest.Pytester) -> None:
    result = example.runpytest(*_args(example))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*compared 2 sessions with their baselines: 0 failed"])


def test_recording_again_reproduces_the_committed_baselines(example: pytest.Pytester) -> None:
    committed = {p.name: p.read_bytes() for p in (EXAMPLE / BASELINES).glob("*.jsonl")}
    assert sorted(committed) == ["test_weather_agent.jsonl", "test_weather_agent_replayed.jsonl"]
    example.runpytest(*_args(example, "--otel-replay-record")).assert_outcomes(passed=2)
    for name, data in committed.items():
        assert (example.path / BASELINES / name).read_bytes() == data


def test_the_documented_one_line_change_fails_with_a_clear_report(
    example: pytest.Pytester,
) -> None:
    readme = (EXAMPLE / "README.md").read_text()
    assert f"-{OLD}\n+{NEW}\n" in readme
    agent = example.path / "weather_agent" / "agent.py"
    text = agent.read_text()
    assert text.count(OLD) == 1
    agent.write_text(text.replace(OLD, NEW))
    result = example.runpytest(*_args(example))
    result.assert_outcomes(failed=2)
    expected = [
        "agent run differs from its baseline tests/agent_baselines/test_agent/test_weather_agent.jsonl",
        "  [warning] unexpected_step: unexpected step at 4: tool 'get_local_time'",
        '        + actual:   {"kind": "tool", "name": "get_local_time", "sequence": 5}',
        "    caused: unexpected_step: unexpected step at 5: llm 'fake-weather-model'",
        "  pytest 'tests/test_agent.py::test_weather_agent' --otel-replay-record",
        "replay: the agent made 1 call that tests/agent_baselines/test_agent/"
        "test_weather_agent_replayed.jsonl does not have",
        "  at llm:fake-weather-model#1: the arguments differ from the recorded step "
        "llm:fake-weather-model#1",
    ]
    out = result.stdout.lines
    for line in expected:
        assert line in out
        assert line in readme  # the README shows the same report
