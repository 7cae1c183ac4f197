"""A small tool-using agent: a fake chat model decides which tools to call.

Everything is traced with otel-replay's helpers (``agent_run``, ``traced_tool``,
``traced_llm``), so the ``agent_baseline`` fixture records each model and tool call.
The model is fake (rules over the prompt, no network, no keys) but behaves like a real
one for the test: what it asks for depends on the prompt it is given.
"""

from __future__ import annotations

import json
from typing import Any

from otel_replay import agent_run, traced_llm, traced_tool

SYSTEM_PROMPT = "You are a weather assistant. Answer with the current weather."

_WEATHER = {
    "paris": {"sky": "sunny", "temperature_c": 21},
    "oslo": {"sky": "snow", "temperature_c": -3},
}
_TIMEZONES = {"paris": "Europe/Paris", "oslo": "Europe/Oslo"}


@traced_tool()
def get_weather(city: str) -> dict[str, Any]:
    """Current weather of ``city``."""
    return {"city": city, **_WEATHER[city.lower()]}


@traced_tool()
def get_local_time(city: str) -> dict[str, str]:
    """Local time of ``city`` (fixed, so the example is deterministic)."""
    return {"city": city, "timezone": _TIMEZONES[city.lower()], "time": "14:05"}


@traced_llm("fake-weather-model")
def chat(messages: list[dict[str, Any]]) -> str:
    """The fake model: asks for the tools its system prompt calls for, then answers."""
    system = messages[0]["content"].lower()
    city = messages[1]["content"].rsplit(" ", 1)[-1].strip("?")
    seen = {m["name"] for m in messages if m["role"] == "tool"}
    wanted = ["get_weather"] + (["get_local_time"] if "time" in system else [])
    for tool in wanted:
        if tool not in seen:
            return json.dumps({"tool": tool, "arguments": {"city": city}})
    facts = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    return "; ".join(", ".join(f"{k}: {v}" for k, v in f.items()) for f in facts)


TOOLS = {"get_weather": get_weather, "get_local_time": get_local_time}


def run(question: str) -> str:
    """Run the agent loop on ``question`` until the model answers in text."""
    with agent_run("weather-agent", session_id="weather"):
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]
        for _ in range(5):
            reply = chat(messages)
            try:
                call = json.loads(reply)
            except ValueError:
                return reply
            result = TOOLS[call["tool"]](**call["arguments"])
            messages.append({"role": "tool", "name": call["tool"], "content": json.dumps(result)})
        raise RuntimeError("the model did not answer in 5 rounds")
