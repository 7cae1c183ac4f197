"""The heart of ``otel-replay serve``: admits decoded spans (or refuses them with OTLP's
retryable status when full), recognizes restored runs by their replay provenance, looks their
baseline up off the receiving threads, and feeds everything to a real
:class:`~otel_replay.drift.processor.DriftProcessor` whose downstream is the
:class:`~otel_replay.serve.forward.Forwarder`. Every span is counted: received = exported +
dropped + held/queued while running; the spans of refused requests (the sender retries them)
are counted apart, as refused, never as received.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Container, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import span_attributes
from otel_replay.core.selfmetrics import ErrorReporter, get_meter, logger
from otel_replay.core.text import count
from otel_replay.drift.held import is_run_root
from otel_replay.restore.tracking import TrackedRun, TrackingRegistry
from otel_replay.serve.baselines import BaselineFinder, Provenance, _NoBaseline
from otel_replay.serve.decode import spans_of
from otel_replay.serve.drift import ServeDrift
from otel_replay.serve.forward import Forwarder, Raw
from otel_replay.serve.instruments import ServeInstruments
from otel_replay.serve.log_export import LogExport
from otel_replay.serve.otlp_out import OtlpSender, OtlpTraceSender
from otel_replay.serve.split import RECEIVED, extract, might_hold, request, scan, worker_field
from otel_replay.serve.verdict import emit_not_compared, with_verdict

__all__ = ["Engine", "Admission", "Limits"]

_SESSION_ID = c.SESSION_ID
_REMEMBERED = 10_000  # finished / unmatched sessions remembered (late spans are forwarded)


@dataclass(frozen=True)
class Limits:
    """Bounds of one worker."""

    max_held_runs: int = c.DEFAULT_SERVE_MAX_HELD_RUNS
    max_held_bytes: int = c.DEFAULT_SERVE_MAX_HELD_BYTES
    run_timeout: float = c.DEFAULT_SERVE_RUN_TIMEOUT_SECONDS
    max_queued_spans: int = c.DEFAULT_SERVE_MAX_QUEUED_SPANS


@dataclass(frozen=True)
class Admission:
    """The answer to a request: accepted, or refused (``retryable``) with a reason."""

    accepted: bool
    reason: str = ""
    message: str = ""


_ACCEPTED = Admission(True)


@dataclass
class _Run:
    prov: Provenance
    started: float
    bytes: int = 0
    pending: list[ReadableSpan] | None = field(default_factory=list)  # None once tracked


class _Known:
    """Sessions of runs held or done (no span of theirs starts a new run)."""

    __slots__ = ("runs", "done")

    def __init__(self, runs: Container[str], done: Container[str]) -> None:
        self.runs = runs
        self.done = done

    def __contains__(self, sid: object) -> bool:
        return sid in self.runs or sid in self.done


class Engine:
    """Admission, restored-run recognition and counting in front of a DriftProcessor."""

    def __init__(
        self,
        sender: OtlpTraceSender,
        *,
        worker_id: str,
        baselines: BaselineFinder | None = None,
        recorder: SpanExporter | None = None,
        limits: Limits | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: Any = None,
        log_sender: OtlpSender | None = None,
        log_resource: Mapping[str, Any] | None = None,
        forward_batch_size: int = 512,
    ) -> None:
        """``log_sender``: drift log events sent as OTLP bytes (of ``log_resource``)."""
        self.worker_id = worker_id
        self.limits = limits or Limits()
        self.baselines = baselines
        self.recorder = recorder
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._open: dict[str, None] = {}  # held runs whose root has not been received
        self._known = _Known(self._runs, self._done)
        self._closing = False
        self.counts: dict[str, int] = {
            "received": 0,
            "exported": 0,
            "dropped": 0,
            "refused": 0,
            "runs_tracked": 0,
            "runs_compared": 0,
            "runs_timed_out": 0,
            "runs_not_compared": 0,
            "requests_rejected": 0,
        }
        self.dropped: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self._held_bytes = 0
        self._logged: set[tuple[str, str]] = set()
        meter = get_meter(meter_provider)
        self.errors = ErrorReporter("serve", meter)
        self._m = ServeInstruments(meter, self._observe_held)
        self._stamp_kv = worker_field(worker_id)
        self.forwarder = Forwarder(
            sender,
            self._exported_batch,
            batch_size=forward_batch_size,
            on_error=self.errors.report,
        )
        self.log_export: LogExport | None = None
        if log_sender is not None:
            self.log_export = LogExport.of(
                log_sender, log_resource or {}, on_error=self.errors.report
            )
        self.drift = ServeDrift(
            self.forwarder,
            registry=TrackingRegistry(max_runs=max(self.limits.max_held_runs * 2, 16)),
            meter_provider=meter_provider,
            logger_provider=logger_provider,
            on_finished=self._finished,
            log_export=self.log_export,
        )
        self._lookups = ThreadPoolExecutor(1, thread_name_prefix="otel-replay-serve-baseline")
        # spans of restored runs go to the DriftProcessor on a thread of their own, so the
        # receivers answer while runs are compared
        self._to_drift: queue.SimpleQueue[list[ReadableSpan] | None] = queue.SimpleQueue()
        self._drift_queued = 0  # spans in _to_drift (under the lock)
        self._drifter = threading.Thread(
            target=self._drift_loop, name="otel-replay-serve-drift", daemon=True
        )
        self._drifter.start()
        self._stop = threading.Event()
        self._reaper = threading.Thread(
            target=self._reap, name="otel-replay-serve-timeout", daemon=True
        )
        self._reaper.start()

    # ------------------------------------------------------------------ admission

    def admit(self, td: Any, body: bytes, deferred: list[ReadableSpan] | None = None) -> Admission:
        """Take the spans of one request (``td``, a
        :data:`~otel_replay.serve.split.SpanBytesTracesData` of the protobuf ``body``), or
        refuse them all (nothing of a refused request is processed: the sender retries it).
        Spans of restored runs are decoded and held for the comparison; the rest are forwarded
        as received, with the worker attribute. Spans that cannot be decoded raise
        ``_BadRequest`` before anything is counted or kept.

        With ``deferred``, spans the DriftProcessor can take now are added to it rather than
        queued for the drift thread: the caller hands them over with :meth:`feed` once it has
        answered the request (the receiving thread does the comparison while the sender
        prepares its next request, instead of two threads contending for the interpreter)."""
        nbytes = len(body)
        sessions = might_hold(body, self._open)
        sc = scan(td, self._open, self._known, self._stamp_kv, sessions, body)
        n = sc.count
        if not n:
            return _ACCEPTED
        per_span = max(1, nbytes // n)
        recorded = spans_of(request(td, sc.stamp, sc.spans)) if self.recorder is not None else None
        held = self._held_spans(td, sc.held, sc.stamp) if sc.held else []
        registered: list[tuple[str, Provenance]] = []
        known = self._known_baselines(sc.new)
        with self._lock:
            refusal = self._refusal(n, len(sc.new), len(sc.held) * per_span)
            if refusal is not None:
                self._count_refused(n, refusal)
                return refusal
            self.counts["received"] += n
            now = time.monotonic()
            for sid, prov in sc.new.items():
                if sid not in self._runs:
                    self._runs[sid] = run = _Run(prov, now)
                    self._open[sid] = None
                    self.counts["runs_tracked"] += 1
                    steps = known.get(sid)
                    if steps is not None:  # its baseline is at hand: tracked now
                        run.pending = None
                        self._track_locked(sid, prov, steps)
                    else:
                        registered.append((sid, prov))
        self._m.received.add(n)
        if recorded is not None:
            self._record(recorded)
        rest = n - len(held)
        if rest:
            self.forwarder.put(Raw(request(td, sc.stamp, sc.spans, sc.held), rest))
        if held:
            self._hold(held, per_span, deferred)
        for sid, prov in registered:
            self._lookups.submit(self._resolve, sid, prov)
        return _ACCEPTED

    def _held_spans(
        self, td: Any, positions: list[tuple[int, int, int]], stamp: bytes
    ) -> list[ReadableSpan]:
        """The spans at ``positions`` taken out of ``td``, stamped and decoded; each keeps
        its bytes (exported as received unless the comparison enriches it)."""
        body, received = extract(td, positions, stamp)
        spans = spans_of(body)
        if len(spans) == len(received):
            for s, r in zip(spans, received, strict=True):
                setattr(s, RECEIVED, r)
        else:  # a bug of ours: visible
            self.errors.report(
                "admit",
                RuntimeError(
                    f"{len(received)} spans taken out of a request were decoded as "
                    f"{len(spans)}; the decoded ones are exported re-encoded, not as received"
                ),
            )
        return spans

    def _known_baselines(self, new: dict[str, Provenance]) -> dict[str, list[Any]]:
        """The baselines of new runs already looked up (the rest are looked up off the
        receiving thread)."""
        finder = self.baselines
        if not new or finder is None:
            return {}
        out = {}
        for sid, prov in new.items():
            steps = finder.cached(prov.checkpoint_id)
            if steps is not None:
                out[sid] = steps
        return out

    def _track_locked(self, sid: str, prov: Provenance, steps: list[Any]) -> None:
        self.drift.registry.register(
            TrackedRun(
                session_id=sid,
                baseline=steps,
                checkpoint_id=prov.checkpoint_id,
                source_session_id=prov.source_session_id,
                source_trace_id=prov.source_trace_id,
            )
        )

    def feed(self, spans: list[ReadableSpan]) -> None:
        """Hand the spans :meth:`admit` added to ``deferred`` to the DriftProcessor."""
        if spans:
            try:
                self._feed(spans)
            finally:
                with self._lock:
                    self._drift_queued -= len(spans)
                spans.clear()
                self.drift.flush_counts()
            self.forwarder.flush_now()

    def _hold(
        self, spans: list[ReadableSpan], per_span: int, deferred: list[ReadableSpan] | None = None
    ) -> None:
        """Spans of restored runs: held while the run waits for its baseline, else to the
        DriftProcessor (the run's root last: it ends the comparison), through ``deferred``
        when given and nothing is queued for the drift thread (the order is kept)."""
        feed: list[ReadableSpan] = []
        roots: list[ReadableSpan] = []
        with self._lock:
            runs = self._runs
            for s in spans:
                attrs = span_attributes(s)
                sid: Any = attrs.get(_SESSION_ID)
                run = runs.get(sid)
                if run is None:  # ended meanwhile: forwarded
                    feed.append(s)
                    continue
                run.bytes += per_span
                self._held_bytes += per_span
                root = is_run_root(s, attrs)
                if root:  # the run ends: later spans of its session are forwarded as they are
                    self._open.pop(sid, None)
                if run.pending is not None:
                    run.pending.append(s)
                elif root:
                    roots.append(s)
                else:
                    feed.append(s)
            if deferred is not None and not self._drift_queued:
                deferred.extend(feed)
                deferred.extend(roots)
                self._drift_queued += len(feed) + len(roots)
            else:
                self._to_drift_locked(feed + roots)

    def _to_drift_locked(self, spans: list[ReadableSpan]) -> None:
        """Under the lock: queue ``spans`` for the DriftProcessor, in order."""
        if spans:
            self._drift_queued += len(spans)
            self._to_drift.put(spans)

    def _drift_loop(self) -> None:
        get = self._to_drift.get
        while True:
            spans = get()
            if spans is None:
                return
            try:
                self._feed(spans)
            except Exception as exc:  # the DriftProcessor reports its own; this is ours
                self.errors.report("drift", exc)
            self.drift.flush_counts()
            with self._lock:
                self._drift_queued -= len(spans)
                idle = not self._drift_queued
            if idle:  # nothing more to compare now: export without the schedule delay
                self.forwarder.flush_now()

    def _refusal(self, n: int, new_runs: int, held_bytes: int) -> Admission | None:
        lim = self.limits
        if self._closing:
            return Admission(False, "shutting_down", "otel-replay serve is shutting down")
        # (with nothing held, a request is taken whatever it holds: it can never fit later)
        if new_runs and self._runs and len(self._runs) + new_runs > lim.max_held_runs:
            return Admission(
                False,
                "full",
                f"{count(len(self._runs), 'restored run')} held (max {lim.max_held_runs})",
            )
        # (with nothing held, a request is taken whatever its size: it can never fit later)
        if held_bytes and self._held_bytes and self._held_bytes + held_bytes > lim.max_held_bytes:
            return Admission(
                False,
                "full",
                f"{self._held_bytes} bytes of restored runs held (max {lim.max_held_bytes})",
            )
        queued = self.forwarder.queued + self._drift_queued
        if queued and queued + n > lim.max_queued_spans:
            return Admission(
                False, "full", f"{queued} spans queued for export (max {lim.max_queued_spans})"
            )
        return None

    def _count_refused(self, n: int, refusal: Admission) -> None:
        """Under the lock: a refused request's spans, neither received nor dropped (the
        sender retries them)."""
        reason = refusal.reason
        self.counts["refused"] += n
        self.refused[reason] = self.refused.get(reason, 0) + n
        self._m.refused.add(n, {c.ATTR_SERVE_REASON: reason})
        self._reject_locked(reason=reason)

    def reject(self, reason: str) -> None:
        """Count a refused request (also the ones that could not be decoded)."""
        with self._lock:
            self._reject_locked(reason)

    def _reject_locked(self, reason: str) -> None:
        self.counts["requests_rejected"] += 1
        self._m.rejected.add(1, {c.ATTR_SERVE_REASON: reason})

    def _drop(self, n: int, reason: str) -> None:
        self.counts["dropped"] += n
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        self._m.dropped.add(n, {c.ATTR_SERVE_REASON: reason})

    def _record(self, spans: Sequence[ReadableSpan]) -> None:
        assert self.recorder is not None
        try:
            self.recorder.export(spans)  # failures are logged and counted by the exporter
        except Exception as exc:
            self.errors.report("record", exc)

    def _feed(self, spans: Iterable[ReadableSpan]) -> None:
        on_end = self.drift.on_end
        for s in spans:
            on_end(s)

    # ------------------------------------------------------------------ runs

    def _resolve(self, sid: str, prov: Provenance) -> None:
        steps: list[Any] | None = None
        problem = ""
        if self.baselines is None:
            problem = "no --baselines or --baseline-source is configured"
        else:
            try:
                steps = self.baselines.lookup(prov)
            except _NoBaseline as exc:
                problem = str(exc)
            except Exception as exc:
                problem = f"baseline lookup failed: {exc!r}"
        with self._lock:
            run = self._runs.get(sid)
            if run is None or run.pending is None:
                return  # timed out or shut down meanwhile
            pending, run.pending = run.pending, None
            if steps is not None:
                self._track_locked(sid, prov, steps)
            else:
                self._forget(sid, run)
            pending.sort(key=is_run_root)  # the run's root last: it ends the comparison
            seen = list(pending) if steps is None else []
            if steps is None:
                pending = with_verdict(
                    self.drift,
                    self.errors,
                    pending,
                    "baseline_not_found",
                    prov.checkpoint_id,
                    problem,
                )
            self._to_drift_locked(pending)
        if steps is None:
            self._not_compared_run("baseline_not_found", sid, prov, problem, seen)

    def _not_compared_run(
        self, reason: str, sid: str, prov: Provenance, message: str, spans: list[ReadableSpan]
    ) -> None:
        """Count, log once and emit the ``not_compared`` verdict of a run (``spans``: seen)."""
        key = prov.checkpoint_id
        with self._lock:
            self.counts["runs_not_compared"] += 1
            first = (reason, key) not in self._logged and len(self._logged) < 10_000
            self._logged.add((reason, key))
        self._m.not_compared.add(1, {c.ATTR_SERVE_REASON: reason})
        if first:
            logger.warning("restored run forwarded without comparison: %s", message)
        emit_not_compared(self.drift.log_events, self.errors, reason, sid, key, message, spans)

    def _forget(self, sid: str, run: _Run) -> None:
        """Under the lock: the run is no longer held."""
        self._open.pop(sid, None)
        if self._runs.pop(sid, None) is not None:
            self._held_bytes -= run.bytes
        self._done[sid] = None
        while len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)

    def _finished(self, sid: str) -> None:
        with self._lock:
            run = self._runs.get(sid)
            if run is None:
                return
            self._forget(sid, run)
            self.counts["runs_compared"] += 1

    def _reap(self) -> None:
        tick = min(1.0, max(0.05, self.limits.run_timeout / 4))
        while not self._stop.wait(tick):
            self.expire(time.monotonic())

    def expire(self, now: float) -> int:
        """End the runs held longer than the run timeout: compare what was seen (or forward a
        run still waiting for its baseline); returns how many."""
        limit = self.limits.run_timeout
        with self._lock:
            old = [(sid, r) for sid, r in self._runs.items() if now - r.started >= limit]
        for sid, run in old:
            self._end(sid, run, "timed_out")
        return len(old)

    def _end(self, sid: str, run: _Run, why: str) -> None:
        with self._lock:
            if self._runs.get(sid) is not run:
                return
            pending = run.pending
            if pending is not None:
                run.pending = None
                self._forget(sid, run)
        if why == "timed_out":
            with self._lock:
                self.counts["runs_timed_out"] += 1
            self._m.timed_out.add(1)
        if pending is not None:
            message = f"run of session {sid} ({why}) before its baseline was found"
            self._not_compared_run(why, sid, run.prov, message, pending)
            self._feed(
                with_verdict(self.drift, self.errors, pending, why, run.prov.checkpoint_id, message)
            )
        else:
            self.drift.finish(sid)
        self.drift.flush_counts()

    def _exported_batch(self, n: int, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.counts["exported"] += n
            else:
                self._drop(n, "export_failed")
        if error is None:
            self._m.exported.add(n)
        else:
            self.errors.report("export", RuntimeError(f"downstream {error}; {n} spans dropped"))

    def _observe_held(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(len(self._runs))]

    # ------------------------------------------------------------------ state

    @property
    def held_runs(self) -> int:
        """Restored runs held now (waiting for their baseline or their root)."""
        return len(self._runs)

    @property
    def full(self) -> bool:
        """Whether a request holding a new restored run would be refused now."""
        return len(self._runs) >= self.limits.max_held_runs or (
            self._held_bytes >= self.limits.max_held_bytes
        )

    def snapshot(self) -> dict[str, Any]:
        """Counters for ``/healthz`` and the summary line."""
        with self._lock:
            out: dict[str, Any] = dict(self.counts)
            out["dropped_by_reason"] = dict(self.dropped)
            out["refused_by_reason"] = dict(self.refused)
            out["runs_held"] = self.held_runs
            out["held_bytes"] = self._held_bytes
        logs = self.log_export
        out["log_records_exported"], out["log_records_dropped"] = logs.counts() if logs else (0, 0)
        out["queued"] = self.forwarder.queued
        out["in_flight"] = out["received"] - out["exported"] - out["dropped"]
        return out

    def close(self, timeout: float) -> None:
        """Refuse new requests, compare or forward every held run, export what is queued,
        shut the exporter down; within about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closing = True
        self._stop.set()
        self._lookups.shutdown(wait=False, cancel_futures=True)
        # lookups in progress finish on their own (bounded by the source's timeout)
        while time.monotonic() < deadline - timeout / 2:
            with self._lock:
                waiting = [sid for sid, r in self._runs.items() if r.pending is not None]
            if not waiting:
                break
            time.sleep(0.02)
        while self._drift_queued and time.monotonic() < deadline - timeout / 4:
            time.sleep(0.01)  # the spans taken in are compared before the runs end
        with self._lock:
            left = list(self._runs.items())
        for sid, run in left:
            self._end(sid, run, "shutdown")
        left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        self.drift.shutdown_timeout_millis = left_ms
        self.forwarder.shutdown_timeout_millis = max(0, left_ms - 100)
        self.drift.shutdown()
        self._to_drift.put(None)
        self._drifter.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            lost = self._drift_queued  # not even compared in time
            self._drift_queued = 0
        lost += self.forwarder.drain_unexported()
        if lost:
            with self._lock:
                self._drop(lost, "shutdown")
        if self.log_export is not None:  # the verdicts of the runs just ended included
            self.log_export.shutdown(int(max(0.1, deadline - time.monotonic()) * 1000))
        if self.recorder is not None:
            try:
                self.recorder.shutdown()
            except Exception as exc:
                self.errors.report("record", exc)
