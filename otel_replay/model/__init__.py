"""The data model: a span normalized into a :class:`~otel_replay.model.steps.Step`, and
checkpoint state (JSON shapes, envelope, stores).

May import: ``core``.
"""
