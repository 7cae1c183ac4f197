"""The benchmark scripts run (tiny sizes): a broken benchmark is found by the test suite, not
when someone needs the numbers."""

from __future__ import annotations

import os
import shutil
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


@pytest.mark.slow
def test_instruction_count_grows_with_the_spans_emitted(bench_path):
    import bench_instructions

    if shutil.which("valgrind") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("valgrind is not installed (apt install valgrind)")
        pytest.skip("needs valgrind")

    # two real valgrind runs of the process the benchmark measures (about 25 s)
    few = bench_instructions.count("drift tracked, 1 change", 0, 50)
    more = bench_instructions.count("drift tracked, 1 change", 200, 50)
    per_span = (more - few) / 200
    assert 50_000 < per_span < 5_000_000  # a span costs 10^5 instructions, not 0 or 10^7


def test_summary_reads_compare_times_from_the_align_benchmark(bench_path, capsys):
    pytest.importorskip("psutil")  # run_all imports the memory benchmark, which needs psutil
    import bench_align
    import run_all

    bench_align.main(["--sizes", "100,200", "--budget", "0.01"])
    out = capsys.readouterr().out
    times = run_all._compare_times(out)
    assert sorted(times) == [100, 200]
    assert all(ms > 0 for ms in times.values())


def test_serve_benchmark_measures_served_and_live_calls(bench_path, capsys):
    pytest.importorskip("langchain_core")  # it serves LangChain tool and model calls
    import bench_serve

    rows = bench_serve.main(["--calls", "5", "--rounds", "1"])
    assert [r["kind"] for r in rows] == ["tool", "llm"]
    assert all(r["served_ms"] > 0 and r["live_ms"] > 0 for r in rows)
    assert {r["target_ms"] for r in rows} == {1.0}
    assert "served ms/call" in capsys.readouterr().out


def test_fleet_benchmark_measures_a_worker_against_a_bare_receiver(bench_path, capsys):
    import bench_fleet

    rows = bench_fleet.main(["--spans", "1024", "--rounds", "1", "--restored", "0,0.2"])
    assert [r["restored_share"] for r in rows] == [0.0, 0.2]
    for r in rows:
        assert (r["spans"], r["requests"], r["exported"], r["dropped"]) == (1020, 2, 1020, 0)
        assert r["bare_spans_per_s"] > 0 and r["worker_spans_per_s"] > 0
    assert [r["runs_compared"] for r in rows] == [0, 41]
    assert "ratio" in capsys.readouterr().out


def test_baselines_benchmark_reads_one_file_per_lookup(bench_path, capsys):
    import bench_baselines

    (row,) = bench_baselines.main(
        ["--files", "3", "--runs", "2", "--lookups", "2", "--rounds", "1"]
    )
    assert row["files_read_per_lookup"] == 1
    assert row["full"] > 0 and row["incremental"] > 0
    assert "ratio whole / incremental" in capsys.readouterr().out


def test_large_recording_benchmark_runs_the_cli_on_both_files(bench_path, capsys):
    pytest.importorskip("orjson")  # the parsing floor is orjson's (extras fast and test)
    import bench_large

    res = bench_large.main(["--spans", "2000", "--limit", "5", "--rounds", "1"])
    assert [r[0] for r in res["rows"]] == [
        "diff wall time / floor of both files",
        "diff CPU time / floor of both files",
        "diff peak RSS / size of both files",
        "diff finds the planted change only",
        "inspect --no-steps wall time / floor of one file",
        "inspect --no-steps CPU time / floor of one file",
        "inspect --no-steps RSS, 2,000 vs 500 spans",
        "inspect --limit 5",
        "inspect --limit 5 peak RSS / size of one file",
        "inspect (every step) wall time / floor of one file",
        "inspect (every step) peak RSS / size of one file",
    ]
    assert res["diff_findings"] == 1 and res["diff_finding_ok"]
    assert res["outline_ok"] and res["limit_ok"] and res["limit_rows"] == 5
    assert res["list_ok"] and res["list_rss_mb"] > 0
    assert res["floor_both_s"] > 0 and res["diff_rss_mb"] > 0
    assert "parsing floor" in capsys.readouterr().out
