"""Replaying a restored run: event replay of recorded steps and cached re-execution of
tool and LLM calls.

May import: ``core``, ``model``, ``capture``.
"""

from otel_replay.replay.events import (
    CancelToken,
    ReplayOutcome,
    areplay_events,
    replay_events,
    select_replay_steps,
)
from otel_replay.replay.matching import argument_digest, step_key
from otel_replay.replay.reexecution import (
    CallRecord,
    DivergenceError,
    RecordedStepError,
    ReexecMode,
    Reexecution,
    WentLive,
)

__all__ = [
    "CancelToken",
    "ReplayOutcome",
    "replay_events",
    "areplay_events",
    "select_replay_steps",
    "Reexecution",
    "ReexecMode",
    "CallRecord",
    "WentLive",
    "DivergenceError",
    "RecordedStepError",
    "argument_digest",
    "step_key",
]
