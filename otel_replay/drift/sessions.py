"""Which sessions of two recordings to compare, never guessed silently.

:func:`match_sessions` pairs the sessions of a baseline and a candidate recording: the ones
asked for, else the only comparable session of each side, else sessions paired by agent
name in recording order. A session is comparable when it has steps to compare (its run's
root agent span, framework plumbing, checkpoints and replay wrappers left out), so a
trace that only holds an agent's definition (OpenLLMetry's ``create_agent`` trace) is not
one. Anything else is a :class:`SessionMatchError` that names what was found: a
comparison with nothing on one side is an error, not "no drift".

Recordings are read through :class:`RecordingLike` (``sessions()``,
``steps_for_session()``, ``paths``), e.g. :class:`otel_replay.formats.recording.Recording`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from otel_replay.core import conventions as c
from otel_replay.drift.policy import DriftPolicy
from otel_replay.model.steps import Step

__all__ = [
    "RecordingLike",
    "SessionInfo",
    "SessionPair",
    "SessionMatchError",
    "session_steps",
    "describe_sessions",
    "match_sessions",
]


class RecordingLike(Protocol):
    """What session matching reads of a recording."""

    paths: list[str]

    def sessions(self) -> list[str]: ...

    def steps_for_session(self, session_id: str) -> list[Step]: ...


class SessionMatchError(LookupError):
    """The sessions to compare cannot be determined, or one side has nothing to compare."""


@dataclass(frozen=True)
class SessionInfo:
    """One session of a recording: its id, agent name and the steps to compare."""

    session_id: str
    agent: str | None
    steps: list[Step]
    compared: int  # steps a comparison looks at (after the policy's skipped kinds)

    def label(self) -> str:
        """``id (agent 'x', n steps)``."""
        agent = f"agent {self.agent!r}, " if self.agent else ""
        return f"{self.session_id} ({agent}{self.compared} steps)"


@dataclass(frozen=True)
class SessionPair:
    """A baseline session and the candidate session it is compared with."""

    baseline: SessionInfo
    candidate: SessionInfo


def session_steps(
    recording: RecordingLike, session_id: str, checkpoint_id: str | None = None
) -> list[Step]:
    """Steps of a session to compare: after ``checkpoint_id`` when the session holds that
    checkpoint, without the run's root agent span (which started before any checkpoint)."""
    steps = recording.steps_for_session(session_id)
    if checkpoint_id:
        ck = next((s for s in steps if s.checkpoint_id == checkpoint_id), None)
        if ck is not None and ck.sequence is not None:
            after = ck.sequence
            return [s for s in steps if s.sequence is not None and s.sequence > after]
    return [s for s in steps if not (s.kind == c.KIND_AGENT and s.parent_span_id is None)]


def _agent_of(steps: Sequence[Step]) -> str | None:
    for s in steps:
        if s.kind == c.KIND_AGENT and s.parent_span_id is None:
            return s.name
    for s in steps:
        v = s.attr(c.GEN_AI_AGENT_NAME)
        if isinstance(v, str) and v:
            return v
    return None


def describe_sessions(
    recording: RecordingLike,
    checkpoint_id: str | None = None,
    policy: DriftPolicy | None = None,
    mode: str = "align",
) -> list[SessionInfo]:
    """Every session of ``recording`` with its steps to compare, in recording order.

    ``compared`` counts the agent's own steps (plumbing left out, in every mode): a trace of
    plumbing only is not a session to compare, not even in ``strict`` mode."""
    skip = (policy or DriftPolicy()).skipped_kinds(mode) | {c.KIND_PLUMBING}
    out = []
    for sid in recording.sessions():
        all_steps = recording.steps_for_session(sid)
        steps = session_steps(recording, sid, checkpoint_id)
        out.append(
            SessionInfo(sid, _agent_of(all_steps), steps, sum(s.kind not in skip for s in steps))
        )
    return out


def _holds_checkpoint(recording: RecordingLike, sid: str, checkpoint_id: str) -> bool:
    for st in recording.steps_for_session(sid):
        if st.checkpoint_id == checkpoint_id:
            return True
        if st.attr(c.REPLAY_CHECKPOINT_ID) == checkpoint_id:
            return True
    return False


def _found(infos: Sequence[SessionInfo]) -> str:
    return ", ".join(i.label() for i in infos) if infos else "none"


def match_sessions(
    baseline: RecordingLike,
    candidate: RecordingLike,
    *,
    session: str | None = None,
    candidate_session: str | None = None,
    checkpoint_id: str | None = None,
    policy: DriftPolicy | None = None,
    mode: str = "align",
) -> list[SessionPair]:
    """The session pairs to compare (see the module docstring).

    ``session`` names the baseline session (and the candidate's unless
    ``candidate_session``); ``checkpoint_id`` restricts both sides to the sessions that
    hold that checkpoint (or were restored from it) and their steps after it. Raises
    :class:`SessionMatchError` when a named session or checkpoint is not there, when a
    side has nothing to compare, or when sessions cannot be paired unambiguously.
    """
    sides = []
    for role, rec, wanted in (
        ("baseline", baseline, session),
        ("candidate", candidate, candidate_session or session),
    ):
        where = ", ".join(rec.paths) or "the recording"
        infos = describe_sessions(rec, checkpoint_id, policy, mode)
        # a candidate named explicitly is compared from its start when it does not hold the
        # checkpoint (a run restored by a producer that does not mark the checkpoint it
        # was restored from); the baseline must always hold it
        if checkpoint_id and (role == "baseline" or not wanted):
            holding = [i for i in infos if _holds_checkpoint(rec, i.session_id, checkpoint_id)]
            if not holding:
                raise SessionMatchError(
                    f"{role}: checkpoint {checkpoint_id!r} is not in {where} "
                    f"(sessions found: {_found(infos)})"
                )
            infos = holding
        if wanted:
            named = [i for i in infos if i.session_id == wanted]
            if not named:
                raise SessionMatchError(
                    f"{role}: session {wanted!r} not in {where} (sessions found: {_found(infos)})"
                )
            infos = named
        comparable = [i for i in infos if i.compared > 0]
        if not comparable:
            raise SessionMatchError(
                f"nothing to compare: the {role} {where} has no session with steps to compare "
                f"(sessions found: {_found(infos)})"
            )
        sides.append(comparable)
    bs, cs = sides
    if len(bs) == 1 and len(cs) == 1:
        return [SessionPair(bs[0], cs[0])]
    by_agent: dict[str | None, list[SessionInfo]] = {}
    for i in cs:
        by_agent.setdefault(i.agent, []).append(i)
    pairs = []
    if len(bs) == len(cs) and all(
        len(by_agent.get(a, ())) == sum(x.agent == a for x in bs) for a in {b.agent for b in bs}
    ):
        queues = {a: list(v) for a, v in by_agent.items()}
        for b in bs:
            pairs.append(SessionPair(b, queues[b.agent].pop(0)))
        return pairs
    raise SessionMatchError(
        "cannot pair sessions: the baseline has "
        f"{_found(bs)}; the candidate has {_found(cs)}; "
        "name them with --session / --candidate-session"
    )
