"""The data of report files: :class:`SessionComparison` (one compared pair of sessions, with
the steps that were compared), the step views reports show, the report formats and the JSON
report; :mod:`otel_replay.drift.report_files` renders and writes them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_replay.drift.report import DriftReport
from otel_replay.model.steps import Step

__all__ = [
    "SessionComparison",
    "step_view",
    "format_for_path",
    "REPORT_FORMATS",
    "reports_json",
]

#: Report formats and the file suffixes that select them.
REPORT_FORMATS: Mapping[str, tuple[str, ...]] = {
    "json": (".json",),
    "markdown": (".md", ".markdown"),
    "junit": (".xml",),
    "html": (".html", ".htm"),
}
_MAX_TEXT = 4000  # characters of one string value kept in a step view


@dataclass
class SessionComparison:
    """One compared pair of sessions: its name, the report, and the compared steps (as
    :func:`step_view` dicts, in run order). ``failing`` holds the indices of the findings that
    fail the gate that compared them; ``None`` when no gate decided (every finding fails)."""

    name: str
    report: DriftReport
    baseline: list[dict[str, Any]] = field(default_factory=list)
    candidate: list[dict[str, Any]] = field(default_factory=list)
    failing: list[int] | None = None
    baseline_source: str = ""
    candidate_source: str = ""
    hint: str = ""

    @property
    def failing_indices(self) -> list[int]:
        """Indices of the failing findings."""
        if self.failing is None:
            return list(range(len(self.report.findings)))
        return list(self.failing)

    @property
    def is_failure(self) -> bool:
        """Whether any finding fails."""
        return bool(self.failing_indices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (steps included)."""
        return {
            "name": self.name,
            "failed": self.is_failure,
            "failing": self.failing_indices,
            "baseline_source": self.baseline_source,
            "candidate_source": self.candidate_source,
            "hint": self.hint,
            "report": self.report.to_dict(),
            "baseline": self.baseline,
            "candidate": self.candidate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SessionComparison:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(d.get("name", "")),
            report=DriftReport.from_dict(d.get("report") or {}),
            baseline=list(d.get("baseline") or ()),
            candidate=list(d.get("candidate") or ()),
            failing=[int(i) for i in d["failing"]] if d.get("failing") is not None else None,
            baseline_source=str(d.get("baseline_source", "")),
            candidate_source=str(d.get("candidate_source", "")),
            hint=str(d.get("hint", "")),
        )


def step_view(step: Step) -> dict[str, Any]:
    """What reports show of a step: identity, status, inputs, outputs and attributes (long
    strings cut at 4000 characters)."""
    return {
        "span_id": step.span_id,
        "sequence": step.sequence,
        "kind": step.kind,
        "name": step.name,
        "span_name": step.span_name,
        "status": step.status,
        "status_message": step.status_message,
        "inputs": _cut(step.inputs),
        "outputs": _cut(step.outputs),
        "attributes": {k: _cut(_plain(v)) for k, v in sorted(step.attributes.items())},
    }


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _cut(v: Any, depth: int = 0) -> Any:
    if isinstance(v, str):
        return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + f"... ({len(v)} characters)"
    if depth > 32:
        return "..."
    if isinstance(v, Mapping):
        return {str(k): _cut(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_cut(x, depth + 1) for x in v]
    if v is None or isinstance(v, (bool, int, float)):
        return v
    return str(v)


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Report format chosen by the suffix of ``path``; :class:`ValueError` when unknown."""
    name = os.fspath(path).lower()
    for fmt, suffixes in REPORT_FORMATS.items():
        if name.endswith(suffixes):
            return fmt
    known = ", ".join(s for ss in REPORT_FORMATS.values() for s in ss)
    raise ValueError(f"{os.fspath(path)}: unknown report format (file suffix one of {known})")


def reports_json(comparisons: Sequence[SessionComparison], title: str = "") -> str:
    """The JSON report: a summary and each compared session's report (no steps)."""
    failed = sum(1 for s in comparisons if s.is_failure)
    doc = {
        "title": title or "otel-replay drift report",
        "summary": {
            "sessions": len(comparisons),
            "failed": failed,
            "findings": sum(len(s.report.findings) for s in comparisons),
        },
        "sessions": [
            {k: v for k, v in s.to_dict().items() if k not in ("baseline", "candidate")}
            for s in comparisons
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
