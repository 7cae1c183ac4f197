"""The parts of a drift report: :class:`StepRef` (a step's identity), :class:`DriftFinding`,
:class:`FirstDivergence` and :class:`PairComparison` (the field comparison of two paired
steps), with their JSON-friendly forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_replay.drift.jsondiff import JsonChange
from otel_replay.drift.policy import DriftKind, Severity
from otel_replay.model.steps import Step

__all__ = ["StepRef", "DriftFinding", "FirstDivergence", "PairComparison"]


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
    """One difference between the runs; ``expected``/``actual`` are JSON-able.

    ``related`` holds the differences this one caused (the LLM output that issued a
    changed tool call, the model call of an extra round, ...): they are part of this
    finding, not findings of their own, and do not count for the severity or the exit code.
    """

    kind: DriftKind
    severity: Severity
    description: str
    expected: Any = None
    actual: Any = None
    paths: tuple[str, ...] = ()
    position: int = 0
    baseline: StepRef | None = None
    candidate: StepRef | None = None
    related: tuple[DriftFinding, ...] = ()

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
            "related": [r.to_dict() for r in self.related],
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
            related=tuple(DriftFinding.from_dict(r) for r in d.get("related") or ()),
        )

    def steps(self) -> list[StepRef]:
        """The steps of this finding and of its related changes (candidate side first)."""
        out: list[StepRef] = []
        for f in (self, *self.related):
            for ref in (f.candidate, f.baseline):
                if ref is not None and ref not in out:
                    out.append(ref)
        return out


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


def _sig_text(sig: tuple[str, str] | None) -> str:
    return f"{sig[0]} {sig[1]!r}" if sig else "nothing"
