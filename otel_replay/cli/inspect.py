"""``otel-replay inspect PATH``: list the sessions, checkpoints and steps of a recording."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from otel_replay.cli.load import LOCATE_HELP, load_input
from otel_replay.cli.render import (
    EXIT_OK,
    EXIT_USAGE,
    checkpoints_of,
    count,
    error,
    exit_codes_epilog,
    paragraphs,
    render_table,
    warning,
)
from otel_replay.model.checkpoint import Checkpoint

__all__ = ["add_inspect_parser", "cmd_inspect"]


def _short(value: Any, width: int = 48) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    rec, no_spans = load_input(args.path)
    for w in rec.warnings:
        warning("inspect", w)
    if no_spans is not None:
        warning("inspect", no_spans)
    steps = rec.steps()
    sessions = rec.sessions()
    if args.session:
        if args.session not in sessions:
            known = ", ".join(sessions) if sessions else "none"
            error(
                "inspect",
                f"session {args.session!r} is not in {args.path} (sessions: {known})",
            )
            return EXIT_USAGE
        sessions = [args.session]
        steps = [s for s in steps if s.session_id == args.session]
    ckpts = checkpoints_of(steps)
    if args.format == "json":
        doc = {
            "paths": rec.paths,
            "warnings": rec.warnings + ([no_spans] if no_spans else []),
            "sessions": [
                {
                    "session_id": sid,
                    "checkpoints": [_ckpt_dict(ck) for ck in ckpts if ck.session_id == sid],
                    "steps": [s.to_dict() for s in steps if s.session_id == sid],
                }
                for sid in sessions
            ],
        }
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    out.write(f"Recording: {', '.join(rec.paths)}\n")
    out.write(
        f"{count(len(rec.spans), 'span')}, {count(len(sessions), 'session')}, "
        f"{count(len(ckpts), 'checkpoint')}\n"
    )
    for sid in sessions:
        s_steps = [s for s in steps if s.session_id == sid]
        s_ckpts = [ck for ck in ckpts if ck.session_id == sid]
        out.write(
            f"\nSession {sid}  ({count(len(s_steps), 'step')}, "
            f"{count(len(s_ckpts), 'checkpoint')})\n"
        )
        if s_ckpts:
            out.write(
                render_table(
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
                        for ck in s_ckpts
                    ],
                )
                + "\n"
            )
        if not args.no_steps:
            out.write(
                render_table(
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
                        for s in s_steps
                    ],
                )
                + "\n"
            )
    return EXIT_OK


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
    insp.set_defaults(func=cmd_inspect)
