"""What the ``otel-replay`` commands share: exit codes and their help text, error and warning
lines, plain-text tables, counted nouns and the checkpoints recorded among a recording's steps."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from otel_replay.core.text import count
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.steps import Step

__all__ = [
    "whole_number",
    "render_table",
    "checkpoints_of",
    "terminal_text",
    "warn_once",
    "write_out",
    "count",
    "error",
    "warning",
    "exit_codes_epilog",
    "paragraphs",
    "EXIT_OK",
    "EXIT_DRIFT",
    "EXIT_USAGE",
    "EXIT_ERROR",
    "EXIT_BROKEN_PIPE",
]

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
#: Exit code when stdout is closed early (``otel-replay inspect REC | head -1``): 128 + SIGPIPE,
#: what a shell reports for a command ended by a broken pipe; nothing is printed.
EXIT_BROKEN_PIPE = 141

#: Characters never written raw to a terminal: C0 controls (but tab and newline), DEL, C1
#: controls, bidirectional overrides/isolates and lone surrogates.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_CELL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def terminal_text(text: str, *, cell: bool = False) -> str:
    """``text`` safe to print on a terminal: control characters, bidi overrides and lone
    surrogates written as escapes (``\\x1b``, ``\\u202e``, ``\\ud800``); ``cell``: tab and
    newline too (one table cell stays on one line)."""
    return (_UNSAFE_CELL if cell else _UNSAFE).sub(_escape, text)


_INPUT_ERROR = (
    "input error: a recording that is missing, unreadable or corrupt, or a directory "
    "without recordings (or with them in several subdirectories)"
)
_BROKEN_PIPE = (
    "inspect, diff: stdout was closed before all was written (e.g. piped into head); "
    "nothing more is printed (128 + SIGPIPE, as a shell reports it)"
)
#: What each exit code means for each command ("" is ``otel-replay`` itself).
EXIT_CODES: dict[str, dict[int, str]] = {
    "": {
        EXIT_OK: "success",
        EXIT_DRIFT: "diff: drift at or above --fail-on",
        EXIT_USAGE: "usage error, or a session or checkpoint that is not in the recording",
        EXIT_ERROR: _INPUT_ERROR + "; diff: an input without spans; demo: the output "
        "directory cannot be written",
        EXIT_BROKEN_PIPE: _BROKEN_PIPE,
    },
    "demo": {
        EXIT_OK: "the demo ran (an unreachable OTLP endpoint is a warning on stderr)",
        EXIT_USAGE: "usage error",
        EXIT_ERROR: "the output directory cannot be created or written",
    },
    "inspect": {
        EXIT_OK: "the recording was listed (one without spans with a warning on stderr)",
        EXIT_USAGE: "usage error, or --session names a session that is not in the recording",
        EXIT_ERROR: _INPUT_ERROR,
        EXIT_BROKEN_PIPE: _BROKEN_PIPE,
    },
    "serve": {
        EXIT_OK: "stopped by SIGTERM or SIGINT after a graceful shutdown",
        EXIT_USAGE: "usage error: a bad option or variable, no downstream, a port that cannot be "
        "bound",
    },
    "diff": {
        EXIT_OK: "no drift at or above --fail-on",
        EXIT_DRIFT: "drift at or above --fail-on",
        EXIT_USAGE: "usage error, --session, --candidate-session or --checkpoint names what is "
        "not in the recording, or nothing to compare (no steps on a side, sessions that "
        "cannot be paired)",
        EXIT_ERROR: _INPUT_ERROR + ", or an input without spans",
        EXIT_BROKEN_PIPE: _BROKEN_PIPE,
    },
}


def exit_codes_epilog(command: str = "") -> str:
    """The "exit codes" section of the ``--help`` of ``command`` ("" for ``otel-replay``)."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES[command].items():
        lines.append(
            textwrap.fill(meaning, 79, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
        )
    return "\n".join(lines)


def paragraphs(*texts: str) -> str:
    """Help text: each of ``texts`` wrapped to 79 columns, separated by blank lines."""
    return "\n\n".join(textwrap.fill(t, 79) for t in texts)


def whole_number(text: str) -> int:
    """An ``argparse`` type: an int >= 0."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


def error(command: str, message: str) -> None:
    """Print ``otel-replay COMMAND: error: MESSAGE`` on stderr (control characters escaped)."""
    print(terminal_text(f"otel-replay {command}: error: {message}"), file=sys.stderr)


def warning(command: str, message: str) -> None:
    """Print ``otel-replay COMMAND: warning: MESSAGE`` on stderr (control characters
    escaped)."""
    print(terminal_text(f"otel-replay {command}: warning: {message}"), file=sys.stderr)


def write_out(out: TextIO, text: str, chunk: int = 1 << 16) -> None:
    """Write ``text`` in pieces: one huge write into a pipe whose reader has gone (``| head``)
    can end without an error, the data after the first piece lost; a piece at a time, the
    next write raises ``BrokenPipeError`` (exit code 141)."""
    for at in range(0, len(text), chunk):
        out.write(text[at : at + chunk])


def warn_once(command: str, messages: Iterable[str], seen: set[str] | None = None) -> None:
    """Print each distinct message of ``messages`` once as a warning, in first-seen order
    (none of ``seen``, which the messages printed are added to)."""
    seen = set() if seen is None else seen
    for message in messages:
        if message not in seen:
            seen.add(message)
            warning(command, message)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with left-aligned columns; cells are :func:`terminal_text`."""
    cells = [[str(h) for h in headers]] + [
        ["" if v is None else terminal_text(str(v), cell=True) for v in r] for r in rows
    ]
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
