"""Per-span cost as CPU instructions counted by valgrind: a deterministic companion to the
CPU-time ratios of ``bench_spans.py``, which a shared machine makes noisy.

Each variant of ``bench_spans.py`` (same pipelines, same spans) runs in its own process under
``valgrind --tool=cachegrind --cache-sim=no`` with ``PYTHONHASHSEED=0``: the pipelines are
built, 500 spans warm them up, the garbage collector freezes what exists (so a collection
that happens to fall into the window does not walk every object of the benchmark itself),
then ``N`` spans are emitted and flushed. The variant's cost per span is the difference of
the instruction counts of two such runs (``--small`` and ``--large`` spans) divided by their
difference in spans, which cancels start-up and set-up. All threads are counted (the batch
processor's export thread too).

Instructions are work done, not time: cache misses and memory traffic are not in them, so
the CPU-time ratios stay the primary measure.

Usage: ``python bench/bench_instructions.py [--small 1000] [--large 3000] [--jobs 2]``
(about 1.5 minutes on 2 cores; needs ``valgrind``).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_spans  # noqa: E402

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
WARMUP = 500


def emit(variant: str, n: int, run_len: int) -> None:
    """In the measured process: build, warm up, freeze, emit ``n`` spans of ``variant``."""
    variants = {v.name: v for v in bench_spans.build(run_len)}
    v = variants[variant]
    v.emit(WARMUP)
    v.provider.force_flush()
    gc.collect()
    gc.freeze()
    v.emit(n)
    v.provider.force_flush()
    for other in variants.values():
        other.provider.shutdown()


def count(variant: str, n: int, run_len: int) -> int:
    """Instructions executed by a process that emits ``n`` spans of ``variant``."""
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--emit",
        variant,
        str(n),
        "--run",
        str(run_len),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    m = _REFS.search(proc.stderr)
    if proc.returncode != 0 or m is None:
        raise RuntimeError(
            f"valgrind run of {variant!r} ({n} spans) failed with exit status "
            f"{proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return int(m.group(1).replace(",", ""))


def measure(small: int, large: int, run_len: int, jobs: int) -> list[dict[str, Any]]:
    """Instructions per span of every variant and its ratio to ``sdk``."""
    variants = bench_spans.build(run_len)
    names = [v.name for v in variants]
    for v in variants:
        v.provider.shutdown()
    tasks = [(name, n) for name in names for n in (small, large)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counts = list(pool.map(lambda t: count(t[0], t[1], run_len), tasks))
    by = dict(zip(tasks, counts, strict=True))
    per = {name: (by[(name, large)] - by[(name, small)]) / (large - small) for name in names}
    rows = []
    for name in names:
        ratio = per[name] / per["sdk"]
        target = bench_spans.TARGETS.get(name)
        rows.append(
            {
                "variant": name,
                "instructions_per_span": per[name],
                "ratio": ratio,
                "added_pct": (ratio - 1) * 100,
                "target_pct": None if target is None else target * 100,
                "met": None if target is None else ratio - 1 <= target,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The results as a plain-text table."""
    print(f"{'variant':<24} {'instr/span':>11} {'x sdk':>7} {'added':>8} {'target':>7} {'met':>4}")
    for r in rows:
        target = "" if r["target_pct"] is None else f"<={r['target_pct']:.0f}%"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(
            f"{r['variant']:<24} {r['instructions_per_span']:>11,.0f} {r['ratio']:>7.3f} "
            f"{r['added_pct']:>+7.1f}% {target:>7} {met:>4}"
        )


def main(argv: list[str] | None = None) -> list[dict[str, Any]] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="spans in the short run")
    parser.add_argument("--large", type=int, default=3000, help="spans in the long run")
    parser.add_argument("--run", type=int, default=50, help="spans per run (root + children)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--emit", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emit:
        emit(args.emit[0], int(args.emit[1]), args.run)
        return None
    if shutil.which("valgrind") is None:
        print("instruction counts skipped: valgrind is not installed (apt install valgrind)")
        return None
    if args.large <= args.small:
        parser.error("--large must be greater than --small")
    rows = measure(args.small, args.large, args.run, args.jobs)
    print(
        f"per-span cost in instructions (valgrind): ({args.large} - {args.small} spans) per "
        f"variant, runs of {args.run} spans, PYTHONHASHSEED=0"
    )
    print_table(rows)
    bench_spans.write_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
