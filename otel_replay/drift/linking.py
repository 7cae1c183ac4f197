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
* A call's changed result or status (``output_changed``, ``status_changed``) is a related
  change of a finding on a call nested inside it (a descendant through parent spans or
  ``agent_replay.step.enclosing_span_id``, among the compared steps); findings on the most
  deeply nested calls are linked first, and of several nested findings the first one takes
  it. Such a finding then links LLM calls as a finding on its outermost enclosing tool call
  would (a changed result taken from the enclosing call links the next LLM call), and LLM
  calls nested inside tool calls are never the calls that issued or read a tool call.
* A latency regression is reported on the step that got slower, not again on the steps
  that contain it (its ancestors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.policy import DriftKind
from otel_replay.model.steps import Step, enclosing_parent

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
#: Kinds of finding on a nested call that never cause its enclosing call's changed result.
_NOT_NESTED_CAUSES = frozenset({DriftKind.LATENCY_REGRESSION, DriftKind.TOKEN_USAGE_REGRESSION})


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
    trees = {"b": _Tree(baseline), "c": _Tree(candidate)}
    took = _link_nested(groups, at, trees, absorbed, related)
    for gi, g in enumerate(groups):
        f = g[0]
        if gi in absorbed:
            continue
        anchor = _anchor(f, at, trees, gi in took)
        if anchor is None:
            continue
        side, pos, result = anchor
        tree = trees[side]
        targets = []
        prev = _nearest_llm(tree, pos, -1)
        if prev is not None:
            targets.append(prev)
        if result:
            nxt = _nearest_llm(tree, pos, 1)
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


class _Tree:
    """The nesting of one side's compared steps: the position of the compared call each
    step ran inside (its parent span, else its enclosing span), built on first use."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = steps
        self._up: list[int | None] | None = None
        self._in_tool: set[int] | None = None

    @property
    def up(self) -> list[int | None]:
        if self._up is None:
            pos = {s.span_id: i for i, s in enumerate(self.steps)}
            up: list[int | None] = []
            for i, s in enumerate(self.steps):
                p = enclosing_parent(s)
                j = pos.get(p) if p is not None else None
                up.append(j if j != i else None)
            self._up = up
        return self._up

    def ancestors(self, pos: int) -> list[int]:
        """Positions of the calls ``pos`` ran inside, innermost first."""
        up = self.up
        out: list[int] = []
        p = up[pos] if 0 <= pos < len(up) else None
        while p is not None and len(out) < len(up):
            out.append(p)
            p = up[p]
        return out

    def outer_tool(self, pos: int) -> int | None:
        """Position of the outermost tool call ``pos`` ran inside."""
        tools = [a for a in self.ancestors(pos) if self.steps[a].kind == c.KIND_TOOL]
        return tools[-1] if tools else None

    def in_tool(self, pos: int) -> bool:
        """``pos`` ran inside a tool call."""
        if self._in_tool is None:
            self._in_tool = {i for i in range(len(self.steps)) if self.outer_tool(i) is not None}
        return pos in self._in_tool


def _link_nested(
    groups: list[list[DriftFinding]],
    at: _Positions,
    trees: Mapping[str, _Tree],
    absorbed: set[int],
    related: dict[int, list[DriftFinding]],
) -> set[int]:
    """Move the changed results of enclosing calls into the finding on the call nested
    inside them (most deeply nested first); the groups that took one."""
    results: dict[tuple[str, int], int] = {}  # (side, position) -> group of a changed result
    for gi, g in enumerate(groups):
        f = g[0]
        if f.kind in _RESULT_CAUSES:
            for side, p in (("c", at.c(f)), ("b", at.b(f))):
                if p is not None:
                    results[(side, p)] = gi
    took: set[int] = set()
    if not results:
        return took
    order: list[tuple[int, int, str, list[int]]] = []
    for gi, g in enumerate(groups):
        f = g[0]
        if f.kind in _NOT_NESTED_CAUSES:
            continue
        side, p = ("c", at.c(f)) if f.candidate is not None else ("b", at.b(f))
        if p is None:
            continue
        chain = trees[side].ancestors(p)
        if chain:
            order.append((-len(chain), gi, side, chain))
    order.sort()
    for _, gi, side, chain in order:
        if gi in absorbed:
            continue
        for a in chain:
            hit = results.get((side, a))
            if hit is not None and hit != gi and hit not in absorbed:
                absorbed.add(hit)
                related[gi].append(groups[hit][0])
                related[gi].extend(related[hit])
                took.add(gi)
    return took


def _anchor(
    f: DriftFinding, at: _Positions, trees: Mapping[str, _Tree], took_result: bool
) -> tuple[str, int, bool] | None:
    """Where a finding links LLM calls from: (side, tool call position, whether it changed
    a result the next LLM call reads); ``None`` when it is not on or in a tool call."""
    side, p = ("c", at.c(f)) if f.candidate is not None else ("b", at.b(f))
    ref = f.candidate if f.candidate is not None else f.baseline
    if p is None or ref is None:
        return None
    result = f.kind in _RESULT_CAUSES or took_result
    if f.kind in _TOOL_CAUSES or took_result:
        outer = trees[side].outer_tool(p)
        if outer is not None:
            return side, outer, result
    if ref.kind == c.KIND_TOOL and f.kind in _TOOL_CAUSES:
        return side, p, result
    return None


def _nearest_llm(tree: _Tree, pos: int, direction: int) -> int | None:
    """Position of the nearest LLM step before (``-1``) or after (``1``) ``pos`` with only
    tool steps (and steps run inside tool calls) in between."""
    steps = tree.steps
    i = pos + direction
    while 0 <= i < len(steps):
        k = steps[i].kind
        if k == c.KIND_TOOL or tree.in_tool(i):
            i += direction
            continue
        if k == c.KIND_LLM:
            return i
        return None
    return None


def _latency_once(findings: list[DriftFinding], steps: Sequence[Step]) -> list[DriftFinding]:
    """Drop latency findings on steps that contain another slow step (its ancestors)."""
    slow = [
        f for f in findings if f.kind is DriftKind.LATENCY_REGRESSION and f.candidate is not None
    ]
    if len(slow) < 2:
        return findings
    parent = {s.span_id: enclosing_parent(s) for s in steps}
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
