"""Drift policy: severities and kinds of findings, their defaults, and :class:`DriftPolicy`
(what counts as drift and how severe it is)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from otel_replay.core import conventions as c
from otel_replay.drift.jsondiff import _compile

__all__ = [
    "Severity",
    "DriftKind",
    "DriftPolicy",
    "DEFAULT_IGNORE_PATHS",
    "DEFAULT_SEVERITIES",
]


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
