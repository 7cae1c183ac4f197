"""The verdict of a restored run that ``otel-replay serve`` forwards without a comparison (no
baseline found, or timed out or shut down before it was): a ``gen_ai.evaluation.result`` log
event labelled ``not_compared``, and the same event on the run's root span (else on the
first span of the run received), so that no backend (logs or traces) reads the silence as
"no drift"."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import span_attributes
from otel_replay.core.selfmetrics import ErrorReporter
from otel_replay.drift.events import LogEventEmitter, not_compared_attributes
from otel_replay.drift.held import is_run_root
from otel_replay.serve.drift import ServeDrift

__all__ = ["emit_not_compared", "with_verdict"]


def emit_not_compared(
    emitter: LogEventEmitter,
    errors: ErrorReporter,
    reason: str,
    session_id: str,
    checkpoint_id: str,
    message: str,
    spans: Sequence[ReadableSpan],
) -> bool:
    """Emit the ``not_compared`` verdict of the run of ``session_id``, correlated with its
    root span among ``spans`` (the run's spans received so far), else with the first of them
    (:func:`_verdict_index`); whether it was emitted (a failure is reported to ``errors``,
    never raised)."""
    try:
        return _emit(emitter, reason, session_id, checkpoint_id, message, spans)
    except Exception as exc:
        errors.report("log_events", exc)
        return False


def _emit(
    emitter: LogEventEmitter,
    reason: str,
    session_id: str,
    checkpoint_id: str,
    message: str,
    spans: Sequence[ReadableSpan],
) -> bool:
    base: dict[str, AttributeValue] = {c.SESSION_ID: session_id}
    for s in spans:
        agent = span_attributes(s).get(c.GEN_AI_AGENT_NAME)
        if isinstance(agent, str):
            base[c.GEN_AI_AGENT_NAME] = agent
            break
    i = _verdict_index(spans)
    ctx = spans[i].context if i is not None else None
    where = None
    if i is not None and ctx is not None:
        where = (ctx.trace_id, ctx.span_id, spans[i].end_time or 0)
    attrs = not_compared_attributes(reason, checkpoint_id, f"not compared: {message}", base)
    return emitter.emit_not_compared(attrs, where)


def _verdict_index(spans: Sequence[ReadableSpan]) -> int | None:
    """The span of ``spans`` (a run's, as received so far) that carries the run's verdict:
    its root (the span with the restored run's id, else the first run root,
    :func:`~otel_replay.drift.held.is_run_root`), else the first span; ``None`` without a
    span with a context."""
    with_context = [i for i, s in enumerate(spans) if s.context is not None]
    roots = [i for i in with_context if is_run_root(spans[i])]
    marked = [i for i in roots if c.REPLAY_RUN_ID in span_attributes(spans[i])]
    found = marked or roots or with_context
    return found[0] if found else None


def with_verdict(
    drift: ServeDrift,
    errors: ErrorReporter,
    spans: list[ReadableSpan],
    reason: str,
    checkpoint_id: str,
    message: str,
) -> list[ReadableSpan]:
    """``spans`` (a run's, forwarded without a comparison) with the span that carries the
    verdict (:func:`_verdict_index`: the root, else the first span) given the
    ``not_compared`` ``gen_ai.evaluation.result`` span event, as a compared run's root is
    given its verdict (when ``drift`` adds span and evaluation events); a failure is
    reported to ``errors`` and ``spans`` are returned as they are."""
    if not (drift.span_events and drift.evaluation_events):
        return spans
    try:
        i = _verdict_index(spans)
        if i is None:
            return spans
        at = spans[i]
        attrs = not_compared_attributes(reason, checkpoint_id, f"not compared: {message}")
        event = Event(c.GEN_AI_EVALUATION_RESULT_EVENT, attrs, at.end_time or at.start_time or 0)
        out = list(spans)
        out[i] = drift.with_events(at, [event])
        return out
    except Exception as exc:
        errors.report("verdict", exc)
    return spans
