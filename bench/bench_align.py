"""Benchmark :func:`otel_replay.drift.align.align` against difflib, rapidfuzz and edlib.

Runs of 100, 1k and 10k realistic, highly repetitive step signatures (an agent loop over a
handful of tools and one model) are perturbed at 1% of positions by substitution, insertion
or deletion (fixed seed). Each method is timed (median of repeats after a warm-up) and checked
for minimality: its number of paired elements must equal the LCS length found by ``align``.

A second table times the whole drift comparison (:func:`otel_replay.drift.compare.compare`:
alignment plus field diffs of every paired step) on steps shaped like normalized spans.

Usage: ``python bench/bench_align.py [--sizes 100,1000,10000] [--budget 0.5]``
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift import align as align_mod
from otel_replay.drift.align import align, available_backends, lcs_length
from otel_replay.drift.compare import compare
from otel_replay.model.steps import Step

Indel: Any
edlib: Any
try:
    from rapidfuzz.distance import Indel
except ImportError:  # pragma: no cover
    Indel = None
try:
    import edlib  # type: ignore[no-redef]
except ImportError:  # pragma: no cover
    edlib = None

Sig = tuple[str, str]
Item = tuple[str, str, int]  # kind, name, payload id (arguments/outputs of that call)
TOOLS = ["search", "fetch_page", "read_file", "calculator", "lookup"]


def make_run(n: int, rnd: random.Random) -> list[Item]:
    """A plausible agent trace: plan, then loops of llm -> decision -> tool(s)."""
    run: list[Item] = [("agent", "planner", 0)]
    while len(run) < n:
        run.append(("llm", "gpt-4o", len(run)))
        run.append(("decision", "route", len(run)))
        for _ in range(rnd.choice((1, 1, 1, 2, 3))):
            run.append(("tool", rnd.choices(TOOLS, weights=(8, 4, 2, 1, 1))[0], len(run)))
    return run[:n]


def perturb(run: list[Item], rate: float, rnd: random.Random) -> list[Item]:
    """Substitute, insert or delete at ``rate`` of the positions (new calls get new payloads)."""
    out = list(run)
    fresh = len(run)
    for _ in range(max(1, round(len(run) * rate))):
        i = rnd.randrange(len(out))
        op = rnd.choice(("sub", "ins", "del"))
        fresh += 1
        if op == "sub":
            out[i] = ("tool", rnd.choice([t for t in TOOLS if t != out[i][1]]), fresh)
        elif op == "ins":
            out.insert(i, ("tool", rnd.choice(TOOLS), fresh))
        else:
            del out[i]
    return out


def signatures(run: list[Item]) -> list[Sig]:
    return [(kind, name) for kind, name, _ in run]


def to_steps(run: list[Item], session: str, rnd: random.Random) -> list[Step]:
    """Steps shaped like :func:`otel_replay.model.steps.normalize_span` output for ``run``."""
    steps = []
    t = 1_700_000_000_000_000_000
    for i, (kind, name, pid) in enumerate(run):
        attrs: dict[str, Any] = {c.STEP_SEQUENCE: i + 1}
        inputs: Any = None
        outputs: Any = None
        if kind == "tool":
            args = json.dumps({"query": f"{name} {pid}", "limit": 10})
            result = json.dumps({"hits": [pid % 13, pid % 7], "ok": True})
            attrs.update({c.GEN_AI_TOOL_CALL_ARGUMENTS: args, c.GEN_AI_TOOL_CALL_RESULT: result})
            inputs, outputs = json.loads(args), json.loads(result)
        elif kind == "llm":
            out = json.dumps([{"role": "assistant", "parts": [{"content": f"thought {pid}"}]}])
            attrs.update(
                {
                    c.GEN_AI_OUTPUT_MESSAGES: out,
                    c.GEN_AI_USAGE_INPUT_TOKENS: 100 + pid % 50,
                    c.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
                }
            )
            outputs = json.loads(out)
        elif kind == "decision":
            attrs.update({c.DECISION_ACTION: "tool", c.DECISION_CONFIDENCE: 0.9})
            outputs = {"action": "tool", "confidence": 0.9}
        dur = 5_000_000 + pid % 1_000_000
        steps.append(
            Step(
                session_id=session,
                sequence=i + 1,
                kind=kind,
                name=name,
                span_name=name,
                trace_id=f"{rnd.getrandbits(128):032x}",
                span_id=f"{rnd.getrandbits(64):016x}",
                parent_span_id=None,
                start_time_unix_nano=t,
                end_time_unix_nano=t + dur,
                status="ok",
                status_message=None,
                importance=0.5,
                inputs=inputs,
                outputs=outputs,
                attributes=attrs,
            )
        )
        t += dur + 1000
    return steps


def difflib_pairs(a: Sequence[Any], b: Sequence[Any], autojunk: bool) -> int:
    sm = difflib.SequenceMatcher(None, a, b, autojunk=autojunk)
    return sum(i2 - i1 for tag, i1, i2, _, _ in sm.get_opcodes() if tag == "equal")


def rapidfuzz_pairs(a: Sequence[Any], b: Sequence[Any]) -> int:
    ops = Indel.opcodes(a, b)
    return sum(op.src_end - op.src_start for op in ops if op.tag == "equal")


def edlib_pairs(a: Sequence[Any], b: Sequence[Any]) -> int:
    res = edlib.align(a, b, task="path")
    cigar, num, pairs = res["cigar"], "", 0
    for ch in cigar:
        if ch.isdigit():
            num += ch
        else:
            pairs += int(num) if ch == "=" else 0
            num = ""
    return pairs


def timeit(fn: Callable[[], Any], budget: float) -> tuple[float, float, Any]:
    """Median wall and CPU seconds over repeats (after a warm-up run) within about ``budget``
    seconds, and fn's result. A warm-up slower than ``budget`` is the only sample.

    CPU time (``time.process_time``) is robust to other processes time-slicing this one on a
    busy machine; wall time is what a caller waits.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    if first > budget:
        return first, first_cpu, result
    repeats = max(5, min(300, int(budget / max(first, 1e-6))))
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per method and size")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)

    runs: dict[int, tuple[list[Item], list[Item]]] = {}
    for n in (int(x) for x in args.sizes.split(",")):
        rnd = random.Random(args.seed + n)
        items_a = make_run(n, rnd)
        runs[n] = (items_a, perturb(items_a, args.rate, rnd))
    print(f"backends available: {', '.join(available_backends())}; perturbation rate {args.rate}")
    align_table(runs, args.budget)
    print()
    compare_table(runs, args.seed, args.budget)


def align_table(runs: dict[int, tuple[list[Item], list[Item]]], budget: float) -> None:
    """Time every alignment method on the signature lists and check minimality ("x ours" is
    the CPU-time ratio to ``align (auto)``)."""
    methods: list[tuple[str, Callable[[list[Sig], list[Sig]], int]]] = [
        ("align (auto)", lambda a, b: lcs_length(align(a, b))),
        ("align (python)", lambda a, b: lcs_length(align(a, b, backend="python"))),
        ("difflib autojunk=False", lambda a, b: difflib_pairs(a, b, False)),
        ("difflib autojunk=True", lambda a, b: difflib_pairs(a, b, True)),
    ]
    if Indel is not None:
        methods.append(("rapidfuzz Indel.opcodes", rapidfuzz_pairs))
    if edlib is not None:
        methods.append(("edlib align(path)", edlib_pairs))
    header = (
        f"{'n':>6} {'method':<24} {'wall ms':>10} {'cpu ms':>10} {'x ours':>7} "
        f"{'pairs':>6} {'minimal':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, (items_a, items_b) in runs.items():
        a, b = signatures(items_a), signatures(items_b)
        ref = lcs_length(align(a, b, backend="python"))
        ours: float | None = None
        for name, fn in methods:
            wall, cpu, pairs = timeit(partial(fn, a, b), budget)
            ours = ours if ours is not None else cpu
            minimal = "yes" if pairs == ref else f"NO -{ref - pairs}"
            print(
                f"{n:>6} {name:<24} {wall * 1e3:>10.3f} {cpu * 1e3:>10.3f} "
                f"{cpu / max(ours, 1e-9):>7.2f} {pairs:>6} {minimal:>8}"
            )
        print(f"{'':>6} (LCS {ref}, len(a)={len(a)}, len(b)={len(b)}, distinct={len(set(a + b))})")


def compare_table(runs: dict[int, tuple[list[Item], list[Item]]], seed: int, budget: float) -> None:
    """Time the whole drift comparison (alignment plus field diffs)."""
    print("whole drift comparison: compare(baseline, candidate) incl. field diffs")
    header = f"{'n':>6} {'backend':<8} {'wall ms':>10} {'cpu ms':>10} {'findings':>9}"
    print(header)
    print("-" * len(header))
    for n, (items_a, items_b) in runs.items():
        rnd = random.Random(seed)
        base, cand = to_steps(items_a, "baseline", rnd), to_steps(items_b, "candidate", rnd)
        for backend in ("auto", "python"):
            saved = align_mod._rf_indel
            if backend == "python":
                align_mod._rf_indel = None
            try:
                wall, cpu, report = timeit(partial(compare, base, cand), budget)
            finally:
                align_mod._rf_indel = saved
            print(
                f"{n:>6} {backend:<8} {wall * 1e3:>10.3f} {cpu * 1e3:>10.3f} "
                f"{len(report.findings):>9}"
            )


if __name__ == "__main__":
    main()
