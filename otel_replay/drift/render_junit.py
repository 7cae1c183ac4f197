"""JUnit XML report: one ``testcase`` per compared session, one ``failure`` per failing
finding; the schema CI tools read (Jenkins, GitLab) is the common ``junit-10.xsd``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from otel_replay.drift.render import summary

if TYPE_CHECKING:
    from otel_replay.drift.findings import DriftFinding
    from otel_replay.drift.outputs import SessionComparison

__all__ = ["junit_xml"]

# Characters XML 1.0 cannot carry (even escaped).
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAX_VALUE = 2000


def _x(text: str) -> str:
    return _BAD_XML.sub("\ufffd", text)


def junit_xml(comparisons: Sequence[SessionComparison], title: str = "") -> str:
    """The JUnit XML document (UTF-8 text with an XML declaration)."""
    name = title or "otel-replay drift"
    failures = sum(len(s.failing_indices) for s in comparisons)
    root = ET.Element(
        "testsuites",
        {
            "name": _x(name),
            "tests": str(len(comparisons)),
            "failures": str(failures),
            "errors": "0",
        },
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _x(name),
            "tests": str(len(comparisons)),
            "failures": str(failures),
            "errors": "0",
            "skipped": "0",
            "time": "0",
        },
    )
    for s in comparisons:
        case = ET.SubElement(
            suite, "testcase", {"name": _x(s.name), "classname": "otel_replay.drift", "time": "0"}
        )
        failing = set(s.failing_indices)
        for i, f in enumerate(s.report.findings):
            if i in failing:
                el = ET.SubElement(
                    case,
                    "failure",
                    {"type": f.kind.value, "message": _x(f"[{f.severity.value}] {f.description}")},
                )
                el.text = _x(_details(f))
        out = [summary(s.report)]
        if s.report.first_divergence is not None:
            out.append(s.report.first_divergence.describe())
        if s.baseline_source or s.candidate_source:
            out.append(f"baseline {s.baseline_source}, candidate {s.candidate_source}")
        for i, f in enumerate(s.report.findings):
            if i not in failing:
                out.append(f"tolerated: [{f.severity.value}] {f.kind.value}: {f.description}")
        if s.hint:
            out.append(s.hint)
        ET.SubElement(case, "system-out").text = _x("\n".join(out))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _details(f: DriftFinding) -> str:
    lines = [f"{f.kind.value} ({f.severity.value}) at step {f.position}: {f.description}"]
    if f.baseline is not None:
        lines.append(f"baseline:  {f.baseline.label()}")
    if f.candidate is not None:
        lines.append(f"candidate: {f.candidate.label()}")
    if f.paths:
        lines.append("paths: " + ", ".join(f.paths))
    if f.expected is not None:
        lines.append("expected: " + _value(f.expected))
    if f.actual is not None:
        lines.append("actual:   " + _value(f.actual))
    return "\n".join(lines)


def _value(v: object) -> str:
    text = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "..."
