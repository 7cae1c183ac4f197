"""What a fake model says, turn by turn, and what the tools return: one agent run.

The scripted scenarios are the planted changes the drift tests look for (:data:`SCENARIOS`):
each is the baseline with exactly one behaviour changed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

PROMPT = "What is the weather in Paris?"
MODEL = "fake-gpt-1"


@dataclass(frozen=True)
class Call:
    """One tool call the model asks for."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Script:
    """A run: ``turns[i]`` is the model's i-th answer, a list of parallel tool calls or the
    final text; ``world`` is what the tools see (e.g. the weather)."""

    turns: tuple[tuple[Call, ...] | str, ...]
    world: dict[str, Any] = field(default_factory=lambda: {"weather": "sunny"})

    def turn(self, index: int) -> tuple[Call, ...] | str:
        """The answer to the model's ``index``-th call (past the end: the last answer)."""
        return self.turns[min(index, len(self.turns) - 1)]


#: How long each tool runs.
TOOL_SECONDS = 0.03


def _run(world: dict[str, Any]) -> None:
    """A tool's work: the calls of a parallel turn (``world["gate"]``, a barrier for that
    many calls) wait until all have started, so they overlap in time however the machine
    schedules their threads, as real slow tools do."""
    gate = world.get("gate")
    if gate is not None:
        try:
            gate.wait(timeout=10)
        except threading.BrokenBarrierError:  # pragma: no cover - a call never came
            gate.reset()
    time.sleep(TOOL_SECONDS)


def weather(world: dict[str, Any], city: str) -> str:
    _run(world)
    return f"{world['weather']} in {city}"


def forecast(world: dict[str, Any], city: str) -> str:
    _run(world)
    return f"tomorrow {world['weather']} in {city}"


def local_time(world: dict[str, Any], city: str) -> str:
    _run(world)
    return f"12:00 in {city}"


#: Tool implementations by name, shared by every framework's agent.
TOOLS = {"get_weather": weather, "get_forecast": forecast, "get_time": local_time}
TOOL_DOCS = {
    "get_weather": "Current weather for a city.",
    "get_forecast": "Tomorrow's weather for a city.",
    "get_time": "Local time in a city.",
}

ANSWER = "It is sunny in Paris."
BASELINE = Script(turns=((Call("get_weather", {"city": "Paris"}),), ANSWER))
#: Two tool calls issued together by one model call (and run concurrently).
PARALLEL = Script(
    turns=((Call("get_weather", {"city": "Paris"}), Call("get_time", {"city": "Paris"})), ANSWER),
    world={"weather": "sunny", "gate": threading.Barrier(2)},
)

SCENARIOS: dict[str, Script] = {
    "same": BASELINE,
    "tool_changed": replace(BASELINE, turns=((Call("get_forecast", {"city": "Paris"}),), ANSWER)),
    "arguments_changed": replace(
        BASELINE, turns=((Call("get_weather", {"city": "Lyon"}),), ANSWER)
    ),
    "result_changed": replace(BASELINE, world={"weather": "rainy"}),
    "extra_call": replace(
        BASELINE,
        turns=(
            (Call("get_weather", {"city": "Paris"}),),
            (Call("get_time", {"city": "Paris"}),),
            ANSWER,
        ),
    ),
    "answer_changed": replace(BASELINE, turns=(BASELINE.turns[0], "It is raining in Paris.")),
    "parallel": PARALLEL,
    "parallel_reordered": replace(
        PARALLEL,
        turns=(
            (Call("get_time", {"city": "Paris"}), Call("get_weather", {"city": "Paris"})),
            ANSWER,
        ),
    ),
}
