"""What the ``otel-replay`` commands share: exit codes, plain-text tables and the checkpoints
recorded among a recording's steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.steps import Step

__all__ = ["render_table", "checkpoints_of"]

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
