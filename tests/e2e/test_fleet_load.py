"""Bounded load through one ``otel-replay serve`` worker (loopback only, fixed size): 50,000
spans from an SDK-only producer over about 20 seconds (OTLP/HTTP protobuf, batches of 512, the
SDK's retries on a retryable status) to a real OTLP/HTTP receiver downstream.

No loss: every span the producer handed over reaches the downstream receiver exactly once,
and the worker's counters say received == exported, dropped == 0. Flat memory: the worker's
resident set, sampled every 0.25 s, grows by less than ``RSS_GROWTH_BOUND`` between the end of
the warm-up (the first quarter of the spans) and the end of the run. A leak of even 1 KiB per
span would add ~37 MiB over the remaining 37,500 spans; the bound is a size, never a time.
"""

from __future__ import annotations

import threading
import time

import pytest

from .fleet import rss_bytes, run_producer, start_worker, stop_gracefully, wait_until
from .otlp_sink import OtlpSink

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPANS = 50_000
DURATION_S = 20.0
RSS_GROWTH_BOUND = 24 * 1024 * 1024


def test_one_worker_under_bounded_load_loses_nothing_and_stays_flat(e2e_process_group):
    with OtlpSink() as sink:
        worker = start_worker(
            e2e_process_group, "fleet-load", sink.url, args=["--metric-interval", "1"]
        )
        pid = worker.process.popen.pid
        samples: list[tuple[int, int]] = []  # (spans received so far downstream, rss)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((sink.counts.spans, rss_bytes(pid)))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out = run_producer(
                "load", "--endpoint", worker.http_url, "--service", "fleet-load",
                "--spans", str(SPANS), "--duration", str(DURATION_S),
                timeout=DURATION_S * 10,
            )  # fmt: skip
            wait_until(lambda: sink.counts.spans >= SPANS, 60, f"{SPANS} spans downstream")
            time.sleep(1.0)  # nothing more may arrive
        finally:
            stop.set()
            sampler.join(timeout=5)
        counters = worker.healthz()["counters"]
        summary = stop_gracefully(worker)

    assert (out["sent"], out["exported"], out["failed"]) == (SPANS, SPANS, 0), out
    assert sink.counts.spans == SPANS
    assert len(sink.counts.span_ids) == SPANS  # each exactly once
    assert sink.counts.workers == {"fleet-load": SPANS}
    assert counters["received"] == SPANS, counters
    assert counters["exported"] == SPANS, counters
    assert counters["dropped"] == 0, counters
    assert summary.startswith(
        f"otel-replay serve: stopped worker=fleet-load received={SPANS} exported={SPANS} dropped=0 "
    ), summary

    warm = [rss for seen, rss in samples if seen >= SPANS // 4]
    assert len(warm) >= 20, samples  # sampled through the run, not only at its end
    growth = max(warm) - warm[0]
    print(f"worker RSS after warm-up {warm[0] / 2**20:.1f} MiB, growth {growth / 2**20:.1f} MiB")
    assert growth < RSS_GROWTH_BOUND, [(s, r // 2**20) for s, r in samples]
