"""Drift detection: compare a candidate run's steps with a baseline run's steps.

:func:`compare` pairs the steps of two runs, in ``align`` mode along a minimal edit script
(:mod:`otel_replay.drift.align`) of their signatures, breaking ties among repeated signatures by
step content; in ``strict`` mode position by position, like a workflow replayer's
non-determinism check. Paired steps are compared field by field (:func:`compare_steps`);
unchanged fields are recognized from their raw attribute strings, so only changed JSON is
ever decoded and diffed. The result is a :class:`DriftReport` of :class:`DriftFinding`
objects, renderable as JSON, Markdown (PR comments), a plain-text table, or protobuf
(``proto/otel_replay/v1/drift.proto``).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from otel_replay.core import conventions as c
from otel_replay.drift.align import Opcode, align, align_codes
from otel_replay.drift.jsondiff import JsonChange, _compile, json_diff
from otel_replay.model.span_shapes import (
    _OI_KIND_KEY,
    _TL_KIND_KEY,
    LLM_OUTPUT_KEYS,
    TOOL_INPUT_KEYS,
    TOOL_OUTPUT_KEYS,
)
from otel_replay.model.steps import Step

__all__ = [
    "Severity",
    "DriftKind",
    "DriftPolicy",
    "StepRef",
    "DriftFinding",
    "FirstDivergence",
    "PairComparison",
    "DriftReport",
    "compare",
    "compare_steps",
    "compare_pair",
    "DEFAULT_IGNORE_PATHS",
    "DEFAULT_SEVERITIES",
]

Mode = Literal["align", "strict"]
_EPS = 1e-9


class Severity(str, Enum):
    """Severity of a finding, ordered ``info < warning < critical``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical."""
        return _RANK[self.value]

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank < other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank <= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank > other.rank
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank >= other.rank
        return NotImplemented


_RANK = {"info": 0, "warning": 1, "critical": 2}


class DriftKind(str, Enum):
    """What differs between a baseline step and a candidate step."""

    UNEXPECTED_STEP = "unexpected_step"
    MISSING_STEP = "missing_step"
    TOOL_CHANGED = "tool_changed"
    DECISION_CHANGED = "decision_changed"
    MODEL_CHANGED = "model_changed"
    ARGUMENTS_CHANGED = "arguments_changed"
    OUTPUT_CHANGED = "output_changed"
    CONFIDENCE_CHANGED = "confidence_changed"
    STATUS_CHANGED = "status_changed"
    LATENCY_REGRESSION = "latency_regression"
    TOKEN_USAGE_REGRESSION = "token_usage_regression"


#: Default severity per kind; confidence and status severities depend on the change.
DEFAULT_SEVERITIES: Mapping[DriftKind, Severity] = {
    DriftKind.UNEXPECTED_STEP: Severity.WARNING,
    DriftKind.MISSING_STEP: Severity.WARNING,
    DriftKind.TOOL_CHANGED: Severity.WARNING,
    DriftKind.DECISION_CHANGED: Severity.CRITICAL,
    DriftKind.MODEL_CHANGED: Severity.WARNING,
    DriftKind.ARGUMENTS_CHANGED: Severity.WARNING,
    DriftKind.OUTPUT_CHANGED: Severity.INFO,
    DriftKind.LATENCY_REGRESSION: Severity.WARNING,
    DriftKind.TOKEN_USAGE_REGRESSION: Severity.WARNING,
}

#: Paths ignored by default in argument/output diffs: per-call ids and timestamps. Plain
#: ``id`` fields are compared (they often name the document or record a step used).
DEFAULT_IGNORE_PATHS: tuple[str, ...] = (
    "$..request_id",
    "$..tool_call_id",
    "$..timestamp",
    "$..created",
    "$..created_at",
    "$..updated_at",
)


@dataclass
class DriftPolicy:
    """What counts as drift and how severe it is.

    ``severities`` overrides the default severity of a kind (including the threshold-based
    confidence and status severities); ``disabled`` kinds are never reported. A confidence
    change is critical when ``|delta| >= confidence_critical``, a warning when
    ``>= confidence_warning``. Latency regresses when the candidate takes at least
    ``latency_ratio`` times the baseline and at least ``min_latency_ns``; token usage when the
    candidate's total is at least ``token_ratio`` times the baseline's. Steps whose kind is in
    ``ignore_kinds`` (checkpoints and replay wrappers) are left out of the comparison.
    """

    severities: dict[DriftKind, Severity] = field(default_factory=dict)
    disabled: set[DriftKind] = field(default_factory=set)
    confidence_warning: float = 0.4
    confidence_critical: float = 0.5
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    latency_ratio: float = 2.0
    min_latency_ns: int = 50_000_000
    token_ratio: float = 1.5
    ignore_kinds: frozenset[str] = frozenset({c.KIND_CHECKPOINT, c.KIND_REPLAY})
    max_value_chars: int = 4096

    def __post_init__(self) -> None:
        self.severities = {DriftKind(k): Severity(v) for k, v in self.severities.items()}
        self.disabled = {DriftKind(k) for k in self.disabled}
        self.ignore_paths = tuple(self.ignore_paths)
        self.ignore_kinds = frozenset(self.ignore_kinds)
        _compile(self.ignore_paths)  # raises ValueError on a malformed pattern

    def severity(self, kind: DriftKind, default: Severity | None = None) -> Severity:
        """Severity of ``kind``: the override, else ``default``, else the kind's default."""
        sev = self.severities.get(kind)
        if sev is not None:
            return sev
        if default is not None:
            return default
        return DEFAULT_SEVERITIES.get(kind, Severity.WARNING)

    def enabled(self, kind: DriftKind) -> bool:
        """Whether findings of ``kind`` are reported."""
        return kind not in self.disabled


@dataclass(frozen=True)
class StepRef:
    """Identity of a step in a run."""

    span_id: str
    trace_id: str
    sequence: int | None
    kind: str
    name: str

    @classmethod
    def from_step(cls, step: Step) -> StepRef:
        """Reference to ``step``."""
        return cls(step.span_id, step.trace_id, step.sequence, step.kind, step.name)

    @property
    def signature(self) -> tuple[str, str]:
        """``(kind, name)``."""
        return (self.kind, self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "span_id": self.span_id,
            "trace_id": self.trace_id,
            "sequence": self.sequence,
            "kind": self.kind,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepRef:
        """Inverse of :meth:`to_dict`."""
        seq = d.get("sequence")
        return cls(
            str(d.get("span_id", "")),
            str(d.get("trace_id", "")),
            int(seq) if seq is not None else None,
            str(d.get("kind", "")),
            str(d.get("name", "")),
        )

    def label(self) -> str:
        """Short text such as ``tool 'search' #7``."""
        seq = f" #{self.sequence}" if self.sequence is not None else ""
        return f"{self.kind} {self.name!r}{seq}"


@dataclass(frozen=True)
class DriftFinding:
    """One difference between the runs; ``expected``/``actual`` are JSON-able."""

    kind: DriftKind
    severity: Severity
    description: str
    expected: Any = None
    actual: Any = None
    paths: tuple[str, ...] = ()
    position: int = 0
    baseline: StepRef | None = None
    candidate: StepRef | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "description": self.description,
            "expected": self.expected,
            "actual": self.actual,
            "paths": list(self.paths),
            "position": self.position,
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "candidate": self.candidate.to_dict() if self.candidate else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftFinding:
        """Inverse of :meth:`to_dict`."""
        b, cd = d.get("baseline"), d.get("candidate")
        return cls(
            kind=DriftKind(d["kind"]),
            severity=Severity(d["severity"]),
            description=str(d.get("description", "")),
            expected=d.get("expected"),
            actual=d.get("actual"),
            paths=tuple(d.get("paths") or ()),
            position=int(d.get("position", 0)),
            baseline=StepRef.from_dict(b) if b else None,
            candidate=StepRef.from_dict(cd) if cd else None,
        )


@dataclass
class FirstDivergence:
    """Where the runs first differ: signatures and field changes at that position."""

    position: int
    baseline: StepRef | None = None
    candidate: StepRef | None = None
    expected_signature: tuple[str, str] | None = None
    actual_signature: tuple[str, str] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "position": self.position,
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "candidate": self.candidate.to_dict() if self.candidate else None,
            "expected_signature": list(self.expected_signature)
            if self.expected_signature
            else None,
            "actual_signature": list(self.actual_signature) if self.actual_signature else None,
            "changes": list(self.changes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FirstDivergence:
        """Inverse of :meth:`to_dict`."""
        b, cd = d.get("baseline"), d.get("candidate")
        es, acs = d.get("expected_signature"), d.get("actual_signature")
        return cls(
            position=int(d.get("position", 0)),
            baseline=StepRef.from_dict(b) if b else None,
            candidate=StepRef.from_dict(cd) if cd else None,
            expected_signature=(str(es[0]), str(es[1])) if es else None,
            actual_signature=(str(acs[0]), str(acs[1])) if acs else None,
            changes=[dict(x) for x in d.get("changes") or ()],
        )

    def describe(self) -> str:
        """One line: position and expected vs actual signature."""
        exp = _sig_text(self.expected_signature)
        act = _sig_text(self.actual_signature)
        text = f"first divergence at step {self.position}: expected {exp}, got {act}"
        if self.changes:
            text += " (" + ", ".join(str(ch.get("path")) for ch in self.changes[:5]) + ")"
        return text


@dataclass
class PairComparison:
    """Field comparison of two paired steps.

    ``not_comparable`` names fields present on either side that could not be compared
    (e.g. ``"confidence"`` when one value is missing, ``None``, a bool or not a number).
    """

    findings: list[DriftFinding] = field(default_factory=list)
    not_comparable: list[str] = field(default_factory=list)
    changes: list[JsonChange] = field(default_factory=list)


@dataclass
class DriftReport:
    """Result of :func:`compare`; step counts are after skipping ignored kinds."""

    findings: list[DriftFinding] = field(default_factory=list)
    first_divergence: FirstDivergence | None = None
    baseline_steps: int = 0
    candidate_steps: int = 0
    mode: str = "align"

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
        counts = {s.value: 0 for s in Severity}
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
            "baseline_steps": self.baseline_steps,
            "candidate_steps": self.candidate_steps,
            "has_drift": self.has_drift,
            "max_severity": sev.value if sev else None,
            "counts_by_kind": self.counts_by_kind,
            "counts_by_severity": self.counts_by_severity,
            "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None,
            "findings": [f.to_dict() for f in self.findings],
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
        from otel_replay._proto.otel_replay.v1 import drift_pb2

        msg = drift_pb2.DriftReport(
            baseline_steps=self.baseline_steps,
            candidate_steps=self.candidate_steps,
            mode=self.mode,
        )
        for f in self.findings:
            fm = msg.findings.add(
                kind=f.kind.value,
                severity=f.severity.value,
                description=f.description,
                expected_json=_dump_optional(f.expected),
                actual_json=_dump_optional(f.actual),
                paths=list(f.paths),
                position=f.position,
            )
            if f.baseline is not None:
                _ref_to_proto(f.baseline, fm.baseline)
            if f.candidate is not None:
                _ref_to_proto(f.candidate, fm.candidate)
        fd = self.first_divergence
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

    @classmethod
    def from_proto(cls, msg: Any) -> DriftReport:
        """Inverse of :meth:`to_proto`; accepts a message or its serialized bytes."""
        from otel_replay._proto.otel_replay.v1 import drift_pb2

        if isinstance(msg, (bytes, bytearray, memoryview)):
            parsed = drift_pb2.DriftReport()
            parsed.ParseFromString(bytes(msg))
            msg = parsed
        findings = [
            DriftFinding(
                kind=DriftKind(fm.kind),
                severity=Severity(fm.severity),
                description=fm.description,
                expected=_load_optional(fm.expected_json),
                actual=_load_optional(fm.actual_json),
                paths=tuple(fm.paths),
                position=fm.position,
                baseline=_ref_from_proto(fm.baseline) if fm.HasField("baseline") else None,
                candidate=_ref_from_proto(fm.candidate) if fm.HasField("candidate") else None,
            )
            for fm in msg.findings
        ]
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
        return cls(
            findings=findings,
            first_divergence=first,
            baseline_steps=msg.baseline_steps,
            candidate_steps=msg.candidate_steps,
            mode=msg.mode or "align",
        )

    # --- rendering --------------------------------------------------------------------------

    def summary(self) -> str:
        """One line: counts per severity, or that there is no drift."""
        if not self.findings:
            return (
                f"no drift ({self.baseline_steps} baseline steps, "
                f"{self.candidate_steps} candidate steps, mode {self.mode})"
            )
        cs = self.counts_by_severity
        sev = self.max_severity
        return (
            f"{len(self.findings)} drift finding(s), max severity {sev.value if sev else '-'}: "
            f"{cs['critical']} critical, {cs['warning']} warning, {cs['info']} info "
            f"({self.baseline_steps} baseline steps, {self.candidate_steps} candidate steps, "
            f"mode {self.mode})"
        )

    def to_markdown(self, max_rows: int = 200) -> str:
        """Markdown for PR comments: a summary line and a table of findings."""
        lines = ["### Drift report", "", _md_escape(self.summary())]
        if self.first_divergence is not None:
            lines += ["", _md_escape(self.first_divergence.describe())]
        if self.findings:
            lines += [
                "",
                "| # | Severity | Kind | Step | Baseline | Candidate | Description |",
                "|---:|---|---|---:|---|---|---|",
            ]
            for i, f in enumerate(self.findings[:max_rows], 1):
                cells = (
                    str(i),
                    f"**{f.severity.value}**"
                    if f.severity is Severity.CRITICAL
                    else f.severity.value,
                    f"`{f.kind.value}`",
                    str(f.position),
                    f.baseline.label() if f.baseline else "-",
                    f.candidate.label() if f.candidate else "-",
                    f.description,
                )
                lines.append("| " + " | ".join(_md_escape(x) for x in cells) + " |")
            if len(self.findings) > max_rows:
                lines += ["", f"... {len(self.findings) - max_rows} more finding(s) not shown"]
        return "\n".join(lines) + "\n"

    def render_table(self, max_rows: int = 200) -> str:
        """Plain-text table for terminals."""
        lines = [self.summary()]
        if self.first_divergence is not None:
            lines.append(self.first_divergence.describe())
        if self.findings:
            rows = [("SEVERITY", "KIND", "STEP", "BASELINE", "CANDIDATE", "DESCRIPTION")]
            for f in self.findings[:max_rows]:
                rows.append(
                    (
                        f.severity.value,
                        f.kind.value,
                        str(f.position),
                        f.baseline.label() if f.baseline else "-",
                        f.candidate.label() if f.candidate else "-",
                        f.description.replace("\n", " "),
                    )
                )
            widths = [max(len(r[i]) for r in rows) for i in range(5)]
            for r in rows:
                lines.append("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
            if len(self.findings) > max_rows:
                lines.append(f"... {len(self.findings) - max_rows} more finding(s) not shown")
        return "\n".join(lines) + "\n"


# --- comparison -----------------------------------------------------------------------------


def compare_steps(
    baseline: Step, candidate: Step, policy: DriftPolicy | None = None, *, position: int = 0
) -> list[DriftFinding]:
    """Findings for two paired steps (see :func:`compare_pair`)."""
    return compare_pair(baseline, candidate, policy, position=position).findings


def compare_pair(
    baseline: Step, candidate: Step, policy: DriftPolicy | None = None, *, position: int = 0
) -> PairComparison:
    """Compare the fields of two paired steps.

    Same signature: tool arguments and results, LLM output and token usage, decision action
    and confidence, and for every kind status and latency. Same kind with another name:
    one ``tool_changed`` / ``model_changed`` / ``decision_changed`` finding (plus a status
    change), carrying the field differences in its paths. Other pairs are reported as a
    missing and an unexpected step.
    """
    pol = policy if policy is not None else DriftPolicy()
    if baseline.signature == candidate.signature:
        res = _compare_same(baseline, candidate, pol, position)
        return res if res is not None else PairComparison()
    if baseline.kind == candidate.kind and baseline.kind in _RENAMABLE:
        return _compare_renamed(baseline, candidate, pol, position)
    out = PairComparison()
    _unpaired(baseline, None, pol, position, out.findings)
    _unpaired(None, candidate, pol, position, out.findings)
    return out


def compare(
    baseline: Sequence[Step],
    candidate: Sequence[Step],
    policy: DriftPolicy | None = None,
    *,
    mode: Mode = "align",
) -> DriftReport:
    """Compare a candidate run with a baseline run.

    ``align`` mode pairs steps along a minimal edit script (:func:`otel_replay.drift.align.align`)
    of their signatures: inserted steps are ``unexpected_step``, deleted ones
    ``missing_step``, and in a replaced stretch steps of the same kind pair up positionally
    (renamed tool/model/decision). Where an inserted or deleted run could sit at several
    places among repeated signatures, it is put where most pairs have identical content.
    ``strict`` mode pairs steps by position. Positions are indices in the candidate run
    after skipping ``policy.ignore_kinds``.
    """
    if mode not in ("align", "strict"):
        raise ValueError(f"mode must be 'align' or 'strict', not {mode!r}")
    pol = policy if policy is not None else DriftPolicy()
    skip = pol.ignore_kinds
    ids: dict[tuple[str, str], int] = {}
    run = _Run(
        pol, _Side(baseline, skip, ids, None), _Side(candidate, skip, ids, pol.min_latency_ns)
    )
    return _compare_sides(run, ids, mode)


def compare_profiled(
    baseline: RunProfile, candidate: RunProfile, policy: DriftPolicy, *, mode: Mode = "align"
) -> DriftReport:
    """:func:`compare` of two runs whose profiles are already known.

    Both profiles are under ``policy`` (:func:`profile` or an equivalent) and no candidate
    step is at or over ``policy.min_latency_ns``. Candidate steps are then only read where
    the runs differ, so lazily normalized steps stay cheap. Same report as :func:`compare`.
    """
    if mode not in ("align", "strict"):
        raise ValueError(f"mode must be 'align' or 'strict', not {mode!r}")
    ids: dict[tuple[str, str], int] = {}
    sides = _Side.prepared(baseline, ids), _Side.prepared(candidate, ids)
    return _compare_sides(_Run(policy, *sides), ids, mode)


def _compare_sides(run: _Run, ids: dict[tuple[str, str], int], mode: Mode) -> DriftReport:
    pol = run.pol
    base, cand = run.b.steps, run.c.steps
    if mode == "align":
        if len(ids) < _MAX_CODES:
            ops = align_codes("".join(map(chr, run.b.codes)), "".join(map(chr, run.c.codes)))
        else:  # pragma: no cover - over a million distinct signatures
            ops = align(run.b.codes, run.c.codes)
        for tag, i1, i2, j1, j2 in _slide_for_content(ops, run.b, run.c):
            if tag == "equal":
                run.equal(i1, j1, i2 - i1)
            elif tag == "replace":
                _replace_hunk(run, base[i1:i2], cand[j1:j2], j1)
            elif tag == "delete":
                site = cand[j1] if j1 < len(cand) else None
                for k in range(i1, i2):
                    run.unpaired(base[k], None, j1, base[k], site)
            else:
                site = base[i1] if i1 < len(base) else None
                for k in range(j1, j2):
                    run.unpaired(None, cand[k], k, site, cand[k])
    else:
        nb, nc = len(base), len(cand)
        for i in range(max(nb, nc)):
            b = base[i] if i < nb else None
            cs = cand[i] if i < nc else None
            if b is None or cs is None:
                run.unpaired(b, cs, i, b, cs)
            elif b.kind == cs.kind and b.name == cs.name:
                run.equal(i, i, 1)
            elif b.kind == cs.kind and b.kind in _RENAMABLE:
                run.add(_compare_renamed(b, cs, pol, i), i, b, cs)
            else:
                run.unpaired(b, None, i, b, cs)
                run.unpaired(None, cs, i, b, cs)
    return DriftReport(
        findings=run.findings,
        first_divergence=run.first,
        baseline_steps=len(base),
        candidate_steps=len(cand),
        mode=mode,
    )


_RENAMABLE = frozenset({c.KIND_TOOL, c.KIND_LLM, c.KIND_DECISION})
_MAX_CODES = 0x110000


def fingerprint(kind: str, attrs: Mapping[str, Any], status: str) -> tuple[Any, ...]:
    """What :func:`_compare_same` compares of a step, from its raw attribute values.

    Two same-signature steps with equal fingerprints have no findings but possibly a latency
    regression. A field that cannot be fingerprinted exactly (spans of other
    instrumentations, whose inputs and outputs are assembled from several attributes, and
    non-integer token counts) gets a fresh ``object()``, which never compares equal: those
    steps are always compared field by field.
    """
    if kind == "tool":
        if _TL_KIND_KEY in attrs or _OI_KIND_KEY in attrs:
            return (object(),)
        # the GenAI attribute's string itself when present (a str never equals the
        # (key, type, value) tuple of another source), else the source the step reads
        x = attrs.get(_ARGS)
        y = attrs.get(_RESULT)
        return (
            x if type(x) is str else _source(attrs, TOOL_INPUT_KEYS),
            y if type(y) is str else _source(attrs, TOOL_OUTPUT_KEYS),
            status,
        )
    if kind == "llm":
        x = attrs.get(_OUTPUT)
        y = attrs.get(_IN_TOKENS)
        z = attrs.get(_OUT_TOKENS)
        return (
            object()
            if _OI_KIND_KEY in attrs
            else (x if type(x) is str else _source(attrs, LLM_OUTPUT_KEYS)),
            y if type(y) is int else object(),
            z if type(z) is int else object(),
            status,
        )
    if kind == "decision":
        x = attrs.get(_ACTION)
        y = attrs.get(_CONFIDENCE)
        return (x, type(x), y, type(y), status)
    return (status,)


def _source(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The attribute a step's inputs or outputs are decoded from (the first present of
    ``keys``, the same key lists :func:`otel_replay.model.steps.normalize_span` reads), as
    (key, type, value); ``None`` when there is none."""
    for key in keys:
        v = attrs.get(key)
        if v is not None:
            return (key, type(v), v)
    return None


@dataclass(frozen=True)
class RunProfile:
    """A run reduced to what decides "no drift": signatures and fingerprints in order.

    Two runs whose profiles have equal ``signatures`` and ``prints`` and whose candidate has
    no step at or over the latency floor compare without findings (in both modes), so
    :func:`compare` need not run. Built by :func:`profile` (steps) or incrementally from
    spans by the drift processor. ``steps`` are the kept steps themselves, in order.
    """

    signatures: list[tuple[str, str]]
    prints: list[tuple[Any, ...]]
    steps: list[Step]


def profile(steps: Iterable[Step], policy: DriftPolicy) -> RunProfile:
    """The :class:`RunProfile` of ``steps`` under ``policy`` (ignored kinds left out)."""
    skip = policy.ignore_kinds
    sigs: list[tuple[str, str]] = []
    prints: list[tuple[Any, ...]] = []
    kept: list[Step] = []
    for s in steps:
        kind = s.kind
        if kind in skip:
            continue
        sigs.append((kind, s.name))
        prints.append(fingerprint(kind, s.attributes, s.status))
        kept.append(s)
    return RunProfile(sigs, prints, kept)


def no_drift_report(steps: int, mode: Mode = "align") -> DriftReport:
    """The report :func:`compare` returns for two runs of ``steps`` steps that agree."""
    return DriftReport(
        findings=[], first_divergence=None, baseline_steps=steps, candidate_steps=steps, mode=mode
    )


class _Side:
    """One run prepared in a single pass: kept steps, alignment codes, fingerprints and the
    indices of slow steps.

    ``codes`` identify signatures (``ids`` is shared by both runs). Equal fingerprints of
    two same-signature steps guarantee that :func:`_compare_same` finds nothing but possibly
    a latency regression, which needs a candidate duration of at least ``floor`` (``slow``
    lists those steps; ``floor=None`` skips that, for the baseline). A field that cannot be
    fingerprinted exactly gets a fresh ``object()``, which never compares equal.
    """

    __slots__ = ("steps", "codes", "prints", "slow")

    def __init__(
        self,
        steps: Iterable[Step],
        skip: frozenset[str],
        ids: dict[tuple[str, str], int],
        floor: int | None,
    ) -> None:
        kept: list[Step] = []
        codes: list[int] = []
        prints: list[tuple[Any, ...]] = []
        slow: list[int] = []
        keep, code_app, print_app = kept.append, codes.append, prints.append
        get = ids.get
        for s in steps:
            kind = s.kind
            if kind in skip:
                continue
            fp = fingerprint(kind, s.attributes, s.status)
            key = (kind, s.name)
            code = get(key)
            if code is None:
                code = ids[key] = len(ids)
            if floor is not None and s.end_time_unix_nano - s.start_time_unix_nano >= floor:
                slow.append(len(kept))
            code_app(code)
            print_app(fp)
            keep(s)
        self.steps = kept
        self.codes = codes
        self.prints = prints
        self.slow = slow

    @classmethod
    def prepared(cls, prof: RunProfile, ids: dict[tuple[str, str], int]) -> _Side:
        """A side from a known profile without latency checks (see :func:`compare_profiled`)."""
        side = cls.__new__(cls)
        codes = []
        for key in prof.signatures:
            code = ids.get(key)
            if code is None:
                code = ids[key] = len(ids)
            codes.append(code)
        side.steps = list(prof.steps)
        side.codes = codes
        side.prints = list(prof.prints)
        side.slow = []
        return side


class _Run:
    """Accumulates findings and the first divergence of a comparison."""

    __slots__ = ("pol", "b", "c", "findings", "first")

    def __init__(self, pol: DriftPolicy, b: _Side, c: _Side) -> None:
        self.pol = pol
        self.b = b
        self.c = c
        self.findings: list[DriftFinding] = []
        self.first: FirstDivergence | None = None

    def add(self, res: PairComparison, pos: int, b: Step | None, cs: Step | None) -> None:
        if not res.findings:
            return
        self.findings.extend(res.findings)
        if self.first is None:
            self.first = _divergence(pos, b, cs, res.changes, self.pol)

    def unpaired(
        self, b: Step | None, cs: Step | None, pos: int, site_b: Step | None, site_c: Step | None
    ) -> None:
        n = len(self.findings)
        _unpaired(b, cs, self.pol, pos, self.findings)
        if self.first is None and len(self.findings) > n:
            self.first = _divergence(pos, site_b, site_c, [], self.pol)

    def equal(self, i: int, j: int, n: int) -> None:
        """Compare the same-signature pairs ``(b[i + k], c[j + k])`` for ``k < n``.

        Fingerprints and durations are checked with C-level slice operations; only pairs
        whose fingerprints differ or whose candidate duration reaches the latency floor are
        compared field by field.
        """
        if n <= 0:
            return
        pol = self.pol
        fb, fc = self.b.prints, self.c.prints
        suspects = _mismatches(fb, fc, i, j, n)
        slow = self.c.slow
        lo = bisect_left(slow, j)
        if lo < len(slow) and slow[lo] < j + n:
            late = [x - j for x in slow[lo : bisect_left(slow, j + n, lo)]]
            suspects = sorted(set(suspects).union(late))
        base, cand = self.b.steps, self.c.steps
        for k in suspects:
            b, cs = base[i + k], cand[j + k]
            res = _compare_same(b, cs, pol, j + k)
            if res is not None:
                self.add(res, j + k, b, cs)


def _mismatches(xs: list[Any], ys: list[Any], i: int, j: int, n: int) -> list[int]:
    """Offsets ``k < n`` where ``xs[i + k] != ys[j + k]``, by bisecting slice comparisons."""
    out: list[int] = []
    stack = [(0, n)]
    while stack:
        lo, hi = stack.pop()
        if xs[i + lo : i + hi] == ys[j + lo : j + hi]:
            continue
        if hi - lo <= 8:
            out.extend(k for k in range(lo, hi) if xs[i + k] != ys[j + k])
            continue
        mid = (lo + hi) >> 1
        stack.append((mid, hi))
        stack.append((lo, mid))
    return out


def _slide_for_content(ops: Iterable[Opcode], b: _Side, c: _Side) -> list[list[Any]]:
    """Move each pure insertion/deletion among repeated signatures to where the most pairs
    have identical content (equal fingerprints); ties keep the aligner's placement.

    Sliding keeps the edit script minimal: a run only moves over items whose signatures
    equal the ones it swaps with, and at least one equal item stays between two hunks.
    """
    out: list[list[Any]] = [list(op) for op in ops]
    last = len(out) - 1
    for h, op in enumerate(out):
        tag = op[0]
        if tag != "insert" and tag != "delete":
            continue
        prev = out[h - 1] if h > 0 and out[h - 1][0] == "equal" else None
        nxt = out[h + 1] if h < last and out[h + 1][0] == "equal" else None
        back = 0 if prev is None else prev[2] - prev[1] - (h - 1 > 0)
        fwd = 0 if nxt is None else nxt[2] - nxt[1] - (h + 1 < last)
        if back <= 0 and fwd <= 0:
            continue
        if tag == "delete":  # run xs[i:i+n] of the baseline, opposite ys[p] of the candidate
            xs, ys, xc, i, n, p = b.prints, c.prints, b.codes, op[1], op[2] - op[1], op[3]
        else:
            xs, ys, xc, i, n, p = c.prints, b.prints, c.codes, op[3], op[4] - op[3], op[1]
        best = best_t = score = t = 0
        while t < fwd and xc[i + t] == xc[i + n + t]:
            score += int(xs[i + t] == ys[p + t]) - int(xs[i + n + t] == ys[p + t])
            t += 1
            if score > best:
                best, best_t = score, t
        score = t = 0
        while t < back and xc[i - 1 - t] == xc[i + n - 1 - t]:
            score += int(xs[i + n - 1 - t] == ys[p - 1 - t]) - int(xs[i - 1 - t] == ys[p - 1 - t])
            t += 1
            if score > best:
                best, best_t = score, -t
        if best_t:
            op[1] += best_t
            op[3] += best_t
            if tag == "delete":
                op[2] += best_t
                op[4] = op[3]
            else:
                op[4] += best_t
                op[2] = op[1]
            if prev is not None:
                prev[2] += best_t
                prev[4] += best_t
            if nxt is not None:
                nxt[1] += best_t
                nxt[3] += best_t
    return [op for op in out if op[0] != "equal" or op[2] > op[1]]


def _replace_hunk(run: _Run, bs: list[Step], cs: list[Step], j0: int) -> None:
    """Pair steps of the same kind positionally; the rest are missing/unexpected."""
    paired = 0
    for b, cand in zip(bs, cs, strict=False):
        if b.kind != cand.kind or b.kind not in _RENAMABLE:
            break
        run.add(_compare_renamed(b, cand, run.pol, j0 + paired), j0 + paired, b, cand)
        paired += 1
    for k in range(paired, max(len(bs), len(cs))):
        b1 = bs[k] if k < len(bs) else None
        c1 = cs[k] if k < len(cs) else None
        pos = j0 + min(k, len(cs))
        if b1 is not None:
            run.unpaired(b1, None, pos, b1, c1)
        if c1 is not None:
            run.unpaired(None, c1, j0 + k, b1, c1)


def _divergence(
    pos: int, b: Step | None, cs: Step | None, changes: list[JsonChange], pol: DriftPolicy
) -> FirstDivergence:
    limit = pol.max_value_chars
    return FirstDivergence(
        position=pos,
        baseline=StepRef.from_step(b) if b is not None else None,
        candidate=StepRef.from_step(cs) if cs is not None else None,
        expected_signature=b.signature if b is not None else None,
        actual_signature=cs.signature if cs is not None else None,
        changes=[
            {
                "path": ch.path,
                "op": ch.op,
                "expected": _jsonable(ch.expected, limit),
                "actual": _jsonable(ch.actual, limit),
            }
            for ch in changes
        ],
    )


def _unpaired(
    b: Step | None, cs: Step | None, pol: DriftPolicy, pos: int, out: list[DriftFinding]
) -> None:
    if b is not None:
        kind = DriftKind.MISSING_STEP
        if pol.enabled(kind):
            out.append(
                DriftFinding(
                    kind,
                    pol.severity(kind),
                    f"missing step at {pos}: {b.kind} {b.name!r}",
                    expected=_step_summary(b),
                    position=pos,
                    baseline=StepRef.from_step(b),
                )
            )
    if cs is not None:
        kind = DriftKind.UNEXPECTED_STEP
        if pol.enabled(kind):
            out.append(
                DriftFinding(
                    kind,
                    pol.severity(kind),
                    f"unexpected step at {pos}: {cs.kind} {cs.name!r}",
                    actual=_step_summary(cs),
                    position=pos,
                    candidate=StepRef.from_step(cs),
                )
            )


def _step_summary(s: Step) -> dict[str, Any]:
    return {"kind": s.kind, "name": s.name, "sequence": s.sequence}


# Attribute holding each kind's raw inputs/outputs; equal raw strings mean equal values.
_RAW_INPUT = {c.KIND_TOOL: c.GEN_AI_TOOL_CALL_ARGUMENTS, c.KIND_LLM: c.GEN_AI_INPUT_MESSAGES}
_RAW_OUTPUT = {c.KIND_TOOL: c.GEN_AI_TOOL_CALL_RESULT, c.KIND_LLM: c.GEN_AI_OUTPUT_MESSAGES}


def _foreign(ba: Mapping[str, Any], ca: Mapping[str, Any]) -> bool:
    """Whether either step comes from another instrumentation (inputs and outputs assembled
    from several attributes: only the decoded values can be compared)."""
    return _TL_KIND_KEY in ba or _OI_KIND_KEY in ba or _TL_KIND_KEY in ca or _OI_KIND_KEY in ca


_ARGS = c.GEN_AI_TOOL_CALL_ARGUMENTS
_RESULT = c.GEN_AI_TOOL_CALL_RESULT
_OUTPUT = c.GEN_AI_OUTPUT_MESSAGES
_IN_TOKENS = c.GEN_AI_USAGE_INPUT_TOKENS
_OUT_TOKENS = c.GEN_AI_USAGE_OUTPUT_TOKENS
_ACTION = c.DECISION_ACTION
_CONFIDENCE = c.DECISION_CONFIDENCE


def _compare_same(b: Step, cs: Step, pol: DriftPolicy, pos: int) -> PairComparison | None:
    """Field comparison of two steps with the same signature; ``None`` when identical.

    Hot path: equal raw source attributes short-circuit before any JSON is decoded.
    """
    res: PairComparison | None = None
    kind = b.kind
    ba = b.attributes
    ca = cs.attributes
    if kind == "tool":
        exact = not _foreign(ba, ca)
        if not exact or _source(ba, TOOL_INPUT_KEYS) != _source(ca, TOOL_INPUT_KEYS):
            res = _field_diff(
                res,
                DriftKind.ARGUMENTS_CHANGED,
                "arguments",
                b,
                cs,
                b.inputs,
                cs.inputs,
                pol,
                pos,
            )
        if not exact or _source(ba, TOOL_OUTPUT_KEYS) != _source(ca, TOOL_OUTPUT_KEYS):
            res = _field_diff(
                res, DriftKind.OUTPUT_CHANGED, "output", b, cs, b.outputs, cs.outputs, pol, pos
            )
    elif kind == "llm":
        if (
            _OI_KIND_KEY in ba
            or _OI_KIND_KEY in ca
            or _source(ba, LLM_OUTPUT_KEYS) != _source(ca, LLM_OUTPUT_KEYS)
        ):
            res = _field_diff(
                res, DriftKind.OUTPUT_CHANGED, "output", b, cs, b.outputs, cs.outputs, pol, pos
            )
        x, y = ba.get(_IN_TOKENS), ba.get(_OUT_TOKENS)
        if (
            type(x) is not int
            or type(y) is not int
            or x != ca.get(_IN_TOKENS)
            or y != ca.get(_OUT_TOKENS)
        ):
            res = _tokens(res, b, cs, pol, pos)
    elif kind == "decision":
        x, y = ba.get(_ACTION), ca.get(_ACTION)
        p, q = ba.get(_CONFIDENCE), ca.get(_CONFIDENCE)
        if x != y or p != q or type(x) is not type(y) or type(p) is not type(q):
            res = _decision(res, b, cs, pol, pos)
    if b.status != cs.status:
        res = _status(res, b, cs, pol, pos)
    cd = cs.end_time_unix_nano - cs.start_time_unix_nano
    if cd >= pol.min_latency_ns:
        bd = max(b.end_time_unix_nano - b.start_time_unix_nano, 0)
        if cd > bd and cd >= pol.latency_ratio * bd:
            res = _latency(res, b, cs, pol, pos, bd, cd)
    return res


def _new(res: PairComparison | None) -> PairComparison:
    return res if res is not None else PairComparison()


def _finding(
    res: PairComparison | None,
    pol: DriftPolicy,
    kind: DriftKind,
    severity: Severity | None,
    description: str,
    b: Step | None,
    cs: Step | None,
    pos: int,
    expected: Any = None,
    actual: Any = None,
    paths: Iterable[str] = (),
) -> PairComparison | None:
    if not pol.enabled(kind):
        return res
    res = _new(res)
    limit = pol.max_value_chars
    res.findings.append(
        DriftFinding(
            kind=kind,
            severity=pol.severity(kind, severity),
            description=description,
            expected=_jsonable(expected, limit),
            actual=_jsonable(actual, limit),
            paths=tuple(paths),
            position=pos,
            baseline=StepRef.from_step(b) if b is not None else None,
            candidate=StepRef.from_step(cs) if cs is not None else None,
        )
    )
    return res


def _field_diff(
    res: PairComparison | None,
    kind: DriftKind,
    what: str,
    b: Step,
    cs: Step,
    bv: Any,
    cv: Any,
    pol: DriftPolicy,
    pos: int,
) -> PairComparison | None:
    changes = json_diff(bv, cv, ignore=pol.ignore_paths)
    if not changes:
        return res
    paths = [ch.path for ch in changes]
    if pol.enabled(kind):
        res = _new(res)
        res.changes.extend(changes)
    return _finding(
        res,
        pol,
        kind,
        None,
        f"{what} of {b.kind} {b.name!r} changed at step {pos}: {_paths_text(paths)}",
        b,
        cs,
        pos,
        expected={ch.path: ch.expected for ch in changes if ch.op != "added"},
        actual={ch.path: ch.actual for ch in changes if ch.op != "removed"},
        paths=paths,
    )


def _paths_text(paths: Sequence[str], limit: int = 3) -> str:
    text = ", ".join(paths[:limit])
    if len(paths) > limit:
        text += f" (+{len(paths) - limit} more)"
    return text


def _tokens(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    bi, bo = b.input_tokens, b.output_tokens
    ci, co = cs.input_tokens, cs.output_tokens
    if (bi is None and bo is None) or (ci is None and co is None):
        return res
    bt = (bi or 0) + (bo or 0)
    ct = (ci or 0) + (co or 0)
    if bt <= 0 or ct <= bt or ct < pol.token_ratio * bt:
        return res
    return _finding(
        res,
        pol,
        DriftKind.TOKEN_USAGE_REGRESSION,
        None,
        f"token usage of {b.kind} {b.name!r} regressed at step {pos}: "
        f"{bt} -> {ct} tokens ({ct / bt:.1f}x)",
        b,
        cs,
        pos,
        expected={"input_tokens": bi, "output_tokens": bo, "total_tokens": bt},
        actual={"input_tokens": ci, "output_tokens": co, "total_tokens": ct},
    )


def _confidence_value(v: Any) -> float | None:
    """A finite float, or ``None`` when ``v`` is not comparable."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _decision(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    ba, ca = b.decision_action, cs.decision_action
    if not (ba is ca or (type(ba) is type(ca) and ba == ca)):
        res = _finding(
            res,
            pol,
            DriftKind.DECISION_CHANGED,
            None,
            f"decision {b.name!r} changed at step {pos}: action {ba!r} -> {ca!r}",
            b,
            cs,
            pos,
            expected={"action": ba},
            actual={"action": ca},
            paths=("$.action",),
        )
    bc, cc = b.confidence, cs.confidence
    if bc is cc or (type(bc) is type(cc) and bc == cc):
        return res
    bf, cf = _confidence_value(bc), _confidence_value(cc)
    if bf is None or cf is None:
        res = _new(res)
        res.not_comparable.append("confidence")
        return res
    delta = abs(cf - bf)
    if delta >= pol.confidence_critical - _EPS:
        sev = Severity.CRITICAL
    elif delta >= pol.confidence_warning - _EPS:
        sev = Severity.WARNING
    else:
        return res
    return _finding(
        res,
        pol,
        DriftKind.CONFIDENCE_CHANGED,
        sev,
        f"confidence of decision {b.name!r} changed at step {pos}: {bf:g} -> {cf:g} "
        f"(delta {cf - bf:+.2f})",
        b,
        cs,
        pos,
        expected={"confidence": bf},
        actual={"confidence": cf},
        paths=("$.confidence",),
    )


def _status(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    if cs.status == "error":
        sev = Severity.CRITICAL
    elif b.status == "error":
        sev = Severity.INFO
    else:
        return res  # ok <-> unset
    text = f"status of {b.kind} {b.name!r} changed at step {pos}: {b.status} -> {cs.status}"
    if cs.status == "error" and cs.status_message:
        text += f" ({cs.status_message})"
    return _finding(
        res,
        pol,
        DriftKind.STATUS_CHANGED,
        sev,
        text,
        b,
        cs,
        pos,
        expected={"status": b.status, "message": b.status_message},
        actual={"status": cs.status, "message": cs.status_message},
        paths=("$.status",),
    )


def _latency(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int, bd: int, cd: int
) -> PairComparison | None:
    ratio = f" ({cd / bd:.1f}x)" if bd > 0 else ""
    return _finding(
        res,
        pol,
        DriftKind.LATENCY_REGRESSION,
        None,
        f"latency of {b.kind} {b.name!r} regressed at step {pos}: "
        f"{bd / 1e6:.1f} ms -> {cd / 1e6:.1f} ms{ratio}",
        b,
        cs,
        pos,
        expected={"duration_ns": bd},
        actual={"duration_ns": cd},
    )


def _compare_renamed(b: Step, cs: Step, pol: DriftPolicy, pos: int) -> PairComparison:
    """One finding for a same-kind step under another name, with its field differences."""
    res = PairComparison()
    if b.kind == c.KIND_TOOL:
        kind, label = DriftKind.TOOL_CHANGED, "tool"
        expected: dict[str, Any] = {"tool": b.name, "arguments": b.inputs}
        actual: dict[str, Any] = {"tool": cs.name, "arguments": cs.inputs}
    elif b.kind == c.KIND_LLM:
        kind, label = DriftKind.MODEL_CHANGED, "model"
        expected, actual = {"model": b.name}, {"model": cs.name}
    else:
        kind, label = DriftKind.DECISION_CHANGED, "decision"
        expected = {"decision": b.name, "action": b.decision_action}
        actual = {"decision": cs.name, "action": cs.decision_action}
    changes = json_diff(expected, actual, ignore=_prefixed(pol.ignore_paths, label))
    res.changes.extend(changes)
    _finding(
        res,
        pol,
        kind,
        None,
        f"{label} changed at step {pos}: {b.name!r} -> {cs.name!r}",
        b,
        cs,
        pos,
        expected=expected,
        actual=actual,
        paths=[ch.path for ch in changes],
    )
    if b.status != cs.status:
        _status(res, b, cs, pol, pos)
    return res


def _prefixed(patterns: tuple[str, ...], label: str) -> tuple[str, ...]:
    """Ignore patterns re-rooted under ``$.arguments`` for the renamed-tool diff."""
    if label != "tool":
        return ()
    out = []
    for p in patterns:
        if p.startswith("$.."):
            out.append(p)
        elif p != "$":
            out.append("$.arguments" + p[1:])
    return tuple(out)


# --- helpers --------------------------------------------------------------------------------


def _jsonable(v: Any, limit: int, depth: int = 0) -> Any:
    """A JSON-serializable copy of ``v`` (long strings truncated, NaN/inf as strings)."""
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v if len(v) <= limit else v[:limit] + f"...(+{len(v) - limit} chars)"
    if depth >= 64:
        return _jsonable(_safe_repr(v), limit)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x, limit, depth + 1) for k, x in list(v.items())}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x, limit, depth + 1) for x in v]
    return _jsonable(_safe_repr(v), limit)


def _safe_repr(v: Any) -> str:
    try:
        return repr(v)
    except Exception:
        return f"<{type(v).__name__}>"


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


def _sig_text(sig: tuple[str, str] | None) -> str:
    return f"{sig[0]} {sig[1]!r}" if sig else "nothing"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")
