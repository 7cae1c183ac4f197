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

import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_replay.formats.otlp_proto import encode_spans
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


class Forwarder(SpanProcessor):
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
        self._on_error = on_error
        self.sender = sender
        self._on_result = on_result
        self._batch_size = batch_size
        self._delay = schedule_delay
        self._queue: list[ReadableSpan | Raw] = []
        self._queued = 0  # spans in the queue
        self._cond = threading.Condition()
        self._exporting = 0
        self._stopped = False
        self._kicked = False
        #: Default bound of :meth:`shutdown` (the DriftProcessor calls it without one).
        self.shutdown_timeout_millis = 30_000
        self._thread = threading.Thread(
            target=self._run, name="otel-replay-serve-export", daemon=True
        )
        self._thread.start()

    @property
    def queued(self) -> int:
        """Spans waiting for export or being exported."""
        return self._queued + self._exporting

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._cond:
            self._queue.append(span)
            self._queued += 1
            if self._queued >= self._batch_size:
                self._cond.notify()

    def put(self, raw: Raw) -> None:
        """Queue spans already serialized."""
        with self._cond:
            self._queue.append(raw)
            self._queued += raw.count
            if self._queued >= self._batch_size:
                self._cond.notify()

    def kick(self) -> None:
        """Export everything queued now (in batches of the batch size, one after the other),
        without waiting for the schedule delay."""
        with self._cond:
            if self._queue:
                self._kicked = True
                self._cond.notify()

    def _take(self) -> list[ReadableSpan | Raw] | None:
        with self._cond:
            deadline = time.monotonic() + self._delay
            while not self._stopped and not self._kicked and self._queued < self._batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            kicked = self._kicked
            self._kicked = False
            if not self._queue:
                return None if self._stopped else []
            count = 0
            taken = 0
            for item in self._queue:
                count += item.count if type(item) is Raw else 1
                taken += 1
                if count >= self._batch_size:
                    break
            batch = self._queue[:taken]
            del self._queue[:taken]
            self._queued -= count
            self._exporting = count
            # a kick exports everything queued at the time, not only the first batch of it
            self._kicked = kicked and bool(self._queue)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._export(batch)

    def _export(self, batch: list[ReadableSpan | Raw]) -> None:
        error: str | None
        count = self._exporting
        try:
            parts = [item.body for item in batch if type(item) is Raw]
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
                parts.append(encode_spans(spans).SerializeToString())  # type: ignore[arg-type]
            error = self.sender.send(b"".join(parts))
        except Exception as exc:
            error = f"export raised {exc!r}"
        try:
            self._on_result(count, error)
        finally:
            with self._cond:
                self._exporting = 0
                self._cond.notify_all()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until the queue is empty (``False`` if it is not within the timeout)."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            self._cond.notify()
            while self._queue or self._exporting:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
                self._cond.notify()
        return True

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Export what is queued (within the timeout), then shut the exporter down."""
        if timeout_millis is None:
            timeout_millis = self.shutdown_timeout_millis
        self.force_flush(timeout_millis)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(max(0.0, timeout_millis / 1000))
        try:
            self.sender.close()
        except Exception as exc:
            if self._on_error is not None:
                self._on_error("sender.close", exc)

    def drain_unexported(self) -> int:
        """Remove and count the spans still queued (after a shutdown that timed out)."""
        with self._cond:
            n = self._queued
            self._queue.clear()
            self._queued = 0
        return n
