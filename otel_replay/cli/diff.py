"""``otel-replay diff BASELINE CANDIDATE``: compare two recordings, exit non-zero on drift."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from otel_replay.drift.compare import compare
from otel_replay.drift.policy import (
    DEFAULT_IGNORE_PATHS,
    DriftKind,
    DriftPolicy,
    Severity,
    validate_ignore_path,
)
from otel_replay.drift.report import DriftReport
from otel_replay.drift.sessions import SessionMatchError, match_sessions, session_steps
from otel_replay.formats.files import load_recording

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
    progress = _Progress(bool(args.progress))
    progress.step(0, 3, "loading baseline")
    base_rec = load_recording(args.baseline)
    progress.enabled = progress.enabled or len(base_rec.spans) > _LARGE
    progress.step(1, 3, "loading candidate")
    cand_rec = load_recording(args.candidate)
    progress.enabled = progress.enabled or len(cand_rec.spans) > _LARGE
    progress.step(2, 3, "comparing")
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
        print(f"otel-replay diff: error: {exc}", file=sys.stderr)
        return 2
    reports = []
    for pair in pairs:
        report = compare(pair.baseline.steps, pair.candidate.steps, policy, mode=args.mode)
        report.baseline_session = pair.baseline.session_id
        report.candidate_session = pair.candidate.session_id
        reports.append(report)
    progress.step(3, 3, "done")
    _write(reports, args.format, out)
    return max(_exit_code(r, args.fail_on) for r in reports)


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
        out.write((report.to_markdown() if fmt == "markdown" else report.render_table()) + "\n")


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


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
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
        return 0
    threshold: Any = Severity(fail_on)
    return 1 if report.max_severity.rank >= threshold.rank else 0


def add_diff_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two recordings and report drift",
        description="Compare the steps of a candidate recording with a baseline recording "
        "(aligned by step signatures; rules in docs/drift.md). Exit code 1 when drift at or "
        "above --fail-on is found, 2 on a usage error or when there is nothing to compare.",
    )
    p.add_argument("baseline", help="baseline recording (file or directory)")
    p.add_argument("candidate", help="candidate recording (file or directory)")
    p.add_argument(
        "--session",
        help="session to compare (both sides unless --candidate-session); default: the only "
        "session with steps, else sessions paired by agent name",
    )
    p.add_argument("--candidate-session", help="session of the candidate recording")
    p.add_argument(
        "--checkpoint",
        help="compare only the steps after this checkpoint id (an error when a recording "
        "does not hold it)",
    )
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    p.add_argument(
        "--mode",
        choices=["align", "strict"],
        default="align",
        help="align: the agent's steps aligned by signature, plumbing left out, parallel "
        "calls in any order (default); strict: every span, position by position",
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
        type=_count,
        metavar="N",
        help="minimum token usage increase that counts (default: 0)",
    )
    p.add_argument("--progress", action="store_true", help="always show progress on stderr")
    p.set_defaults(func=cmd_diff)
