"""The ``otel-replay`` command: one module per command (``inspect``, ``diff``, ``demo``).

May import: everything.
"""

from otel_replay.cli.render import checkpoints_of, render_table


def main(argv: list[str] | None = None) -> int:
    """The ``otel-replay`` command (:func:`otel_replay.cli.main.main`)."""
    from otel_replay.cli.main import main as run

    return run(argv)


__all__ = ["main", "render_table", "checkpoints_of"]
