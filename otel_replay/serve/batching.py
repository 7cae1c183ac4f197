"""The queue-and-thread of ``otel-replay serve``'s exports: items queued by any thread and
sent in batches by one thread of their own. A batch goes once ``batch_size`` items are queued,
``schedule_delay`` seconds after the thread began waiting, or at once after :meth:`flush_now`
(then batch after batch until the queue is empty). An item may stand for several (a request
of already serialized spans): :meth:`Batcher._size` says for how many.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")


class Batcher(Generic[T]):
    """Queues items for :meth:`_send`, called from one thread with each batch; what it
    returns (``None``: sent; else what went wrong) and the batch's size go to :meth:`_done`.
    A failure of either is turned into the batch's error or reported to ``on_error``, never
    raised into the sending thread (which would stop it)."""

    def __init__(
        self,
        name: str,
        batch_size: int,
        schedule_delay: float,
        on_error: Callable[[str, BaseException], Any] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self._delay = schedule_delay
        self._on_error = on_error
        self._queue: list[T] = []
        self._queued = 0  # items queued, by their size
        self._cond = threading.Condition()
        self._exporting = 0  # the size of the batch being sent
        self._stopped = False
        self._urgent = False  # send everything queued now
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ to override

    def _size(self, item: T) -> int:
        """How many items ``item`` stands for."""
        return 1

    def _send(self, batch: list[T]) -> str | None:
        """Send ``batch``: ``None`` when it was, else what went wrong."""
        raise NotImplementedError

    def _done(self, count: int, error: str | None) -> None:
        """Told of each batch sent (``count`` items) or failed (``error``)."""

    # ------------------------------------------------------------ queueing

    @property
    def queued(self) -> int:
        """Items waiting or being sent."""
        return self._queued + self._exporting

    def _append_locked(self, item: T, size: int) -> None:
        """Under ``self._cond``: queue ``item`` (standing for ``size`` items)."""
        self._queue.append(item)
        self._queued += size
        if self._queued >= self.batch_size:
            self._cond.notify()

    def _discard_locked(self) -> int:
        """Under ``self._cond``: empty the queue; the size of what it held."""
        left = self._queued
        self._queue.clear()
        self._queued = 0
        return left

    def flush_now(self) -> None:
        """Send everything queued now, batch after batch, without the schedule delay."""
        with self._cond:
            if self._queue:
                self._urgent = True
                self._cond.notify()

    # ------------------------------------------------------------ the thread

    def _take(self) -> list[T] | None:
        with self._cond:
            deadline = time.monotonic() + self._delay
            while not self._stopped and not self._urgent and self._queued < self.batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._queue:
                self._urgent = False
                return None if self._stopped else []
            count = taken = 0
            for item in self._queue:
                count += self._size(item)
                taken += 1
                if count >= self.batch_size:
                    break
            batch = self._queue[:taken]
            del self._queue[:taken]
            self._queued -= count
            self._exporting = count
            self._urgent = self._urgent and bool(self._queue)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._export(batch)

    def _export(self, batch: list[T]) -> None:
        count = self._exporting
        error: str | None
        try:
            error = self._send(batch)
        except Exception as exc:
            error = f"export raised {exc!r}"
        try:
            self._done(count, error)
        except Exception as exc:
            self._report("export.result", exc)
        finally:
            with self._cond:
                self._exporting = 0
                self._cond.notify_all()

    def _report(self, where: str, exc: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(where, exc)
            except Exception:  # pragma: no cover - the reporter never raises
                pass

    # ------------------------------------------------------------ flush and stop

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send what is queued now; whether the queue was empty within the timeout."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            while self._queue or self._exporting:
                if self._queue:
                    self._urgent = True
                    self._cond.notify_all()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _stop(self, timeout_millis: int, discard: bool) -> int:
        """Send what is queued (within the timeout), then stop the thread; with ``discard``
        what is still queued is removed first and its size returned (else it is left to
        the thread, which sends it before it ends)."""
        deadline = time.monotonic() + timeout_millis / 1000
        self.force_flush(timeout_millis)
        with self._cond:
            self._stopped = True
            left = self._discard_locked() if discard else 0
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return left
