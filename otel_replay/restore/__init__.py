"""Restoring a run at a checkpoint: step sources (live processor, recordings, trace
backends), restore hooks, :func:`restore`, and the registry of runs tracked for drift.

May import: ``core``, ``model``, ``capture``, ``formats``, ``replay``.
"""

from otel_replay.restore.api import (
    DriftTrackingError,
    RestoreError,
    RestoreResult,
    arestore,
    restore,
)

__all__ = ["restore", "arestore", "RestoreResult", "RestoreError", "DriftTrackingError"]
