"""``otel-replay inspect PATH``: list the sessions, checkpoints and steps of a recording."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from otel_replay.cli.load import LOCATE_HELP, STRICT_HELP, load_input, recorded_checkpoints
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
)
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.steps import Step

__all__ = ["add_inspect_parser", "cmd_inspect"]


def _short(value: Any, width: int = 48) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    rec, no_spans = load_input(args.path, strict=args.strict)
    notes = list(rec.warnings)
    if no_spans is not None:
        notes.append(no_spans)
    steps = rec.steps()
    sessions = rec.sessions()
    if args.session:
        if args.session not in sessions:
            warn_once("inspect", notes)
            known = ", ".join(sessions) if sessions else "none"
            error(
                "inspect",
                f"session {args.session!r} is not in {args.path} (sessions: {known})",
            )
            return EXIT_USAGE
        sessions = [args.session]
        steps = [s for s in steps if s.session_id == args.session]
    ckpts, skipped_ckpts = recorded_checkpoints(rec, strict=args.strict)
    notes.extend(skipped_ckpts)
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
            s_steps = [s for s in steps if s.session_id == sid]
            entry: dict[str, Any] = {
                "session_id": sid,
                "checkpoints": [_ckpt_dict(ck) for ck in ckpts if ck.session_id == sid],
            }
            if left is None:
                entry["steps"] = [s.to_dict() for s in s_steps]
            else:
                entry["steps"] = [s.to_dict() for s in s_steps[:left]]
                entry["steps_not_shown"] = len(s_steps) - len(entry["steps"])
                left -= len(entry["steps"])
            doc["sessions"].append(entry)
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    out.write(terminal_text(f"Recording: {', '.join(rec.paths)}") + "\n")
    out.write(
        f"{count(len(rec.spans), 'span')}, {count(len(sessions), 'session')}, "
        f"{count(len(ckpts), 'checkpoint')}\n"
    )
    not_shown = 0
    for sid in sessions:
        s_steps = [s for s in steps if s.session_id == sid]
        s_ckpts = [ck for ck in ckpts if ck.session_id == sid]
        out.write(
            terminal_text(
                f"\nSession {sid}  ({count(len(s_steps), 'step')}, "
                f"{count(len(s_ckpts), 'checkpoint')})"
            )
            + "\n"
        )
        if s_ckpts:
            out.write(_checkpoint_table(s_ckpts) + "\n")
        if args.no_steps:
            continue
        shown = s_steps if left is None else s_steps[:left]
        not_shown += len(s_steps) - len(shown)
        if left is not None:
            left -= len(shown)
        if shown:
            out.write(_step_table(shown) + "\n")
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


def _step_table(steps: list[Step]) -> str:
    return render_table(
        ["seq", "kind", "name", "status", "imp", "ms", "input", "output"],
        [
            [
                s.sequence,
                s.kind,
                s.name,
                s.status,
                f"{s.importance:.1f}",
                f"{s.duration_ns / 1e6:.2f}",
                _short(s.inputs, 32),
                _short(s.outputs, 40),
            ]
            for s in steps
        ],
    )


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


def _limit(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


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
        type=_limit,
        metavar="N",
        help="list at most N steps in all (then how many were left out)",
    )
    insp.add_argument("--strict", action="store_true", help=STRICT_HELP)
    insp.set_defaults(func=cmd_inspect)
