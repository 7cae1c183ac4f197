"""Command line: ``otel-replay demo | inspect | diff``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from otel_replay.cli.diff import add_diff_parser
from otel_replay.core.version import __version__
from otel_replay.formats.errors import RecordingError
from otel_replay.formats.files import load_recording
from otel_replay.model.checkpoints import Checkpoint, CheckpointError
from otel_replay.model.steps import Step

__all__ = ["main", "render_table", "checkpoints_of"]

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with left-aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def checkpoints_of(steps: Sequence[Step]) -> list[Checkpoint]:
    """Checkpoints recorded among ``steps`` (in session, checkpoint order)."""
    out = [Checkpoint.from_step(s) for s in steps if s.kind == "checkpoint" and s.checkpoint_id]
    return sorted(out, key=lambda ck: (ck.session_id, ck.sequence))


def _short(value: Any, width: int = 48) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------------------ inspect


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


# ------------------------------------------------------------------------------ demo


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from otel_replay.cli.demo import run_demo

    return run_demo(
        out_dir=Path(args.out),
        fmt=args.format,
        otlp_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        out=out,
    )


# ------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-replay",
        description="Record, restore, replay and drift detection for AI agents on OpenTelemetry.",
    )
    parser.add_argument("--version", action="version", version=f"otel-replay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the built-in example agent: record, restore, replay and detect drift",
        description="Runs a deterministic example agent (no network, no keys) with the "
        "otel-replay processors installed and records it to a local directory. If "
        "OTEL_EXPORTER_OTLP_ENDPOINT is set, spans and metrics are exported there too.",
    )
    demo.add_argument("--out", default="otel-replay-demo", help="recording directory")
    demo.add_argument("--format", choices=["jsonl", "protobuf"], default="jsonl")
    demo.set_defaults(func=cmd_demo)

    insp = sub.add_parser(
        "inspect", help="list sessions, checkpoints and steps of a recording (file or directory)"
    )
    insp.add_argument("path")
    insp.add_argument("--format", choices=["table", "json"], default="table")
    insp.add_argument("--session", help="only this session")
    insp.add_argument("--no-steps", action="store_true", help="list checkpoints only")
    insp.set_defaults(func=cmd_inspect)

    add_diff_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    try:
        code: int = args.func(args, stream)
        return code
    except (RecordingError, CheckpointError, OSError) as exc:
        print(f"otel-replay {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
