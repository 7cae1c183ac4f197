"""Drift detection: compare a candidate run's steps with a baseline run's steps.

:func:`compare` pairs the steps of two runs, in ``align`` mode along a minimal edit script
(:mod:`otel_replay.drift.align`) of their signatures, breaking ties among repeated signatures by
step content; in ``strict`` mode position by position, like a workflow replayer's
non-determinism check. Paired steps are compared field by field (:func:`compare_steps`,
:mod:`otel_replay.drift.fields`); unchanged fields are recognized from their raw attribute
strings (:mod:`otel_replay.drift.fingerprint`), so only changed JSON is ever decoded and
diffed. The result is a :class:`~otel_replay.drift.report.DriftReport` of
:class:`~otel_replay.drift.findings.DriftFinding` objects, rendered by
:mod:`otel_replay.drift.render`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Literal

from otel_replay.core import conventions as c
from otel_replay.drift.align import Opcode, align, align_codes
from otel_replay.drift.fields import (
    _compare_renamed,
    _compare_same,
    _jsonable,
    parallel_canonical,
)
from otel_replay.drift.findings import DriftFinding, FirstDivergence, PairComparison, StepRef
from otel_replay.drift.fingerprint import RunProfile, step_print
from otel_replay.drift.jsondiff import JsonChange, _canonical
from otel_replay.drift.linking import Site, _content_notes, _latency_once, _link
from otel_replay.drift.policy import DriftKind, DriftPolicy
from otel_replay.drift.report import DriftReport
from otel_replay.model.steps import Step

__all__ = ["compare", "compare_steps", "compare_pair", "compare_profiled", "no_drift_report"]

Mode = Literal["align", "strict"]


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
    pol = _for_mode(policy if policy is not None else DriftPolicy(), mode)
    skip = pol.skipped_kinds(mode)
    ids: dict[tuple[str, str], int] = {}
    run = _Run(
        pol, _Side(baseline, skip, ids, None), _Side(candidate, skip, ids, pol.min_latency_ns)
    )
    run.c.all_steps = candidate
    return _compare_sides(run, ids, mode)


def _for_mode(pol: DriftPolicy, mode: Mode) -> DriftPolicy:
    """``pol`` for a comparison in ``mode``: ``strict`` keeps the order of parallel calls."""
    if mode == "strict" and not pol.parallel_order:
        return replace(pol, parallel_order=True)
    return pol


def compare_profiled(
    baseline: RunProfile, candidate: RunProfile, policy: DriftPolicy, *, mode: Mode = "align"
) -> DriftReport:
    """:func:`compare` of two runs whose profiles are already known.

    Both profiles are under ``policy`` (:func:`~otel_replay.drift.fingerprint.profile` or an
    equivalent) and no candidate step is at or over ``policy.min_latency_ns``. Candidate steps
    are then only read where the runs differ, so lazily normalized steps stay cheap. Same
    report as :func:`compare`.
    """
    if mode not in ("align", "strict"):
        raise ValueError(f"mode must be 'align' or 'strict', not {mode!r}")
    ids: dict[tuple[str, str], int] = {}
    sides = _Side.prepared(baseline, ids), _Side.prepared(candidate, ids)
    return _compare_sides(_Run(_for_mode(policy, mode), *sides), ids, mode)


def _compare_sides(run: _Run, ids: dict[tuple[str, str], int], mode: Mode) -> DriftReport:
    pol = run.pol
    if not pol.parallel_order:
        tools = {code for (kind, _), code in ids.items() if kind == c.KIND_TOOL}
        if tools:
            run.b.order_parallel(tools, pol)
            run.c.order_parallel(tools, pol)
    base, cand = run.b.steps, run.c.steps
    if mode == "align":
        if len(ids) < _MAX_CODES:
            ops = align_codes("".join(map(chr, run.b.codes)), "".join(map(chr, run.c.codes)))
        else:  # pragma: no cover - over a million distinct signatures
            ops = align(run.b.codes, run.c.codes)
        for tag, i1, i2, j1, j2 in _slide_for_content(ops, run.b, run.c, pol):
            if tag == "equal":
                run.equal(i1, j1, i2 - i1)
            elif tag == "replace":
                _replace_hunk(run, base[i1:i2], cand[j1:j2], j1, i1)
            elif tag == "delete":
                site = cand[j1] if j1 < len(cand) else None
                for k in range(i1, i2):
                    run.unpaired(base[k], None, j1, base[k], site, k, None)
            else:
                site = base[i1] if i1 < len(base) else None
                for k in range(j1, j2):
                    run.unpaired(None, cand[k], k, site, cand[k], None, k)
    else:
        nb, nc = len(base), len(cand)
        for i in range(max(nb, nc)):
            b = base[i] if i < nb else None
            cs = cand[i] if i < nc else None
            if b is None or cs is None:
                run.unpaired(b, cs, i, b, cs, i, i)
            elif b.kind == cs.kind and b.name == cs.name:
                run.equal(i, i, 1)
            elif b.kind == cs.kind and b.kind in _RENAMABLE:
                run.add(_compare_renamed(b, cs, pol, i), i, b, cs, i, i)
            else:
                run.unpaired(b, None, i, b, cs, i, None)
                run.unpaired(None, cs, i, b, cs, None, i)
    linked = (
        _link(run.findings, base, cand, run.sites)
        if mode == "align"
        else [(f, f) for f in run.findings]
    )
    findings = _latency_once([f for f, _ in linked], run.c.all_steps)
    first = None
    if findings:
        origin = next(o for f, o in linked if f is findings[0])
        pos, b, cs, changes = run.sites[id(origin)][:4]
        first = _divergence(pos, b, cs, changes, pol)
    return DriftReport(
        findings=findings,
        first_divergence=first,
        baseline_steps=len(base),
        candidate_steps=len(cand),
        mode=mode,
        notes=_side_notes(run.b, run.c, ids),
    )


def _side_notes(b: _Side, cs: _Side, ids: dict[tuple[str, str], int]) -> list[str]:
    llm = {code for (kind, _), code in ids.items() if kind == c.KIND_LLM}
    if not llm:
        return []
    return _content_notes(
        ((c.KIND_LLM, p) for x, p in zip(b.codes, b.prints, strict=True) if x in llm),
        ((c.KIND_LLM, p) for x, p in zip(cs.codes, cs.prints, strict=True) if x in llm),
    )


_RENAMABLE = frozenset({c.KIND_TOOL, c.KIND_LLM, c.KIND_DECISION})
_MAX_CODES = 0x110000


def no_drift_report(steps: int, mode: Mode = "align", notes: Sequence[str] = ()) -> DriftReport:
    """The report :func:`compare` returns for two runs of ``steps`` steps that agree."""
    return DriftReport(
        findings=[],
        first_divergence=None,
        baseline_steps=steps,
        candidate_steps=steps,
        mode=mode,
        notes=list(notes),
    )


class _Side:
    """One run prepared in a single pass: kept steps, alignment codes, fingerprints and the
    indices of slow steps.

    ``codes`` identify signatures (``ids`` is shared by both runs). Equal fingerprints of
    two same-signature steps guarantee that :func:`~otel_replay.drift.fields._compare_same`
    finds nothing but possibly a latency regression, which needs a candidate duration of at
    least ``floor`` (``slow`` lists those steps; ``floor=None`` skips that, for the baseline).
    A field that cannot be fingerprinted exactly gets a fresh ``object()``, which never
    compares equal.
    """

    __slots__ = ("steps", "codes", "prints", "slow", "all_steps")

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
            fp = step_print(s)
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
        self.all_steps: Sequence[Step] = kept

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
        side.all_steps = side.steps
        return side

    def order_parallel(self, tool_codes: set[int], pol: DriftPolicy) -> None:
        """Sort each group of parallel tool calls by tool name and arguments, so that the
        order in which calls issued together ran is not drift.

        A group is a run of consecutive tool steps whose time spans overlap the group's
        (each runs while the ones before it have not all ended): calls one LLM call issued
        together and that ran concurrently. Sorting is the same on both runs, so a call added
        to or missing from a group is still one insertion or deletion.
        """
        codes = self.codes
        if len(tool_codes) < _MAX_CODES and len(codes) < 1 << 24:
            # runs of two or more consecutive tool codes, found by a regex over the codes
            chars = "".join(re.escape(chr(x)) for x in sorted(tool_codes))
            runs = [m.span() for m in re.finditer(f"[{chars}]{{2,}}", "".join(map(chr, codes)))]
        else:  # pragma: no cover - over a million distinct signatures
            runs = _runs_of(codes, tool_codes)
        for i0, i1 in runs:
            i = i0
            while i < i1:
                first = self.steps[i]
                start, end = first.start_time_unix_nano, first.end_time_unix_nano
                j = i + 1
                while j < i1:
                    st = self.steps[j]
                    if not (st.start_time_unix_nano < end and st.end_time_unix_nano > start):
                        break  # does not overlap the group's time span
                    start = min(start, st.start_time_unix_nano)
                    end = max(end, st.end_time_unix_nano)
                    j += 1
                if j - i > 1:
                    self._sort_group(i, j, pol)
                i = j

    def _sort_group(self, i: int, j: int, pol: DriftPolicy) -> None:
        vol = pol.volatile
        steps = self.steps
        order = sorted(range(i, j), key=lambda k: (steps[k].name, _canonical(steps[k].inputs, vol)))
        if order == list(range(i, j)):
            return
        codes, prints = self.codes, self.prints
        self.steps = list(steps)
        self.codes = list(codes)
        self.prints = list(prints)
        self.steps[i:j] = [steps[k] for k in order]
        self.codes[i:j] = [codes[k] for k in order]
        self.prints[i:j] = [prints[k] for k in order]
        slow = set(self.slow)
        if slow & set(range(i, j)):
            moved = {i + r for r, k in enumerate(order) if k in slow}
            self.slow = sorted((slow - set(range(i, j))) | moved)


def _runs_of(codes: Sequence[int], wanted: set[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of two or more consecutive codes in ``wanted``."""
    out = []
    i, n = 0, len(codes)
    while i < n:
        if codes[i] not in wanted:
            i += 1
            continue
        j = i + 1
        while j < n and codes[j] in wanted:
            j += 1
        if j - i > 1:
            out.append((i, j))
        i = j
    return out


class _Run:
    """Accumulates findings and the first divergence of a comparison."""

    __slots__ = ("pol", "b", "c", "findings", "sites")

    def __init__(self, pol: DriftPolicy, b: _Side, c: _Side) -> None:
        self.pol = pol
        self.b = b
        self.c = c
        self.findings: list[DriftFinding] = []
        #: id(finding) -> where it diverges (position, baseline, candidate, changes) and the
        #: indices of its baseline and candidate steps
        self.sites: dict[int, Site] = {}

    def add(
        self,
        res: PairComparison,
        pos: int,
        b: Step | None,
        cs: Step | None,
        bi: int | None = None,
        ci: int | None = None,
    ) -> None:
        if not res.findings:
            return
        self.findings.extend(res.findings)
        for f in res.findings:
            self.sites[id(f)] = (pos, b, cs, res.changes, bi, ci)

    def unpaired(
        self,
        b: Step | None,
        cs: Step | None,
        pos: int,
        site_b: Step | None,
        site_c: Step | None,
        bi: int | None = None,
        ci: int | None = None,
    ) -> None:
        n = len(self.findings)
        _unpaired(b, cs, self.pol, pos, self.findings)
        for f in self.findings[n:]:
            self.sites[id(f)] = (pos, site_b, site_c, [], bi, ci)

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
                self.add(res, j + k, b, cs, i + k, j + k)


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


def _slide_for_content(
    ops: Iterable[Opcode], b: _Side, c: _Side, pol: DriftPolicy
) -> list[list[Any]]:
    """Move each pure insertion/deletion among repeated signatures to where the most pairs
    have identical content (equal fingerprints, else equal decoded outputs up to volatile
    ids: token counts and run-specific ids do not tell where a round was added); ties keep
    the aligner's placement.

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
            xside, yside, i, n, p = b, c, op[1], op[2] - op[1], op[3]
        else:
            xside, yside, i, n, p = c, b, op[3], op[4] - op[3], op[1]
        xc = xside.codes
        same = _SameContent(xside, yside, pol)
        best = best_t = score = t = 0
        while t < fwd and xc[i + t] == xc[i + n + t]:
            score += same(i + t, p + t) - same(i + n + t, p + t)
            t += 1
            if score > best:
                best, best_t = score, t
        score = t = 0
        while t < back and xc[i - 1 - t] == xc[i + n - 1 - t]:
            score += same(i + n - 1 - t, p - 1 - t) - same(i - 1 - t, p - 1 - t)
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


class _SameContent:
    """``same(i, j)``: 1 when step ``i`` of one side has the content of step ``j`` of the
    other (equal fingerprints, else equal outputs up to volatile ids and the order of
    parallel calls), else 0. Content keys are computed on first use and cached."""

    __slots__ = ("x", "y", "pol", "kx", "ky")

    def __init__(self, x: _Side, y: _Side, pol: DriftPolicy) -> None:
        self.x, self.y, self.pol = x, y, pol
        self.kx: dict[int, str] = {}
        self.ky: dict[int, str] = {}

    def __call__(self, i: int, j: int) -> int:
        if self.x.prints[i] == self.y.prints[j]:
            return 1
        if self.x.codes[i] != self.y.codes[j]:
            return 0
        return int(self.key(self.x, self.kx, i) == self.key(self.y, self.ky, j))

    def key(self, side: _Side, cache: dict[int, str], k: int) -> str:
        v = cache.get(k)
        if v is None:
            st = side.steps[k]
            out = st.outputs
            if st.kind == c.KIND_LLM:
                out = parallel_canonical(out)
            v = cache[k] = _canonical([st.status, out], self.pol.volatile)
        return v


def _replace_hunk(run: _Run, bs: list[Step], cs: list[Step], j0: int, i0: int) -> None:
    """Pair steps of the same kind positionally; the rest are missing/unexpected."""
    paired = 0
    for b, cand in zip(bs, cs, strict=False):
        if b.kind != cand.kind or b.kind not in _RENAMABLE:
            break
        run.add(
            _compare_renamed(b, cand, run.pol, j0 + paired),
            j0 + paired,
            b,
            cand,
            i0 + paired,
            j0 + paired,
        )
        paired += 1
    for k in range(paired, max(len(bs), len(cs))):
        b1 = bs[k] if k < len(bs) else None
        c1 = cs[k] if k < len(cs) else None
        pos = j0 + min(k, len(cs))
        if b1 is not None:
            run.unpaired(b1, None, pos, b1, c1, i0 + k, None)
        if c1 is not None:
            run.unpaired(None, c1, j0 + k, b1, c1, None, j0 + k)


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
