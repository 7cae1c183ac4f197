"""The DriftProcessor of ``otel-replay serve``: the in-process comparison, with the worker's
shortcuts around it (same output). A span it gives events (a run's root, drifting steps) is
exported as the bytes received with the events' bytes appended, not encoded again (each
event's name and attributes are encoded once, :class:`~otel_replay.serve.event_bytes.EventEncoder`);
each baseline is profiled once (its content notes with it); the drift metrics are added once per request for all the
runs it ended (:meth:`ServeDrift.flush_counts`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import Counter
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_replay.drift.fingerprint import RunProfile
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.processor import DriftProcessor
from otel_replay.drift.report import DriftReport
from otel_replay.restore.tracking import TrackedRun
from otel_replay.serve.event_bytes import EventEncoder
from otel_replay.serve.log_bytes import LogBytesEmitter
from otel_replay.serve.log_export import LogExport
from otel_replay.serve.split import RECEIVED

__all__ = ["ServeDrift"]

_PROFILES = 64  # baseline profiles kept (by baseline, policy and mode)


class ServeDrift(DriftProcessor):
    """A :class:`~otel_replay.drift.processor.DriftProcessor` that calls ``on_finished(session
    id)`` once a run was compared; with ``log_export``, its log events are written as OTLP
    bytes to it (:class:`~otel_replay.serve.log_bytes.LogBytesEmitter`) rather than through a
    ``logger_provider``."""

    _sdk_spans = False  # received spans: OTEL_SDK_DISABLED does not stop them

    def __init__(
        self,
        *args: Any,
        on_finished: Callable[[str], Any],
        log_export: LogExport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if log_export is not None:
            events = self.log_events
            self.log_events = LogBytesEmitter(events.mode, log_export, events.evaluation)
        self._on_finished = on_finished
        self._profiles: dict[tuple[int, int, str], tuple[Any, DriftPolicy, RunProfile]] = {}
        self._pending_counts: dict[tuple[Counter, tuple[tuple[str, AttributeValue], ...]], int]
        self._pending_counts = {}
        self._counts_lock = threading.Lock()
        self._events = EventEncoder()
        self._notes: dict[int, tuple[RunProfile, list[str]]] = {}

    def finish(self, session_id: str) -> DriftReport | None:
        report = super().finish(session_id)
        self._on_finished(session_id)
        return report

    def _count(self, counter: Counter, attributes: dict[str, AttributeValue]) -> None:
        # added by flush_counts, once per request for all the runs it ended
        key = (counter, tuple(attributes.items()))
        with self._counts_lock:
            self._pending_counts[key] = self._pending_counts.get(key, 0) + 1

    def flush_counts(self) -> None:
        """Add the counts of the runs compared since the last call to the drift metrics."""
        with self._counts_lock:
            pending, self._pending_counts = self._pending_counts, {}
        for (counter, attributes), n in pending.items():
            counter.add(n, dict(attributes))

    def shutdown(self, timeout_millis: int | None = None) -> None:
        super().shutdown(timeout_millis)
        self.flush_counts()

    def _baseline_profile(self, run: TrackedRun, policy: DriftPolicy, mode: str) -> RunProfile:
        # the baselines are the finder's lists, shared by every run of their checkpoint (and
        # kept here, so that their ids are not reused)
        key = (id(run.baseline), id(policy), mode)
        hit = self._profiles.get(key)
        if hit is not None and hit[0] is run.baseline and hit[1] is policy:
            return hit[2]
        prof = super()._baseline_profile(run, policy, mode)
        if len(self._profiles) >= _PROFILES:
            self._profiles.clear()
        self._profiles[key] = (run.baseline, policy, prof)
        return prof

    def _agreeing_notes(self, base: RunProfile) -> list[str]:
        # the baselines' profiles are kept (_baseline_profile): their notes with them
        hit = self._notes.get(id(base))
        if hit is not None and hit[0] is base:
            return hit[1]
        notes = super()._agreeing_notes(base)
        if len(self._notes) >= _PROFILES:
            self._notes.clear()
        self._notes[id(base)] = (base, notes)
        return notes

    def with_events(self, span: ReadableSpan, extra: list[Event]) -> ReadableSpan:
        """The span to export in place of ``span``: ``extra`` events appended (to the bytes
        received, when it was received)."""
        return self._with_events(span, extra)

    def _with_events(self, span: ReadableSpan, extra: list[Event]) -> ReadableSpan:
        out = super()._with_events(span, extra)
        received = getattr(span, RECEIVED, None)
        if received is not None:  # exported as the bytes received and those of the events
            setattr(out, RECEIVED, (received[0], received[1] + self._events.encode(extra)))
        return out
