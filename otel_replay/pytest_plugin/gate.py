"""Comparing a recorded run with its baseline under a :class:`GateConfig`: the steps per
session, order-insensitive groups, numeric tolerances, and which findings fail."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare
from otel_replay.drift.findings import DriftFinding, FirstDivergence
from otel_replay.drift.outputs import SessionComparison, step_view
from otel_replay.drift.policy import DriftKind
from otel_replay.drift.report import DriftReport
from otel_replay.formats.recording import Recording
from otel_replay.model.steps import Step
from otel_replay.pytest_plugin.config import GateConfig
from otel_replay.pytest_plugin.nesting import enclosing_parent
from otel_replay.replay.matching import argument_digest, step_key

__all__ = ["compare_recordings", "session_label"]


def session_label(rec: Recording, session_id: str) -> str:
    """``session-1 (invoke_agent weather)``: the session and its root agent span, if any."""
    for st in rec.steps_for_session(session_id):
        if st.kind == c.KIND_AGENT and st.parent_span_id is None:
            return f"{session_id} ({st.span_name})"
    return session_id


def compare_recordings(
    baseline: Recording,
    candidate: Recording,
    cfg: GateConfig,
    *,
    prefix: str = "",
    baseline_source: str = "",
    candidate_source: str = "",
) -> list[SessionComparison]:
    """Compare the i-th session of ``candidate`` with the i-th session of ``baseline``
    (sessions of one side without a partner are compared with an empty run)."""
    policy = cfg.policy()
    bs, cs = baseline.sessions(), candidate.sessions()
    out = []
    for i in range(max(len(bs), len(cs))):
        b_sid = bs[i] if i < len(bs) else None
        c_sid = cs[i] if i < len(cs) else None
        b_all = baseline.steps_for_session(b_sid) if b_sid else []
        c_all = candidate.steps_for_session(c_sid) if c_sid else []
        b_steps = _kept(_without_children_of_served(b_all, c_all), policy.ignore_kinds, cfg)
        c_steps = _kept(c_all, policy.ignore_kinds, cfg)
        for group in cfg.order_insensitive:
            b_steps, c_steps = _canonical(b_steps, group), _canonical(c_steps, group)
        report = compare(b_steps, c_steps, policy, mode=cfg.mode)  # type: ignore[arg-type]
        if cfg.numeric_tolerance or cfg.relative_tolerance:
            report = _tolerate(report, cfg.numeric_tolerance, cfg.relative_tolerance)
        label = session_label(baseline, b_sid) if b_sid else session_label(candidate, str(c_sid))
        failing = [i for i, f in enumerate(report.findings) if cfg.fails(f.kind, f.severity)]
        out.append(
            SessionComparison(
                name=f"{prefix}{label}",
                report=report,
                baseline=[step_view(s) for s in b_steps],
                candidate=[step_view(s) for s in c_steps],
                failing=failing,
                baseline_source=baseline_source,
                candidate_source=candidate_source,
            )
        )
    return out


def _without_children_of_served(baseline: Sequence[Step], candidate: Sequence[Step]) -> list[Step]:
    """``baseline`` without the steps nested in a call that the candidate was served from the
    recording (a served call does not run, so neither do the calls it made); nested means a
    child span, or a span recorded as started inside it (:mod:`.nesting`)."""
    served = {
        s.attributes.get(c.REPLAY_STEP_KEY)
        for s in candidate
        if s.attributes.get(c.REPLAY_SERVED_FROM_RECORDING) is True
    }
    if not served:
        return list(baseline)
    seen: dict[tuple[str, str], int] = {}
    skipped: set[str] = set()
    kept: list[Step] = []
    for s in sorted(baseline, key=lambda s: (s.start_time_unix_nano, s.sequence or 0)):
        if enclosing_parent(s) in skipped:
            skipped.add(s.span_id)
            continue
        seen[(s.kind, s.name)] = n = seen.get((s.kind, s.name), 0) + 1
        kept.append(s)
        if step_key(s.kind, s.name, n) in served:
            skipped.add(s.span_id)
    return [s for s in baseline if s.span_id not in skipped or s in kept]


def _kept(steps: Sequence[Step], skip: frozenset[str], cfg: GateConfig) -> list[Step]:
    return [s for s in steps if s.kind not in skip and not cfg.ignores_step(s.kind, s.name)]


def _canonical(steps: list[Step], group: Sequence[str]) -> list[Step]:
    """``steps`` with each run of consecutive steps named in ``group`` in a canonical order
    (name, then inputs), so the order inside such runs does not matter."""
    names = set(group)
    out: list[Step] = []
    run: list[Step] = []
    for s in [*steps, None]:
        if s is not None and s.name in names:
            run.append(s)
            continue
        if run:
            out += sorted(run, key=lambda x: (x.kind, x.name, argument_digest(x.inputs)))
            run = []
        if s is not None:
            out.append(s)
    return out


def _within(x: Any, y: Any, abs_tol: float, rel_tol: float) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return False
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
        return False
    if math.isnan(x) or math.isnan(y):
        return False
    return abs(x - y) <= abs_tol + rel_tol * abs(x)


def _tolerate(report: DriftReport, abs_tol: float, rel_tol: float) -> DriftReport:
    """``report`` without argument/output changes whose numbers are within tolerance."""
    kept: list[DriftFinding] = []
    for f in report.findings:
        if f.kind not in (DriftKind.ARGUMENTS_CHANGED, DriftKind.OUTPUT_CHANGED):
            kept.append(f)
            continue
        exp = f.expected if isinstance(f.expected, dict) else {}
        act = f.actual if isinstance(f.actual, dict) else {}
        paths = tuple(
            p
            for p in f.paths
            if not (p in exp and p in act and _within(exp[p], act[p], abs_tol, rel_tol))
        )
        if not paths:
            continue
        if paths != f.paths:
            f = dataclasses.replace(
                f,
                paths=paths,
                expected={p: v for p, v in exp.items() if p in paths},
                actual={p: v for p, v in act.items() if p in paths},
            )
        kept.append(f)
    first = report.first_divergence
    if not kept:
        first = None
    elif first is not None and not any(f.position == first.position for f in kept):
        f0 = min(kept, key=lambda f: f.position)
        first = FirstDivergence(
            position=f0.position,
            baseline=f0.baseline,
            candidate=f0.candidate,
            expected_signature=f0.baseline.signature if f0.baseline else None,
            actual_signature=f0.candidate.signature if f0.candidate else None,
        )
    return dataclasses.replace(report, findings=kept, first_divergence=first)
