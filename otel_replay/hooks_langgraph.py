"""Deprecated: the names of ``otel_replay.hooks_langgraph`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.integrations.langgraph import hook as _m0
from otel_replay.model import errors as _m1

__getattr__, __dir__ = moved(
    "otel_replay.hooks_langgraph",
    {
        "LangGraphRestoreError": _m1,
        "LangGraphTarget": _m0,
        "langgraph_state": _m0,
        "restore_langgraph": _m0,
    },
)
