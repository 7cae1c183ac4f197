"""Markdown report for a pull-request comment: a summary line, a table of the compared
sessions, and per session a collapsible ``<details>`` block with every finding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from otel_replay.core.text import count
from otel_replay.drift.render import summary

if TYPE_CHECKING:
    from otel_replay.drift.outputs import SessionComparison

__all__ = ["pr_comment", "summary_line"]

_MAX_VALUE = 300


def summary_line(comparisons: Sequence[SessionComparison]) -> str:
    """``FAIL: 1 of 3 sessions drifted (4 findings: 1 critical, 2 warning, 1 info)``."""
    failed = sum(1 for s in comparisons if s.is_failure)
    counts = {"critical": 0, "warning": 0, "info": 0}
    for s in comparisons:
        for k, v in s.report.counts_by_severity.items():
            counts[k] = counts.get(k, 0) + v
    total = sum(counts.values())
    if not comparisons:
        return "NO DATA: no sessions were compared"
    verdict = "FAIL" if failed else "PASS"
    return (
        f"{verdict}: {failed} of {count(len(comparisons), 'session')} failed "
        f"({count(total, 'finding')}: {counts['critical']} critical, {counts['warning']} warning, "
        f"{counts['info']} info)"
    )


def pr_comment(comparisons: Sequence[SessionComparison], title: str = "") -> str:
    """Markdown for a pull-request comment."""
    lines = [
        f"### {_esc(title or 'otel-replay drift report')}",
        "",
        f"**{summary_line(comparisons)}**",
    ]
    if comparisons:
        lines += [
            "",
            "| Session | Result | Steps (baseline / candidate) | Critical | Warning | Info "
            "| First divergence |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for s in comparisons:
            r = s.report
            cs = r.counts_by_severity
            fd = r.first_divergence.describe() if r.first_divergence else "-"
            result = "**FAIL**" if s.is_failure else ("drift" if r.has_drift else "pass")
            lines.append(
                "| "
                + " | ".join(
                    [
                        _esc(s.name),
                        result,
                        f"{r.baseline_steps} / {r.candidate_steps}",
                        str(cs["critical"]),
                        str(cs["warning"]),
                        str(cs["info"]),
                        _esc(fd),
                    ]
                )
                + " |"
            )
    for s in comparisons:
        if not s.report.findings:
            continue
        lines += [
            "",
            "<details>",
            f"<summary>{_html(s.name)}: {_html(summary(s.report))}</summary>",
            "",
        ]
        if s.baseline_source or s.candidate_source:
            lines.append(f"Baseline `{s.baseline_source}`, candidate `{s.candidate_source}`")
            lines.append("")
        if s.report.first_divergence is not None:
            lines += [_esc(s.report.first_divergence.describe()), ""]
        lines += [
            "| # | Severity | Kind | Step | Baseline | Candidate | Paths | Expected | Actual |",
            "|---:|---|---|---:|---|---|---|---|---|",
        ]
        for i, f in enumerate(s.report.findings, 1):
            cells = [
                str(i),
                f"**{f.severity.value}**" if f.severity.value == "critical" else f.severity.value,
                f"`{f.kind.value}`",
                str(f.position),
                _esc(f.baseline.label()) if f.baseline else "-",
                _esc(f.candidate.label()) if f.candidate else "-",
                _esc(", ".join(f.paths)) if f.paths else "-",
                _code(f.expected),
                _code(f.actual),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if s.hint:
            lines += ["", _esc(s.hint)]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _code(v: Any) -> str:
    if v is None:
        return "-"
    text = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > _MAX_VALUE:
        text = text[:_MAX_VALUE] + "..."
    return "<code>" + _html(text).replace("|", "&#124;") + "</code>"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _esc(text: str) -> str:
    return (
        _html(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\n", "<br>")
        .replace("`", "\\`")
    )
