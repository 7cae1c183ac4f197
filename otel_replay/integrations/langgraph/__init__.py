"""LangGraph integration: :class:`ReplayCheckpointer` records LangGraph's checkpoints as
otel-replay checkpoints; :class:`LangGraphTarget` and :func:`restore_langgraph` resume a
real graph at a recorded checkpoint; :func:`langgraph_state` captures a thread's state."""

try:
    import langgraph.checkpoint.base  # noqa: F401
    import langgraph.types  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised with langgraph hidden
    raise ImportError(
        "the LangGraph integration needs langgraph: pip install otel-replay[langgraph]"
    ) from exc

from otel_replay.integrations.langgraph.checkpointer import CheckpointInfo, ReplayCheckpointer
from otel_replay.integrations.langgraph.hook import (
    CONFIG_KEY,
    LAST_NODES_KEY,
    SENDS_KEY,
    LangGraphRestoreError,
    LangGraphTarget,
    langgraph_state,
    restore_langgraph,
)

__all__ = [
    "ReplayCheckpointer",
    "CheckpointInfo",
    "LangGraphTarget",
    "LangGraphRestoreError",
    "restore_langgraph",
    "langgraph_state",
    "LAST_NODES_KEY",
    "SENDS_KEY",
    "CONFIG_KEY",
]
