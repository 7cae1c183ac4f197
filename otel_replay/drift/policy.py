"""Drift policy: severities and kinds of findings, their defaults, and :class:`DriftPolicy`
(what counts as drift and how severe it is)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from otel_replay.core import conventions as c
from otel_replay.drift.jsondiff import _compile

__all__ = [
    "Severity",
    "DriftKind",
    "DriftPolicy",
    "DEFAULT_IGNORE_PATHS",
    "DEFAULT_SEVERITIES",
    "DEFAULT_VOLATILE_VALUES",
    "validate_ignore_path",
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
    DriftKind.OUTPUT_CHANGED: Severity.WARNING,
    DriftKind.LATENCY_REGRESSION: Severity.WARNING,
    DriftKind.TOKEN_USAGE_REGRESSION: Severity.WARNING,
}

#: Paths ignored by default in argument/output diffs: values that change on every run
#: (per-call, per-message and per-run ids, timestamps). Plain ``id`` fields are compared
#: (they often name the document or record a step used), except in message parts, where
#: ``id`` is the tool call's id. The table in docs/drift.md ("Volatile values") lists each
#: entry with where it comes from; tests/test_drift_volatile.py checks the two agree.
DEFAULT_IGNORE_PATHS: tuple[str, ...] = (
    "$..request_id",
    "$..tool_call_id",
    "$..parts[*].id",
    "$..tool_calls[*].id",
    "$..message_id",
    "$..response_id",
    "$..run_id",
    "$..parent_run_id",
    "$..thread_id",
    "$..checkpoint_id",
    "$..checkpoint_ns",
    "$..task_id",
    "$..trace_id",
    "$..span_id",
    "$..timestamp",
    "$..created",
    "$..created_at",
    "$..updated_at",
)

#: Regular expressions of generated ids: two strings that are equal once every match is
#: replaced by one placeholder are equal in argument/output diffs, wherever they are (tool
#: call ids under any key or inside text, LangChain run ids). A bare UUID only counts as
#: volatile when it is the whole string (``\A...\Z``), so UUIDs inside text (document
#: ids) are compared.
DEFAULT_VOLATILE_VALUES: tuple[str, ...] = (
    r"\bcall_[A-Za-z0-9_-]{8,}",
    r"\btoolu_[A-Za-z0-9_-]{8,}",
    r"\bchatcmpl-[A-Za-z0-9_-]{8,}",
    r"\b(?:lc_)?run-{1,2}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:-\d+)?",
    r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z",
)


@dataclass
class DriftPolicy:
    """What counts as drift and how severe it is.

    ``severities`` overrides the default severity of a kind (including the threshold-based
    confidence and status severities); ``disabled`` kinds are never reported. A confidence
    change is critical when ``|delta| >= confidence_critical``, a warning when
    ``>= confidence_warning``. Latency regresses when the candidate takes at least
    ``latency_ratio`` times the baseline *and* at least ``min_latency_ns`` longer (a ratio
    and an absolute floor, so scheduling jitter on short steps is not drift); it is reported
    on the slowest step only, not again on the agent steps around it. Token usage regresses
    when the candidate's total is at least ``token_ratio`` times the baseline's and at least
    ``min_token_increase`` more. Steps whose
    kind is in ``ignore_kinds`` (checkpoints, replay wrappers and framework plumbing) are
    left out of ``align`` comparisons; ``strict`` mode compares plumbing too.
    ``ignore_paths`` and ``volatile_values`` (see :data:`DEFAULT_IGNORE_PATHS`,
    :data:`DEFAULT_VOLATILE_VALUES`; a value given replaces the default, so extend with
    ``DEFAULT_IGNORE_PATHS + (...)``) say which differences in arguments and outputs are not
    drift; ``parallel_order`` makes the order of tool calls issued together by one LLM call
    count (``strict`` mode always does).
    """

    severities: dict[DriftKind, Severity] = field(default_factory=dict)
    disabled: set[DriftKind] = field(default_factory=set)
    confidence_warning: float = 0.4
    confidence_critical: float = 0.5
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    latency_ratio: float = 2.0
    min_latency_ns: int = 50_000_000
    token_ratio: float = 1.5
    min_token_increase: int = 0
    ignore_kinds: frozenset[str] = frozenset({c.KIND_CHECKPOINT, c.KIND_REPLAY, c.KIND_PLUMBING})
    max_value_chars: int = 4096
    volatile_values: tuple[str, ...] = DEFAULT_VOLATILE_VALUES
    parallel_order: bool = False
    #: ``volatile_values`` compiled (set from it; not a constructor argument).
    volatile: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.severities = {DriftKind(k): Severity(v) for k, v in self.severities.items()}
        self.disabled = {DriftKind(k) for k in self.disabled}
        self.ignore_paths = tuple(self.ignore_paths)
        self.ignore_kinds = frozenset(self.ignore_kinds)
        self.volatile_values = tuple(self.volatile_values)
        _compile(self.ignore_paths)  # raises ValueError on a malformed pattern
        self.volatile = _volatile(self.volatile_values)

    def skipped_kinds(self, mode: str) -> frozenset[str]:
        """Kinds left out of a comparison in ``mode`` (``strict`` keeps plumbing)."""
        if mode == "strict" and c.KIND_PLUMBING in self.ignore_kinds:
            return self.ignore_kinds - {c.KIND_PLUMBING}
        return self.ignore_kinds

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


@lru_cache(maxsize=64)
def _volatile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation of ``patterns``, ``None`` when empty."""
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error as exc:
        raise ValueError(f"invalid volatile value pattern: {exc}") from None


def validate_ignore_path(pattern: str) -> str:
    """``pattern`` if it is a valid ignore path (``$.a.b``, ``$..id``, ``$.items[*].id``);
    :class:`ValueError` naming the problem otherwise."""
    _compile((pattern,))
    return pattern
