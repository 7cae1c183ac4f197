"""The ``otel-replay`` command: one module per command (``inspect``, ``diff``, ``demo``).

May import: everything.
"""

from otel_replay.cli.main import checkpoints_of, main, render_table

__all__ = ["main", "render_table", "checkpoints_of"]
