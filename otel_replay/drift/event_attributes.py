"""Attributes of the drift events (span events and log records) for findings and reports."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.util.types import AttributeValue

from otel_replay.core import conventions as c
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.report import DriftReport

__all__ = ["finding_event_attributes", "summary_event_attributes"]

_MAX_VALUE_CHARS = 4096


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
