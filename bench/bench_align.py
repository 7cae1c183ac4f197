"""Benchmark :func:`otel_replay.align.align` against difflib, rapidfuzz and edlib.

Runs of 100, 1k and 10k realistic, highly repetitive step signatures (an agent loop over a
handful of tools and one model) are perturbed at 1% of positions by substitution, insertion
or deletion (fixed seed). Each method is timed (median of repeats after a warm-up) and checked
for minimality: its number of paired elements must equal the LCS length found by ``align``.

Usage: ``python bench/bench_align.py [--sizes 100,1000,10000] [--budget 0.5]``
"""

from __future__ import annotations

import argparse
import difflib
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel_replay.align import align, available_backends, lcs_length

try:
    from rapidfuzz.distance import Indel
except ImportError:  # pragma: no cover
    Indel = None
try:
    import edlib
except ImportError:  # pragma: no cover
    edlib = None

Sig = tuple[str, str]
TOOLS = ["search", "fetch_page", "read_file", "calculator", "lookup"]


def make_run(n: int, rnd: random.Random) -> list[Sig]:
    """A plausible agent trace: plan, then loops of llm -> decision -> tool(s)."""
    run: list[Sig] = [("agent", "planner")]
    while len(run) < n:
        run.append(("llm", "gpt-4o"))
        run.append(("decision", "route"))
        for _ in range(rnd.choice((1, 1, 1, 2, 3))):
            run.append(("tool", rnd.choices(TOOLS, weights=(8, 4, 2, 1, 1))[0]))
    return run[:n]


def perturb(run: list[Sig], rate: float, rnd: random.Random) -> list[Sig]:
    """Substitute, insert or delete at ``rate`` of the positions."""
    out = list(run)
    for _ in range(max(1, round(len(run) * rate))):
        i = rnd.randrange(len(out))
        op = rnd.choice(("sub", "ins", "del"))
        if op == "sub":
            out[i] = ("tool", rnd.choice([t for t in TOOLS if ("tool", t) != out[i]]))
        elif op == "ins":
            out.insert(i, ("tool", rnd.choice(TOOLS)))
        else:
            del out[i]
    return out


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


def timeit(fn: Callable[[], int], budget: float) -> tuple[float, int]:
    """Median seconds over repeats (one warm-up) within ``budget`` seconds; and fn's result."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    repeats = max(3, min(200, int(budget / max(first, 1e-6))))
    if first > budget:
        repeats = 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per method and size")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)

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
    print(f"backends available: {', '.join(available_backends())}; perturbation rate {args.rate}")
    header = f"{'n':>6} {'method':<24} {'median ms':>10} {'x ours':>8} {'pairs':>7} {'minimal':>8}"
    print(header)
    print("-" * len(header))
    for n in (int(s) for s in args.sizes.split(",")):
        rnd = random.Random(args.seed + n)
        a = make_run(n, rnd)
        b = perturb(a, args.rate, rnd)
        ref = lcs_length(align(a, b, backend="python"))
        base = None
        for name, fn in methods:
            med, pairs = timeit(lambda fn=fn, a=a, b=b: fn(a, b), args.budget)
            base = base if base is not None else med
            minimal = "yes" if pairs == ref else f"NO -{ref - pairs}"
            print(f"{n:>6} {name:<24} {med * 1e3:>10.3f} {med / base:>8.1f} {pairs:>7} {minimal:>8}")
        print(f"{'':>6} (LCS {ref}, len(a)={len(a)}, len(b)={len(b)}, distinct={len(set(a + b))})")


if __name__ == "__main__":
    main()
