"""Capturing agent runs as spans: recording helpers, ``checkpoint()``, the
:class:`~otel_replay.capture.processor.ReplayProcessor` buffer, redaction.

May import: ``core``, ``model``.
"""
