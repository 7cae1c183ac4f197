"""The export end of ``otel-replay serve``: a queue of spans in front of the downstream,
sent in requests of about 512 spans by one thread, every span counted as exported or dropped.

The queue holds SDK spans (the DriftProcessor's output: held runs, enriched) and serialized
OTLP requests (the spans forwarded as received, with the worker attribute). A request is the
concatenation of serialized ``ExportTraceServiceRequest`` messages, which protobuf reads as
one message with all their ``resource_spans``.

The SDK's ``BatchSpanProcessor`` drops spans from a full queue with a log line only; here the
queue's depth is visible (:attr:`Forwarder.queued`), so the receivers refuse new requests with
OTLP's retryable status before it fills, and whatever still fails is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.formats.otlp_proto import encode_spans
from otel_replay.serve.batching import Batcher
from otel_replay.serve.otlp_out import OtlpTraceSender
from otel_replay.serve.split import RECEIVED, traces_of

__all__ = ["Forwarder", "Raw"]


class Raw:
    """``count`` spans serialized as one ``ExportTraceServiceRequest``."""

    __slots__ = ("body", "count")

    def __init__(self, body: bytes, count: int) -> None:
        self.body = body
        self.count = count


#: Spans per export request (the SDK BatchSpanProcessor's default).
BATCH_SIZE = 512
#: Longest wait before a partial batch is exported, in seconds.
SCHEDULE_DELAY_S = 0.05


class Forwarder(Batcher["ReadableSpan | Raw"], SpanProcessor):
    """Queues ended spans (and :class:`Raw` requests) for ``sender``; ``on_result(count,
    error)`` is told of each request sent (``error`` ``None`` when it was exported).

    ``on_end`` never blocks and never drops: admission control is the caller's, by
    :attr:`queued` (the receivers check it before accepting a request).
    """

    def __init__(
        self,
        sender: OtlpTraceSender,
        on_result: Callable[[int, str | None], Any],
        *,
        batch_size: int = BATCH_SIZE,
        schedule_delay: float = SCHEDULE_DELAY_S,
        on_error: Callable[[str, BaseException], Any] | None = None,
    ) -> None:
        self.sender = sender
        self._on_result = on_result
        #: Default bound of :meth:`shutdown` (the DriftProcessor calls it without one).
        self.shutdown_timeout_millis = 30_000
        super().__init__("otel-replay-serve-export", batch_size, schedule_delay, on_error)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._cond:
            self._append_locked(span, 1)

    def put(self, raw: Raw) -> None:
        """Queue spans already serialized."""
        with self._cond:
            self._append_locked(raw, raw.count)

    def _size(self, item: ReadableSpan | Raw) -> int:
        return item.count if isinstance(item, Raw) else 1

    def _send(self, batch: list[ReadableSpan | Raw]) -> str | None:
        parts = [item.body for item in batch if isinstance(item, Raw)]
        spans: list[ReadableSpan] = []
        received: list[Any] = []
        for item in batch:
            if type(item) is not Raw:
                r = getattr(item, RECEIVED, None)
                if r is None:
                    spans.append(item)  # type: ignore[arg-type]
                else:
                    received.append(r)
        if received:
            parts.append(traces_of(received))
        if spans:
            parts.append(encode_spans(spans).SerializeToString())
        return self.sender.send(b"".join(parts))

    def _done(self, count: int, error: str | None) -> None:
        self._on_result(count, error)

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Export what is queued (within the timeout), then shut the exporter down."""
        if timeout_millis is None:
            timeout_millis = self.shutdown_timeout_millis
        self._stop(timeout_millis, discard=False)
        try:
            self.sender.close()
        except Exception as exc:
            self._report("sender.close", exc)

    def drain_unexported(self) -> int:
        """Remove and count the spans still queued (after a shutdown that timed out)."""
        with self._cond:
            return self._discard_locked()
