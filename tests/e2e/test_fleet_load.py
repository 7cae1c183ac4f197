"""Bounded load through one ``otel-replay serve`` worker (loopback only, fixed size): 51,000
spans (17,000 runs of 3) from an SDK-only producer over about 20 seconds (OTLP/HTTP protobuf,
batches of 512, the SDK's retries on a retryable status) to a real OTLP/HTTP receiver
downstream. Every 17th run (1,000 of them) is an identical restored run of a baseline in the
worker's recording store (``--record-dir`` = ``--baselines``, the worker records every span
too), so the drift path holds, compares and releases runs throughout.

No loss: every span the producer handed over reaches the downstream receiver exactly once,
and the worker's counters say received == exported, dropped == 0. Flat memory: the worker's
resident set, sampled every 0.25 s, grows by less than ``RSS_GROWTH_BOUND`` between the end of
the warm-up (the first quarter of the spans) and the end of the run. A leak of even 1 KiB per
span would add ~37 MiB over the remaining 38,000 spans; the bound is a size, never a time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.otlp_sink import Sink, attrs_of, otlp_sink

from .fleet import rss_bytes, run_producer, start_worker, stop_gracefully, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNS = 17_000
SPANS = RUNS * 3
DURATION_S = 20.0
RESTORED_EVERY = 17
RESTORED_RUNS = RUNS // RESTORED_EVERY
RSS_GROWTH_BOUND = 24 * 1024 * 1024


def _received(sink: Sink) -> int:
    """Spans the sink has received (counted per request: cheap to poll)."""
    with sink.lock:
        reqs = list(sink.traces)
    return sum(len(ss.spans) for r in reqs for rs in r.resource_spans for ss in rs.scope_spans)


def test_one_worker_under_bounded_load_loses_nothing_and_stays_flat(e2e_process_group, tmp_path):
    store = str(tmp_path / "store")
    (tmp_path / "store").mkdir()
    with otlp_sink() as sink:
        worker = start_worker(
            e2e_process_group,
            "fleet-load",
            sink.url,
            args=["--metric-interval", "1", "--record-dir", store, "--baselines", store],
        )
        pid = worker.process.popen.pid
        base = run_producer(
            "run", "--endpoint", worker.http_url, "--service", "fleet-load", "--session",
            "load-base", "--trace-id", "5" * 32, "--baseline",
        )  # fmt: skip
        wait_until(lambda: _received(sink) == base["sent"], 30, "the baseline downstream")
        samples: list[tuple[int, int]] = []  # (spans received so far downstream, rss)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((_received(sink), rss_bytes(pid)))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out = run_producer(
                "load", "--endpoint", worker.http_url, "--service", "fleet-load",
                "--runs", str(RUNS), "--duration", str(DURATION_S),
                "--restored-every", str(RESTORED_EVERY),
                "--restore-from", f"load-base:{'5' * 32}:{base['checkpoint']}",
                timeout=DURATION_S * 10,
            )  # fmt: skip
            total = SPANS + base["sent"]
            wait_until(lambda: _received(sink) >= total, 60, f"{total} spans downstream")
            time.sleep(1.0)  # nothing more may arrive
        finally:
            stop.set()
            sampler.join(timeout=5)
        counters = worker.healthz()["counters"]
        summary = stop_gracefully(worker)
        spans = [s for _r, s in sink.spans()]
        events = Counter(lr.event_name for lr in sink.log_records())

    assert (out["sent"], out["exported"], out["failed"]) == (SPANS, SPANS, 0), out
    assert out["restored_runs"] == RESTORED_RUNS
    assert len(spans) == total
    assert len({s.span_id for s in spans}) == total  # each exactly once
    assert Counter(attrs_of(s).get("agent_replay.serve.worker") for s in spans) == {
        "fleet-load": total
    }
    assert counters["received"] == total, counters
    assert counters["exported"] == total, counters
    assert counters["dropped"] == 0, counters
    assert counters["runs_compared"] == RESTORED_RUNS, counters
    assert counters["runs_not_compared"] == 0, counters
    assert counters["runs_held"] == 0, counters
    # one verdict per restored run, no drift finding
    assert events == {"gen_ai.evaluation.result": RESTORED_RUNS}
    assert summary.startswith(
        f"otel-replay serve: stopped worker=fleet-load received={total} exported={total} dropped=0 "
    ), summary

    warm = [rss for seen, rss in samples if seen >= SPANS // 4]
    assert len(warm) >= 20, samples  # sampled through the run, not only at its end
    growth = max(warm) - warm[0]
    print(f"worker RSS after warm-up {warm[0] / 2**20:.1f} MiB, growth {growth / 2**20:.1f} MiB")
    assert growth < RSS_GROWTH_BOUND, [(s, r // 2**20) for s, r in samples]
