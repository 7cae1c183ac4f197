"""The drift report: :class:`DriftReport`, its summary counts and its dict/JSON form; the
protobuf, Markdown and table renderings are in :mod:`otel_replay.drift.render`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_replay.drift import render
from otel_replay.drift.findings import DriftFinding, FirstDivergence
from otel_replay.drift.policy import Severity

__all__ = ["DriftReport"]

_SEVERITY_VALUES = tuple(s.value for s in Severity)


@dataclass
class DriftReport:
    """Result of :func:`~otel_replay.drift.compare.compare`; step counts are after skipping
    ignored kinds."""

    findings: list[DriftFinding] = field(default_factory=list)
    first_divergence: FirstDivergence | None = None
    baseline_steps: int = 0
    candidate_steps: int = 0
    mode: str = "align"
    #: Sessions compared (set by whoever picked them, e.g. ``otel-replay diff``).
    baseline_session: str | None = None
    candidate_session: str | None = None
    #: Things the reader must know about what was compared (e.g. message content that was
    #: not captured), each said once.
    notes: list[str] = field(default_factory=list)

    @property
    def has_drift(self) -> bool:
        """Whether there is any finding."""
        return bool(self.findings)

    @property
    def max_severity(self) -> Severity | None:
        """Highest severity among the findings, ``None`` without findings."""
        return max((f.severity for f in self.findings), default=None)

    @property
    def counts_by_kind(self) -> dict[str, int]:
        """Number of findings per kind value (kinds without findings are left out)."""
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.kind.value] = counts.get(f.kind.value, 0) + 1
        return counts

    @property
    def counts_by_severity(self) -> dict[str, int]:
        """Number of findings per severity value (all three severities present)."""
        counts = dict.fromkeys(_SEVERITY_VALUES, 0)
        for f in self.findings:
            counts[f.severity.value] += 1
        return counts

    def findings_for_candidate(self, span_id: str) -> list[DriftFinding]:
        """Findings attached to the candidate step with ``span_id``."""
        return [
            f for f in self.findings if f.candidate is not None and f.candidate.span_id == span_id
        ]

    def findings_for_baseline(self, span_id: str) -> list[DriftFinding]:
        """Findings attached to the baseline step with ``span_id``."""
        return [
            f for f in self.findings if f.baseline is not None and f.baseline.span_id == span_id
        ]

    # --- serialization ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (derived summary fields included for readers)."""
        sev = self.max_severity
        return {
            "mode": self.mode,
            "baseline_session": self.baseline_session,
            "candidate_session": self.candidate_session,
            "baseline_steps": self.baseline_steps,
            "candidate_steps": self.candidate_steps,
            "has_drift": self.has_drift,
            "max_severity": sev.value if sev else None,
            "counts_by_kind": self.counts_by_kind,
            "counts_by_severity": self.counts_by_severity,
            "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftReport:
        """Inverse of :meth:`to_dict` (derived fields are recomputed)."""
        fd = d.get("first_divergence")
        return cls(
            findings=[DriftFinding.from_dict(x) for x in d.get("findings") or ()],
            first_divergence=FirstDivergence.from_dict(fd) if fd else None,
            baseline_steps=int(d.get("baseline_steps", 0)),
            candidate_steps=int(d.get("candidate_steps", 0)),
            mode=str(d.get("mode", "align")),
            baseline_session=d.get("baseline_session"),
            candidate_session=d.get("candidate_session"),
            notes=[str(n) for n in d.get("notes") or ()],
        )

    def to_json(self, indent: int | None = None) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> DriftReport:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def to_proto(self) -> Any:
        """``otel_replay.v1.DriftReport`` message."""
        return render.to_proto(self)

    @classmethod
    def from_proto(cls, msg: Any) -> DriftReport:
        """Inverse of :meth:`to_proto`; accepts a message or its serialized bytes."""
        return cls(**render.fields_from_proto(msg))

    # --- rendering --------------------------------------------------------------------------

    def summary(self) -> str:
        """One line: counts per severity, or that there is no drift."""
        return render.summary(self)

    def to_markdown(self, max_rows: int = 200) -> str:
        """Markdown for PR comments: a summary line and a table of findings."""
        return render.markdown(self, max_rows)

    def render_table(self, max_rows: int = 200) -> str:
        """Plain-text table for terminals."""
        return render.table(self, max_rows)
