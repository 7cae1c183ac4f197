"""Registry of runs whose drift is tracked against a recorded baseline.

:func:`otel_replay.restore.api.restore` registers a :class:`TrackedRun` when called with
``track_drift=True``; :class:`otel_replay.drift.processor.DriftProcessor` consults the registry
when spans of that session end. Sessions can also be registered explicitly.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_replay.model.steps import Step

__all__ = ["TrackedRun", "TrackingRegistry", "REGISTRY"]


@dataclass
class TrackedRun:
    """A candidate session compared with ``baseline`` (recorded steps after a checkpoint)."""

    session_id: str
    baseline: Sequence[Step]
    checkpoint_id: str | None = None
    source_session_id: str | None = None
    source_trace_id: str | None = None
    agent_name: str | None = None
    policy: Any = None  # otel_replay.drift.policy.DriftPolicy | None
    mode: str = "align"
    extra: dict[str, Any] = field(default_factory=dict)
    #: The drift report, set by the DriftProcessor when the run ends.
    report: Any = None  # otel_replay.drift.report.DriftReport | None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def drift_detected(self) -> bool | None:
        """Whether the finished run drifted; ``None`` while it has not been compared."""
        return None if self.report is None else bool(self.report.has_drift)


class TrackingRegistry:
    """Thread-safe, bounded map session id -> :class:`TrackedRun`."""

    def __init__(self, max_runs: int = 10_000) -> None:
        self._runs: OrderedDict[str, TrackedRun] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_runs
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def register(self, run: TrackedRun) -> TrackedRun:
        with self._lock:
            self._runs[run.session_id] = run
            self._runs.move_to_end(run.session_id)
            while len(self._runs) > self._max:
                self._runs.popitem(last=False)
        return run

    def unregister(self, session_id: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.pop(session_id, None)

    def get(self, session_id: str) -> TrackedRun | None:
        return self._runs.get(session_id)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()


REGISTRY = TrackingRegistry()
