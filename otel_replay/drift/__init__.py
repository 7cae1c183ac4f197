"""Drift: alignment, structural JSON diff, policy, comparison, the report model and its
renderings, and the :class:`~otel_replay.drift.processor.DriftProcessor` that emits drift
as span events, log events and metrics.

May import: ``core``, ``model``, ``restore`` (the tracking registry).
"""

from otel_replay.drift.compare import compare, compare_pair, compare_steps
from otel_replay.drift.findings import DriftFinding, FirstDivergence, PairComparison, StepRef
from otel_replay.drift.linking import link_consequences
from otel_replay.drift.policy import (
    DEFAULT_IGNORE_PATHS,
    DEFAULT_SEVERITIES,
    DEFAULT_VOLATILE_VALUES,
    DriftKind,
    DriftPolicy,
    Severity,
)
from otel_replay.drift.report import DriftReport
from otel_replay.drift.sessions import SessionMatchError, SessionPair, match_sessions

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
    "DEFAULT_VOLATILE_VALUES",
    "link_consequences",
    "match_sessions",
    "SessionMatchError",
    "SessionPair",
]
