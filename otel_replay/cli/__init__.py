"""The ``otel-replay`` command: one module per command (``inspect``, ``diff``, ``demo``).

May import: everything.
"""

from otel_replay.cli.main import main
from otel_replay.cli.render import checkpoints_of, render_table

__all__ = ["main", "render_table", "checkpoints_of"]
