"""Command line: ``otel-replay demo | inspect | diff | serve``: the parser and the dispatch to the
command modules."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from otel_replay.cli.render import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    error,
    exit_codes_epilog,
    terminal_text,
)
from otel_replay.core.version import __version__
from otel_replay.formats.errors import RecordingError, RecordingWarning
from otel_replay.model.errors import CheckpointError

__all__ = ["main", "build_parser"]


def _add_demo(sub: Any) -> None:
    from otel_replay.cli.demo import add_demo_parser

    add_demo_parser(sub)


def _add_inspect(sub: Any) -> None:
    from otel_replay.cli.inspect import add_inspect_parser

    add_inspect_parser(sub)


def _add_diff(sub: Any) -> None:
    from otel_replay.cli.diff import add_diff_parser

    add_diff_parser(sub)


def _add_serve(sub: Any) -> None:
    from otel_replay.cli.serve import add_serve_parser

    add_serve_parser(sub)


#: The commands, in ``--help`` order, each with what adds its parser (importing its module:
#: a command line imports only the command it runs).
_COMMANDS: dict[str, Callable[[Any], None]] = {
    "demo": _add_demo,
    "inspect": _add_inspect,
    "diff": _add_diff,
    "serve": _add_serve,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``otel-replay`` parser with its ``demo``, ``inspect``, ``diff`` and ``serve``
    subcommands; with ``command``, only that one's module is imported and its parser built
    (the others are bare names: a command line parses as with the full parser)."""
    parser = argparse.ArgumentParser(
        prog="otel-replay",
        description="Record, restore, replay and drift detection for AI agents on OpenTelemetry.",
        epilog=exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"otel-replay {__version__}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="the command to run"
    )
    for name, add in _COMMANDS.items():
        if command is None or name == command:
            add(sub)
        else:
            sub.add_parser(name)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command a command line names (its first argument that is not an option; the
    top-level options take no value), or ``None``."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


class _PrefixFormatter(logging.Formatter):
    """Log records as ``otel-replay COMMAND: warning: message`` lines (control characters
    escaped: messages can carry backend responses)."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        return terminal_text(f"otel-replay {self.command}: {level}: {record.getMessage()}")


@contextlib.contextmanager
def _command_output(command: str) -> Iterator[None]:
    """While a command runs: log records (ours and the SDK's) print with the command's prefix
    on stderr, and recording warnings are left to the command, which prints each once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_PrefixFormatter(command))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)
            yield
    finally:
        root.removeHandler(handler)


#: Commands that build many long-lived acyclic objects (the steps of whole recordings): the
#: cyclic garbage collector is paused while they run (it would rescan them again and again).
_BULK_COMMANDS = frozenset({"inspect", "diff"})


@contextlib.contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    was_enabled = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause and was_enabled:
            gc.enable()


def _os_error_text(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush of
    what is still buffered cannot fail again (and print "Exception ignored ...")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point; returns the exit code (``--help`` for what each code means)."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_of(argv))  # start-up: import only the command run
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return (
            exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        )
    stream = out or sys.stdout
    with _command_output(args.command), _gc_paused(args.command in _BULK_COMMANDS):
        try:
            code: int = args.func(args, stream)
            stream.flush()
            return code
        except BrokenPipeError:  # stdout closed early (| head): end quietly
            if stream is sys.stdout:
                _quiet_stdout()
            return EXIT_BROKEN_PIPE
        except (RecordingError, CheckpointError) as exc:
            error(args.command, str(exc))
            return EXIT_ERROR
        except OSError as exc:
            error(args.command, _os_error_text(exc))
            return EXIT_ERROR
        except KeyboardInterrupt:  # pragma: no cover
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
