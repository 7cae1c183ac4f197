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


def test_a_kick_exports_everything_queued_not_only_the_first_batch():
    sender = _Sender()
    results: list[tuple[int, str | None]] = []
    fw = Forwarder(
        sender,  # type: ignore[arg-type]
        lambda n, err: results.append((n, err)),
        batch_size=512,
        schedule_delay=60.0,  # only a full batch or the kick can export before the test ends
    )
    try:
        fw.put(Raw(b"a" * 10, 300))
        fw.put(Raw(b"b" * 10, 300))  # a full batch: its export starts (and waits for release)
        for tag, n in ((b"c", 300), (b"d", 300), (b"e", 100)):
            fw.put(Raw(tag * 10, n))
        fw.kick()  # while the first batch is being exported: a full batch and a partial one
        sender.release.set()
        assert sender.wait_for(3, 5)
        assert sender.sizes == [20, 20, 10]
        assert results == [(600, None), (600, None), (100, None)]
        assert fw.queued == 0
    finally:
        sender.release.set()
        fw.shutdown(1000)
