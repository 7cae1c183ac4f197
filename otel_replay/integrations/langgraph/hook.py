"""Restore hook for LangGraph checkpoints (framework ``langgraph``).

When the state names a LangGraph checkpoint the graph's saver still has (recorded by
``ReplayCheckpointer``), the thread is forked there with LangGraph's own ``checkpoint_id``
(see :func:`restore_langgraph`); otherwise the state is written as below.

A ``langgraph`` checkpoint state is ``{"values": {...}, "next": [...], "metadata": {...}}``.
:func:`restore_langgraph` writes it into a thread of a compiled graph through the graph's
own checkpointer (``bulk_update_state``) so that ``graph.invoke(None, config)`` runs the
recorded ``next`` nodes and everything after them. :func:`langgraph_state` captures that
shape from a graph.

How the write is done: the values are written *as the node(s) that produced the recorded
checkpoint* (recorded by :func:`langgraph_state` in ``metadata["otel_replay.last_nodes"]``;
otherwise inferred from the graph's static edges), with ``Command(goto=next)`` so that exactly
the recorded ``next`` nodes are triggered. Reducer channels receive ``Overwrite(value)`` so
the restored values replace, rather than extend, what the thread held. After writing, the
thread's ``next`` is checked against the recorded one; on a mismatch a fresh thread is
deleted again and an error is raised.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

try:
    from langchain_core.messages import BaseMessage, message_to_dict
    from langgraph.channels.binop import BinaryOperatorAggregate
    from langgraph.types import Command, Send, StateUpdate
except ImportError as exc:  # pragma: no cover - exercised with langgraph hidden
    raise ImportError(
        "the LangGraph restore hook needs langgraph: pip install otel-replay[langgraph]"
    ) from exc

try:
    from langgraph.types import Overwrite
except ImportError:  # pragma: no cover - langgraph without Overwrite
    Overwrite = None  # type: ignore[assignment,misc]

from otel_replay.integrations.langchain import is_message_dict, message_from_json
from otel_replay.model.errors import LangGraphRestoreError
from otel_replay.model.state import to_jsonable

__all__ = ["LangGraphTarget", "LangGraphRestoreError", "restore_langgraph", "langgraph_state"]

LAST_NODES_KEY = "otel_replay.last_nodes"
#: metadata key: pending ``Send`` tasks, ``[{"node", "arg"}]``
SENDS_KEY = "otel_replay.sends"
#: metadata key: where LangGraph keeps the checkpoint, ``{"thread_id", "checkpoint_ns", "checkpoint_id"}``
CONFIG_KEY = "otel_replay.langgraph"
_START = "__start__"
_END = "__end__"
_INPUT = "__input__"


@dataclass
class LangGraphTarget:
    """A compiled graph and the config of the thread to restore into.

    On the target returned by a restore, ``config`` is the config to resume with
    (``graph.invoke(None, target.config)``: it names the recorded LangGraph checkpoint when
    the thread was forked there) and ``restored_config`` the config of the checkpoint the
    restore wrote or forked at. Copies share the graph (and so its checkpointer).
    """

    graph: Any
    config: dict[str, Any]
    restored_config: dict[str, Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> LangGraphTarget:
        return LangGraphTarget(
            self.graph, copy.deepcopy(self.config, memo), copy.deepcopy(self.restored_config, memo)
        )


def _messages_to_objects(value: Any) -> Any:
    if is_message_dict(value):
        return message_from_json(value)
    if isinstance(value, list):
        return [_messages_to_objects(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _messages_to_objects(v) for k, v in value.items()}
    return value


def _messages_to_json(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return message_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_messages_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _messages_to_json(v) for k, v in value.items()}
    return value


def langgraph_state(graph: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The ``langgraph`` checkpoint state of the thread (or checkpoint) ``config`` names.

    Messages are converted with ``message_to_dict``; the result is plain JSON (other
    values must be JSON-serializable, see :func:`otel_replay.model.state.to_jsonable`).
    The nodes that produced the snapshot are kept in ``metadata["otel_replay.last_nodes"]``.
    """
    snap = graph.get_state(config)
    if snap.created_at is None:
        raise LookupError(f"thread {_thread_id(config)!r} has no checkpoint to capture")
    last_nodes: list[str] = []
    if snap.parent_config is not None:
        last_nodes = list(graph.get_state(snap.parent_config).next)
    metadata: dict[str, Any] = {}
    for key, value in (snap.metadata or {}).items():
        try:
            metadata[key] = to_jsonable(value)
        except (TypeError, ValueError):
            continue  # checkpointer bookkeeping that is not JSON is not part of the state
    metadata[LAST_NODES_KEY] = last_nodes
    values = to_jsonable(_messages_to_json(snap.values), "$.values")
    if not isinstance(values, dict):
        raise TypeError(f"graph state values must be a mapping, got {type(values).__name__}")
    return {
        "values": values,
        "next": list(snap.next),
        "metadata": metadata,
    }


def _thread_id(config: Mapping[str, Any]) -> Any:
    return (config.get("configurable") or {}).get("thread_id")


def _static_successors(builder: Any, node: str) -> set[str]:
    edges: Any = getattr(builder, "_all_edges", None) or getattr(builder, "edges", None) or ()
    return {end for start, end in edges if start == node and end != _END}


def _writer_nodes(graph: Any, next_nodes: list[str], metadata: Mapping[str, Any]) -> list[str]:
    hint = metadata.get(LAST_NODES_KEY)
    if isinstance(hint, list) and hint and all(isinstance(n, str) for n in hint):
        missing = [n for n in hint if n not in graph.nodes]
        if missing:
            raise LangGraphRestoreError(
                f"the checkpoint was written by nodes {missing} that the graph does not have "
                f"(nodes: {sorted(graph.nodes)})"
            )
        return list(hint)
    builder = getattr(graph, "builder", None)
    if builder is None:
        raise LangGraphRestoreError(
            "cannot tell which node produced the checkpoint; capture it with langgraph_state()"
        )
    branches = getattr(builder, "branches", {})
    wanted = set(next_nodes)
    candidates = sorted(
        (n for n in graph.nodes if n != _START and not branches.get(n)),
        key=lambda n: (_static_successors(builder, n) != wanted, n),
    )
    for node in candidates:
        if _static_successors(builder, node) <= wanted:
            return [node]
    raise LangGraphRestoreError(
        f"cannot tell which node produced the checkpoint (next {next_nodes}); capture it "
        f"with langgraph_state(graph, config)"
    )


def _payload(graph: Any, values: dict[str, Any], fresh: bool) -> dict[str, Any]:
    channels = graph.channels
    unknown = sorted(k for k in values if k not in channels)
    if unknown:
        raise LangGraphRestoreError(
            f"state keys {unknown} are not channels of the graph (channels: "
            f"{sorted(k for k in channels if not k.startswith(('branch:', 'join:', '__')))})"
        )
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(channels[key], BinaryOperatorAggregate):
            if Overwrite is not None:
                value = Overwrite(value)
            elif not fresh:
                raise LangGraphRestoreError(
                    "restoring into a thread that already has state needs langgraph with "
                    "Overwrite; restore into a new thread_id"
                )
        out[key] = value
    return out


def _fork_config(graph: Any, config: Mapping[str, Any], recorded: Any) -> dict[str, Any] | None:
    """The config that resumes the recorded LangGraph checkpoint itself, when the graph's
    saver still has it (``None`` otherwise): in its own thread, or in a copy of that thread
    when ``config`` names another one."""
    if not isinstance(recorded, Mapping) or not recorded.get("checkpoint_id"):
        return None
    saver = getattr(graph, "checkpointer", None)
    if saver is None or not hasattr(saver, "get_tuple"):
        return None
    src_thread = recorded.get("thread_id")
    conf = {
        "thread_id": src_thread,
        "checkpoint_ns": recorded.get("checkpoint_ns") or "",
        "checkpoint_id": recorded["checkpoint_id"],
    }
    if saver.get_tuple({"configurable": conf}) is None:
        return None
    thread = _thread_id(config)
    if thread is not None and str(thread) != str(src_thread):
        if graph.get_state(config).created_at is not None:
            return None  # never overwrite a thread that has state: write the state instead
        try:
            saver.copy_thread(str(src_thread), str(thread))
        except NotImplementedError:
            return None
        conf = {**conf, "thread_id": thread}
    out = dict(config)
    out["configurable"] = {**(config.get("configurable") or {}), **conf}
    return out


def _check_next(
    graph: Any, config: Mapping[str, Any], next_nodes: list[str], cleanup: str | None
) -> None:
    actual = sorted(graph.get_state(config).next)
    if actual != sorted(next_nodes):
        note = ""
        if cleanup is not None:
            try:
                graph.checkpointer.delete_thread(cleanup)
                note = "; the thread was deleted again"
            except Exception as exc:  # report, never hide, a failed cleanup
                note = f"; deleting the thread again failed: {type(exc).__name__}: {exc}"
        raise LangGraphRestoreError(
            f"after restoring, thread {_thread_id(config)!r} would run {actual} next, but the "
            f"checkpoint recorded {sorted(next_nodes)}{note}"
        )


def restore_langgraph(state: Mapping[str, Any], target: Any) -> LangGraphTarget:
    """Write a ``langgraph`` checkpoint state into ``target`` (a :class:`LangGraphTarget`).

    When the graph's saver still has the recorded LangGraph checkpoint (recorded by
    :class:`~otel_replay.integrations.langgraph.ReplayCheckpointer`), the thread is forked at
    it with LangGraph's own time travel (``checkpoint_id``; into a copy of the thread when
    ``target.config`` names another, empty, thread). Otherwise the recorded values are
    written with ``bulk_update_state`` so that the recorded next tasks (``Send`` tasks
    included) are pending. Either way the pending tasks are checked against the recorded
    ones. The returned target's ``config`` is the config to resume with:
    ``graph.invoke(None, result.target.config)``.
    """
    if not isinstance(target, LangGraphTarget):
        raise TypeError(
            "a langgraph checkpoint restores into LangGraphTarget(graph, config), got "
            f"{type(target).__qualname__ if target is not None else 'no target'}"
        )
    values = state.get("values")
    if not isinstance(values, Mapping):
        raise LangGraphRestoreError('langgraph state has no "values" mapping')
    next_nodes = [str(n) for n in state.get("next") or []]
    metadata = state.get("metadata") or {}
    graph, config = target.graph, target.config
    if _thread_id(config) is None:
        raise LangGraphRestoreError('config needs {"configurable": {"thread_id": ...}}')
    unknown_next = [n for n in next_nodes if n not in graph.nodes]
    if unknown_next:
        raise LangGraphRestoreError(
            f"recorded next nodes {unknown_next} are not in the graph (nodes: {sorted(graph.nodes)})"
        )
    fork = _fork_config(graph, config, metadata.get(CONFIG_KEY))
    if fork is not None:
        _check_next(graph, fork, next_nodes, None)
        return LangGraphTarget(graph, fork, fork)
    fresh = graph.get_state(config).created_at is None
    payload = _payload(graph, _messages_to_objects(dict(values)), fresh)
    sends = [
        Send(str(s["node"]), _messages_to_objects(s.get("arg")))
        for s in metadata.get(SENDS_KEY) or []
        if isinstance(s, Mapping) and "node" in s
    ]
    pulled = list(next_nodes)
    for s in sends:
        if s.node in pulled:
            pulled.remove(s.node)
    if next_nodes == [_START]:
        supersteps = [[StateUpdate(payload, _INPUT)]]
    else:
        writers = _writer_nodes(graph, next_nodes, metadata)
        branches = getattr(getattr(graph, "builder", None), "branches", {}) or {}
        # a writer with conditional edges routes the written state itself, exactly as in the
        # recorded run (Send tasks included); otherwise the recorded next tasks are named
        goto: list[Any] = [] if any(branches.get(w) for w in writers) else [*pulled, *sends]
        first: Any = Command(update=payload, goto=goto) if goto else payload
        supersteps = [
            [StateUpdate(first, writers[0])] + [StateUpdate(None, n) for n in writers[1:]]
        ]
    restored_config = graph.bulk_update_state(config, supersteps)
    _check_next(graph, config, next_nodes, str(_thread_id(config)) if fresh else None)
    return LangGraphTarget(graph, config, restored_config)
