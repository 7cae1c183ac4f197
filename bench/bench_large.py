"""Large recordings: ``otel-replay diff`` and ``inspect`` on two generated one-session agent
recordings, against the parsing floor measured in the same run.

    .venv/bin/python bench/bench_large.py                # 200k spans per file (~167 MB)
    .venv/bin/python bench/bench_large.py --spans 20000  # quicker

The floor is a plain ``orjson.loads`` of every line. Each command runs as a subprocess
(``python -m otel_replay.cli``, interpreter start-up included); its peak RSS is the child's
``ru_maxrss`` and its CPU time ``ru_utime + ru_stime`` (``os.wait4``). Floors and commands
are interleaved for ``--rounds`` rounds; each ratio is the median over rounds of (command /
floor of the same round), in wall and in CPU time (steadier on a shared machine). Targets: ``diff`` <= 3x the floor of both files and
peak RSS <= 2x their size; ``inspect --no-steps`` <= 1.5x the floor of one file, its RSS
flat (at ``--spans`` within 1.25x of its RSS at a quarter of the spans); ``inspect --limit``
lists at most N steps, its peak RSS <= 1.25x the file's size; ``inspect`` of every step is
reported (time against the floor of one file, peak RSS against the file's size; no target)
and must list every step. The planted change must give exactly one finding.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from large_recording import write_large  # noqa: E402

from otel_replay.core.text import count  # noqa: E402

DIFF_TIME_X = 3.0
DIFF_RSS_X = 2.0
OUTLINE_TIME_X = 1.5
OUTLINE_RSS_FLAT_X = 1.25
LIMIT_RSS_X = 1.25


def parse_floor(paths: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds to ``orjson.loads`` every line of ``paths``."""
    import orjson  # the floor is defined by it (extras fast, test)

    t0, c0 = time.perf_counter(), time.process_time()
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                orjson.loads(line)
    return time.perf_counter() - t0, time.process_time() - c0


def run_cli(*argv: str) -> tuple[float, float, int, bytes]:
    """(wall seconds, CPU seconds, peak RSS bytes, stdout) of one CLI run as a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "otel_replay.cli", *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if code not in (0, 1):
        raise RuntimeError(f"otel-replay {' '.join(argv)}: exit {code}: {err!r}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, stdout


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per recording")
    parser.add_argument("--limit", type=int, default=20, help="inspect --limit N")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--dir", help="where to write the recordings (default: a temp dir)")
    args = parser.parse_args(argv)
    n = args.spans
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base, cand, small = (os.path.join(tmp, f) for f in ("base.jsonl", "cand.jsonl", "q.jsonl"))
        changed = (n // 4) * 2  # a tool step in the middle
        t0 = time.perf_counter()
        size_b = write_large(base, n)
        size_c = write_large(cand, n, changed=changed)
        write_large(small, max(2, n // 4))
        print(
            f"generated 2 x {n:,} spans ({size_b / 1e6:.1f} + {size_c / 1e6:.1f} MB, "
            f"{size_b / n:.0f} B/span) in {time.perf_counter() - t0:.1f} s"
        )
        ratios: dict[str, list[float]] = {k: [] for k in ("dw", "dc", "ow", "oc")}
        times: dict[str, list[float]] = {k: [] for k in ("fb", "fo", "d", "o")}
        for _ in range(args.rounds):  # interleaved: each ratio against its own round's floor
            fb_w, fb_c = parse_floor([base, cand])
            d_wall, d_cpu, d_rss, d_out = run_cli("diff", base, cand, "--format", "json", "--quiet")
            fo_w, fo_c = parse_floor([base])
            o_wall, o_cpu, o_rss, o_out = run_cli("inspect", base, "--no-steps", "--quiet")
            ratios["dw"].append(d_wall / fb_w)
            ratios["dc"].append(d_cpu / fb_c)
            ratios["ow"].append(o_wall / fo_w)
            ratios["oc"].append(o_cpu / fo_c)
            times["fb"].append(fb_w)
            times["fo"].append(fo_w)
            times["d"].append(d_wall)
            times["o"].append(o_wall)
        findings = json.loads(d_out)["findings"]
        _, _, q_rss, _ = run_cli("inspect", small, "--no-steps", "--quiet")
        l_wall, _, l_rss, l_out = run_cli("inspect", base, "--limit", str(args.limit), "--quiet")
        fa_w, _ = parse_floor([base])
        a_wall, _, a_rss, a_out = run_cli("inspect", base, "--quiet")
    floor_both, floor_one = _median(times["fb"]), _median(times["fo"])
    d_wall, o_wall = _median(times["d"]), _median(times["o"])
    print(
        f"parsing floor (orjson.loads per line), median of {args.rounds}: one file "
        f"{floor_one:.2f} s, both {floor_both:.2f} s"
    )
    step_rows = [ln for ln in l_out.decode().splitlines() if ln[:1].isdigit() and "  " in ln]
    shown = min(args.limit, n - 1)  # the root span has no sequence: it sorts last
    res: dict[str, Any] = {
        "spans": n,
        "file_mb": (size_b + size_c) / 2 / 1e6,
        "floor_one_s": floor_one,
        "floor_both_s": floor_both,
        "diff_s": d_wall,
        "diff_x": _median(ratios["dw"]),
        "diff_cpu_x": _median(ratios["dc"]),
        "diff_rss_mb": d_rss / 1e6,
        "diff_rss_x": d_rss / (size_b + size_c),
        "diff_findings": len(findings),
        "diff_finding_ok": len(findings) == 1 and findings[0]["candidate"]["sequence"] == changed,
        "outline_s": o_wall,
        "outline_x": _median(ratios["ow"]),
        "outline_cpu_x": _median(ratios["oc"]),
        "outline_rss_mb": o_rss / 1e6,
        "outline_small_rss_mb": q_rss / 1e6,
        "outline_rss_flat_x": o_rss / q_rss,
        "outline_ok": o_out.decode().splitlines()[1] == f"{n} spans, 1 session, 0 checkpoints",
        "limit_s": l_wall,
        "limit_rss_mb": l_rss / 1e6,
        "limit_rss_x": l_rss / size_b,
        "list_s": a_wall,
        "list_x": a_wall / fa_w,
        "list_rss_mb": a_rss / 1e6,
        "list_rss_x": a_rss / size_b,
        "list_ok": a_out.decode().count("\n") == n + 6,
        "limit_rows": len(step_rows),
        "limit_ok": len(step_rows) == shown
        and l_out.decode().splitlines()[-1]
        == f"{count(n - shown, 'more step')} not shown (--limit {args.limit})",
    }
    rows = [
        (
            "diff wall time / floor of both files",
            f"{res['diff_x']:.2f}x ({d_wall:.1f} s)",
            f"<= {DIFF_TIME_X}x",
            res["diff_x"] <= DIFF_TIME_X,
        ),
        (
            "diff CPU time / floor of both files",
            f"{res['diff_cpu_x']:.2f}x",
            f"<= {DIFF_TIME_X}x",
            res["diff_cpu_x"] <= DIFF_TIME_X,
        ),
        (
            "diff peak RSS / size of both files",
            f"{res['diff_rss_x']:.2f}x ({res['diff_rss_mb']:.0f} MB)",
            f"<= {DIFF_RSS_X}x",
            res["diff_rss_x"] <= DIFF_RSS_X,
        ),
        (
            "diff finds the planted change only",
            f"{len(findings)} finding(s)",
            "1, at the change",
            res["diff_finding_ok"],
        ),
        (
            "inspect --no-steps wall time / floor of one file",
            f"{res['outline_x']:.2f}x ({o_wall:.1f} s)",
            f"<= {OUTLINE_TIME_X}x",
            res["outline_x"] <= OUTLINE_TIME_X,
        ),
        (
            "inspect --no-steps CPU time / floor of one file",
            f"{res['outline_cpu_x']:.2f}x",
            f"<= {OUTLINE_TIME_X}x",
            res["outline_cpu_x"] <= OUTLINE_TIME_X,
        ),
        (
            f"inspect --no-steps RSS, {n:,} vs {max(2, n // 4):,} spans",
            f"{res['outline_rss_flat_x']:.2f}x ({res['outline_rss_mb']:.0f} vs {res['outline_small_rss_mb']:.0f} MB)",
            f"<= {OUTLINE_RSS_FLAT_X}x",
            res["outline_rss_flat_x"] <= OUTLINE_RSS_FLAT_X,
        ),
        (
            f"inspect --limit {args.limit}",
            f"{len(step_rows)} rows ({l_wall:.1f} s, {res['limit_rss_mb']:.0f} MB)",
            f"{shown} rows + left out",
            res["limit_ok"],
        ),
        (
            f"inspect --limit {args.limit} peak RSS / size of one file",
            f"{res['limit_rss_x']:.2f}x ({res['limit_rss_mb']:.0f} MB)",
            f"<= {LIMIT_RSS_X}x",
            res["limit_rss_x"] <= LIMIT_RSS_X,
        ),
        (
            "inspect (every step) wall time / floor of one file",
            f"{res['list_x']:.2f}x ({a_wall:.1f} s)",
            f"{n:,} rows",
            res["list_ok"],
        ),
        (
            "inspect (every step) peak RSS / size of one file",
            f"{res['list_rss_x']:.2f}x ({res['list_rss_mb']:.0f} MB)",
            "(reported)",
            True,
        ),
    ]
    w = max(len(r[0]) for r in rows)
    for name, value, target, met in rows:
        print(f"{name:<{w}}  {value:<28} {target:<18} {'yes' if met else 'NO'}")
    res["rows"] = rows
    return res


if __name__ == "__main__":
    result = main()
    sys.exit(0 if all(r[3] for r in result["rows"]) else 1)
