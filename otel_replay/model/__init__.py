"""The data model: a span normalized into a :class:`~otel_replay.model.steps.Step` (span
shapes in ``span_shapes``), and checkpoints (``errors``, JSON ``state``, the
:class:`~otel_replay.model.checkpoint.Checkpoint` record and envelope, ``stores``).

May import: ``core``.
"""
