"""``otel-replay diff BASELINE CANDIDATE``: compare two recordings, exit non-zero on drift."""

from __future__ import annotations

import argparse
import functools
import io
import json
import sys
from typing import Any, TextIO

from otel_replay.cli.load import (
    LOCATE_HELP,
    STRICT_HELP,
    add_progress_flags,
    load_input,
    load_steps_input,
)
from otel_replay.cli.progress import CountingSteps, Progress, file_progress, progress_enabled
from otel_replay.cli.render import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    error,
    exit_codes_epilog,
    paragraphs,
    terminal_text,
    warn_once,
    whole_number,
    write_out,
)
from otel_replay.drift.compare import compare
from otel_replay.drift.outputs import SessionComparison, format_for_path, step_view
from otel_replay.drift.policy import (
    DEFAULT_IGNORE_PATHS,
    DriftKind,
    DriftPolicy,
    Severity,
    validate_ignore_path,
)
from otel_replay.drift.report import DriftReport
from otel_replay.drift.report_files import render_report, write_report
from otel_replay.drift.sessions import SessionMatchError, match_sessions, session_steps
from otel_replay.formats.recording import Recording
from otel_replay.model.steps import Step

__all__ = ["add_diff_parser", "select_steps", "cmd_diff"]

#: Kept for the deprecated ``otel_replay.diffcmd`` import path.
select_steps = session_steps


def _policy(args: argparse.Namespace) -> DriftPolicy:
    """The drift policy of the command line: latency and token usage are only compared
    when a threshold is given (timings of two runs differ on a busy machine)."""
    disabled = {DriftKind(k) for k in args.ignore_kind}
    if args.latency_threshold is None:
        disabled.add(DriftKind.LATENCY_REGRESSION)
    if args.token_threshold is None:
        disabled.add(DriftKind.TOKEN_USAGE_REGRESSION)
    kwargs: dict[str, Any] = {}
    if args.latency_threshold is not None:
        kwargs["latency_ratio"] = args.latency_threshold
    if args.latency_floor_ms is not None:
        kwargs["min_latency_ns"] = int(args.latency_floor_ms * 1_000_000)
    if args.token_threshold is not None:
        kwargs["token_ratio"] = args.token_threshold
    if args.token_floor is not None:
        kwargs["min_token_increase"] = args.token_floor
    return DriftPolicy(
        ignore_paths=DEFAULT_IGNORE_PATHS + tuple(args.ignore_path),
        disabled=disabled,
        **kwargs,
    )


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    for path in args.output:
        try:
            format_for_path(path)
        except ValueError as exc:
            error("diff", f"--output {exc}")
            return EXIT_USAGE
    err = sys.stderr
    progress = Progress(
        err, progress_enabled(err, quiet=args.quiet, forced=args.progress), clock=args.clock
    )
    try:
        return _diff(args, out, progress)
    finally:
        progress.finish()


def _diff(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    seen: set[str] = set()  # warnings printed (the same file on both sides: once)
    # the side-by-side views read every step's content: full steps; else compact steps
    compact = args.format not in ("junit", "html") and not args.output
    base_rec = _load(args.baseline, "baseline", args.strict, seen, progress, compact)
    if base_rec is None:
        return EXIT_ERROR
    cand_rec = _load(args.candidate, "candidate", args.strict, seen, progress, compact)
    if cand_rec is None:
        return EXIT_ERROR
    policy = _policy(args)
    try:
        pairs = match_sessions(
            base_rec,
            cand_rec,
            session=args.session,
            candidate_session=args.candidate_session,
            checkpoint_id=args.checkpoint,
            policy=policy,
            mode=args.mode,
        )
    except SessionMatchError as exc:
        progress.finish()
        error("diff", str(exc))
        return EXIT_USAGE
    reports: list[DriftReport] = []
    sessions: list[SessionComparison] = []
    total = sum(len(p.baseline.steps) + len(p.candidate.steps) for p in pairs)
    progress.phase("comparing steps", total, "steps")
    done = 0
    for pair in pairs:
        b, c = pair.baseline, pair.candidate
        nb = len(b.steps)
        report = compare(
            CountingSteps(b.steps, progress, start=done),
            CountingSteps(
                c.steps,
                progress,
                start=done + nb,
                then=functools.partial(_aligning, progress, len(reports), len(pairs)),
            ),
            policy,
            mode=args.mode,
        )
        done += nb + len(c.steps)
        progress.update(len(reports) + 1)
        report.baseline_session = b.session_id
        report.candidate_session = c.session_id
        reports.append(report)
        if args.format in ("junit", "html") or args.output:
            sessions.append(
                _session_comparison(
                    report, b.steps, c.steps, policy, args, b.session_id, c.session_id
                )
            )
        if len(reports) < len(pairs):
            progress.phase("comparing steps", total, "steps")
            progress.update(done)
    progress.phase("rendering", 1 + len(args.output), "outputs")
    if args.format in ("junit", "html"):
        text = render_report(sessions, args.format)
    else:
        buf = io.StringIO()
        _write(reports, args.format, buf)
        text = buf.getvalue()
    progress.update(1)
    progress.finish()  # the bar is cleared before stdout is written (one terminal)
    write_out(out, text)
    for n, path in enumerate(args.output):
        try:
            write_report(path, sessions)
        except (ValueError, OSError) as exc:
            progress.finish()
            error("diff", f"--output {path}: {exc}")
            return EXIT_ERROR
        progress.update(n + 2)
    return max(_exit_code(r, args.fail_on) for r in reports)


def _aligning(progress: Progress, done: int, total: int) -> None:
    progress.phase("aligning and comparing pairs", total, "runs")
    progress.update(done)


def _load(
    path: str, role: str, strict: bool, seen: set[str], progress: Progress, compact: bool
) -> Recording | None:
    """The recording at ``path``, normalized (``compact``: with compact steps); ``None``
    (the error printed) when it holds no span."""
    load = load_steps_input if compact else load_input
    rec, no_spans = load(path, strict=strict, progress=file_progress(progress, role))
    progress.finish()
    warn_once("diff", rec.warnings, seen)
    if no_spans is not None:
        error("diff", f"{role} {no_spans}; nothing to compare")
        return None
    progress.phase(f"normalizing {role}", rec.span_count, "spans")
    rec.prepare(progress.update)
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


def _write(reports: list[DriftReport], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        doc: Any = (
            reports[0].to_dict()
            if len(reports) == 1
            else {"reports": [r.to_dict() for r in reports]}
        )
        out.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return
    for n, report in enumerate(reports):
        if n:
            out.write("\n")
        if fmt == "markdown":
            out.write(terminal_text(report.to_markdown()) + "\n")
            continue
        out.write(terminal_text(report.render_table()) + "\n")  # it names both sessions


def _ignore_path(text: str) -> str:
    try:
        return validate_ignore_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (paths look like $.key, $..key, $.items[*].id)"
        ) from None


def _ratio(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v >= 1.0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a ratio >= 1 such as 2 or 1.5, got {text!r}")
    return v


def _ms(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v >= 0.0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {text!r}")
    return v


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
            "by step signatures; rules in docs/drift.md). Exit code 1 when drift at or above "
            "--fail-on is found. An input without spans is an input error (exit code 3); "
            "sessions with nothing to compare are a usage error (exit code 2): never 'no "
            "drift'.",
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
        help="session to compare (both sides unless --candidate-session); default: the "
        "session of --checkpoint, else the only session with steps, else sessions paired by "
        "agent name",
    )
    p.add_argument("--candidate-session", metavar="ID", help="session of the candidate recording")
    p.add_argument(
        "--checkpoint",
        metavar="ID",
        help="compare only the steps after this checkpoint id (an error when a recording "
        "does not hold it)",
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
        help="align: the agent's steps paired by their signatures (one inserted or removed "
        "step is one finding), plumbing left out, parallel calls in any order (default); "
        "strict: every span, position by position",
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
        type=_ignore_path,
        help="JSON path to ignore in arguments and outputs, e.g. $..doc_id (repeatable; "
        "added to the defaults of docs/drift.md)",
    )
    p.add_argument(
        "--ignore-kind",
        action="append",
        default=[],
        choices=[k.value for k in DriftKind],
        metavar="KIND",
        help="kind of finding not to report (repeatable): " + ", ".join(k.value for k in DriftKind),
    )
    p.add_argument(
        "--latency-threshold",
        type=_ratio,
        metavar="RATIO",
        help="report latency regressions: candidate at least RATIO times the baseline and "
        "--latency-floor-ms longer (off by default)",
    )
    p.add_argument(
        "--latency-floor-ms",
        type=_ms,
        metavar="MS",
        help="minimum latency increase that counts (default: 50)",
    )
    p.add_argument(
        "--token-threshold",
        type=_ratio,
        metavar="RATIO",
        help="report token usage regressions: candidate total at least RATIO times the "
        "baseline's and --token-floor more (off by default)",
    )
    p.add_argument(
        "--token-floor",
        type=whole_number,
        metavar="N",
        help="minimum token usage increase that counts (default: 0)",
    )
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_progress_flags(p)
    p.set_defaults(func=cmd_diff)
