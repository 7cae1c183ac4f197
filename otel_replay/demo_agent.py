"""Deprecated: the names of ``otel_replay.demo_agent`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.cli import demo_agent as _m0

__getattr__, __dir__ = moved(
    "otel_replay.demo_agent",
    {
        "AgentState": _m0,
        "CHANGED_CORPUS": _m0,
        "CORPUS": _m0,
        "ResearchAgent": _m0,
        "ScriptedModel": _m0,
    },
)
