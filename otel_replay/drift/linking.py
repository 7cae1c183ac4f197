"""Findings linked to their cause: one finding per behaviour change, its follow-on
differences attached to it (:attr:`~otel_replay.drift.findings.DriftFinding.related`).

Rules (docs/drift.md, "One change, one finding"):

* Consecutive unexpected (or missing) steps are grouped per agent round: an LLM call and the
  tool calls it issued are one ``unexpected_step`` / ``missing_step`` finding, on the first
  tool call of the round (on the LLM call when the round has no tool call).
* A tool's changed result is part of the finding on its changed arguments.
* A finding on a tool call (renamed, arguments, result, status, unexpected, missing) takes
  the ``output_changed`` finding of the LLM call that issued it (the nearest LLM step
  before it) as a related change; a changed tool result or status also takes the
  ``output_changed`` finding of the next LLM call.
* A latency regression is reported on the step that got slower, not again on the steps
  that contain it (its ancestors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift.findings import DriftFinding, StepRef
from otel_replay.drift.policy import DriftKind
from otel_replay.model.steps import Step

__all__ = ["link_consequences"]

_TOOL_CAUSES = frozenset(
    {
        DriftKind.TOOL_CHANGED,
        DriftKind.ARGUMENTS_CHANGED,
        DriftKind.OUTPUT_CHANGED,
        DriftKind.STATUS_CHANGED,
        DriftKind.UNEXPECTED_STEP,
        DriftKind.MISSING_STEP,
    }
)
_RESULT_CAUSES = frozenset({DriftKind.OUTPUT_CHANGED, DriftKind.STATUS_CHANGED})


def link_consequences(
    findings: Sequence[DriftFinding], baseline: Sequence[Step], candidate: Sequence[Step]
) -> list[DriftFinding]:
    """``findings`` (of comparing ``baseline`` with ``candidate``, both as compared) with
    follow-on differences moved into the finding that caused them."""
    return [f for f, _ in _link(findings, baseline, candidate)]


#: What the comparison records per finding: (position, baseline step, candidate step,
#: changes, baseline index, candidate index).
Site = tuple[int, "Step | None", "Step | None", Any, "int | None", "int | None"]


class _Positions:
    """Positions of the baseline and candidate steps of findings: the indices the
    comparison recorded for each finding (``sites``, see :data:`Site`); else by span id."""

    def __init__(
        self,
        baseline: Sequence[Step],
        candidate: Sequence[Step],
        sites: Mapping[int, Site] | None,
    ) -> None:
        self.sites = sites
        self.bmap: dict[str, int] = {}
        self.cmap: dict[str, int] = {}
        if sites is None:
            self.bmap = {s.span_id: i for i, s in enumerate(baseline)}
            self.cmap = {s.span_id: i for i, s in enumerate(candidate)}

    def c(self, f: DriftFinding) -> int | None:
        """Candidate position of ``f``'s candidate step."""
        if f.candidate is None:
            return None
        if self.sites is None:
            return self.cmap.get(f.candidate.span_id)
        site = self.sites.get(id(f))
        return site[5] if site is not None else None

    def b(self, f: DriftFinding) -> int | None:
        """Baseline position of ``f``'s baseline step."""
        if f.baseline is None:
            return None
        if self.sites is None:
            return self.bmap.get(f.baseline.span_id)
        site = self.sites.get(id(f))
        return site[4] if site is not None else None


def _link(
    findings: Sequence[DriftFinding],
    baseline: Sequence[Step],
    candidate: Sequence[Step],
    sites: Mapping[int, Site] | None = None,
) -> list[tuple[DriftFinding, DriftFinding]]:
    """(linked finding, the original finding it was made from), in the original order."""
    if len(findings) < 2:
        return [(f, f) for f in findings]
    at = _Positions(baseline, candidate, sites)
    groups = _same_step(_group_unpaired(findings, at))
    # output_changed findings of LLM steps, by (side, position)
    llm_out: dict[tuple[str, int], int] = {}
    llm_base: dict[int, int] = {}  # baseline position -> group
    for gi, g in enumerate(groups):
        f = g[0]
        if f.kind is DriftKind.OUTPUT_CHANGED and f.candidate is not None:
            if f.candidate.kind == c.KIND_LLM:
                cp = at.c(f)
                if cp is not None:
                    llm_out[("c", cp)] = gi
                bp = at.b(f)
                if bp is not None:
                    llm_base[bp] = gi
    absorbed: set[int] = set()
    related: dict[int, list[DriftFinding]] = {gi: list(g[1:]) for gi, g in enumerate(groups)}
    for gi, g in enumerate(groups):
        f = g[0]
        if gi in absorbed or f.kind not in _TOOL_CAUSES:
            continue
        ref, side, steps, pos = _tool_ref(g, at, candidate, baseline)
        if ref is None:
            continue
        targets = []
        prev = _nearest_llm(steps, pos, -1)
        if prev is not None:
            targets.append(prev)
        if f.kind in _RESULT_CAUSES:
            nxt = _nearest_llm(steps, pos, 1)
            if nxt is not None:
                targets.append(nxt)
        for t in targets:
            # a missing tool call is on the baseline side: the LLM step there is the
            # baseline of the output_changed finding
            hit = llm_out.get(("c", t)) if side == "c" else llm_base.get(t)
            if hit is not None and hit != gi and hit not in absorbed:
                absorbed.add(hit)
                related[gi].append(groups[hit][0])
                related[gi].extend(related[hit])
    out: list[tuple[DriftFinding, DriftFinding]] = []
    for gi, g in enumerate(groups):
        if gi in absorbed:
            continue
        rel = related[gi]
        f = g[0]
        out.append((replace(f, related=f.related + tuple(rel)) if rel else f, f))
    return out


def _group_unpaired(findings: Sequence[DriftFinding], at: _Positions) -> list[list[DriftFinding]]:
    """Findings as groups (primary first): consecutive unexpected (or missing) steps of one
    round form one group whose primary is the round's first tool call. Unexpected and
    missing steps of one replaced stretch may interleave; each kind groups on its own."""
    groups: list[list[DriftFinding]] = []
    open_: dict[DriftKind, tuple[int, int]] = {}  # kind -> (group index, last position)
    for f in findings:
        key = _unpaired_key(f, at)
        if key is None:
            open_.clear()
            groups.append([f])
            continue
        kind, pos = key
        cur = open_.get(kind)
        if cur is not None and pos == cur[1] + 1:
            g = groups[cur[0]]
            new_round = _step_kind(f) == c.KIND_LLM and any(_step_kind(x) == c.KIND_LLM for x in g)
            if not new_round:
                g.append(f)
                open_[kind] = (cur[0], pos)
                continue
        groups.append([f])
        open_[kind] = (len(groups) - 1, pos)
    for g in groups:
        if len(g) > 1:
            tool = next((x for x in g if _step_kind(x) == c.KIND_TOOL), g[0])
            g.remove(tool)
            g.insert(0, tool)
    return groups


def _step_kind(f: DriftFinding) -> str:
    ref = f.candidate if f.candidate is not None else f.baseline
    return ref.kind if ref is not None else ""


def _same_step(groups: list[list[DriftFinding]]) -> list[list[DriftFinding]]:
    """A tool's changed result is a consequence of its changed arguments (same step)."""
    out: list[list[DriftFinding]] = []
    for g in groups:
        f = g[0]
        prev = out[-1][0] if out else None
        if (
            prev is not None
            and len(g) == 1
            and f.kind is DriftKind.OUTPUT_CHANGED
            and prev.kind in (DriftKind.ARGUMENTS_CHANGED, DriftKind.TOOL_CHANGED)
            and f.candidate is not None
            and prev.candidate is not None
            and f.candidate.span_id == prev.candidate.span_id
        ):
            out[-1].append(f)
            continue
        out.append(g)
    return out


def _unpaired_key(f: DriftFinding, at: _Positions) -> tuple[DriftKind, int] | None:
    if f.kind is DriftKind.UNEXPECTED_STEP:
        p = at.c(f)
        return (f.kind, p) if p is not None else None
    if f.kind is DriftKind.MISSING_STEP:
        p = at.b(f)
        return (f.kind, p) if p is not None else None
    return None


def _tool_ref(
    g: list[DriftFinding],
    at: _Positions,
    candidate: Sequence[Step],
    baseline: Sequence[Step],
) -> tuple[StepRef | None, str, Sequence[Step], int]:
    """The tool step a group's primary is on: (ref, side, that side's steps, position)."""
    f = g[0]
    if f.candidate is not None and f.candidate.kind == c.KIND_TOOL:
        p = at.c(f)
        if p is not None:
            return f.candidate, "c", candidate, p
    if f.baseline is not None and f.baseline.kind == c.KIND_TOOL and f.candidate is None:
        p = at.b(f)
        if p is not None:
            return f.baseline, "b", baseline, p
    return None, "", (), 0


def _nearest_llm(steps: Sequence[Step], pos: int, direction: int) -> int | None:
    """Position of the nearest LLM step before (``-1``) or after (``1``) ``pos`` with only
    tool steps in between."""
    i = pos + direction
    while 0 <= i < len(steps):
        k = steps[i].kind
        if k == c.KIND_LLM:
            return i
        if k != c.KIND_TOOL:
            return None
        i += direction
    return None


def _latency_once(findings: list[DriftFinding], steps: Sequence[Step]) -> list[DriftFinding]:
    """Drop latency findings on steps that contain another slow step (its ancestors)."""
    slow = [
        f for f in findings if f.kind is DriftKind.LATENCY_REGRESSION and f.candidate is not None
    ]
    if len(slow) < 2:
        return findings
    parent = {s.span_id: s.parent_span_id for s in steps}
    ancestors: set[str] = set()
    for f in slow:
        assert f.candidate is not None
        p = parent.get(f.candidate.span_id)
        seen = 0
        while p is not None and seen < len(parent):
            ancestors.add(p)
            p = parent.get(p)
            seen += 1
    return [
        f
        for f in findings
        if not (
            f.kind is DriftKind.LATENCY_REGRESSION
            and f.candidate is not None
            and f.candidate.span_id in ancestors
        )
    ]


def _content_notes(
    baseline: Iterable[tuple[str, tuple[Any, ...]]],
    candidate: Iterable[tuple[str, tuple[Any, ...]]],
) -> list[str]:
    """One note when LLM steps carry no message content (not captured by the
    instrumentation), so their messages could not be compared. Sides are given as
    (kind, fingerprint) pairs: an LLM fingerprint starts with its output source, ``None``
    when the step has none."""
    missing = [0, 0]
    total = 0
    llm = c.KIND_LLM
    for side, pairs in enumerate((baseline, candidate)):
        prints = [fp for kind, fp in pairs if kind == llm]
        total += len(prints)
        missing[side] = sum(fp[0] is None for fp in prints)
    if not any(missing):
        return []
    return [
        f"message content was not captured on {missing[0] + missing[1]} of {total} LLM steps "
        f"(baseline {missing[0]}, candidate {missing[1]}): their messages were not compared; "
        "enable content capture in the instrumentation to compare them"
    ]
