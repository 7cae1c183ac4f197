"""Drift as log-based events (OTel Logs API, OTEP 4430) and each run's verdict as a GenAI
``gen_ai.evaluation.result`` event.

* ``agent_replay.drift``: one log record per finding, event name ``agent_replay.drift``,
  the finding's span-event attributes, correlated with the drifting span (its trace and span
  ids; the run's root span for a finding without a candidate step, e.g. a missing step).
* ``gen_ai.evaluation.result``: one per compared run, correlated with the run's root span,
  with ``gen_ai.evaluation.name`` = ``agent_replay.drift``, ``score.label`` ``no_drift`` /
  ``drift`` / ``not_compared``, ``score.value`` the share of compared steps without drift,
  and ``explanation`` the report's summary line. A restored run that could not be compared
  at all (no baseline found, ...) gets one too, labelled ``not_compared`` with the reason
  (:func:`not_compared_attributes`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util.types import AttributeValue

from otel_replay.core import conventions as c
from otel_replay.core.version import __version__
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.policy import Severity
from otel_replay.drift.report import DriftReport

__all__ = [
    "LogEvent",
    "LogEventEmitter",
    "LogMode",
    "drift_log_events",
    "evaluation_attributes",
    "finding_event_attributes",
    "not_compared_attributes",
    "not_compared_log_event",
    "summary_event_attributes",
]

_MAX_VALUE_CHARS = 4096
LogMode = Literal["auto", "true", "false"]

_SEVERITY_NUMBER = {
    Severity.INFO: SeverityNumber.INFO,
    Severity.WARNING: SeverityNumber.WARN,
    Severity.CRITICAL: SeverityNumber.ERROR,
}


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


def evaluation_attributes(
    report: DriftReport,
    base: Mapping[str, AttributeValue] | None = None,
    *,
    response_id: str | None = None,
) -> dict[str, AttributeValue]:
    """Attributes of the ``gen_ai.evaluation.result`` event for ``report`` (``response_id``:
    the run's last ``gen_ai.response.id``, when it has one)."""
    compared = max(report.baseline_steps, report.candidate_steps)
    attrs: dict[str, AttributeValue] = dict(base or {})
    attrs[c.GEN_AI_EVALUATION_NAME] = c.EVALUATION_NAME
    if response_id:
        attrs[c.GEN_AI_RESPONSE_ID] = response_id
    attrs[c.GEN_AI_EVALUATION_EXPLANATION] = report.summary()
    if report.findings:
        drifting = {_step_key(f) for f in report.findings}
        attrs[c.GEN_AI_EVALUATION_SCORE_LABEL] = c.EVALUATION_LABEL_DRIFT
        attrs[c.GEN_AI_EVALUATION_SCORE_VALUE] = (
            max(0.0, 1.0 - len(drifting) / compared) if compared else 0.0
        )
        sev = report.max_severity
        if sev is not None:
            attrs[c.DRIFT_SEVERITY] = sev.value
    elif compared:
        attrs[c.GEN_AI_EVALUATION_SCORE_LABEL] = c.EVALUATION_LABEL_NO_DRIFT
        attrs[c.GEN_AI_EVALUATION_SCORE_VALUE] = 1.0
    else:  # nothing was compared: never say "no drift"
        attrs[c.GEN_AI_EVALUATION_SCORE_LABEL] = c.EVALUATION_LABEL_NOT_COMPARED
    attrs[c.DRIFT_FINDINGS_TOTAL] = len(report.findings)
    return attrs


def not_compared_attributes(
    reason: str,
    checkpoint_id: str,
    explanation: str,
    base: Mapping[str, AttributeValue] | None = None,
) -> dict[str, AttributeValue]:
    """Attributes of the ``gen_ai.evaluation.result`` event of a restored run that was not
    compared: label ``not_compared``, no score, ``reason`` (``agent_replay.serve.reason``)
    and the run's ``checkpoint_id`` (``agent_replay.replay.checkpoint_id``)."""
    attrs: dict[str, AttributeValue] = dict(base or {})
    attrs[c.GEN_AI_EVALUATION_NAME] = c.EVALUATION_NAME
    attrs[c.GEN_AI_EVALUATION_EXPLANATION] = explanation
    attrs[c.GEN_AI_EVALUATION_SCORE_LABEL] = c.EVALUATION_LABEL_NOT_COMPARED
    attrs[c.DRIFT_FINDINGS_TOTAL] = 0
    attrs[c.ATTR_SERVE_REASON] = reason
    attrs[c.REPLAY_CHECKPOINT_ID] = checkpoint_id
    return attrs


def _step_key(f: DriftFinding) -> tuple[str, Any]:
    if f.candidate is not None:
        return ("c", f.candidate.span_id)
    if f.baseline is not None:
        return ("b", f.baseline.span_id)
    return ("p", f.position)


class LogEvent(NamedTuple):
    """One log record of a run, as every emitter writes it: ``span`` is the ``(trace_id,
    span_id)`` it is correlated with (``None``: uncorrelated)."""

    timestamp: int | None
    span: tuple[int, int] | None
    severity_number: SeverityNumber
    severity_text: str | None
    body: str | None
    attributes: dict[str, AttributeValue]
    event_name: str


def drift_log_events(
    report: DriftReport,
    base: Mapping[str, AttributeValue],
    root: tuple[int, int, int] | None,
    finding_attributes: Callable[[DriftFinding], dict[str, AttributeValue]],
    response_id: str | None = None,
    evaluation: bool = True,
) -> list[LogEvent]:
    """The log records of a compared run: one ``agent_replay.drift`` per finding, then the
    verdict when ``evaluation``; ``root`` is ``(trace_id, span_id, end time)`` of the run's
    root span (``None`` when it was not seen)."""
    root_span = (root[0], root[1]) if root else None
    ts = root[2] if root else None
    events = []
    for f in report.findings:
        ref = f.candidate
        events.append(
            LogEvent(
                ts,
                (int(ref.trace_id, 16), int(ref.span_id, 16)) if ref else root_span,
                _SEVERITY_NUMBER.get(f.severity, SeverityNumber.INFO),
                f.severity.value.upper(),
                f.description,
                {**base, **finding_attributes(f)},
                c.DRIFT_EVENT,
            )
        )
    if evaluation:
        events.append(
            LogEvent(
                ts,
                root_span,
                SeverityNumber.INFO,
                None,
                None,
                evaluation_attributes(report, base, response_id=response_id),
                c.GEN_AI_EVALUATION_RESULT_EVENT,
            )
        )
    return events


def not_compared_log_event(
    attributes: Mapping[str, AttributeValue], span: tuple[int, int, int] | None
) -> LogEvent:
    """The ``not_compared`` verdict record of a run (:func:`not_compared_attributes`),
    correlated with ``span`` = ``(trace_id, span_id, end time)`` when given."""
    ended = span[2] if span is not None else 0
    return LogEvent(
        ended or time.time_ns(),
        (span[0], span[1]) if span is not None else None,
        SeverityNumber.WARN,
        "WARN",
        str(attributes.get(c.GEN_AI_EVALUATION_EXPLANATION, "")),
        dict(attributes),
        c.GEN_AI_EVALUATION_RESULT_EVENT,
    )


def _context(trace_id: int, span_id: int) -> Context:
    sc = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(sc))


class LogEventEmitter:
    """Emits drift log events and evaluation events through a ``Logger`` of the Logs API.

    ``mode`` ``auto`` emits only when a LoggerProvider is configured: ``logger_provider``,
    or an SDK provider set globally (looked up at each emission, so one set later counts).
    """

    def __init__(self, mode: LogMode, logger_provider: Any = None, evaluation: bool = True):
        self.mode = mode
        self.evaluation = evaluation
        self._provider = logger_provider
        self._cached: tuple[int, Any] | None = None

    def logger(self) -> Any:
        """The ``Logger`` to emit with, ``None`` when log events are off."""
        if self.mode == "false":
            return None
        provider = self._provider
        if provider is None:
            from opentelemetry._logs import NoOpLoggerProvider, get_logger_provider
            from opentelemetry._logs._internal import ProxyLoggerProvider

            provider = get_logger_provider()
            if self.mode == "auto" and isinstance(
                provider, (NoOpLoggerProvider, ProxyLoggerProvider)
            ):
                return None
        cached = self._cached
        if cached is not None and cached[0] == id(provider):
            return cached[1]
        logger = provider.get_logger(c.METER_NAME, __version__)
        self._cached = (id(provider), logger)
        return logger

    def emit(
        self,
        report: DriftReport,
        base: Mapping[str, AttributeValue],
        root: tuple[int, int, int] | None,
        finding_attributes: Callable[[DriftFinding], dict[str, AttributeValue]],
        response_id: str | None = None,
    ) -> None:
        """Emit the findings and the verdict; ``root`` is ``(trace_id, span_id, end time)``
        of the run's root span (``None`` when it was not seen)."""
        logger = self.logger()
        if logger is None:
            return
        events = drift_log_events(
            report, base, root, finding_attributes, response_id, self.evaluation
        )
        for event in events:
            self._write(logger, event)

    def emit_not_compared(
        self, attributes: Mapping[str, AttributeValue], span: tuple[int, int, int] | None
    ) -> bool:
        """Emit the ``not_compared`` verdict of a run (:func:`not_compared_attributes`),
        correlated with ``span`` = ``(trace_id, span_id, end time)`` when given; whether it
        was emitted (log events and evaluation events on)."""
        logger = self.logger()
        if logger is None or not self.evaluation:
            return False
        self._write(logger, not_compared_log_event(attributes, span))
        return True

    @staticmethod
    def _write(logger: Any, event: LogEvent) -> None:
        logger.emit(
            timestamp=event.timestamp,
            context=_context(*event.span) if event.span else Context(),  # none: uncorrelated
            severity_number=event.severity_number,
            severity_text=event.severity_text,
            body=event.body,
            attributes=event.attributes,
            event_name=event.event_name,
        )
