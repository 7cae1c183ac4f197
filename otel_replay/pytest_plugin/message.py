"""The failure message of an ``agent_baseline`` comparison, written to read like a diff:
first divergence, then each finding with expected/actual per path, then the command that
updates the baseline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.outputs import SessionComparison
from otel_replay.drift.render import summary

__all__ = ["failure_message", "record_command"]

_MAX = 240


def record_command(nodeid: str) -> str:
    """The shell command that (re)writes the baseline of test ``nodeid``."""
    quoted = "'" + nodeid.replace("'", "'\\''") + "'"
    return f"pytest {quoted} --otel-replay-record"


def failure_message(
    baseline_path: str, comparisons: Sequence[SessionComparison], nodeid: str
) -> str:
    """Text shown when findings fail the test."""
    lines = [f"agent run differs from its baseline {baseline_path}"]
    for s in comparisons:
        failing = set(s.failing_indices)
        if not s.report.findings:
            continue
        lines += ["", f"{s.name}: {summary(s.report)}"]
        fd = s.report.first_divergence
        if fd is not None:
            lines.append(f"  {fd.describe()}")
        for i, f in enumerate(s.report.findings):
            lines += _finding(f, i in failing)
    lines += [
        "",
        "if the new behaviour is intended, update the baseline with:",
        f"  {record_command(nodeid)}",
    ]
    return "\n".join(lines)


def _finding(f: DriftFinding, fails: bool) -> list[str]:
    tag = f"[{f.severity.value}]" + ("" if fails else " (tolerated)")
    out = [f"  {tag} {f.kind.value}: {f.description}"]
    out += _details(f)
    for r in f.related:  # consequences of this change, shown with their cause
        out.append(f"    caused: {r.kind.value}: {r.description}")
        out += ["  " + line for line in _details(r)]
    return out


def _details(f: DriftFinding) -> list[str]:
    out: list[str] = []
    exp = f.expected if isinstance(f.expected, dict) else None
    act = f.actual if isinstance(f.actual, dict) else None
    if f.paths and (exp is not None or act is not None):
        for p in f.paths:
            out.append(f"      {p}")
            if exp is not None and p in exp:
                out.append(f"        - expected: {_show(exp[p])}")
            if act is not None and p in act:
                out.append(f"        + actual:   {_show(act[p])}")
        return out
    if f.expected is not None:
        out.append(f"        - expected: {_show(f.expected)}")
    if f.actual is not None:
        out.append(f"        + actual:   {_show(f.actual)}")
    return out


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _MAX else text[:_MAX] + "..."
