"""otel-replay: record, restore, replay and drift detection for AI agents on OpenTelemetry."""

from __future__ import annotations

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import IncompleteHistoryError, ReplayProcessor
from otel_replay.capture.spans import (
    agent_run,
    decision,
    llm_call,
    session,
    tool_call,
    traced_llm,
    traced_tool,
)
from otel_replay.core.version import __version__
from otel_replay.drift.compare import compare
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.policy import DriftKind, DriftPolicy, Severity
from otel_replay.drift.processor import DriftProcessor
from otel_replay.drift.report import DriftReport
from otel_replay.drift.sessions import SessionMatchError
from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
)
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointRedactionError,
    CheckpointStateError,
    CheckpointStateTooLargeError,
    CheckpointStoreError,
    LangGraphRestoreError,
    UnorderedHistoryError,
)
from otel_replay.model.steps import Step, normalize_span
from otel_replay.model.stores import (
    CheckpointStore,
    DirectoryCheckpointStore,
    InMemoryCheckpointStore,
    set_checkpoint_store,
)
from otel_replay.pytest_plugin.config import AgentBaselineConfigError
from otel_replay.replay.events import CancelToken
from otel_replay.replay.reexecution import DivergenceError, RecordedStepError, Reexecution
from otel_replay.restore.api import RestoreResult, arestore, restore
from otel_replay.restore.errors import DriftTrackingError, RestoreError
from otel_replay.restore.hooks import register_restore_hook, restore_hooks, unregister_restore_hook
from otel_replay.restore.http_client import (
    BackendAuthError,
    BackendError,
    BackendNotFoundError,
    BackendResponseError,
    BackendUnreachableError,
    TraceNotFoundError,
)
from otel_replay.setup.configuration import Configuration, ConfigurationError, configure

__all__ = [
    "SessionMatchError",
    "AgentBaselineConfigError",
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
    "Configuration",
    "ConfigurationError",
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
    "configure",
    "load_recording",
    "register_restore_hook",
    "restore",
    "restore_hooks",
    "unregister_restore_hook",
    # exceptions and warnings (docs/errors.md)
    "BackendAuthError",
    "BackendError",
    "BackendNotFoundError",
    "BackendResponseError",
    "BackendUnreachableError",
    "DriftTrackingError",
    "LangGraphRestoreError",
    "RecordedStepError",
    "RecordingError",
    "RecordingFormatError",
    "RecordingSizeError",
    "RecordingWarning",
    "RestoreError",
    "TraceNotFoundError",
    "UnorderedHistoryError",
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
