"""Run every otel-replay benchmark and print one summary table with the targets.

    .venv/bin/python bench/run_all.py            # a few minutes
    .venv/bin/python bench/run_all.py --quick    # about a minute, noisier
    .venv/bin/python bench/run_all.py --json bench-results.json

Parts: per-span processor cost in CPU time (``bench_spans.py``) and in instructions counted
by valgrind (``bench_instructions.py``, skipped without valgrind), alignment (``bench_align.py``),
recordings write/load (``bench_recordings.py``), large recordings through the CLI
(``bench_large.py``: ``diff`` and ``inspect`` against the parsing floor), serving recorded
LangChain calls (``bench_serve.py``), one ``otel-replay serve`` worker against a bare OTLP
receiver (``bench_fleet.py``) and the memory soak (``bench_memory.py``;
the full 1M-span soak is ``bench/bench_memory.py --spans 1000000``). Exit status 0 when
every target is met, 1 otherwise (the numbers are printed either way).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_fleet  # noqa: E402
import bench_instructions  # noqa: E402
import bench_large  # noqa: E402
import bench_memory  # noqa: E402
import bench_serve  # noqa: E402
import bench_spans  # noqa: E402

RECORDING_TARGETS = {"protobuf": 50_000.0, "jsonl": 20_000.0}  # load, spans/s
COMPARE_TARGETS = {1_000: 5.0, 10_000: 50.0}  # whole compare(), ms


def _compare_times(out: str) -> dict[int, float]:
    """Wall ms of the whole ``compare()`` (auto backend) per run length, from bench_align."""
    part = out.split("whole drift comparison", 1)[-1]
    return {int(n): float(ms) for n, ms in re.findall(r"^\s*(\d+) auto\s+([\d.]+)", part, re.M)}


def _run(script: str, args: list[str]) -> str:
    """Run a sibling benchmark script with this interpreter; echo and return its output."""
    cmd = [sys.executable, os.path.join(HERE, script), *args]
    print(f"$ {' '.join(os.path.relpath(a) if a.endswith('.py') else a for a in cmd[1:])}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(proc.stderr, end="", file=sys.stderr)
        print(f"({script} exited with {proc.returncode})")
    return proc.stdout


def _recording_rates(out: str) -> dict[str, float]:
    """Load rates (spans/s, wall) of the batched files from bench_recordings output."""
    rates: dict[str, float] = {}
    for fmt, rate in re.findall(
        r"^(\w+)\s+load,\s+1000 spans/record\s+([\d,]+) spans/s", out, re.M
    ):
        rates[fmt] = float(rate.replace(",", ""))
    return rates


def _per_span_rows(
    measure: str, results: list[dict[str, Any]], per_span: Callable[[dict[str, Any]], str]
) -> list[tuple[str, str, str, bool | None]]:
    """Summary rows of the per-span variants that have a target."""
    return [
        (
            f"per-span {measure}: {r['variant']}",
            f"{r['added_pct']:+.1f}% ({per_span(r)}/span)",
            f"<= {r['target_pct']:.0f}%",
            bool(r["met"]),
        )
        for r in results
        if r["target_pct"] is not None
    ]


def environment() -> dict[str, str]:
    """Machine and versions, for the record."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "opentelemetry-sdk": version("opentelemetry-sdk"),
        "protobuf": version("protobuf"),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), ""
            )
        if model:
            info["cpu"] = model
    except OSError:
        pass
    try:
        info["loadavg"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and spans")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args(argv)
    quick = args.quick
    t0 = time.perf_counter()
    env = environment()
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))

    print("\n== per-span cost ==")
    span_rows = bench_spans.main(
        ["--rounds", "15" if quick else "80", "--chunk", "300" if quick else "400"]
    )

    print("\n== per-span cost, instructions ==")
    instr_rows = bench_instructions.main(
        ["--small", "500", "--large", "1500"] if quick else ["--small", "1000", "--large", "3000"]
    )

    print("\n== alignment ==")
    align_out = _run(
        "bench_align.py", ["--sizes", "100,1000" if quick else "100,1000,10000", "--budget", "0.2"]
    )
    compare_ms = _compare_times(align_out)

    print("\n== recordings ==")
    rec_out = _run("bench_recordings.py", ["20000" if quick else "50000"])
    rates = _recording_rates(rec_out)

    print("\n== large recordings ==")
    large = bench_large.main(["--spans", "20000" if quick else "200000"])

    print("\n== memory ==")
    mem = bench_memory.main(["--spans", "40000" if quick else "100000"])

    print("\n== serving recorded LangChain calls ==")
    serve_rows = bench_serve.main(
        ["--calls", "50", "--rounds", "5"] if quick else ["--calls", "200", "--rounds", "15"]
    )

    print("\n== otel-replay serve worker vs a bare OTLP receiver ==")
    fleet_rows = bench_fleet.main(
        ["--spans", "10240", "--rounds", "3"] if quick else ["--spans", "40960", "--rounds", "5"]
    )

    rows: list[tuple[str, str, str, bool | None]] = []
    rows += _per_span_rows("CPU", span_rows, lambda r: f"{r['median_ns_per_span'] / 1000:.1f} us")
    rows += _per_span_rows(
        "instructions", instr_rows or [], lambda r: f"{r['instructions_per_span'] / 1000:.0f}k"
    )
    for n, target_ms in COMPARE_TARGETS.items():
        if n in compare_ms:
            rows.append(
                (
                    f"compare(): {n:,} steps, 1% perturbed",
                    f"{compare_ms[n]:.1f} ms",
                    f"<= {target_ms:.0f} ms",
                    compare_ms[n] <= target_ms,
                )
            )
    for fmt, target in RECORDING_TARGETS.items():
        rate = rates.get(fmt)
        rows.append(
            (
                f"recordings: {fmt} load",
                "n/a" if rate is None else f"{rate:,.0f} spans/s",
                f">= {target:,.0f} spans/s",
                None if rate is None else rate >= target,
            )
        )
    rows.append(
        (
            f"memory: RSS growth after warm-up ({mem['spans']:,} spans)",
            f"{mem['growth_after_warmup_mb']:+.1f} MiB",
            "<= 50 MiB",
            mem["growth_after_warmup_mb"] <= 50,
        )
    )
    rows.append(
        (
            "memory: buffer and drift bounds honoured",
            f"max {mem['max_buffered_steps']:,} steps, {mem['max_held_spans_between_runs']} held",
            "within bounds",
            bool(mem["ok"]),
        )
    )
    rows += [(f"large: {name}", value, target, met) for name, value, target, met in large["rows"]]
    for r in serve_rows:
        rows.append(
            (
                f"served {r['kind']} call (live: {r['live_ms']:.2f} ms)",
                f"{r['served_ms']:.3f} ms",
                f"< {r['target_ms']:.0f} ms",
                bool(r["met"]),
            )
        )
    for r in fleet_rows:
        rows.append(
            (
                f"serve worker / bare receiver, {r['restored_share']:.0%} runs restored",
                f"{r['ratio']:.2f} ({r['worker_spans_per_s']:,.0f} spans/s)",
                f">= {r['target_ratio']}",
                # the target is for fleet traffic; the restored-heavy mix is reported
                bool(r["met"]) if r["restored_share"] == 0 else None,
            )
        )
    print(f"\n== summary ({time.perf_counter() - t0:.0f} s) ==")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'result':<34} {'target':<20} met")
    for name, result, target, met in rows:
        mark = "n/a" if met is None else ("yes" if met else "NO")
        print(f"{name:<{w}}  {result:<34} {target:<20} {mark}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "environment": env,
                    "spans": span_rows,
                    "instructions": instr_rows,
                    "compare_ms": compare_ms,
                    "recordings": rates,
                    "memory": mem,
                    "large": {k: v for k, v in large.items() if k != "rows"},
                    "serve": serve_rows,
                    "fleet": fleet_rows,
                },
                fh,
                indent=2,
            )
    return 0 if all(m is not False for *_, m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
