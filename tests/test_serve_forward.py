"""The worker's span export queue (``otel_replay.serve.forward.Forwarder``)."""

from __future__ import annotations

import threading

from otel_replay.serve.forward import Forwarder, Raw


class _Sender:
    """Records the size of each export request; succeeds."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.done = threading.Condition()
        self.release = threading.Event()

    def send(self, body: bytes) -> None:
        self.release.wait(10)
        with self.done:
            self.sizes.append(len(body))
            self.done.notify_all()

    def close(self) -> None:
        pass

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.done:
            return self.done.wait_for(lambda: len(self.sizes) >= n, timeout)


def test_flush_now_exports_everything_queued_not_only_the_first_batch():
    sender = _Sender()
    results: list[tuple[int, str | None]] = []
    fw = Forwarder(
        sender,  # type: ignore[arg-type]
        lambda n, err: results.append((n, err)),
        batch_size=512,
        schedule_delay=60.0,  # only a full batch or flush_now can export before the test ends
    )
    try:
        fw.put(Raw(b"a" * 10, 300))
        fw.put(Raw(b"b" * 10, 300))  # a full batch: its export starts (and waits for release)
        for tag, n in ((b"c", 300), (b"d", 300), (b"e", 100)):
            fw.put(Raw(tag * 10, n))
        fw.flush_now()  # while the first batch is being exported: a full batch and a partial one
        sender.release.set()
        assert sender.wait_for(3, 5)
        assert sender.sizes == [20, 20, 10]
        assert results == [(600, None), (600, None), (100, None)]
        assert fw.queued == 0
    finally:
        sender.release.set()
        fw.shutdown(1000)


def test_force_flush_sends_a_partial_batch_without_the_schedule_delay():
    sender = _Sender()
    sender.release.set()
    fw = Forwarder(sender, lambda n, err: None, batch_size=512, schedule_delay=60.0)  # type: ignore[arg-type]
    try:
        fw.put(Raw(b"a" * 10, 3))
        assert fw.force_flush(5000) is True  # well within the 60 s delay
        assert (sender.sizes, fw.queued) == ([10], 0)
    finally:
        fw.shutdown(1000)


def test_a_failing_result_callback_is_reported_and_the_export_thread_goes_on():
    sender = _Sender()
    sender.release.set()
    errors: list[tuple[str, str]] = []

    def on_result(n: int, err: str | None) -> None:
        raise RuntimeError(f"counting {n} failed")

    fw = Forwarder(
        sender,  # type: ignore[arg-type]
        on_result,
        batch_size=2,
        schedule_delay=60.0,
        on_error=lambda where, exc: errors.append((where, str(exc))),
    )
    try:
        fw.put(Raw(b"a" * 10, 2))
        fw.put(Raw(b"b" * 10, 2))
        assert sender.wait_for(2, 5)
        assert fw.force_flush(5000) is True
        assert sender.sizes == [10, 10]
        assert errors == [
            ("export.result", "counting 2 failed"),
            ("export.result", "counting 2 failed"),
        ]
    finally:
        fw.shutdown(1000)
