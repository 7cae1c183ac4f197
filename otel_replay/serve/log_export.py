"""The log export of ``otel-replay serve``: serialized OTLP log records queued and sent as
``ExportLogsServiceRequest`` bytes by one thread, in batches of up to 512 records at most a
second apart (the SDK ``BatchLogRecordProcessor``'s defaults and ``OTEL_BLRP_*`` variables).

The queue is bounded: a record that does not fit is dropped and counted, as are the records
of a request the downstream did not take and those still queued when the shutdown times out
(:meth:`LogExport.counts`; each failure is reported to ``on_error``, and ``on_result(count,
error)`` is told of every outcome, ``error`` ``None`` for records exported).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.core.version import __version__
from otel_replay.formats.protowire import delimited
from otel_replay.serve.batching import Batcher
from otel_replay.serve.log_bytes import logs_request_prefix
from otel_replay.serve.otlp_out import OtlpSender

__all__ = ["LogExport"]

_DEFAULT_BATCH = 512
_DEFAULT_DELAY_MS = 1000
_DEFAULT_QUEUE = 2048
_DEFAULT_EXPORT_TIMEOUT_MS = 30000


def _env_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


def logs_request(resource: bytes, scope: bytes, records: Sequence[bytes]) -> bytes:
    """A serialized ``ExportLogsServiceRequest`` of ``records`` (serialized ``LogRecord``\\ s)
    under one resource and scope (both serialized), as the SDK exporter's encoding gives."""
    scope_logs = delimited(b"\x0a", scope) + b"".join(delimited(b"\x12", r) for r in records)
    resource_logs = delimited(b"\x0a", resource) + delimited(b"\x12", scope_logs)
    return delimited(b"\x0a", resource_logs)


class LogExport(Batcher[bytes]):
    """Queues serialized log records of one resource and scope for ``sender``."""

    def __init__(
        self,
        sender: OtlpSender,
        resource: bytes,
        scope: bytes,
        on_result: Callable[[int, str | None], Any] | None = None,
        *,
        batch_size: int | None = None,
        schedule_delay: float | None = None,
        max_queue_size: int | None = None,
        on_error: Callable[[str, BaseException], Any] | None = None,
    ) -> None:
        self.sender = sender
        self._resource = resource
        self._scope = scope
        self._on_result = on_result
        self.max_queue_size = max_queue_size or _env_int(
            os.environ.get("OTEL_BLRP_MAX_QUEUE_SIZE"), _DEFAULT_QUEUE
        )
        size = batch_size or _env_int(
            os.environ.get("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"), _DEFAULT_BATCH
        )
        delay = (
            schedule_delay
            if schedule_delay is not None
            else _env_int(os.environ.get("OTEL_BLRP_SCHEDULE_DELAY"), _DEFAULT_DELAY_MS) / 1000
        )
        self._counts = [0, 0]  # exported, dropped
        super().__init__(
            "otel-replay-serve-log-export", min(size, self.max_queue_size), delay, on_error
        )

    @classmethod
    def of(
        cls,
        sender: OtlpSender,
        resource: Mapping[str, Any],
        *,
        on_error: Callable[[str, BaseException], Any] | None = None,
    ) -> LogExport:
        """The export of the worker's drift log events: ``resource``'s attributes, the scope
        of otel-replay's logger (as the SDK's ``LoggerProvider`` path encodes them)."""
        res, scope = logs_request_prefix(resource, c.METER_NAME, __version__)
        return cls(sender, res, scope, on_error=on_error)

    def counts(self) -> tuple[int, int]:
        """Records exported and dropped so far."""
        with self._cond:
            return self._counts[0], self._counts[1]

    def put(self, records: Sequence[bytes]) -> int:
        """Queue ``records``; how many did not fit (dropped and counted)."""
        if not records:
            return 0
        with self._cond:
            stopped = self._stopped
            room = 0 if stopped else max(0, self.max_queue_size - self._queued)
            taken = records if len(records) <= room else records[:room]
            for record in taken:
                self._append_locked(record, 1)
        lost = len(records) - len(taken)
        if lost:
            why = "log export shut down" if stopped else "log export queue full"
            self._done(lost, f"{why} ({self.max_queue_size} records)")
        return lost

    def _send(self, batch: list[bytes]) -> str | None:
        return self.sender.send(logs_request(self._resource, self._scope, batch))

    def _done(self, count: int, error: str | None) -> None:
        with self._cond:
            self._counts[0 if error is None else 1] += count
        if error is not None:
            self._report("log_export", RuntimeError(f"{error}; {count} log records dropped"))
        if self._on_result is not None:
            try:
                self._on_result(count, error)
            except Exception as exc:
                self._report("log_export.result", exc)

    def shutdown(self, timeout_millis: int = _DEFAULT_EXPORT_TIMEOUT_MS) -> None:
        """Export what is queued (within the timeout), count what is left as dropped, stop
        the thread and close the sender."""
        left = self._stop(timeout_millis, discard=True)
        if left:
            self._done(left, "log export shut down before the records were sent")
        try:
            self.sender.close()
        except Exception as exc:
            self._report("logs.sender.close", exc)
