"""``ReplayCheckpointer``: LangGraph's own checkpoints, recorded as otel-replay checkpoints.

Wraps any ``BaseCheckpointSaver``; every call goes to the wrapped saver unchanged. Each time
LangGraph writes a checkpoint, a ``langgraph`` checkpoint span is recorded in the current
session, at the point of the run where LangGraph created the checkpoint.

Where the span goes: LangGraph saves checkpoints in the background (``durability="async"``,
the default), so ``put()`` may run while the next superstep's nodes already run. The span is
therefore *started* when LangGraph applies a superstep's writes (its synchronous
``get_next_version`` call, made right before the checkpoint is created and handed to the
background save) and *ended* with the state when ``put()`` receives the checkpoint. The two
are paired through the context LangGraph copies into the background save, per namespace.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, CheckpointTuple
from langgraph.checkpoint.base import Checkpoint as LGCheckpoint
from langgraph.types import Send
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider

from otel_replay.capture.checkpoint import PendingCheckpoint
from otel_replay.core import conventions as c
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.integrations.langgraph.hook import (
    CONFIG_KEY,
    LAST_NODES_KEY,
    SENDS_KEY,
    _messages_to_json,
)
from otel_replay.model.state import to_jsonable
from otel_replay.model.stores import CheckpointStore

__all__ = ["ReplayCheckpointer", "CheckpointInfo"]

_TASKS = "__pregel_tasks"
_START = "__start__"
_BRANCH_TO = "branch:to:"
_INTERNAL_PREFIXES = ("branch:", "join:", "start:", "__")
_DEFAULT_SOURCES = frozenset({"input", "loop"})


@dataclass(frozen=True)
class CheckpointInfo:
    """What :class:`ReplayCheckpointer`'s ``when`` predicate sees of a LangGraph checkpoint."""

    thread_id: str | None
    checkpoint_ns: str
    checkpoint_id: str
    step: int | None
    source: str | None
    #: Nodes that run next (one entry per pending ``Send``, as ``StateSnapshot.next``).
    next: tuple[str, ...]
    values: Mapping[str, Any] = field(repr=False)


@dataclass
class _Slot:
    """A checkpoint span started at a LangGraph write barrier, waiting for its ``put()``."""

    pending: PendingCheckpoint
    version: Any
    taken: bool = False


# (checkpoint_ns -> _Slot) of the LangGraph loop running in this context
_SLOTS: contextvars.ContextVar[dict[str, _Slot] | None] = contextvars.ContextVar(
    "otel_replay_langgraph_slots", default=None
)


def _current_ns() -> str:
    try:
        from langgraph.config import get_config

        return str((get_config().get("configurable") or {}).get("checkpoint_ns") or "")
    except RuntimeError:  # outside a runnable context: the root graph's loop
        return ""


def _newer(a: Any, b: Any) -> bool:
    if b is None:
        return a is not None
    if a is None:
        return False
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)


def next_nodes(checkpoint: Mapping[str, Any]) -> tuple[list[str], list[Send]]:
    """(nodes triggered by a channel, pending ``Send`` tasks) of a LangGraph checkpoint."""
    versions: Mapping[str, Any] = checkpoint.get("channel_versions") or {}
    seen: Mapping[str, Mapping[str, Any]] = checkpoint.get("versions_seen") or {}
    values: Mapping[str, Any] = checkpoint.get("channel_values") or {}
    pulled: list[str] = []
    for channel, version in versions.items():
        if channel not in values:  # consumed (empty) channels trigger nothing
            continue
        if channel == _START:
            node = _START
        elif channel.startswith(_BRANCH_TO):
            node = channel[len(_BRANCH_TO) :]
        else:
            continue
        if _newer(version, (seen.get(node) or {}).get(channel)):
            pulled.append(node)
    sends = [s for s in values.get(_TASKS) or [] if isinstance(s, Send)]
    return sorted(pulled), sends


class ReplayCheckpointer(BaseCheckpointSaver):  # type: ignore[type-arg]
    """A LangGraph checkpointer that records otel-replay checkpoints and stores in ``saver``.

    ``create_react_agent(model, tools, checkpointer=ReplayCheckpointer(InMemorySaver()))``.
    Which checkpoints are recorded: every superstep (``sources`` ``input`` and ``loop``;
    ``update`` and ``fork``, written by ``update_state`` and by restores, are not) by
    default; with ``nodes``, only those before one of these nodes runs; with ``when``, those
    for which ``when(CheckpointInfo)`` is true. Subgraph checkpoints are recorded with their
    ``checkpoint_ns``. A checkpoint whose state cannot be recorded (not JSON, over the size
    cap) is skipped, logged once and counted in ``agent_replay.processor.errors``; LangGraph's
    own save is never affected. ``recorded`` lists the otel-replay ids in recording order.
    """

    def __init__(
        self,
        saver: BaseCheckpointSaver,  # type: ignore[type-arg]
        *,
        nodes: Collection[str] | None = None,
        when: Callable[[CheckpointInfo], bool] | None = None,
        sources: Collection[str] = _DEFAULT_SOURCES,
        store: CheckpointStore | None = None,
        tracer: trace.Tracer | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not isinstance(saver, BaseCheckpointSaver):
            raise TypeError(
                f"ReplayCheckpointer wraps a LangGraph BaseCheckpointSaver, got "
                f"{type(saver).__qualname__}"
            )
        super().__init__(serde=saver.serde)
        self.saver = saver
        self.nodes = frozenset(nodes) if nodes is not None else None
        self.when = when
        self.sources = frozenset(sources)
        self.store = store
        self.tracer = tracer
        self.errors = ErrorReporter("langgraph_checkpointer", get_meter(meter_provider))
        self.recorded: list[str] = []
        self._lock = threading.Lock()
        # (thread_id, ns) -> next nodes of its last checkpoint: the writers of the next one
        self._last_next: OrderedDict[tuple[Any, str], list[str]] = OrderedDict()

    # ------------------------------------------------------------------ recording

    def get_next_version(self, current: Any, channel: None) -> Any:
        version = self.saver.get_next_version(current, channel)
        try:
            self._open_slot(current)
        except Exception as exc:  # never break the graph
            self.errors.report("get_next_version", exc)
        return version

    def _open_slot(self, current: Any) -> None:
        slots = _SLOTS.get() or {}
        ns = _current_ns()
        slot = slots.get(ns)
        # one barrier may call get_next_version more than once (snapshots of delta
        # channels); a new checkpoint is one whose versions moved past the last one
        if slot is not None and not slot.taken and not _newer(current, slot.version):
            return
        # a new mapping each time: the background save of the previous checkpoint holds a
        # copy of the context with the previous one
        _SLOTS.set(
            {
                **slots,
                ns: _Slot(PendingCheckpoint(framework="langgraph", tracer=self.tracer), current),
            }
        )

    def _take_slot(self, ns: str) -> PendingCheckpoint:
        slots = _SLOTS.get()
        slot = slots.get(ns) if slots is not None else None
        if slot is not None and not slot.taken:
            slot.taken = True
            return slot.pending
        # no barrier seen (e.g. a saver used directly): the span starts here
        return PendingCheckpoint(framework="langgraph", tracer=self.tracer)

    def _record(
        self,
        config: Mapping[str, Any],
        checkpoint: LGCheckpoint,
        metadata: Mapping[str, Any],
    ) -> None:
        conf = config.get("configurable") or {}
        ns = str(conf.get("checkpoint_ns") or "")
        thread_id = conf.get("thread_id")
        pending = self._take_slot(ns)
        try:
            pulled, sends = next_nodes(checkpoint)
            nxt = sorted(pulled + [s.node for s in sends])
            key = (thread_id, ns)
            with self._lock:
                writers = self._last_next.get(key, [])
                self._last_next[key] = nxt
                self._last_next.move_to_end(key)
                while len(self._last_next) > 10_000:
                    self._last_next.popitem(last=False)
            values = {
                k: v
                for k, v in (checkpoint.get("channel_values") or {}).items()
                if not k.startswith(_INTERNAL_PREFIXES)
            }
            source = metadata.get("source")
            step = metadata.get("step")
            info = CheckpointInfo(
                thread_id=None if thread_id is None else str(thread_id),
                checkpoint_ns=ns,
                checkpoint_id=str(checkpoint["id"]),
                step=step if isinstance(step, int) else None,
                source=source if isinstance(source, str) else None,
                next=tuple(nxt),
                values=values,
            )
            if not self._keep(info):
                pending.discard()
                return
            state = {
                "values": to_jsonable(_messages_to_json(values), "$.values"),
                "next": nxt,
                "metadata": {
                    "source": info.source,
                    "step": info.step,
                    LAST_NODES_KEY: writers,
                    SENDS_KEY: [
                        {"node": s.node, "arg": to_jsonable(_messages_to_json(s.arg), "$.arg")}
                        for s in sends
                    ],
                    CONFIG_KEY: {
                        "thread_id": info.thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": info.checkpoint_id,
                    },
                },
            }
            attributes: dict[str, Any] = {
                c.CHECKPOINT_LANGGRAPH_CHECKPOINT_ID: info.checkpoint_id,
                c.CHECKPOINT_LANGGRAPH_CHECKPOINT_NS: ns,
                c.CHECKPOINT_LANGGRAPH_NEXT: list(nxt),
            }
            if info.thread_id is not None:
                attributes[c.CHECKPOINT_LANGGRAPH_THREAD_ID] = info.thread_id
            if info.step is not None:
                attributes[c.CHECKPOINT_LANGGRAPH_STEP] = info.step
            label = "+".join(dict.fromkeys(nxt)) or "end"
            if ns:
                label = f"{ns.split(':', 1)[0]}/{label}"
            cid = pending.commit(state, label=label, attributes=attributes, store=self.store)
            with self._lock:
                self.recorded.append(cid)
        except Exception as exc:
            pending.discard()
            self.errors.report("put", exc)

    def _keep(self, info: CheckpointInfo) -> bool:
        if info.source not in self.sources:
            return False
        if self.nodes is not None and not self.nodes.intersection(info.next):
            return False
        return self.when is None or bool(self.when(info))

    def put(
        self,
        config: Any,
        checkpoint: LGCheckpoint,
        metadata: Any,
        new_versions: ChannelVersions,
    ) -> Any:
        out = self.saver.put(config, checkpoint, metadata, new_versions)
        self._record(config, checkpoint, metadata)
        return out

    async def aput(
        self,
        config: Any,
        checkpoint: LGCheckpoint,
        metadata: Any,
        new_versions: ChannelVersions,
    ) -> Any:
        out = await self.saver.aput(config, checkpoint, metadata, new_versions)
        self._record(config, checkpoint, metadata)
        return out

    # ------------------------------------------------------------------ delegation

    @property
    def config_specs(self) -> list[Any]:
        return list(self.saver.config_specs)

    def get(self, config: Any) -> Any:
        return self.saver.get(config)

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        return self.saver.get_tuple(config)

    def list(
        self,
        config: Any,
        *,
        filter: dict[str, Any] | None = None,
        before: Any = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self.saver.list(config, filter=filter, before=before, limit=limit)

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.saver.delete_for_runs(run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.saver.copy_thread(source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.saver.prune(thread_ids, strategy=strategy)

    def get_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Any:
        return self.saver.get_delta_channel_history(config=config, channels=channels)

    async def aget(self, config: Any) -> Any:
        return await self.saver.aget(config)

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        return await self.saver.aget_tuple(config)

    async def alist(
        self,
        config: Any,
        *,
        filter: dict[str, Any] | None = None,
        before: Any = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in self.saver.alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.saver.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.saver.adelete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.saver.adelete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.saver.acopy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self.saver.aprune(thread_ids, strategy=strategy)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Any:
        return await self.saver.aget_delta_channel_history(config=config, channels=channels)

    def __getattr__(self, name: str) -> Any:  # saver-specific methods (setup(), conn, ...)
        if name == "saver":
            raise AttributeError(name)
        return getattr(self.saver, name)
