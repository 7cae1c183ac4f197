"""``otel-replay inspect PATH``: list the sessions, checkpoints and steps of a recording."""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any, TextIO

from otel_replay.cli.load import (
    LOCATE_HELP,
    STRICT_HELP,
    add_progress_flags,
    load_steps_input,
    recorded_checkpoints,
    summarize_input,
)
from otel_replay.cli.progress import Progress, file_progress, progress_enabled
from otel_replay.cli.render import (
    EXIT_OK,
    EXIT_USAGE,
    count,
    error,
    exit_codes_epilog,
    paragraphs,
    render_table,
    terminal_text,
    warn_once,
    whole_number,
    write_out,
)
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.compact_step import read_each
from otel_replay.model.steps import Step

__all__ = ["add_inspect_parser", "cmd_inspect"]


def _short(value: Any, width: int = 48) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    err = sys.stderr
    progress = Progress(
        err, progress_enabled(err, quiet=args.quiet, forced=args.progress), clock=args.clock
    )
    try:
        if args.no_steps and args.format == "table":
            return _outline(args, out, progress)
        return _inspect(args, out, progress)
    finally:
        progress.finish()


def _outline(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    """``--no-steps`` tables from one streaming pass (flat memory)."""
    summary, no_spans = summarize_input(
        args.path, strict=args.strict, progress=file_progress(progress)
    )
    progress.finish()
    notes = list(summary.warnings)
    if no_spans is not None:
        notes.append(no_spans)
    sessions = summary.sessions()
    counts = summary.step_counts()
    if args.session:
        if args.session not in sessions:
            return _unknown_session(args, notes, sessions)
        sessions = [args.session]
    ckpts, skipped_ckpts = recorded_checkpoints(summary, strict=args.strict)
    if args.session:
        ckpts = [ck for ck in ckpts if ck.session_id == args.session]
    warn_once("inspect", notes + skipped_ckpts)
    _header(out, summary.paths, summary.span_count, len(sessions), len(ckpts))
    for sid in sessions:
        s_ckpts = [ck for ck in ckpts if ck.session_id == sid]
        _session_line(out, sid, counts.get(sid, 0), len(s_ckpts))
        if s_ckpts:
            out.write(_checkpoint_table(s_ckpts) + "\n")
    return EXIT_OK


def _unknown_session(args: argparse.Namespace, notes: list[str], sessions: list[str]) -> int:
    warn_once("inspect", notes)
    known = ", ".join(sessions) if sessions else "none"
    error("inspect", f"session {args.session!r} is not in {args.path} (sessions: {known})")
    return EXIT_USAGE


def _header(out: TextIO, paths: list[str], spans: int, sessions: int, ckpts: int) -> None:
    out.write(terminal_text(f"Recording: {', '.join(paths)}") + "\n")
    out.write(
        f"{count(spans, 'span')}, {count(sessions, 'session')}, {count(ckpts, 'checkpoint')}\n"
    )


def _session_line(out: TextIO, sid: str, steps: int, ckpts: int) -> None:
    out.write(
        terminal_text(f"\nSession {sid}  ({count(steps, 'step')}, {count(ckpts, 'checkpoint')})")
        + "\n"
    )


def _inspect(args: argparse.Namespace, stdout: TextIO, progress: Progress) -> int:
    out = io.StringIO()  # the tables, written once the progress bar is cleared
    code = _inspect_to(args, out, progress)
    progress.finish()
    write_out(stdout, out.getvalue())
    return code


def _inspect_to(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    # compact steps: only the steps listed are read back from the file (each line once)
    rec, no_spans = load_steps_input(
        args.path, strict=args.strict, progress=file_progress(progress)
    )
    progress.phase("normalizing", rec.span_count, "spans")
    rec.prepare(progress.update)
    notes = list(rec.warnings)
    if no_spans is not None:
        notes.append(no_spans)
    steps = rec.steps()
    sessions = rec.sessions()
    if args.session:
        if args.session not in sessions:
            progress.finish()
            return _unknown_session(args, notes, sessions)
        sessions = [args.session]
        steps = [s for s in steps if s.session_id == args.session]
    ckpts, skipped_ckpts = recorded_checkpoints(rec, strict=args.strict)
    if args.session:
        ckpts = [ck for ck in ckpts if ck.session_id == args.session]
    notes.extend(skipped_ckpts)
    progress.finish()
    warn_once("inspect", notes)
    limit: int | None = args.limit
    left = limit
    if args.format == "json":
        doc: dict[str, Any] = {
            "paths": rec.paths,
            "warnings": list(dict.fromkeys(notes)),
            "sessions": [],
        }
        for sid in sessions:
            s_steps = rec.steps_for_session(sid)
            entry: dict[str, Any] = {
                "session_id": sid,
                "checkpoints": [_ckpt_dict(ck) for ck in ckpts if ck.session_id == sid],
            }
            if left is None:
                entry["steps"] = read_each(s_steps, _to_dict)
            else:
                entry["steps"] = read_each(s_steps[:left], _to_dict)
                entry["steps_not_shown"] = len(s_steps) - len(entry["steps"])
                left -= len(entry["steps"])
            doc["sessions"].append(entry)
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    _header(out, rec.paths, rec.span_count, len(sessions), len(ckpts))
    not_shown = 0
    listed = 0 if args.no_steps else min(len(steps), limit if limit is not None else len(steps))
    progress.phase("rendering", listed, "steps")
    for sid in sessions:
        s_steps = rec.steps_for_session(sid)
        s_ckpts = [ck for ck in ckpts if ck.session_id == sid]
        _session_line(out, sid, len(s_steps), len(s_ckpts))
        if s_ckpts:
            out.write(_checkpoint_table(s_ckpts) + "\n")
        if args.no_steps:
            continue
        shown = s_steps if left is None else s_steps[:left]
        not_shown += len(s_steps) - len(shown)
        if left is not None:
            left -= len(shown)
        if shown:
            out.write(_step_table(shown, progress) + "\n")
    progress.finish()
    if not_shown:
        out.write(f"\n{count(not_shown, 'more step')} not shown (--limit {limit})\n")
    return EXIT_OK


def _checkpoint_table(ckpts: list[Checkpoint]) -> str:
    return render_table(
        ["#", "checkpoint", "label", "framework", "at step", "state", "parent"],
        [
            [
                ck.sequence,
                ck.id,
                ck.label,
                ck.framework,
                ck.step_sequence,
                f"{ck.state_size} B {ck.state_location}",
                ck.parent_id,
            ]
            for ck in ckpts
        ],
    )


def _step_table(steps: list[Step], progress: Progress) -> str:
    start = progress.done_count
    rows = read_each(steps, _step_row, lambda done: progress.update(start + done))
    return render_table(["seq", "kind", "name", "status", "imp", "ms", "input", "output"], rows)


def _step_row(s: Step) -> list[Any]:
    return [
        s.sequence,
        s.kind,
        s.name,
        s.status,
        f"{s.importance:.1f}",
        f"{s.duration_ns / 1e6:.2f}",
        _short(s.inputs, 32),
        _short(s.outputs, 40),
    ]


def _to_dict(s: Step) -> dict[str, Any]:
    return s.to_dict()


def _ckpt_dict(ck: Checkpoint) -> dict[str, Any]:
    return {
        "checkpoint_id": ck.id,
        "session_id": ck.session_id,
        "sequence": ck.sequence,
        "framework": ck.framework,
        "label": ck.label,
        "created_time_unix_nano": ck.created_time_unix_nano,
        "parent_checkpoint_id": ck.parent_id,
        "step_sequence": ck.step_sequence,
        "state_digest": ck.state_digest,
        "state_size": ck.state_size,
        "state_location": ck.state_location,
    }


def add_inspect_parser(sub: Any) -> None:
    insp = sub.add_parser(
        "inspect",
        help="list sessions, checkpoints and steps of a recording (file or directory)",
        description=paragraphs(
            "List the sessions, checkpoints and steps of a recording. A recording without "
            "spans is listed with a warning on stderr.",
            LOCATE_HELP,
        ),
        epilog=exit_codes_epilog("inspect"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    insp.add_argument(
        "path", metavar="PATH", help="recording file or directory (see above for directories)"
    )
    insp.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="output format: readable tables, or one JSON document (default: table)",
    )
    insp.add_argument("--session", metavar="ID", help="only this session")
    insp.add_argument("--no-steps", action="store_true", help="list checkpoints only")
    insp.add_argument(
        "--limit",
        type=whole_number,
        metavar="N",
        help="list at most N steps in all (then how many were left out)",
    )
    insp.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_progress_flags(insp)
    insp.set_defaults(func=cmd_inspect)
