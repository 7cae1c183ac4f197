"""Command line: ``otel-replay demo | inspect | diff``: the parser and the dispatch to the
command modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from otel_replay.cli.demo import add_demo_parser
from otel_replay.cli.diff import add_diff_parser
from otel_replay.cli.inspect import add_inspect_parser
from otel_replay.cli.render import EXIT_ERROR
from otel_replay.core.version import __version__
from otel_replay.formats.errors import RecordingError
from otel_replay.model.errors import CheckpointError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-replay",
        description="Record, restore, replay and drift detection for AI agents on OpenTelemetry.",
    )
    parser.add_argument("--version", action="version", version=f"otel-replay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_parser(sub)
    add_inspect_parser(sub)
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
