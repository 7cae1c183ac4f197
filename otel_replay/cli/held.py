"""Objects a command keeps alive until the process ends (:func:`hold_until_exit`)."""

from __future__ import annotations

__all__ = ["hold_until_exit"]

#: What commands handed over, when the process ends right after the command
#: (:func:`otel_replay.cli.main.run_process` sets a list); ``None`` in-process.
_HELD: list[object] | None = None


def hold_until_exit(obj: object) -> None:
    """Keep ``obj`` (a loaded recording) alive until the process ends, under
    :func:`~otel_replay.cli.main.run_process`: freeing the steps of a large recording one
    object at a time costs about 0.4 s per 200k spans, and the process ends right after the
    command anyway. In-process (:func:`~otel_replay.cli.main.main`): does nothing."""
    if _HELD is not None:
        _HELD.append(obj)
