"""Writing report files: :func:`write_report` renders compared sessions as JSON, Markdown
(pull-request comment), JUnit XML or HTML, chosen by the file's suffix."""

from __future__ import annotations

import os
from collections.abc import Sequence

from otel_replay.drift.outputs import (
    REPORT_FORMATS,
    SessionComparison,
    format_for_path,
    reports_json,
)
from otel_replay.drift.render_html import html_report
from otel_replay.drift.render_junit import junit_xml
from otel_replay.drift.render_pr import pr_comment

__all__ = ["render_report", "write_report"]


def render_report(comparisons: Sequence[SessionComparison], fmt: str, title: str = "") -> str:
    """Report text in ``fmt`` (``json``, ``markdown``, ``junit`` or ``html``)."""
    if fmt == "json":
        return reports_json(comparisons, title)
    if fmt == "markdown":
        return pr_comment(comparisons, title)
    if fmt == "junit":
        return junit_xml(comparisons, title)
    if fmt == "html":
        return html_report(comparisons, title)
    raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(REPORT_FORMATS)})")


def write_report(
    path: str | os.PathLike[str],
    comparisons: Sequence[SessionComparison],
    *,
    fmt: str | None = None,
    title: str = "",
) -> str:
    """Write the report of ``comparisons`` to ``path`` (format from its suffix unless
    ``fmt``); parent directories are created. Returns the path written."""
    target = os.fspath(path)
    text = render_report(comparisons, fmt or format_for_path(target), title)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return target
