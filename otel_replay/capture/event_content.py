"""``EventContentProcessor``: message content that an instrumentation put only on the
``gen_ai.client.inference.operation.details`` log event, copied onto the span it belongs to.

The OpenTelemetry GenAI instrumentations (``opentelemetry-util-genai``) with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY`` write the messages of a
model call on that log event, not on the span; recordings hold spans, so drift could not
compare them. The event is emitted while its span is still open: this processor (a span
processor and a log record processor in one) sets the event's ``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.system_instructions`` and ``gen_ai.tool.definitions``
on that span, unless the span has them already, and marks it with
``agent_replay.content.from_event = true``. The content then reaches every exporter of the
tracer provider: use it where spans may carry message content.

    processor = EventContentProcessor()
    tracer_provider.add_span_processor(processor)   # before the exporting processors
    logger_provider.add_log_record_processor(processor)

Failures are reported through :class:`~otel_replay.core.selfmetrics.ErrorReporter`
(``agent_replay.processor.errors``, component ``event_content``), never raised.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.core import conventions as c
from otel_replay.core.selfmetrics import ErrorReporter, get_meter

__all__ = ["EventContentProcessor", "CONTENT_EVENT", "CONTENT_KEYS", "CONTENT_FROM_EVENT"]

#: The GenAI log event that carries a model call's messages.
CONTENT_EVENT = "gen_ai.client.inference.operation.details"
#: Attributes copied from the event to its span.
CONTENT_KEYS = (
    c.GEN_AI_INPUT_MESSAGES,
    c.GEN_AI_OUTPUT_MESSAGES,
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
#: Set on a span whose content was copied from its log event.
CONTENT_FROM_EVENT = "agent_replay.content.from_event"


class EventContentProcessor(SpanProcessor):
    """Copies message content from GenAI log events onto their (still open) spans.

    Open spans are tracked by span id, at most ``max_open_spans`` (the oldest are forgotten
    first; an event for a forgotten span is counted as an error).
    """

    def __init__(
        self, *, max_open_spans: int = 10_000, meter_provider: MeterProvider | None = None
    ) -> None:
        if max_open_spans <= 0:
            raise ValueError("max_open_spans must be positive")
        self.max_open_spans = max_open_spans
        self._open: OrderedDict[tuple[int, int], Span] = OrderedDict()
        self._lock = threading.Lock()
        self.errors = ErrorReporter("event_content", get_meter(meter_provider))
        #: Number of spans that received content from their event.
        self.copied = 0

    # --- SpanProcessor ------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            ctx = span.get_span_context()
            with self._lock:
                self._open[(ctx.trace_id, ctx.span_id)] = span
                while len(self._open) > self.max_open_spans:
                    self._open.popitem(last=False)
        except Exception as exc:
            self.errors.report("on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            ctx = span.context
            if ctx is not None:
                with self._lock:
                    self._open.pop((ctx.trace_id, ctx.span_id), None)
        except Exception as exc:
            self.errors.report("on_end", exc)

    # --- LogRecordProcessor ---------------------------------------------------------------------

    def on_emit(self, log_record: Any) -> None:
        """Copy the content of a GenAI operation-details event onto its open span."""
        try:
            record = getattr(log_record, "log_record", log_record)
            if getattr(record, "event_name", None) != CONTENT_EVENT:
                return
            attrs = record.attributes or {}
            content = {k: attrs[k] for k in CONTENT_KEYS if attrs.get(k) is not None}
            if not content:
                return
            key = (record.trace_id or 0, record.span_id or 0)
            with self._lock:
                span = self._open.get(key)
            if span is None:
                raise LookupError(
                    f"{CONTENT_EVENT} event for span {key[1]:016x} of trace {key[0]:032x}, "
                    "which is not open (ended, or not started on this processor's provider)"
                )
            have = span.attributes or {}
            missing = {k: v for k, v in content.items() if k not in have}
            if missing and span.is_recording():
                span.set_attributes({**missing, CONTENT_FROM_EVENT: True})
                self.copied += 1
        except Exception as exc:
            self.errors.report("on_emit", exc)

    def emit(self, log_record: Any) -> None:  # the name in older SDKs
        self.on_emit(log_record)

    def shutdown(self) -> None:
        with self._lock:
            self._open.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
