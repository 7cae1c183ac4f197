"""``DriftProcessor``: compares tracked runs with their baseline and reports drift in the
exported data (span events on the drifting spans), as log-based events (``drift.events``) and
as OTel metrics.

The SDK's ``ReadableSpan`` is immutable at ``on_end``, so the processor wraps the export
processor(s) and hands them an *enriched copy* of each span of a tracked session. Spans of a
tracked session are held until the run ends (its root span ends, or :meth:`finish`): only then
can an inserted step be told from a substituted one, so the alignment is exact. Untracked
sessions pass straight through.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.metrics import Counter, MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.util.types import AttributeValue

from otel_replay.core import conventions as c
from otel_replay.core.bounded import run_bounded
from otel_replay.core.env import (
    env_bool,
    env_choice,
    env_int,
    sdk_disabled,
    warn_sdk_disabled,
)
from otel_replay.core.sdkspan import new_readable_span, span_attributes, span_parts
from otel_replay.core.selfmetrics import ErrorReporter, get_meter, logger
from otel_replay.drift.compare import compare, compare_profiled, no_drift_report
from otel_replay.drift.events import (
    LogEventEmitter,
    LogMode,
    evaluation_attributes,
    finding_event_attributes,
    summary_event_attributes,
)
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.fingerprint import RunProfile, profile
from otel_replay.drift.held import (
    RESUME_ROOT_KINDS,
    SKIP,
    SLOW,
    Held,
    agent_name,
    is_run_root,
    profile_entry,
    response_id,
    run_root,
)
from otel_replay.drift.linking import _content_notes as content_notes
from otel_replay.drift.policy import DriftPolicy, Severity
from otel_replay.drift.report import DriftReport
from otel_replay.model.steps import Step, normalize_span, step_from_parts
from otel_replay.restore.tracking import REGISTRY, TrackedRun, TrackingRegistry

__all__ = ["DriftProcessor", "finding_event_attributes", "summary_event_attributes"]

_SESSION_ID = c.SESSION_ID
_SEQ_OF_ENTRY = itemgetter(0)  # seq_of_entry, in C
_NOOP_ON_START = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)
_NOOP_ON_ENDING = frozenset(
    {SpanProcessor._on_ending, BatchSpanProcessor._on_ending, SimpleSpanProcessor._on_ending}
)


class DriftProcessor(SpanProcessor):
    """Wraps export processor(s); reports drift of tracked runs as span events, log events
    and metrics.

    ``span_events`` (default ``$OTEL_REPLAY_DRIFT_SPAN_EVENTS``, true) adds ``agent_replay.drift``
    events to the drifting spans; ``log_events`` (default ``$OTEL_REPLAY_DRIFT_LOG_EVENTS``,
    ``"auto"``: whenever ``logger_provider`` is given or an SDK LoggerProvider is set globally)
    emits them as log-based events correlated with those spans; ``evaluation_events`` (default
    ``$OTEL_REPLAY_DRIFT_EVALUATION_EVENTS``, true) adds each run's verdict as a
    ``gen_ai.evaluation.result`` event on the enabled channels.

    Add it to the ``TracerProvider`` *after* :class:`~otel_replay.capture.processor.ReplayProcessor`
    (which stamps session and step numbers) and *instead of* the export processors it wraps::

        provider.add_span_processor(ReplayProcessor())
        provider.add_span_processor(DriftProcessor(BatchSpanProcessor(OTLPSpanExporter())))

    :meth:`shutdown` returns within ``shutdown_timeout_millis`` (default 30 s) even when a
    downstream processor or exporter hangs: the rest runs on in a daemon thread, and the
    timeout is logged once and counted in ``agent_replay.processor.errors``
    (``TimeoutError``, where ``downstream.shutdown``).
    """

    _sdk_spans = True  # its spans come from this process's SDK (OTEL_SDK_DISABLED stops them)

    def __init__(
        self,
        downstream: SpanProcessor | Sequence[SpanProcessor],
        *,
        registry: TrackingRegistry | None = None,
        policy: DriftPolicy | None = None,
        meter_provider: MeterProvider | None = None,
        max_held_spans: int | None = None,
        max_reports: int | None = None,
        span_events: bool | None = None,
        log_events: bool | Literal["auto"] | None = None,
        evaluation_events: bool | None = None,
        shutdown_timeout_millis: int = 30_000,
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
        self.registry.attach(self)
        # The registry's own dict: a C-level membership test per span (the hot path).
        runs = getattr(self.registry, "_runs", None)
        self._tracked: dict[str, TrackedRun] | None = (
            runs if type(self.registry) is TrackingRegistry and isinstance(runs, dict) else None
        )
        self.policy = policy
        self._default_policy: DriftPolicy | None = None
        self.max_held_spans = max_held_spans or env_int(
            c.ENV_DRIFT_MAX_HELD_SPANS, c.DEFAULT_DRIFT_MAX_HELD_SPANS
        )
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._pending_flush: dict[int, threading.Thread] = {}
        self.reports: OrderedDict[str, DriftReport] = OrderedDict()
        self._max_reports = max_reports or env_int(
            c.ENV_DRIFT_MAX_REPORTS, c.DEFAULT_DRIFT_MAX_REPORTS
        )
        if not isinstance(shutdown_timeout_millis, int) or shutdown_timeout_millis < 0:
            raise ValueError(
                f"shutdown_timeout_millis must be an int >= 0: {shutdown_timeout_millis!r}"
            )
        self.shutdown_timeout_millis = shutdown_timeout_millis
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
        self.span_events = (
            env_bool(c.ENV_DRIFT_SPAN_EVENTS, c.DEFAULT_DRIFT_SPAN_EVENTS)
            if span_events is None
            else bool(span_events)
        )
        self.evaluation_events = (
            env_bool(c.ENV_DRIFT_EVALUATION_EVENTS, c.DEFAULT_DRIFT_EVALUATION_EVENTS)
            if evaluation_events is None
            else bool(evaluation_events)
        )
        mode: LogMode
        if log_events is None:
            mode = env_choice(  # type: ignore[assignment]
                c.ENV_DRIFT_LOG_EVENTS, c.DEFAULT_DRIFT_LOG_EVENTS, ("auto", "true", "false")
            )
        else:
            mode = "auto" if log_events == "auto" else ("true" if log_events else "false")
        self.log_events = LogEventEmitter(mode, logger_provider, self.evaluation_events)
        if self._sdk_spans and sdk_disabled():  # the SDK hands us no spans: say so once
            warn_sdk_disabled()

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
                attrs = span_attributes(span)
                sid = attrs.get(_SESSION_ID)
                tracked = sid is not None and (
                    sid in runs if runs is not None else sid in self.registry
                )
        except Exception as exc:
            self.errors.report("on_end", exc)
            tracked = False
        if tracked:
            try:
                self._hold(sid, span, attrs)
            except Exception as exc:
                self.errors.report("hold", exc)
            return
        for p in self._downstream:
            try:
                p.on_end(span)
            except Exception as exc:
                self.errors.report("downstream.on_end", exc)

    def _hold(self, sid: Any, span: ReadableSpan, attrs: Mapping[str, Any] | None = None) -> None:
        run = self.registry.get(sid)
        if run is None:
            self._forward(span)
            return
        if attrs is None:
            attrs = span_attributes(span)
        root = is_run_root(span, attrs)
        policy = self._policy(run)
        try:  # while the span is fresh in memory
            entry = profile_entry(span, policy, run.mode, attrs, root)
        except Exception as exc:  # the full comparison still runs: nothing is lost
            self.errors.report("profile", exc)
            entry = SLOW
        with self._lock:
            # finish() unregisters the run and takes its spans under this lock: a span that
            # ends meanwhile is forwarded, never left in a run that nobody will finish
            if self.registry.get(sid) is not run:
                held = None
            else:
                held = self._held.get(sid)
                if held is None or held.run is not run:
                    held = self._held[sid] = Held(run, policy)
                held.add(span, attrs, root)
                if held.entries is not None:
                    if entry is SLOW:
                        held.entries = None
                    elif entry is not SKIP:
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
        elif root:
            self.finish(sid)

    def finish(self, session_id: str) -> DriftReport | None:
        """End tracking of ``session_id`` now: compare, emit events and metrics, export."""
        with self._lock:
            run = self.registry.unregister(session_id)
            held = self._held.pop(session_id, None)
        if held is None:
            if run is not None:
                run.error = f"no span of tracked session {session_id} reached the DriftProcessor"
                run.finished.set()
            return None
        run = held.run
        spans = held.spans
        report: DriftReport | None = None
        try:
            report = self._compare(run, spans, held)
            spans = self._enrich(spans, report, held)
            self._record(run, spans, report, held)
        except Exception as exc:
            self.errors.report("finish", exc)
            if report is None:
                run.error = f"comparing the tracked run failed: {exc!r} (see the otel_replay log)"
        finally:
            for s in spans:
                self._forward(s)
            run.report = report
            run.finished.set()
        return report

    def holds(self, session_id: str) -> bool:
        """Whether spans of tracked session ``session_id`` are held here."""
        return session_id in self._held

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Finish the tracked runs and shut the downstream processors down; returns within
        ``timeout_millis`` (default :attr:`shutdown_timeout_millis`), see the class docs."""
        timeout = (
            self.shutdown_timeout_millis if timeout_millis is None else timeout_millis
        ) / 1000

        self.registry.detach(self)

        def run() -> None:
            for sid in list(self._held):
                self.finish(sid)
            for p in self._downstream:
                try:
                    p.shutdown()
                except Exception as exc:
                    self.errors.report("downstream.shutdown", exc)

        if not run_bounded(run, timeout, "otel-replay-shutdown"):
            names = ", ".join(type(p).__name__ for p in self._downstream)
            self.errors.report(
                "downstream.shutdown",
                TimeoutError(
                    f"shutdown of the downstream processors ({names}) did not finish within "
                    f"{timeout:.2f} s; left running in a daemon thread"
                ),
            )

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

    def _compare(self, run: TrackedRun, spans: list[ReadableSpan], held: Held) -> DriftReport:
        mode: Literal["align", "strict"] = "strict" if run.mode == "strict" else "align"
        entries = held.entries
        if entries is not None:
            # The common case, a run that agrees with its baseline, decided on the profiles
            # alone; anything else (or a doubt) goes through the full comparison.
            entries.sort(key=_SEQ_OF_ENTRY)
            base = self._baseline_profile(run, held.policy, mode)
            sigs = [e[1] for e in entries]
            prints = [e[2] for e in entries]
            if sigs == base.signatures and prints == base.prints:
                report = no_drift_report(len(entries), mode, self._agreeing_notes(base))
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
            a = span_attributes(s)
            if a.get(c.REPLAY_REPLAYED):
                continue  # re-emitted steps
            step = normalize_span(s, sid)
            if a.get(c.REPLAY_RESUME_ROOT) and step.kind in RESUME_ROOT_KINDS:
                continue  # the resumed framework's own root (an LLM or tool call is a step)
            if is_run_root(s) and step.kind == c.KIND_AGENT:
                continue  # the run's own root (ours or an instrumentation's invoke_agent)
            candidate.append(step)
        candidate.sort(key=lambda st: st.sequence if st.sequence is not None else 1 << 62)
        report = compare(list(run.baseline), candidate, held.policy, mode=mode)
        self._keep_report(run.session_id, report)
        return report

    def _agreeing_notes(self, base: RunProfile) -> list[str]:
        """The notes of comparing a run whose profile equals ``base`` with ``base``: the
        content notes of ``base`` against itself (equal prints carry their content, or lack
        of it, alike: a print's first field is ``None`` exactly when its equal's is)."""
        pairs = [(k, p) for (k, _), p in zip(base.signatures, base.prints, strict=True)]
        return content_notes(pairs, pairs)

    def _baseline_profile(self, run: TrackedRun, policy: DriftPolicy, mode: str) -> RunProfile:
        """The profile of ``run``'s baseline under ``policy`` in ``mode``."""
        return profile(run.baseline, policy, mode)

    def _keep_report(self, session_id: str, report: DriftReport) -> None:
        with self._lock:
            self.reports[session_id] = report
            while len(self.reports) > self._max_reports:
                self.reports.popitem(last=False)

    def _enrich(
        self, spans: list[ReadableSpan], report: DriftReport, held: Held | None = None
    ) -> list[ReadableSpan]:
        """``spans`` with the drift events of ``report`` (``held``: what was kept of them)."""
        if not self.span_events:
            return spans
        root = run_root(spans, held)
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
                if self.evaluation_events:
                    extra.append(
                        Event(
                            c.GEN_AI_EVALUATION_RESULT_EVENT,
                            evaluation_attributes(report, response_id=response_id(spans, held)),
                            ts,
                        )
                    )
            out.append(self._with_events(s, extra) if extra else s)
        if root is None and (unplaced or report.findings):
            logger.info(
                "otel-replay: tracked run ended without its root span; %d drift findings without "
                "a candidate span are only in the report",
                len(unplaced),
            )
        return out

    def _with_events(self, span: ReadableSpan, extra: list[Event]) -> ReadableSpan:
        """The span exported in place of ``span``: a copy with ``extra`` events appended."""
        return _with_events(span, extra)

    def _count(self, counter: Counter, attributes: dict[str, AttributeValue]) -> None:
        """Add one to ``counter`` with ``attributes``."""
        counter.add(1, attributes)

    def _record(
        self,
        run: TrackedRun,
        spans: list[ReadableSpan],
        report: DriftReport,
        held: Held | None = None,
    ) -> None:
        """Count ``report`` in the metrics, emit its log events (``held``: kept of ``spans``)."""
        agent = run.agent_name if run.agent_name is not None else agent_name(spans, held)
        base: dict[str, AttributeValue] = {c.GEN_AI_AGENT_NAME: agent} if agent else {}
        count = self._count
        for f in report.findings:
            count(
                self._findings,
                {**base, c.ATTR_KIND: f.kind.value, c.ATTR_SEVERITY: f.severity.value},
            )
        count(self._runs, base)
        if report.max_severity is Severity.CRITICAL:
            count(self._critical_runs, base)
        root = run_root(spans, held, with_context=True)
        where = None
        if root is not None and root.context is not None:
            where = (root.context.trace_id, root.context.span_id, root.end_time or 0)
        logs_base = {**base, _SESSION_ID: run.session_id}
        try:
            self.log_events.emit(
                report, logs_base, where, finding_event_attributes, response_id(spans, held)
            )
        except Exception as exc:
            self.errors.report("log_events", exc)


def _with_events(span: ReadableSpan, extra: list[Event]) -> ReadableSpan:
    """A copy of ``span`` with ``extra`` events appended (the span
    ``ReadableSpan(name=span.name, ..., events=span.events + extra, ...)`` builds)."""
    resource = span.resource
    return new_readable_span(
        span.name,
        span.context,  # type: ignore[arg-type]
        span.parent,
        Resource.create({}) if resource is None else resource,  # as the constructor does
        span.attributes,
        tuple(span.events) + tuple(extra),
        span.links,
        span.kind,
        span.status,
        span.start_time,
        span.end_time,
        span.instrumentation_scope,  # type: ignore[arg-type]
    )
