"""The export end of ``otel-replay serve``: a bounded queue of spans in front of one exporter,
exported in batches by one thread, every span counted as exported or dropped.

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
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["Forwarder"]

#: Spans per export request (the SDK BatchSpanProcessor's default).
BATCH_SIZE = 512
#: Longest wait before a partial batch is exported, in seconds.
SCHEDULE_DELAY_S = 0.2


class Forwarder(SpanProcessor):
    """Queues ended spans for ``exporter``; ``on_result(count, error)`` is told of each batch
    (``error`` ``None`` when it was exported).

    ``on_end`` never blocks and never drops: admission control is the caller's, by
    :attr:`queued` (the receivers check it before accepting a request).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        on_result: Callable[[int, str | None], Any],
        *,
        batch_size: int = BATCH_SIZE,
        schedule_delay: float = SCHEDULE_DELAY_S,
    ) -> None:
        self.exporter = exporter
        self._on_result = on_result
        self._batch_size = batch_size
        self._delay = schedule_delay
        self._queue: list[ReadableSpan] = []
        self._cond = threading.Condition()
        self._exporting = 0
        self._stopped = False
        #: Default bound of :meth:`shutdown` (the DriftProcessor calls it without one).
        self.shutdown_timeout_millis = 30_000
        self._thread = threading.Thread(
            target=self._run, name="otel-replay-serve-export", daemon=True
        )
        self._thread.start()

    @property
    def queued(self) -> int:
        """Spans waiting for export or being exported."""
        return len(self._queue) + self._exporting

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._cond:
            self._queue.append(span)
            if len(self._queue) >= self._batch_size:
                self._cond.notify()

    def _take(self) -> list[ReadableSpan] | None:
        with self._cond:
            deadline = time.monotonic() + self._delay
            while not self._stopped and len(self._queue) < self._batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._queue:
                return None if self._stopped else []
            batch = self._queue[: self._batch_size]
            del self._queue[: self._batch_size]
            self._exporting = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._export(batch)

    def _export(self, batch: list[ReadableSpan]) -> None:
        error: str | None
        try:
            result = self.exporter.export(batch)
            error = None if result is SpanExportResult.SUCCESS else f"export returned {result.name}"
        except Exception as exc:
            error = f"export raised {exc!r}"
        try:
            self._on_result(len(batch), error)
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
            self.exporter.shutdown()
        except Exception:
            pass

    def drain_unexported(self) -> int:
        """Remove and count the spans still queued (after a shutdown that timed out)."""
        with self._cond:
            n = len(self._queue)
            self._queue.clear()
        return n
