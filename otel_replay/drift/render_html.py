"""HTML report: one self-contained file (inline CSS, no scripts or network assets) showing
each compared session's baseline and candidate runs side by side as aligned step lists.

Unchanged steps are folded into ``<details class="fold">`` blocks; rows with findings carry
``finding`` and ``sev-<severity>`` classes, the first divergence ``first-divergence``; each
step is a ``<details class="step">`` that opens to its inputs, outputs and attributes, where
the JSON paths named by findings are marked ``changed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from otel_replay.core.text import count
from otel_replay.drift.align import align
from otel_replay.drift.jsondiff import format_path
from otel_replay.drift.render import summary

if TYPE_CHECKING:
    from otel_replay.drift.findings import DriftFinding
    from otel_replay.drift.outputs import SessionComparison

__all__ = ["html_report", "aligned_rows"]

Row = tuple[dict[str, Any] | None, dict[str, Any] | None]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
.verdict{font-weight:600;padding:.4em .7em;border-radius:6px;display:inline-block}
.verdict.fail{background:#ffebe9;color:#82071e}.verdict.pass{background:#dafbe1;color:#116329}
.sources{color:#57606a;font-size:.9em}
.findings{margin:.5em 0 1em;padding-left:1.2em}
.findings li{margin:.2em 0}.findings .tolerated{color:#57606a}
.steps{border:1px solid #d0d7de;border-radius:6px;overflow:hidden}
.row{display:grid;grid-template-columns:6.5em 1fr 1fr;border-top:1px solid #eaeef2}
.row>div{padding:.3em .5em;min-width:0;overflow-wrap:anywhere}
.row.head{background:#f6f8fa;font-weight:600;border-top:none}
.pos{color:#57606a;text-align:right}
.fold>summary{cursor:pointer;background:#f6f8fa;color:#57606a;padding:.3em .5em;border-top:1px solid #eaeef2}
.row.finding{background:#fff8c5}.row.sev-critical{background:#ffebe9}
.row.sev-info{background:#ddf4ff}
.row.first-divergence{outline:3px solid #cf222e;outline-offset:-3px}
.marker{display:block;font-size:.75em;font-weight:600;color:#cf222e}
.row>div.row-findings{grid-column:1/-1;padding:0 .5em .35em 7em;font-size:.85em;color:#3d444d}
.row-findings div::before{content:'\\25B8 ';color:#cf222e}
.absent{color:#8c959f;font-style:italic}
details.step>summary{cursor:pointer}
.kind{font-size:.75em;text-transform:uppercase;color:#57606a;margin-right:.4em}
.status-error{color:#cf222e;font-weight:600}
.field{margin:.4em 0}.field h4{margin:.2em 0;font-size:.85em;color:#57606a}
ul.json{list-style:none;margin:0;padding-left:1.1em;font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace}
ul.json>li.changed{background:#ffd8d3}
ul.json>li.changed>.k{font-weight:700;color:#82071e}
.k{color:#0550ae}
.note{font-size:.85em;color:#57606a}
"""


def html_report(comparisons: Sequence[SessionComparison], title: str = "") -> str:
    """The HTML document."""
    from otel_replay.drift.render_pr import summary_line

    title = title or "otel-replay drift report"
    failed = any(s.is_failure for s in comparisons)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="verdict {"fail" if failed else "pass"}">{escape(summary_line(comparisons))}</p>',
    ]
    for n, s in enumerate(comparisons, 1):
        parts.append(_session(s, f"s{n}"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def aligned_rows(
    baseline: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]]
) -> list[Row]:
    """Baseline and candidate step views paired along the minimal edit script of their
    ``(kind, name)`` signatures; a replaced stretch pairs positionally; ``None`` marks the
    side without a step."""
    sig_b = [(str(s.get("kind")), str(s.get("name"))) for s in baseline]
    sig_c = [(str(s.get("kind")), str(s.get("name"))) for s in candidate]
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in align(sig_b, sig_c):
        if tag == "equal" or tag == "replace":
            for k in range(max(i2 - i1, j2 - j1)):
                b = dict(baseline[i1 + k]) if i1 + k < i2 else None
                c = dict(candidate[j1 + k]) if j1 + k < j2 else None
                if (
                    tag == "replace"
                    and b is not None
                    and c is not None
                    and b.get("kind") != c.get("kind")
                ):
                    rows += [(b, None), (None, c)]
                else:
                    rows.append((b, c))
        elif tag == "delete":
            rows += [(dict(baseline[k]), None) for k in range(i1, i2)]
        else:
            rows += [(None, dict(candidate[k])) for k in range(j1, j2)]
    return rows


def _session(s: SessionComparison, sid: str) -> str:
    r = s.report
    failing = set(s.failing_indices)
    by_b: dict[str, list[int]] = {}
    by_c: dict[str, list[int]] = {}
    for i, f in enumerate(r.findings):
        if f.baseline is not None:
            by_b.setdefault(f.baseline.span_id, []).append(i)
        if f.candidate is not None:
            by_c.setdefault(f.candidate.span_id, []).append(i)
    fd = r.first_divergence
    fd_b = fd.baseline.span_id if fd is not None and fd.baseline is not None else None
    fd_c = fd.candidate.span_id if fd is not None and fd.candidate is not None else None
    rows = aligned_rows(s.baseline, s.candidate)
    row_of: dict[int, str] = {}
    marked: list[tuple[Row, list[int], bool]] = []
    for b, c in rows:
        idx = sorted(
            set(by_b.get(str(b.get("span_id")), []) if b else [])
            | set(by_c.get(str(c.get("span_id")), []) if c else [])
        )
        first = (b is not None and b.get("span_id") == fd_b) or (
            c is not None and c.get("span_id") == fd_c
        )
        marked.append(((b, c), idx, first))
    out = [f'<section class="session" id="{sid}">']
    verdict = "fail" if s.is_failure else "pass"
    out.append(
        f'<h2>{escape(s.name)} <span class="verdict {verdict}">{escape(summary(r))}</span></h2>'
    )
    if s.baseline_source or s.candidate_source:
        out.append(
            f'<p class="sources">baseline <code>{escape(s.baseline_source)}</code>, '
            f"candidate <code>{escape(s.candidate_source)}</code></p>"
        )
    for n, (_, idx, _first) in enumerate(marked):
        for i in idx:
            row_of.setdefault(i, f"{sid}-row{n}")
    if fd is not None:
        target = next((f"{sid}-row{n}" for n, m in enumerate(marked) if m[2]), "")
        out.append(f'<p class="first"><a href="#{target}">{escape(fd.describe())}</a></p>')
    if r.findings:
        out.append('<ol class="findings">')
        for i, f in enumerate(r.findings):
            cls = "failing" if i in failing else "tolerated"
            extra = "" if i in failing else " (tolerated)"
            out.append(
                f'<li class="{cls} sev-{f.severity.value}"><a href="#{row_of.get(i, "")}">'
                f"[{escape(f.severity.value)}] <code>{escape(f.kind.value)}</code></a> "
                f"{escape(f.description)}{extra}</li>"
            )
        out.append("</ol>")
    if not s.baseline and not s.candidate:
        out.append('<p class="note">No steps were kept for this comparison.</p>')
    else:
        out.append('<div class="steps">')
        out.append(
            '<div class="row head"><div class="pos">#</div><div>baseline</div><div>candidate</div></div>'
        )
        fold: list[str] = []
        for n, ((b, c), idx, first) in enumerate(marked):
            if not idx and not first:
                fold.append(_row(sid, n, b, c, [], r.findings, False))
                continue
            _flush(out, fold)
            out.append(_row(sid, n, b, c, idx, r.findings, first))
        _flush(out, fold)
        out.append("</div>")
    if s.hint:
        out.append(f'<p class="note">{escape(s.hint)}</p>')
    out.append("</section>")
    return "\n".join(out)


def _flush(out: list[str], fold: list[str]) -> None:
    if fold:
        out.append(
            f'<details class="fold"><summary>{count(len(fold), "unchanged step")}</summary>'
            + "".join(fold)
            + "</details>"
        )
        fold.clear()


def _row(
    sid: str,
    n: int,
    b: dict[str, Any] | None,
    c: dict[str, Any] | None,
    idx: list[int],
    findings: Sequence[DriftFinding],
    first: bool,
) -> str:
    cls = ["row", "step-row"]
    if idx:
        cls.append("finding")
        sev = max((findings[i].severity for i in idx), key=lambda s: s.rank)
        cls.append(f"sev-{sev.value}")
    else:
        cls.append("unchanged")
    if first:
        cls.append("first-divergence")
    kinds = " ".join(sorted({findings[i].kind.value for i in idx}))
    changed_in: dict[str, set[str]] = {"inputs": set(), "outputs": set()}
    for i in idx:
        f = findings[i]
        where = "inputs" if f.kind.value == "arguments_changed" else "outputs"
        if f.kind.value in ("arguments_changed", "output_changed"):
            changed_in[where].update(f.paths)
    pos = next((findings[i].position for i in idx), None)
    marker = '<span class="marker">first divergence</span>' if first else ""
    attrs = f' data-kinds="{escape(kinds)}"' if kinds else ""
    notes = "".join(
        f"<div>[{escape(findings[i].severity.value)}] {escape(findings[i].description)}</div>"
        for i in idx
    )
    return (
        f'<div class="{" ".join(cls)}" id="{sid}-row{n}"{attrs}>'
        f'<div class="pos">{"" if pos is None else pos}{marker}</div>'
        f'<div class="side baseline">{_step(b, changed_in)}</div>'
        f'<div class="side candidate">{_step(c, changed_in)}</div>'
        + (f'<div class="row-findings">{notes}</div>' if notes else "")
        + "</div>"
    )


def _step(v: dict[str, Any] | None, changed: Mapping[str, set[str]]) -> str:
    if v is None:
        return '<span class="absent">(no step)</span>'
    seq = v.get("sequence")
    status = str(v.get("status") or "")
    st = (
        f' <span class="status-{escape(status)}">{escape(status)}</span>'
        if status == "error"
        else ""
    )
    head = (
        f'<span class="kind">{escape(str(v.get("kind")))}</span>{escape(str(v.get("name")))}'
        f"{'' if seq is None else f' #{seq}'}{st}"
    )
    body = []
    for field in ("inputs", "outputs"):
        if v.get(field) is not None:
            body.append(
                f'<div class="field {field}"><h4>{field}</h4>'
                f"{_json(v[field], [], changed.get(field, set()))}</div>"
            )
    if v.get("status_message"):
        body.append(f'<div class="field"><h4>status</h4>{escape(str(v["status_message"]))}</div>')
    body.append(
        f'<div class="field attributes"><h4>attributes</h4>{_json(v.get("attributes") or {}, [], set())}</div>'
    )
    return f'<details class="step"><summary>{head}</summary>{"".join(body)}</details>'


def _json(value: Any, path: list[str | int], changed: set[str]) -> str:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, Mapping):
        items: list[tuple[str | int, Any]] = [(str(k), x) for k, x in value.items()]
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return f"<code>{escape(json.dumps(value, ensure_ascii=False, default=str))}</code>"
    if not items:
        return "<code>{}</code>" if isinstance(value, Mapping) else "<code>[]</code>"
    lis = []
    for k, x in items:
        p = format_path([*path, k])
        hit = p in changed or any(
            ch.startswith(p + ".") or ch.startswith(p + "[") for ch in changed
        )
        cls = ' class="changed"' if p in changed else (' class="contains-change"' if hit else "")
        label = f"[{k}]" if isinstance(k, int) else escape(k)
        lis.append(
            f'<li data-path="{escape(p)}"{cls}><span class="k">{label}</span>: '
            f"{_json(x, [*path, k], changed)}</li>"
        )
    return '<ul class="json">' + "".join(lis) + "</ul>"
