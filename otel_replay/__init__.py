"""otel-replay: record, restore, replay and drift detection for AI agents on OpenTelemetry."""

from __future__ import annotations

__version__ = "0.1.0"

from otel_replay.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
    CheckpointStore,
    CheckpointStoreError,
    DirectoryCheckpointStore,
    InMemoryCheckpointStore,
    checkpoint,
    set_checkpoint_store,
)
from otel_replay.processor import IncompleteHistoryError, ReplayProcessor
from otel_replay.record import (
    agent_run,
    decision,
    llm_call,
    session,
    tool_call,
    traced_llm,
    traced_tool,
)
from otel_replay.steps import Step, normalize_span

__all__ = [
    "__version__",
    "Checkpoint",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointStateError",
    "CheckpointStateTooLargeError",
    "CheckpointStore",
    "CheckpointStoreError",
    "DirectoryCheckpointStore",
    "InMemoryCheckpointStore",
    "IncompleteHistoryError",
    "ReplayProcessor",
    "Step",
    "agent_run",
    "checkpoint",
    "decision",
    "llm_call",
    "normalize_span",
    "session",
    "set_checkpoint_store",
    "tool_call",
    "traced_llm",
    "traced_tool",
]
