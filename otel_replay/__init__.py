"""otel-replay: record, restore, replay and drift detection for AI agents on OpenTelemetry."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from otel_replay.restore.hooks import (
        register_restore_hook,
        restore_hooks,
        unregister_restore_hook,
    )
    from otel_replay.restore.http_client import (
        BackendAuthError,
        BackendError,
        BackendNotFoundError,
        BackendResponseError,
        BackendUnreachableError,
        TraceNotFoundError,
    )
    from otel_replay.setup.configuration import Configuration, ConfigurationError, configure

#: public name -> the module that defines it (imported on first use: ``python -m
#: otel_replay.cli`` and library users load only what they touch)
_LAZY: dict[str, str] = {
    "checkpoint": "otel_replay.capture.checkpoint",
    "IncompleteHistoryError": "otel_replay.capture.processor",
    "ReplayProcessor": "otel_replay.capture.processor",
    "agent_run": "otel_replay.capture.spans",
    "decision": "otel_replay.capture.spans",
    "llm_call": "otel_replay.capture.spans",
    "session": "otel_replay.capture.spans",
    "tool_call": "otel_replay.capture.spans",
    "traced_llm": "otel_replay.capture.spans",
    "traced_tool": "otel_replay.capture.spans",
    "__version__": "otel_replay.core.version",
    "compare": "otel_replay.drift.compare",
    "DriftFinding": "otel_replay.drift.findings",
    "DriftKind": "otel_replay.drift.policy",
    "DriftPolicy": "otel_replay.drift.policy",
    "Severity": "otel_replay.drift.policy",
    "DriftProcessor": "otel_replay.drift.processor",
    "DriftReport": "otel_replay.drift.report",
    "SessionMatchError": "otel_replay.drift.sessions",
    "RecordingError": "otel_replay.formats.errors",
    "RecordingFormatError": "otel_replay.formats.errors",
    "RecordingSizeError": "otel_replay.formats.errors",
    "RecordingWarning": "otel_replay.formats.errors",
    "RecordingExporter": "otel_replay.formats.exporter",
    "load_recording": "otel_replay.formats.files",
    "Checkpoint": "otel_replay.model.checkpoint",
    "CheckpointError": "otel_replay.model.errors",
    "CheckpointNotFoundError": "otel_replay.model.errors",
    "CheckpointRedactionError": "otel_replay.model.errors",
    "CheckpointStateError": "otel_replay.model.errors",
    "CheckpointStateTooLargeError": "otel_replay.model.errors",
    "CheckpointStoreError": "otel_replay.model.errors",
    "LangGraphRestoreError": "otel_replay.model.errors",
    "UnorderedHistoryError": "otel_replay.model.errors",
    "Step": "otel_replay.model.steps",
    "normalize_span": "otel_replay.model.steps",
    "CheckpointStore": "otel_replay.model.stores",
    "DirectoryCheckpointStore": "otel_replay.model.stores",
    "InMemoryCheckpointStore": "otel_replay.model.stores",
    "set_checkpoint_store": "otel_replay.model.stores",
    "AgentBaselineConfigError": "otel_replay.pytest_plugin.config",
    "CancelToken": "otel_replay.replay.events",
    "DivergenceError": "otel_replay.replay.reexecution",
    "RecordedStepError": "otel_replay.replay.reexecution",
    "Reexecution": "otel_replay.replay.reexecution",
    "RestoreResult": "otel_replay.restore.api",
    "arestore": "otel_replay.restore.api",
    "restore": "otel_replay.restore.api",
    "DriftTrackingError": "otel_replay.restore.errors",
    "RestoreError": "otel_replay.restore.errors",
    "register_restore_hook": "otel_replay.restore.hooks",
    "restore_hooks": "otel_replay.restore.hooks",
    "unregister_restore_hook": "otel_replay.restore.hooks",
    "BackendAuthError": "otel_replay.restore.http_client",
    "BackendError": "otel_replay.restore.http_client",
    "BackendNotFoundError": "otel_replay.restore.http_client",
    "BackendResponseError": "otel_replay.restore.http_client",
    "BackendUnreachableError": "otel_replay.restore.http_client",
    "TraceNotFoundError": "otel_replay.restore.http_client",
    "Configuration": "otel_replay.setup.configuration",
    "ConfigurationError": "otel_replay.setup.configuration",
    "configure": "otel_replay.setup.configuration",
}

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


def _module(module: str) -> types.ModuleType:
    """The defining module of a public name (static imports: no dynamic import)."""
    if module == "otel_replay.capture.checkpoint":
        import otel_replay.capture.checkpoint  # noqa: F401 (loads the module)
    elif module == "otel_replay.capture.processor":
        import otel_replay.capture.processor  # noqa: F401 (loads the module)
    elif module == "otel_replay.capture.spans":
        import otel_replay.capture.spans  # noqa: F401 (loads the module)
    elif module == "otel_replay.core.version":
        import otel_replay.core.version  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.compare":
        import otel_replay.drift.compare  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.findings":
        import otel_replay.drift.findings  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.policy":
        import otel_replay.drift.policy  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.processor":
        import otel_replay.drift.processor  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.report":
        import otel_replay.drift.report  # noqa: F401 (loads the module)
    elif module == "otel_replay.drift.sessions":
        import otel_replay.drift.sessions  # noqa: F401 (loads the module)
    elif module == "otel_replay.formats.errors":
        import otel_replay.formats.errors  # noqa: F401 (loads the module)
    elif module == "otel_replay.formats.exporter":
        import otel_replay.formats.exporter  # noqa: F401 (loads the module)
    elif module == "otel_replay.formats.files":
        import otel_replay.formats.files  # noqa: F401 (loads the module)
    elif module == "otel_replay.model.checkpoint":
        import otel_replay.model.checkpoint  # noqa: F401 (loads the module)
    elif module == "otel_replay.model.errors":
        import otel_replay.model.errors  # noqa: F401 (loads the module)
    elif module == "otel_replay.model.steps":
        import otel_replay.model.steps  # noqa: F401 (loads the module)
    elif module == "otel_replay.model.stores":
        import otel_replay.model.stores  # noqa: F401 (loads the module)
    elif module == "otel_replay.pytest_plugin.config":
        import otel_replay.pytest_plugin.config  # noqa: F401 (loads the module)
    elif module == "otel_replay.replay.events":
        import otel_replay.replay.events  # noqa: F401 (loads the module)
    elif module == "otel_replay.replay.reexecution":
        import otel_replay.replay.reexecution  # noqa: F401 (loads the module)
    elif module == "otel_replay.restore.api":
        import otel_replay.restore.api  # noqa: F401 (loads the module)
    elif module == "otel_replay.restore.errors":
        import otel_replay.restore.errors  # noqa: F401 (loads the module)
    elif module == "otel_replay.restore.hooks":
        import otel_replay.restore.hooks  # noqa: F401 (loads the module)
    elif module == "otel_replay.restore.http_client":
        import otel_replay.restore.http_client  # noqa: F401 (loads the module)
    elif module == "otel_replay.setup.configuration":
        import otel_replay.setup.configuration  # noqa: F401 (loads the module)
    else:
        raise AssertionError(module)  # every module of _LAZY has a case
    return sys.modules[module]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module: importing the ``otel_replay.restore`` subpackage does not hide
    the :func:`restore` function (the import system sets the package attribute of the same
    name to the subpackage; the function wins, as when it was imported eagerly)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
