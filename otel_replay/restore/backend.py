"""What the trace-backend sources (:mod:`~otel_replay.restore.phoenix`,
:mod:`~otel_replay.restore.jaeger`) share: the :class:`_BackendSource` base (HTTP client and
optional checkpoint store) and the selection of checkpoints and post-checkpoint steps among
the fetched spans, once :func:`~otel_replay.model.steps.normalize_span` made them the steps
the live :class:`~otel_replay.capture.processor.ReplayProcessor` saw (deduplicated by span,
restricted to the checkpoint's session).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from otel_replay.capture.processor import select_after
from otel_replay.core import conventions as c
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError
from otel_replay.model.steps import Step
from otel_replay.model.stores import CheckpointStore
from otel_replay.restore.http_client import _Http
from otel_replay.restore.sources import _checkpoint_after, _require_sequences

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class _BackendSource:
    """What Phoenix and Jaeger sources share: the HTTP client and an optional store."""

    _http: _Http
    _store: CheckpointStore | None

    @property
    def base_url(self) -> str:
        return self._http.base

    @property
    def timeout(self) -> float:
        return self._http.timeout

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        return self._store


def _session_steps_after(
    steps: Iterable[Step], checkpoint: Checkpoint, min_importance: float | None, where: str
) -> list[Step]:
    after = _checkpoint_after(checkpoint, where)
    unique: dict[tuple[str, str], Step] = {}
    for s in steps:
        if s.session_id == checkpoint.session_id:
            unique.setdefault((s.trace_id, s.span_id), s)
    _require_sequences(unique.values(), checkpoint, where)
    return select_after(unique.values(), after, min_importance)


def _one_checkpoint(steps: Iterable[Step], checkpoint_id: str, where: str) -> Checkpoint | None:
    found: dict[tuple[str, str], Step] = {}
    for s in steps:
        if s.checkpoint_id == checkpoint_id and s.kind == c.KIND_CHECKPOINT:
            found.setdefault((s.trace_id, s.span_id), s)
    if not found:
        return None
    if len(found) > 1:
        spans = ", ".join(f"{t}/{sp}" for t, sp in sorted(found))
        raise CheckpointError(
            f"checkpoint {checkpoint_id} is on {len(found)} different spans in {where}: {spans}"
        )
    return Checkpoint.from_step(next(iter(found.values())))


def _checkpoints_of(steps: Iterable[Step], session_id: str | None) -> list[Checkpoint]:
    out: dict[str, Checkpoint] = {}
    for s in steps:
        cid = s.checkpoint_id
        if (
            cid is not None
            and s.kind == c.KIND_CHECKPOINT
            and (session_id is None or s.session_id == session_id)
        ):
            out.setdefault(cid, Checkpoint.from_step(s))
    return sorted(out.values(), key=lambda ck: (ck.session_id, ck.sequence))
