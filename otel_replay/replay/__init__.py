"""Replaying a restored run: event replay of recorded steps and cached re-execution of
tool and LLM calls.

May import: ``core``, ``model``, ``capture``.
"""

from otel_replay.replay.reexecution import (
    CallRecord,
    CancelToken,
    DivergenceError,
    RecordedStepError,
    ReexecMode,
    Reexecution,
    ReplayOutcome,
    WentLive,
    areplay_events,
    argument_digest,
    replay_events,
    select_replay_steps,
    step_key,
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
