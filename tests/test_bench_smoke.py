"""The benchmark scripts run (tiny sizes): a broken benchmark is found by the test suite, not
when someone needs the numbers."""

from __future__ import annotations

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


@pytest.fixture
def bench_path():
    sys.path.insert(0, BENCH)
    yield
    sys.path.remove(BENCH)


def test_per_span_benchmark_runs_every_variant(bench_path, capsys):
    import bench_spans

    rows = bench_spans.main(["--rounds", "1", "--warmup", "0", "--chunk", "100"])
    assert [r["variant"] for r in rows] == [
        "sdk",
        "no-op processor",
        "replay idle",
        "replay buffering",
        "drift untracked",
        "drift tracked",
        "drift tracked, 1 change",
        "redaction+replay idle",
    ]
    assert rows[0]["ratio"] == 1.0
    assert {r["variant"]: r["target_pct"] for r in rows if r["target_pct"] is not None} == {
        "replay idle": 5.0,
        "replay buffering": 10.0,
        "drift untracked": 5.0,
        "drift tracked": 20.0,
    }
    assert "drift tracked, 1 change" in capsys.readouterr().out


def test_instruction_benchmark_emits_a_variant_in_process(bench_path):
    import bench_instructions

    # the part that runs under valgrind, run directly
    bench_instructions.emit("drift tracked, 1 change", 100, 50)


def test_summary_reads_compare_times_from_the_align_benchmark(bench_path, capsys):
    import bench_align
    import run_all

    bench_align.main(["--sizes", "100,200", "--budget", "0.01"])
    out = capsys.readouterr().out
    times = run_all._compare_times(out)
    assert sorted(times) == [100, 200]
    assert all(ms > 0 for ms in times.values())
