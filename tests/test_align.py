from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_replay.drift import align as align_mod
from otel_replay.drift.align import (
    Opcode,
    align,
    available_backends,
    lcs_length,
    strict_first_mismatch,
)

BACKENDS = available_backends()


def lcs_reference(a, b) -> int:
    """O(N*M) dynamic programming LCS length."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def apply_script(a, b, ops: list[Opcode]) -> list:
    """Check the opcodes are a contiguous, valid edit script and return the edited a."""
    out: list = []
    i = j = 0
    for op in ops:
        assert (op.a_start, op.b_start) == (i, j)
        assert op.a_start <= op.a_end and op.b_start <= op.b_end
        if op.tag == "equal":
            assert list(a[op.a_start : op.a_end]) == list(b[op.b_start : op.b_end])
            assert op.a_end - op.a_start == op.b_end - op.b_start
            out.extend(a[op.a_start : op.a_end])
        elif op.tag == "delete":
            assert op.b_start == op.b_end and op.a_end > op.a_start
        elif op.tag == "insert":
            assert op.a_start == op.a_end and op.b_end > op.b_start
            out.extend(b[op.b_start : op.b_end])
        else:
            assert op.tag == "replace"
            assert op.a_end > op.a_start and op.b_end > op.b_start
            out.extend(b[op.b_start : op.b_end])
        i, j = op.a_end, op.b_end
    assert (i, j) == (len(a), len(b))
    for prev, nxt in zip(ops, ops[1:]):
        assert prev.tag != nxt.tag  # hunks are maximal
        assert "equal" in (prev.tag, nxt.tag)  # delete+insert are merged into replace
    return out


def force_bit_parallel(monkeypatch) -> None:
    monkeypatch.setattr(align_mod, "_ONP_MIN_ITER", 0)
    monkeypatch.setattr(align_mod, "_PY_CELLS_PER_ITER", 10**12)


def tools(names: str) -> list[tuple[str, str]]:
    table = {"s": "search", "l": "lookup", "f": "fetch", "m": "gpt-4o"}
    return [("llm" if ch == "m" else "tool", table[ch]) for ch in names]


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_insertion_is_one_insert_opcode(backend):
    a = list("abcdefgh")
    b = list("abcXdefgh")
    assert align(a, b, backend=backend) == [
        Opcode("equal", 0, 3, 0, 3),
        Opcode("insert", 3, 3, 3, 4),
        Opcode("equal", 3, 8, 4, 9),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_deletion_is_one_delete_opcode(backend):
    assert align(list("abcdef"), list("abdef"), backend=backend) == [
        Opcode("equal", 0, 2, 0, 2),
        Opcode("delete", 2, 3, 2, 2),
        Opcode("equal", 3, 6, 2, 5),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_substitution_inside_a_repetitive_run_is_one_replace(backend):
    a = tools("s" * 300)
    b = tools("s" * 150 + "l" + "s" * 149)
    assert align(a, b, backend=backend) == [
        Opcode("equal", 0, 150, 0, 150),
        Opcode("replace", 150, 151, 150, 151),
        Opcode("equal", 151, 300, 151, 300),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_insertion_into_repetitive_run_pairs_everything_else(backend):
    a = tools("msf" * 200)
    b = a[:301] + tools("s") + a[301:]
    ops = align(a, b, backend=backend)
    assert [op.tag for op in ops] == ["equal", "insert", "equal"]
    assert lcs_length(ops) == 600
    assert apply_script(a, b, ops) == b


def test_bit_parallel_fallback_is_exact(monkeypatch):
    force_bit_parallel(monkeypatch)
    rnd = random.Random(7)
    for _ in range(200):
        a = [rnd.randrange(3) for _ in range(rnd.randrange(0, 40))]
        b = [rnd.randrange(3) for _ in range(rnd.randrange(0, 40))]
        ops = align(a, b, backend="python")
        assert apply_script(a, b, ops) == b
        assert lcs_length(ops) == lcs_reference(a, b)


def test_bit_parallel_fallback_crosses_checkpoint_blocks(monkeypatch):
    force_bit_parallel(monkeypatch)
    rnd = random.Random(11)
    a = [rnd.randrange(4) for _ in range(300)]
    b = [rnd.randrange(4) for _ in range(280)]
    ops = align(a, b, backend="python")
    assert apply_script(a, b, ops) == b
    assert lcs_length(ops) == lcs_reference(a, b)


def test_edge_cases():
    assert align([], []) == []
    assert align([], ["x"]) == [Opcode("insert", 0, 0, 0, 1)]
    assert align(["x"], []) == [Opcode("delete", 0, 1, 0, 0)]
    assert align(["x", "y"], ["x", "y"]) == [Opcode("equal", 0, 2, 0, 2)]
    assert align(["x"], ["y"]) == [Opcode("replace", 0, 1, 0, 1)]
    assert align((1, 2, 3), (1, 2, 3, 4)) == [
        Opcode("equal", 0, 3, 0, 3),
        Opcode("insert", 3, 3, 3, 4),
    ]


def test_items_with_colliding_hashes_stay_distinct():
    # -1 and -2 have the same hash in CPython; they must still be different items.
    assert hash(-1) == hash(-2)
    assert align([-1, -1], [-2, -1]) == [Opcode("replace", 0, 1, 0, 1), Opcode("equal", 1, 2, 1, 2)]


def test_strict_first_mismatch():
    assert strict_first_mismatch(["a", "b", "c"], ["a", "b", "c"]) is None
    assert strict_first_mismatch(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert strict_first_mismatch(["a", "b"], ["a", "b", "c"]) == 2
    assert strict_first_mismatch(["a", "b", "c"], ["a"]) == 1
    assert strict_first_mismatch([], []) is None
    assert strict_first_mismatch([], ["a"]) == 0


def test_large_repetitive_runs_stay_fast():
    rnd = random.Random(3)
    names = ["search"] * 8 + ["fetch"] * 4 + ["read"] * 2 + ["calc", "lookup"]
    a = [("tool", rnd.choice(names)) for _ in range(10_000)]
    b = list(a)
    for _ in range(100):
        i = rnd.randrange(len(b))
        b[i : i + 1] = rnd.choice([[], [("tool", "lookup")], [b[i], ("tool", "calc")]])
    for backend in BACKENDS:
        t0 = time.perf_counter()
        ops = align(a, b, backend=backend)
        elapsed = time.perf_counter() - t0
        assert apply_script(a, b, ops) == b
        assert elapsed < 1.0, (backend, elapsed)  # quadratic algorithms take tens of seconds
    assert lcs_length(align(a, b, backend="python")) == lcs_length(align(a, b))


small_seqs = st.lists(st.integers(min_value=0, max_value=3), max_size=25)


@settings(max_examples=400, deadline=None)
@given(small_seqs, small_seqs)
def test_align_is_a_minimal_valid_edit_script(a, b):
    ref = lcs_reference(a, b)
    for backend in BACKENDS:
        ops = align(a, b, backend=backend)
        assert apply_script(a, b, ops) == b
        assert lcs_length(ops) == ref


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["s", "l", "m"]), min_size=1, max_size=60), st.data())
def test_single_edit_yields_a_single_hunk(a, data):
    i = data.draw(st.integers(min_value=0, max_value=len(a)))
    b = a[:i] + ["X"] + a[i:]
    ops = align(a, b)
    assert [op.tag for op in ops if op.tag != "equal"] == ["insert"]
    assert lcs_length(ops) == len(a)
    j = data.draw(st.integers(min_value=0, max_value=len(a) - 1))
    c = a[:j] + ["X"] + a[j + 1 :]
    ops = align(a, c)
    assert [op.tag for op in ops if op.tag != "equal"] == ["replace"]
    assert [(op.a_start, op.b_start) for op in ops if op.tag == "replace"] == [(j, j)]


@settings(max_examples=100, deadline=None)
@given(small_seqs, small_seqs)
def test_bit_parallel_property(a, b):
    sa, sb = align_mod._encode(a, b)
    ca, cb = bytearray(len(a) + 2), bytearray(len(b) + 2)
    if a and b:
        align_mod._bit_lcs(sa, sb, ca, cb, 0, 0)
        assert len(a) - sum(ca) == lcs_reference(a, b) == len(b) - sum(cb)
