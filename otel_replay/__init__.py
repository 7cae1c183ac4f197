"""otel-replay: record, restore, replay and drift detection for AI agents on OpenTelemetry."""

from __future__ import annotations

__version__ = "0.1.0"

from otel_replay.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointRedactionError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
    CheckpointStore,
    CheckpointStoreError,
    DirectoryCheckpointStore,
    InMemoryCheckpointStore,
    checkpoint,
    set_checkpoint_store,
)
from otel_replay.drift import DriftFinding, DriftKind, DriftPolicy, DriftReport, Severity, compare
from otel_replay.drift_processor import DriftProcessor
from otel_replay.hooks import register_restore_hook, restore_hooks, unregister_restore_hook
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
from otel_replay.recordings import RecordingExporter, load_recording
from otel_replay.replay import CancelToken, DivergenceError, Reexecution
from otel_replay.restore import RestoreResult, arestore, restore
from otel_replay.steps import Step, normalize_span

__all__ = [
    "__version__",
    "Checkpoint",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointRedactionError",
    "CheckpointStateError",
    "CheckpointStateTooLargeError",
    "CheckpointStore",
    "CheckpointStoreError",
    "DirectoryCheckpointStore",
    "InMemoryCheckpointStore",
    "IncompleteHistoryError",
    "CancelToken",
    "DivergenceError",
    "DriftFinding",
    "DriftKind",
    "DriftPolicy",
    "DriftProcessor",
    "DriftReport",
    "RecordingExporter",
    "Reexecution",
    "RestoreResult",
    "Severity",
    "arestore",
    "compare",
    "load_recording",
    "register_restore_hook",
    "restore",
    "restore_hooks",
    "unregister_restore_hook",
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
