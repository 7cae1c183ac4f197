"""``otel-replay diff BASELINE CANDIDATE``: compare two recordings, exit non-zero on drift."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from otel_replay.cli.load import LOCATE_HELP, load_input
from otel_replay.cli.render import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    count,
    error,
    exit_codes_epilog,
    paragraphs,
    warning,
)
from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare
from otel_replay.drift.outputs import SessionComparison, format_for_path, step_view
from otel_replay.drift.policy import DEFAULT_IGNORE_PATHS, DriftPolicy, Severity
from otel_replay.drift.report import DriftReport
from otel_replay.drift.report_files import render_report, write_report
from otel_replay.formats.recording import Recording
from otel_replay.model.steps import Step

__all__ = ["add_diff_parser", "select_steps", "cmd_diff"]

_LARGE = 20_000  # spans: show progress above this


class _Progress:
    """Progress lines on stderr for long work (large inputs or ``--progress``)."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, done: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {done}/{total} {what} ({time.perf_counter() - self.t0:.1f}s)"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _pick_session(rec: Recording, wanted: str | None, checkpoint_id: str | None, role: str) -> str:
    sessions = rec.sessions()
    if wanted:
        if wanted not in sessions:
            raise LookupError(f"{role}: session {wanted!r} not in {', '.join(rec.paths)}")
        return wanted
    if checkpoint_id:
        for sid in sessions:
            for st in rec.steps_for_session(sid):
                if st.attributes.get(c.REPLAY_CHECKPOINT_ID) == checkpoint_id:
                    return sid
        for sid in sessions:
            if any(st.checkpoint_id == checkpoint_id for st in rec.steps_for_session(sid)):
                return sid
        if role == "baseline":
            raise LookupError(f"{role}: checkpoint {checkpoint_id!r} not in {', '.join(rec.paths)}")
    if not sessions:
        raise LookupError(f"{role}: no sessions in {', '.join(rec.paths)}")
    return sessions[0]


def select_steps(rec: Recording, session_id: str, checkpoint_id: str | None) -> list[Step]:
    """Steps of a session to compare: after ``checkpoint_id`` when it is in the session,
    without the run's root agent span (which started before any checkpoint)."""
    steps = rec.steps_for_session(session_id)
    if checkpoint_id:
        ck = next((s for s in steps if s.checkpoint_id == checkpoint_id), None)
        if ck is not None and ck.sequence is not None:
            after = ck.sequence
            return [s for s in steps if s.sequence is not None and s.sequence > after]
    return [s for s in steps if not (s.kind == c.KIND_AGENT and s.parent_span_id is None)]


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    for path in args.output:
        try:
            format_for_path(path)
        except ValueError as exc:
            error("diff", f"--output {exc}")
            return EXIT_USAGE
    progress = _Progress(bool(args.progress))
    progress.step(0, 3, "loading baseline")
    base_rec = _load(args.baseline, "baseline")
    if base_rec is None:
        return EXIT_ERROR
    progress.enabled = progress.enabled or len(base_rec.spans) > _LARGE
    progress.step(1, 3, "loading candidate")
    cand_rec = _load(args.candidate, "candidate")
    if cand_rec is None:
        return EXIT_ERROR
    progress.enabled = progress.enabled or len(cand_rec.spans) > _LARGE
    progress.step(2, 3, "comparing")
    try:
        b_sid = _pick_session(base_rec, args.session, args.checkpoint, "baseline")
        c_sid = _pick_session(
            cand_rec, args.candidate_session or args.session, args.checkpoint, "candidate"
        )
    except LookupError as exc:
        error("diff", str(exc))
        return EXIT_USAGE
    baseline = select_steps(base_rec, b_sid, args.checkpoint)
    candidate = select_steps(cand_rec, c_sid, args.checkpoint)
    policy = (
        DriftPolicy(ignore_paths=DEFAULT_IGNORE_PATHS + tuple(args.ignore_path))
        if args.ignore_path
        else None
    )
    report = compare(baseline, candidate, policy, mode=args.mode)
    progress.step(3, 3, "done")
    if args.format in ("junit", "html") or args.output:
        session = _session_comparison(report, baseline, candidate, policy, args, b_sid, c_sid)
    if args.format in ("junit", "html"):
        out.write(render_report([session], args.format))
    else:
        _write(report, args.format, out, b_sid, c_sid)
    for path in args.output:
        try:
            write_report(path, [session])
        except (ValueError, OSError) as exc:
            error("diff", f"--output {path}: {exc}")
            return EXIT_ERROR
    return _exit_code(report, args.fail_on)


def _load(path: str, role: str) -> Recording | None:
    """The recording at ``path``; ``None`` (the error printed) when it holds no span."""
    rec, no_spans = load_input(path)
    for w in rec.warnings:
        warning("diff", w)
    if no_spans is not None:
        error("diff", f"{role} {no_spans}; nothing to compare")
        return None
    return rec


def _session_comparison(
    report: DriftReport,
    baseline: list[Step],
    candidate: list[Step],
    policy: DriftPolicy | None,
    args: argparse.Namespace,
    b_sid: str,
    c_sid: str,
) -> SessionComparison:
    skip = (policy or DriftPolicy()).ignore_kinds
    threshold = None if args.fail_on == "never" else Severity(args.fail_on)
    return SessionComparison(
        name=b_sid if b_sid == c_sid else f"{b_sid} vs {c_sid}",
        report=report,
        baseline=[step_view(s) for s in baseline if s.kind not in skip],
        candidate=[step_view(s) for s in candidate if s.kind not in skip],
        failing=[
            i
            for i, f in enumerate(report.findings)
            if threshold is not None and f.severity.rank >= threshold.rank
        ],
        baseline_source=args.baseline,
        candidate_source=args.candidate,
    )


def _write(report: DriftReport, fmt: str, out: TextIO, b_sid: str, c_sid: str) -> None:
    if fmt == "json":
        out.write(report.to_json(indent=2) + "\n")
    elif fmt == "markdown":
        out.write(report.to_markdown() + "\n")
    else:
        out.write(f"baseline session {b_sid} ({count(report.baseline_steps, 'step')}) vs ")
        out.write(f"candidate session {c_sid} ({count(report.candidate_steps, 'step')})\n")
        out.write(report.render_table() + "\n")


def _exit_code(report: DriftReport, fail_on: str) -> int:
    if fail_on == "never" or report.max_severity is None:
        return EXIT_OK
    threshold: Any = Severity(fail_on)
    return EXIT_DRIFT if report.max_severity.rank >= threshold.rank else EXIT_OK


def add_diff_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two recordings and report drift",
        description=paragraphs(
            "Compare the steps of a candidate recording with a baseline recording (aligned "
            "by step signatures). Exit code 1 when drift at or above --fail-on is found. An "
            "input without spans is an error (exit code 3), not 'no drift'.",
            LOCATE_HELP,
        ),
        epilog=exit_codes_epilog("diff"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("baseline", metavar="BASELINE", help="baseline recording (file or directory)")
    p.add_argument("candidate", metavar="CANDIDATE", help="candidate recording (file or directory)")
    p.add_argument(
        "--session",
        metavar="ID",
        help="session to compare (both sides unless --candidate-session; default: the "
        "session of --checkpoint, else the first session)",
    )
    p.add_argument("--candidate-session", metavar="ID", help="session of the candidate recording")
    p.add_argument(
        "--checkpoint",
        metavar="ID",
        help="compare only the steps after this checkpoint id (it must be in the baseline)",
    )
    p.add_argument(
        "--format",
        choices=["table", "json", "markdown", "junit", "html"],
        default="table",
        help="report format on stdout: a readable table, a JSON document, a Markdown table for "
        "CI comments, JUnit XML or the side-by-side HTML view (default: table)",
    )
    p.add_argument(
        "--mode",
        choices=["align", "strict"],
        default="align",
        help="align: pair steps by their signatures, so one inserted or removed step is one "
        "finding; strict: pair steps by position (default: align)",
    )
    p.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="also write a report file; its suffix picks the format: .json, .md (pull-request "
        "comment), .xml (JUnit), .html (side-by-side view). Repeatable.",
    )
    p.add_argument(
        "--fail-on",
        choices=["info", "warning", "critical", "never"],
        default="critical",
        help="lowest severity that makes the exit code 1 (default: critical)",
    )
    p.add_argument(
        "--ignore-path",
        action="append",
        default=[],
        metavar="PATH",
        help="JSON path to ignore, e.g. '$.filters[*].op' (repeatable)",
    )
    p.add_argument("--progress", action="store_true", help="always show progress on stderr")
    p.set_defaults(func=cmd_diff)
