""":class:`CompactStep`: a step of a large recording that keeps only what aligning and
comparing runs read of every step, and reads the rest back from its recording on demand.

A compact step has no instance dict and no attribute dict: kind, names, sequence, integer
ids, times, status, importance, its fingerprint when short, else a digest of it
(:func:`~otel_replay.model.step_print.compact_print`), and the few attributes read of every
step (agent name, enclosing span, checkpoint ids), plus where its span was read (a shared
per-line reference and the span's index in it). Every other field (``attributes``,
``inputs``, ``outputs``, token counts, ...) is the field of the full :class:`Step`, decoded
again from that line on first use and then kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from otel_replay.core import conventions as c
from otel_replay.model.steps import Step

__all__ = ["CompactStep", "StepReader", "KEPT_ATTRIBUTES", "read_each"]

_T = TypeVar("_T")

#: Attributes a compact step keeps (read of every step by session matching and linking).
KEPT_ATTRIBUTES: tuple[str, ...] = (
    c.GEN_AI_AGENT_NAME,
    c.STEP_ENCLOSING_SPAN_ID,
    c.REPLAY_CHECKPOINT_ID,
    c.CHECKPOINT_ID,
)
_KEPT = frozenset(KEPT_ATTRIBUTES)
_ZERO_SPAN_ID = "0" * 16


class StepReader(Protocol):
    """Reads the full step of a span back from its recording."""

    def step(self, line: Any, index: int, session_id: str) -> Step:
        """The :class:`Step` of span ``index`` of the record ``line`` refers to."""
        ...


class CompactStep:
    """A step kept compactly (see the module docstring); its fields read like
    :class:`Step`'s. ``print`` is its compact fingerprint; :meth:`full` is the
    :class:`Step` read back from the recording."""

    __slots__ = (
        "session_id",
        "sequence",
        "kind",
        "name",
        "span_name",
        "_tid",
        "_sid",
        "_pid",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "status",
        "status_message",
        "importance",
        "print",
        "_extra",
        "_line",
        "_index",
        "_full",
    )

    session_id: str
    sequence: int | None
    kind: str
    name: str
    span_name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: str
    status_message: str | None
    importance: float
    print: tuple[Any, ...]

    def __init__(
        self,
        session_id: str,
        sequence: int | None,
        kind: str,
        name: str,
        span_name: str,
        trace_id: int,
        span_id: int,
        parent_span_id: int | None,
        start: int,
        end: int,
        status: str,
        status_message: str | None,
        importance: float,
        print_: tuple[Any, ...],
        extra: dict[str, Any] | None,
        where: tuple[StepReader, Any],
        index: int,
    ) -> None:
        """Integer ids and times; ``print_`` its compact print, ``extra`` its kept
        attributes (``None``: none); ``where`` = (reader, line), shared by the steps of a
        line, and ``index`` say where it was read."""
        self.session_id = session_id
        self.sequence = sequence
        self.kind = kind
        self.name = name
        self.span_name = span_name
        self._tid = trace_id
        self._sid = span_id
        self._pid = parent_span_id
        self.start_time_unix_nano = start
        self.end_time_unix_nano = end
        self.status = status
        self.status_message = status_message
        self.importance = importance
        self.print = print_
        self._extra = extra
        self._line = where
        self._index = index
        self._full: Step | None = None

    def __repr__(self) -> str:
        return (
            f"CompactStep(session_id={self.session_id!r}, sequence={self.sequence!r}, "
            f"kind={self.kind!r}, name={self.name!r}, span_id={self.span_id!r})"
        )

    def full(self) -> Step:
        """The full :class:`Step`, read back from the recording on first use (then kept)."""
        step = self._full
        if step is None:
            reader, line = self._line
            step = self._full = reader.step(line, self._index, self.session_id)
        return step

    def read(self) -> Step:
        """The full :class:`Step`: the one kept, else read back from the recording without
        keeping it (one pass over many steps keeps no full step)."""
        step = self._full
        if step is None:
            reader, line = self._line
            step = reader.step(line, self._index, self.session_id)
        return step

    @property
    def ids(self) -> tuple[int, int]:
        """``(trace id, span id)`` as integers."""
        return self._tid, self._sid

    @property
    def trace_id(self) -> str:
        return format(self._tid, "032x")

    @property
    def span_id(self) -> str:
        return format(self._sid, "016x") if self._sid is not None else _ZERO_SPAN_ID

    @property
    def parent_span_id(self) -> str | None:
        return format(self._pid, "016x") if self._pid is not None else None

    @property
    def signature(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_time_unix_nano - self.start_time_unix_nano)

    def attr(self, key: str) -> Any:
        """The value of attribute ``key`` (``None`` when absent); the kept attributes are
        read without the full step."""
        if key in _KEPT:
            extra = self._extra
            return extra.get(key) if extra else None
        return self.full().attr(key)

    @property
    def checkpoint_id(self) -> str | None:
        v = self.attr(c.CHECKPOINT_ID)
        return v if isinstance(v, str) else None

    @property
    def attributes(self) -> Any:
        return self.full().attributes

    @property
    def inputs(self) -> Any:
        return self.full().inputs

    @property
    def outputs(self) -> Any:
        return self.full().outputs

    @property
    def model(self) -> str | None:
        return self.full().model

    @property
    def tool_name(self) -> str | None:
        return self.full().tool_name

    @property
    def decision_action(self) -> Any:
        return self.full().decision_action

    @property
    def confidence(self) -> Any:
        return self.full().confidence

    @property
    def input_tokens(self) -> int | None:
        return self.full().input_tokens

    @property
    def output_tokens(self) -> int | None:
        return self.full().output_tokens

    @property
    def replay_step_key(self) -> str | None:
        return self.full().replay_step_key

    def approx_size(self) -> int:
        return self.full().approx_size()

    def to_dict(self) -> dict[str, Any]:
        return self.full().to_dict()


def read_each(
    steps: Sequence[Any],
    use: Callable[[Step], _T],
    progress: Callable[[int], None] | None = None,
    every: int = 4096,
) -> list[_T]:
    """``use(full step)`` of each of ``steps``, in their order. The full steps of compact
    steps are read back in file order (each line of the file once, however the steps are
    sorted) and not kept; other steps are used as they are. ``progress(done)`` is called
    every ``every`` steps and at the end."""
    out: list[Any] = [None] * len(steps)
    compact: list[tuple[int, int, int, int]] = []
    done = 0
    for i, s in enumerate(steps):
        if type(s) is CompactStep and s._full is None:
            reader, line = s._line
            compact.append((id(reader), line[0], s._index, i))
            continue
        out[i] = use(s)
        done += 1
        if progress is not None and done % every == 0:
            progress(done)
    compact.sort()
    for *_, i in compact:
        out[i] = use(steps[i].read())
        done += 1
        if progress is not None and done % every == 0:
            progress(done)
    if progress is not None:
        progress(done)
    return out
