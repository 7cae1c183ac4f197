"""``otel-replay inspect PATH``: list the sessions, checkpoints and steps of a recording."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from otel_replay.cli.render import EXIT_OK, EXIT_USAGE, checkpoints_of, render_table
from otel_replay.formats.files import load_recording
from otel_replay.model.checkpoint import Checkpoint

__all__ = ["add_inspect_parser", "cmd_inspect"]


def _short(value: Any, width: int = 48) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    rec = load_recording(args.path)
    steps = rec.steps()
    sessions = rec.sessions()
    if args.session:
        if args.session not in sessions:
            print(f"error: session {args.session!r} is not in {args.path}", file=sys.stderr)
            return EXIT_USAGE
        sessions = [args.session]
        steps = [s for s in steps if s.session_id == args.session]
    ckpts = checkpoints_of(steps)
    if args.format == "json":
        doc = {
            "paths": rec.paths,
            "warnings": rec.warnings,
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
    out.write(f"{len(rec.spans)} spans, {len(sessions)} sessions, {len(ckpts)} checkpoints\n")
    for w in rec.warnings:
        out.write(f"warning: {w}\n")
    for sid in sessions:
        s_steps = [s for s in steps if s.session_id == sid]
        s_ckpts = [ck for ck in ckpts if ck.session_id == sid]
        out.write(f"\nSession {sid}  ({len(s_steps)} steps, {len(s_ckpts)} checkpoints)\n")
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
        "inspect", help="list sessions, checkpoints and steps of a recording (file or directory)"
    )
    insp.add_argument("path")
    insp.add_argument("--format", choices=["table", "json"], default="table")
    insp.add_argument("--session", help="only this session")
    insp.add_argument("--no-steps", action="store_true", help="list checkpoints only")
    insp.set_defaults(func=cmd_inspect)
