"""``DriftProcessor``: compares tracked runs with their baseline and reports drift in the
exported data (span events on the drifting spans) and as OTel metrics.

The SDK's ``ReadableSpan`` is immutable at ``on_end``, so the processor wraps the export
processor(s) and hands them an *enriched copy* of each span of a tracked session. Spans of a
tracked session are held until the run ends (its root span ends, or :meth:`finish`): only then
can an inserted step be told from a substituted one, so the alignment is exact. Untracked
sessions pass straight through.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import AttributeValue

from otel_replay.core import conventions as c
from otel_replay.core.selfmetrics import ErrorReporter, get_meter, logger
from otel_replay.drift.compare import compare, compare_profiled, no_drift_report
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.fingerprint import RunProfile, fingerprint, profile
from otel_replay.drift.linking import _content_notes as content_notes
from otel_replay.drift.policy import DriftPolicy, Severity
from otel_replay.drift.report import DriftReport
from otel_replay.model.span_shapes import _classify as classify
from otel_replay.model.steps import (
    Step,
    normalize_span,
    span_attributes,
    span_parts,
    step_from_parts,
)
from otel_replay.restore.tracking import REGISTRY, TrackedRun, TrackingRegistry

__all__ = ["DriftProcessor", "finding_event_attributes", "summary_event_attributes"]

_MAX_VALUE_CHARS = 4096
_SESSION_ID = c.SESSION_ID
_NOOP_ON_START = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)
_NOOP_ON_ENDING = frozenset(
    {SpanProcessor._on_ending, BatchSpanProcessor._on_ending, SimpleSpanProcessor._on_ending}
)


def _json_attr(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def finding_event_attributes(f: DriftFinding) -> dict[str, AttributeValue]:
    """Attributes of the ``agent_replay.drift`` span event for one finding."""
    attrs: dict[str, AttributeValue] = {
        c.DRIFT_KIND: f.kind.value,
        c.DRIFT_SEVERITY: f.severity.value,
        c.DRIFT_DESCRIPTION: f.description,
        c.DRIFT_EXPECTED: _json_attr(f.expected),
        c.DRIFT_ACTUAL: _json_attr(f.actual),
        c.DRIFT_POSITION: f.position,
    }
    if f.paths:
        attrs[c.DRIFT_PATHS] = list(f.paths)
    if f.baseline is not None:
        attrs[c.DRIFT_BASELINE_SPAN_ID] = f.baseline.span_id
        if f.baseline.sequence is not None:
            attrs[c.DRIFT_BASELINE_SEQUENCE] = f.baseline.sequence
    if f.candidate is not None:
        attrs[c.DRIFT_CANDIDATE_SPAN_ID] = f.candidate.span_id
        if f.candidate.sequence is not None:
            attrs[c.DRIFT_CANDIDATE_SEQUENCE] = f.candidate.sequence
    return attrs


def summary_event_attributes(report: DriftReport) -> dict[str, AttributeValue]:
    """Attributes of the ``agent_replay.drift.summary`` event."""
    sev = report.counts_by_severity
    attrs: dict[str, AttributeValue] = {
        c.DRIFT_HAS_DRIFT: report.has_drift,
        c.DRIFT_FINDINGS_TOTAL: len(report.findings),
        c.DRIFT_CRITICAL_TOTAL: sev.get("critical", 0),
        c.DRIFT_WARNING_TOTAL: sev.get("warning", 0),
        c.DRIFT_INFO_TOTAL: sev.get("info", 0),
    }
    if report.first_divergence is not None:
        attrs[c.DRIFT_FIRST_DIVERGENCE] = _json_attr(report.first_divergence.to_dict())
    return attrs


class _Held:
    """A tracked run's spans until it ends, and its profile built as they end.

    ``entries`` holds ``(sequence key, signature, fingerprint, span)`` of each compared span,
    computed while the span is fresh; ``None`` once a span made the shortcut impossible
    (a step at or over the latency floor).
    """

    __slots__ = ("run", "spans", "overflowed", "policy", "entries")

    def __init__(self, run: TrackedRun, policy: DriftPolicy) -> None:
        self.run = run
        self.spans: list[ReadableSpan] = []
        self.overflowed = False
        self.policy = policy
        self.entries: list[tuple[int, tuple[str, str], tuple[Any, ...], ReadableSpan]] | None = []


class DriftProcessor(SpanProcessor):
    """Wraps export processor(s); enriches spans of tracked runs with drift span events.

    Add it to the ``TracerProvider`` *after* :class:`~otel_replay.capture.processor.ReplayProcessor`
    (which stamps session and step numbers) and *instead of* the export processors it wraps::

        provider.add_span_processor(ReplayProcessor())
        provider.add_span_processor(DriftProcessor(BatchSpanProcessor(OTLPSpanExporter())))
    """

    def __init__(
        self,
        downstream: SpanProcessor | Sequence[SpanProcessor],
        *,
        registry: TrackingRegistry | None = None,
        policy: DriftPolicy | None = None,
        meter_provider: MeterProvider | None = None,
        max_held_spans: int = 10_000,
        max_reports: int = 1_000,
        log_events: bool = False,
        logger_provider: Any = None,
    ) -> None:
        self._downstream: tuple[SpanProcessor, ...] = (
            (downstream,) if isinstance(downstream, SpanProcessor) else tuple(downstream)
        )
        # Only call hooks that do something (the SDK's export processors' are no-ops).
        self._start_targets = tuple(
            p for p in self._downstream if type(p).on_start not in _NOOP_ON_START
        )
        self._ending_targets = tuple(
            p for p in self._downstream if type(p)._on_ending not in _NOOP_ON_ENDING
        )
        self.registry = registry if registry is not None else REGISTRY
        # The registry's own dict: a C-level membership test per span (the hot path).
        runs = getattr(self.registry, "_runs", None)
        self._tracked: dict[str, TrackedRun] | None = (
            runs if type(self.registry) is TrackingRegistry and isinstance(runs, dict) else None
        )
        self.policy = policy
        self._default_policy: DriftPolicy | None = None
        self.max_held_spans = max_held_spans
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._pending_flush: dict[int, threading.Thread] = {}
        self.reports: OrderedDict[str, DriftReport] = OrderedDict()
        self._max_reports = max_reports
        meter = get_meter(meter_provider)
        self.errors = ErrorReporter("drift_processor", meter)
        self._findings = meter.create_counter(
            c.METRIC_DRIFT_FINDINGS, unit="{finding}", description="Drift findings"
        )
        self._runs = meter.create_counter(
            c.METRIC_RUNS_COMPARED, unit="{run}", description="Runs compared with a baseline"
        )
        self._critical_runs = meter.create_counter(
            c.METRIC_RUNS_CRITICAL, unit="{run}", description="Runs with critical drift"
        )
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                proc = ref()
                if proc is not None:
                    proc._after_fork()

            os.register_at_fork(after_in_child=_after_fork_in_child)
        self._event_logger = None
        if log_events:
            from opentelemetry._logs import get_logger

            self._event_logger = (
                logger_provider.get_logger(c.METER_NAME)
                if logger_provider is not None
                else get_logger(c.METER_NAME)
            )

    # ------------------------------------------------------------------ registration

    def track(
        self,
        session_id: str,
        baseline: Sequence[Step],
        *,
        policy: DriftPolicy | None = None,
        agent_name: str | None = None,
        mode: str = "align",
    ) -> TrackedRun:
        """Track ``session_id`` against ``baseline`` explicitly (without a restore)."""
        return self.registry.register(
            TrackedRun(
                session_id=session_id,
                baseline=list(baseline),
                policy=policy,
                agent_name=agent_name,
                mode=mode,
            )
        )

    # ------------------------------------------------------------------ SpanProcessor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for p in self._start_targets:
            try:
                p.on_start(span, parent_context=parent_context)
            except Exception as exc:
                self.errors.report("downstream.on_start", exc)

    def _on_ending(self, span: Span) -> None:
        for p in self._ending_targets:
            try:
                p._on_ending(span)
            except Exception as exc:
                self.errors.report("downstream.on_ending", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            runs = self._tracked
            if runs is not None and not runs:
                tracked = False  # nothing is tracked: no need to look at the span
            else:
                try:
                    attrs: Any = span._attributes._dict  # type: ignore[union-attr]
                except AttributeError:
                    attrs = span.attributes or {}
                sid = attrs.get(_SESSION_ID)
                tracked = sid is not None and (
                    sid in runs if runs is not None else sid in self.registry
                )
        except Exception as exc:
            self.errors.report("on_end", exc)
            tracked = False
        if tracked:
            try:
                self._hold(sid, span)
            except Exception as exc:
                self.errors.report("hold", exc)
            return
        for p in self._downstream:
            try:
                p.on_end(span)
            except Exception as exc:
                self.errors.report("downstream.on_end", exc)

    def _hold(self, sid: Any, span: ReadableSpan) -> None:
        run = self.registry.get(sid)
        if run is None:
            self._forward(span)
            return
        policy = self._policy(run)
        try:  # while the span is fresh in memory
            entry = _profile_entry(span, policy, run.mode)
        except Exception as exc:  # the full comparison still runs: nothing is lost
            self.errors.report("profile", exc)
            entry = _SLOW
        with self._lock:
            # finish() unregisters the run and takes its spans under this lock: a span that
            # ends meanwhile is forwarded, never left in a run that nobody will finish
            if self.registry.get(sid) is not run:
                held = None
            else:
                held = self._held.get(sid)
                if held is None or held.run is not run:
                    held = self._held[sid] = _Held(run, policy)
                held.spans.append(span)
                if held.entries is not None:
                    if entry is _SLOW:
                        held.entries = None
                    elif entry is not _SKIP:
                        held.entries.append(entry)
                over = len(held.spans) >= self.max_held_spans
        if held is None:
            self._forward(span)
            return
        if over:
            held.overflowed = True
            self.errors.report(
                "hold",
                OverflowError(
                    f"tracked session {sid} reached {self.max_held_spans} held spans; "
                    f"comparing what was seen so far"
                ),
            )
            self.finish(sid)
        elif _is_run_root(span):
            self.finish(sid)

    def finish(self, session_id: str) -> DriftReport | None:
        """End tracking of ``session_id`` now: compare, emit events and metrics, export."""
        with self._lock:
            run = self.registry.unregister(session_id)
            held = self._held.pop(session_id, None)
        if held is None:
            if run is not None:
                run.finished.set()
            return None
        run = held.run
        spans = held.spans
        report: DriftReport | None = None
        try:
            report = self._compare(run, spans, held)
            spans = self._enrich(spans, report)
            self._record(run, spans, report)
        except Exception as exc:
            self.errors.report("finish", exc)
        finally:
            for s in spans:
                self._forward(s)
            run.report = report
            run.finished.set()
        return report

    def shutdown(self) -> None:
        for sid in list(self._held):
            self.finish(sid)
        for p in self._downstream:
            try:
                p.shutdown()
            except Exception as exc:
                self.errors.report("downstream.shutdown", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the downstream processors; returns within about ``timeout_millis``.

        A downstream flush that does not return in time (the SDK's ``BatchSpanProcessor``
        waits for an export in progress without a timeout) is left running in a daemon
        thread, reported (``TimeoutError``) and counted as not flushed.
        """
        deadline = time.monotonic() + max(0, timeout_millis) / 1000
        ok = True
        for p in self._downstream:
            remaining = max(0.0, deadline - time.monotonic())
            ok = self._bounded_flush(p, remaining) and ok
        return ok

    def _bounded_flush(self, p: SpanProcessor, timeout: float) -> bool:
        key = id(p)
        pending = self._pending_flush.get(key)
        if pending is not None and pending.is_alive():
            self.errors.report(
                "downstream.force_flush",
                TimeoutError(
                    f"{type(p).__name__}.force_flush is still running from an earlier call"
                ),
            )
            return False
        result: list[bool] = []

        def run() -> None:
            try:
                result.append(bool(p.force_flush(int(timeout * 1000))))
            except Exception as exc:
                self.errors.report("downstream.force_flush", exc)
                result.append(False)

        worker = threading.Thread(target=run, name="otel-replay-flush", daemon=True)
        worker.start()
        worker.join(timeout + 0.05)
        if worker.is_alive():
            self._pending_flush[key] = worker
            self.errors.report(
                "downstream.force_flush",
                TimeoutError(
                    f"{type(p).__name__}.force_flush did not return within {timeout:.2f} s"
                ),
            )
            return False
        self._pending_flush.pop(key, None)
        return bool(result and result[0])

    def _after_fork(self) -> None:
        """In a forked child: fresh lock (another thread may have held it at fork time)."""
        self._lock = threading.Lock()
        self._pending_flush = {}

    # ------------------------------------------------------------------ internals

    def _forward(self, span: ReadableSpan) -> None:
        for p in self._downstream:
            try:
                p.on_end(span)
            except Exception as exc:
                self.errors.report("downstream.on_end", exc)

    def _policy(self, run: TrackedRun) -> DriftPolicy:
        policy = run.policy or self.policy
        if policy is None:
            if self._default_policy is None:
                self._default_policy = DriftPolicy()
            policy = self._default_policy
        return policy  # type: ignore[no-any-return]

    def _compare(self, run: TrackedRun, spans: list[ReadableSpan], held: _Held) -> DriftReport:
        mode: Literal["align", "strict"] = "strict" if run.mode == "strict" else "align"
        entries = held.entries
        if entries is not None:
            # The common case, a run that agrees with its baseline, decided on the profiles
            # alone; anything else (or a doubt) goes through the full comparison.
            entries.sort(key=_seq_of_entry)
            base = profile(run.baseline, held.policy, mode)
            sigs = [e[1] for e in entries]
            prints = [e[2] for e in entries]
            if sigs == base.signatures and prints == base.prints:
                notes = content_notes(
                    ((k, p) for (k, _), p in zip(base.signatures, base.prints, strict=True)),
                    ((k, p) for (k, _), p in zip(sigs, prints, strict=True)),
                )
                report = no_drift_report(len(entries), mode, notes)
            else:
                # Lazily normalized steps: only those where the runs differ are read.
                sid = run.session_id
                steps = [step_from_parts(span_parts(e[3]), sid) for e in entries]
                report = compare_profiled(
                    base, RunProfile(sigs, prints, steps), held.policy, mode=mode
                )
            self._keep_report(run.session_id, report)
            return report
        sid = run.session_id
        candidate = []
        for s in spans:
            if span_attributes(s).get(c.REPLAY_REPLAYED):
                continue
            step = normalize_span(s, sid)
            if _is_run_root(s) and step.kind == c.KIND_AGENT:
                continue  # the run's own root (ours or an instrumentation's invoke_agent)
            candidate.append(step)
        candidate.sort(key=lambda st: st.sequence if st.sequence is not None else 1 << 62)
        report = compare(list(run.baseline), candidate, held.policy, mode=mode)
        self._keep_report(run.session_id, report)
        return report

    def _keep_report(self, session_id: str, report: DriftReport) -> None:
        with self._lock:
            self.reports[session_id] = report
            while len(self.reports) > self._max_reports:
                self.reports.popitem(last=False)

    def _enrich(self, spans: list[ReadableSpan], report: DriftReport) -> list[ReadableSpan]:
        root = next((s for s in spans if _is_run_root(s)), None)
        out: list[ReadableSpan] = []
        unplaced = [f for f in report.findings if f.candidate is None]
        placed: dict[int, list[DriftFinding]] = {}
        causes: dict[int, str] = {}  # id(related change) -> span id of its cause's step
        for f in report.findings:
            if f.candidate is not None:
                placed.setdefault(int(f.candidate.span_id, 16), []).append(f)
            cause = f.candidate or f.baseline
            for r in f.related:  # on their own span, marked with their cause
                if r.candidate is not None and cause is not None:
                    placed.setdefault(int(r.candidate.span_id, 16), []).append(r)
                    causes[id(r)] = cause.span_id
        for s in spans:
            findings = placed.get(s.context.span_id, ()) if placed and s.context else ()
            if not findings and s is not root:
                out.append(s)
                continue
            extra: list[Event] = []
            ts = s.end_time or s.start_time or 0
            for f in findings:
                attrs = finding_event_attributes(f)
                if id(f) in causes:
                    attrs[c.DRIFT_CAUSED_BY] = causes[id(f)]
                extra.append(Event(c.DRIFT_EVENT, attrs, ts))
            if s is root:
                for f in unplaced:
                    extra.append(Event(c.DRIFT_EVENT, finding_event_attributes(f), ts))
                extra.append(Event(c.DRIFT_SUMMARY_EVENT, summary_event_attributes(report), ts))
            out.append(_with_events(s, extra) if extra else s)
        if root is None and (unplaced or report.findings):
            logger.info(
                "otel-replay: tracked run ended without its root span; %d drift findings without "
                "a candidate span are only in the report",
                len(unplaced),
            )
        return out

    def _record(self, run: TrackedRun, spans: list[ReadableSpan], report: DriftReport) -> None:
        agent = run.agent_name
        if agent is None:
            for s in spans:
                name = (s.attributes or {}).get(c.GEN_AI_AGENT_NAME)
                if isinstance(name, str):
                    agent = name
                    break
        base: dict[str, AttributeValue] = {c.GEN_AI_AGENT_NAME: agent} if agent else {}
        for f in report.findings:
            self._findings.add(
                1, {**base, c.ATTR_KIND: f.kind.value, c.ATTR_SEVERITY: f.severity.value}
            )
        self._runs.add(1, base)
        if report.max_severity is Severity.CRITICAL:
            self._critical_runs.add(1, base)
        if self._event_logger is not None:
            self._emit_logs(report, base)

    def _emit_logs(self, report: DriftReport, base: dict[str, AttributeValue]) -> None:
        from opentelemetry._logs import LogRecord

        assert self._event_logger is not None
        for f in report.findings:
            self._event_logger.emit(
                LogRecord(
                    event_name=c.DRIFT_EVENT,
                    body=f.description,
                    attributes={**base, **finding_event_attributes(f)},
                )
            )


_SKIP: Any = object()  # a span the comparison leaves out
_SLOW: Any = object()  # at or over the latency floor (or unreadable): only compare() judges it
_UNSET = StatusCode.UNSET
_OK = StatusCode.OK
_NO_SEQUENCE = 1 << 62


def _is_run_root(span: ReadableSpan) -> bool:
    """The root of a run: no parent, or a parent in another process."""
    return span.parent is None or span.parent.is_remote


def _seq_of_entry(entry: tuple[int, Any, Any, Any]) -> int:
    return entry[0]


def _profile_entry(span: ReadableSpan, policy: DriftPolicy, mode: str = "align") -> Any:
    """``(sequence key, signature, fingerprint, span)`` of an ended span, exactly as
    :func:`~otel_replay.drift.fingerprint.profile` sees its normalized step; ``_SKIP`` for spans the
    comparison leaves out, ``_SLOW`` for a step at or over the latency floor."""
    attrs = span_attributes(span)
    if attrs.get(c.REPLAY_REPLAYED):
        return _SKIP
    kind, name = classify(attrs, span.name)
    if kind == c.KIND_AGENT and _is_run_root(span):
        return _SKIP  # the run's own root
    if kind in policy.skipped_kinds(mode):
        return _SKIP
    start = span.start_time or 0
    end = span.end_time or start
    floor = policy.min_latency_ns
    if floor is not None and end - start >= floor:
        return _SLOW
    seq = attrs.get(c.STEP_SEQUENCE)
    if type(seq) is not int:
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else _NO_SEQUENCE
    code = span.status.status_code  # identity tests: hashing an Enum member runs Python code
    status = "unset" if code is _UNSET else ("ok" if code is _OK else "error")
    return (seq, (kind, name), fingerprint(kind, attrs, status), span)


def _with_events(span: ReadableSpan, extra: list[Event]) -> ReadableSpan:
    """A copy of ``span`` with ``extra`` events appended."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=tuple(span.events) + tuple(extra),
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
