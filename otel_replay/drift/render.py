"""Renderings of a drift report: protobuf (``proto/otel_replay/v1/drift.proto``), the
one-line summary, Markdown (PR comments) and a plain-text table."""

from __future__ import annotations

import json
from typing import Any, Protocol

from otel_replay.core.text import count
from otel_replay.drift.findings import DriftFinding, FirstDivergence, StepRef
from otel_replay.drift.policy import DriftKind, Severity

__all__ = ["ReportView", "to_proto", "fields_from_proto", "summary", "markdown", "table"]


class ReportView(Protocol):
    """What the renderings read of a :class:`~otel_replay.drift.report.DriftReport`."""

    findings: list[DriftFinding]
    first_divergence: FirstDivergence | None
    baseline_steps: int
    candidate_steps: int
    mode: str
    baseline_session: str | None
    candidate_session: str | None
    notes: list[str]

    @property
    def max_severity(self) -> Severity | None: ...

    @property
    def counts_by_severity(self) -> dict[str, int]: ...


# --- protobuf -------------------------------------------------------------------------------


def to_proto(report: ReportView) -> Any:
    """``otel_replay.v1.DriftReport`` message."""
    from otel_replay._proto.otel_replay.v1 import drift_pb2

    msg = drift_pb2.DriftReport(
        baseline_steps=report.baseline_steps,
        candidate_steps=report.candidate_steps,
        mode=report.mode,
    )
    for f in report.findings:
        _finding_to_proto(f, msg.findings.add())
    if report.baseline_session is not None:
        msg.baseline_session = report.baseline_session
    if report.candidate_session is not None:
        msg.candidate_session = report.candidate_session
    msg.notes.extend(report.notes)
    fd = report.first_divergence
    if fd is not None:
        pm = msg.first_divergence
        pm.position = fd.position
        if fd.baseline is not None:
            _ref_to_proto(fd.baseline, pm.baseline)
        if fd.candidate is not None:
            _ref_to_proto(fd.candidate, pm.candidate)
        pm.expected_signature.extend(fd.expected_signature or ())
        pm.actual_signature.extend(fd.actual_signature or ())
        pm.changes_json = json.dumps(fd.changes, ensure_ascii=False, allow_nan=False)
    return msg


def fields_from_proto(msg: Any) -> dict[str, Any]:
    """The report's fields from a message (inverse of :func:`to_proto`); accepts a message or
    its serialized bytes."""
    from otel_replay._proto.otel_replay.v1 import drift_pb2

    if isinstance(msg, (bytes, bytearray, memoryview)):
        parsed = drift_pb2.DriftReport()
        parsed.ParseFromString(bytes(msg))
        msg = parsed
    findings = [_finding_from_proto(fm) for fm in msg.findings]
    first = None
    if msg.HasField("first_divergence"):
        pm = msg.first_divergence
        es, acs = list(pm.expected_signature), list(pm.actual_signature)
        first = FirstDivergence(
            position=pm.position,
            baseline=_ref_from_proto(pm.baseline) if pm.HasField("baseline") else None,
            candidate=_ref_from_proto(pm.candidate) if pm.HasField("candidate") else None,
            expected_signature=(es[0], es[1]) if len(es) == 2 else None,
            actual_signature=(acs[0], acs[1]) if len(acs) == 2 else None,
            changes=json.loads(pm.changes_json) if pm.changes_json else [],
        )
    return {
        "findings": findings,
        "first_divergence": first,
        "baseline_steps": msg.baseline_steps,
        "candidate_steps": msg.candidate_steps,
        "mode": msg.mode or "align",
        "baseline_session": msg.baseline_session if msg.HasField("baseline_session") else None,
        "candidate_session": msg.candidate_session if msg.HasField("candidate_session") else None,
        "notes": list(msg.notes),
    }


def _finding_to_proto(f: DriftFinding, fm: Any) -> None:
    fm.kind = f.kind.value
    fm.severity = f.severity.value
    fm.description = f.description
    fm.expected_json = _dump_optional(f.expected)
    fm.actual_json = _dump_optional(f.actual)
    fm.paths.extend(f.paths)
    fm.position = f.position
    if f.baseline is not None:
        _ref_to_proto(f.baseline, fm.baseline)
    if f.candidate is not None:
        _ref_to_proto(f.candidate, fm.candidate)
    for r in f.related:
        _finding_to_proto(r, fm.related.add())


def _finding_from_proto(fm: Any) -> DriftFinding:
    return DriftFinding(
        kind=DriftKind(fm.kind),
        severity=Severity(fm.severity),
        description=fm.description,
        expected=_load_optional(fm.expected_json),
        actual=_load_optional(fm.actual_json),
        paths=tuple(fm.paths),
        position=fm.position,
        baseline=_ref_from_proto(fm.baseline) if fm.HasField("baseline") else None,
        candidate=_ref_from_proto(fm.candidate) if fm.HasField("candidate") else None,
        related=tuple(_finding_from_proto(r) for r in fm.related),
    )


def _dump_optional(v: Any) -> str:
    return "" if v is None else json.dumps(v, ensure_ascii=False, allow_nan=False)


def _load_optional(text: str) -> Any:
    return json.loads(text) if text else None


def _ref_to_proto(ref: StepRef, msg: Any) -> None:
    msg.span_id = ref.span_id
    msg.trace_id = ref.trace_id
    if ref.sequence is not None:
        msg.sequence = ref.sequence
    msg.kind = ref.kind
    msg.name = ref.name


def _ref_from_proto(msg: Any) -> StepRef:
    return StepRef(
        msg.span_id,
        msg.trace_id,
        msg.sequence if msg.HasField("sequence") else None,
        msg.kind,
        msg.name,
    )


# --- text -----------------------------------------------------------------------------------


def summary(report: ReportView) -> str:
    """One line: counts per severity, or that there is no drift."""
    if not report.findings:
        return (
            f"no drift ({count(report.baseline_steps, 'baseline step')}, "
            f"{count(report.candidate_steps, 'candidate step')}, mode {report.mode})"
        )
    cs = report.counts_by_severity
    sev = report.max_severity
    return (
        f"{count(len(report.findings), 'drift finding')}, max severity "
        f"{sev.value if sev else '-'}: "
        f"{cs['critical']} critical, {cs['warning']} warning, {cs['info']} info "
        f"({count(report.baseline_steps, 'baseline step')}, "
        f"{count(report.candidate_steps, 'candidate step')}, mode {report.mode})"
    )


def sessions_line(report: ReportView) -> str | None:
    """``baseline session X (n steps) vs candidate session Y (m steps)``, when known."""
    if report.baseline_session is None and report.candidate_session is None:
        return None
    return (
        f"baseline session {report.baseline_session} ({count(report.baseline_steps, 'step')}) "
        f"vs candidate session {report.candidate_session} "
        f"({count(report.candidate_steps, 'step')})"
    )


def _related_text(f: DriftFinding) -> str:
    """`` [related: kind on step; ...]`` for a finding with related changes."""
    parts = []
    for r in f.related:
        ref = r.candidate or r.baseline
        if ref is not None:
            parts.append(f"{r.kind.value} on {ref.label()}")
    return " [related: " + "; ".join(parts) + "]" if parts else ""


def markdown(report: ReportView, max_rows: int = 200) -> str:
    """Markdown for PR comments: the sessions, a summary line, notes and a table of
    findings (related changes listed with their cause)."""
    lines = ["### Drift report", ""]
    head = sessions_line(report)
    if head is not None:
        lines += [_md_escape(head), ""]
    lines.append(_md_escape(summary(report)))
    for note in report.notes:
        lines += ["", "> note: " + _md_escape(note)]
    if report.first_divergence is not None:
        lines += ["", _md_escape(report.first_divergence.describe())]
    if report.findings:
        lines += [
            "",
            "| # | Severity | Kind | Step | Baseline | Candidate | Description |",
            "|---:|---|---|---:|---|---|---|",
        ]
        for i, f in enumerate(report.findings[:max_rows], 1):
            cells = (
                str(i),
                f"**{f.severity.value}**" if f.severity is Severity.CRITICAL else f.severity.value,
                f"`{f.kind.value}`",
                str(f.position),
                f.baseline.label() if f.baseline else "-",
                f.candidate.label() if f.candidate else "-",
                f.description + _related_text(f),
            )
            lines.append("| " + " | ".join(_md_escape(x) for x in cells) + " |")
        if len(report.findings) > max_rows:
            more = len(report.findings) - max_rows
            lines += ["", f"... {count(more, 'more finding')} not shown"]
    return "\n".join(lines) + "\n"


def table(report: ReportView, max_rows: int = 200) -> str:
    """Plain-text table for terminals: the sessions, a summary line, notes and findings."""
    head = sessions_line(report)
    lines = [head] if head is not None else []
    lines.append(summary(report))
    lines += ["note: " + n for n in report.notes]
    if report.first_divergence is not None:
        lines.append(report.first_divergence.describe())
    if report.findings:
        rows = [("SEVERITY", "KIND", "STEP", "BASELINE", "CANDIDATE", "DESCRIPTION")]
        for f in report.findings[:max_rows]:
            rows.append(
                (
                    f.severity.value,
                    f.kind.value,
                    str(f.position),
                    f.baseline.label() if f.baseline else "-",
                    f.candidate.label() if f.candidate else "-",
                    (f.description + _related_text(f)).replace("\n", " "),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
        if len(report.findings) > max_rows:
            more = len(report.findings) - max_rows
            lines.append(f"... {count(more, 'more finding')} not shown")
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")
