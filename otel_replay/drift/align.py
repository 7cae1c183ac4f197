"""Minimal (LCS) sequence alignment of step signatures.

:func:`align` returns difflib-style opcodes for a minimal edit script: the number of
unpaired elements is ``len(a) + len(b) - 2 * LCS(a, b)``. Items are mapped to dense ids (one
code point each) first, so the core works on ``str`` and compares runs of items with C-level
slice comparisons.

The engine trims the common prefix and suffix, then runs the Wu-Manber-Myers-Miller
``O(NP)`` algorithm (``P`` = deletions, near-linear when runs mostly agree) with galloping
snakes. When ``P`` grows so large that a bit-parallel LCS over the whole ``N*M`` matrix is
cheaper, it switches to rapidfuzz's ``Indel`` (C, ``backend="auto"`` when importable) or to a
Hyyrö bit-parallel LCS on Python integers (``backend="python"``, ``O(N*sqrt(M))`` bits of
memory). ``backend="rapidfuzz"`` always uses rapidfuzz. All backends are exact.

Among the many minimal scripts of repetitive sequences, the result is normalized by sliding
runs of changes (GNU diff's ``shift_boundaries``) so that a deletion and an insertion at the
same place form one ``replace`` opcode, and unpaired runs sit as late as possible otherwise.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import chain
from math import isqrt
from typing import Any, Literal, NamedTuple

__all__ = [
    "Opcode",
    "align",
    "align_codes",
    "lcs_length",
    "strict_first_mismatch",
    "available_backends",
]

Tag = Literal["equal", "replace", "delete", "insert"]
Backend = Literal["auto", "python", "rapidfuzz"]

_rf_indel: Any
try:  # optional C accelerator
    from rapidfuzz.distance import Indel as _rf_indel
except ImportError:  # pragma: no cover - depends on the environment
    _rf_indel = None

_MAX_CHR = 0x110000
# Cost model for switching from O(NP) to a bit-parallel LCS over the whole N*M matrix: one
# O(NP) step costs about as much as this many matrix cells (measured with bench/).
_RF_CELLS_PER_ITER = 5000
_PY_CELLS_PER_ITER = 1000
_ONP_MIN_ITER = 2000


class Opcode(NamedTuple):
    """One difflib-style hunk: ``a[a_start:a_end]`` becomes ``b[b_start:b_end]``."""

    tag: Tag
    a_start: int
    a_end: int
    b_start: int
    b_end: int


def available_backends() -> tuple[str, ...]:
    """Backends usable in this interpreter (``python`` is always available)."""
    return ("python", "rapidfuzz") if _rf_indel is not None else ("python",)


def align(
    a: Sequence[Hashable], b: Sequence[Hashable], *, backend: Backend = "auto"
) -> list[Opcode]:
    """Minimal edit script turning ``a`` into ``b`` as difflib-style opcodes.

    Adjacent deletions and insertions are merged into ``replace`` opcodes. ``backend``
    selects the fallback for large edit distances (see the module docstring); every
    backend is exact.
    """
    if not a and not b:
        return []
    return align_codes(*_encode(a, b), backend=backend)


def align_codes(sa: str, sb: str, *, backend: Backend = "auto") -> list[Opcode]:
    """:func:`align` for sequences already encoded as one code point per item."""
    n, m = len(sa), len(sb)
    if n == 0 and m == 0:
        return []
    ca = bytearray(n + 2)  # padded change flags: ca[i + 1] is a[i]; sentinels at both ends
    cb = bytearray(m + 2)
    _mark_changes(sa, sb, ca, cb, backend)
    _shift_boundaries(sa, sb, ca, cb)
    _shift_boundaries(sb, sa, cb, ca)
    return _opcodes(ca, cb, n, m)


def lcs_length(opcodes: Sequence[Opcode]) -> int:
    """Number of paired (``equal``) elements in ``opcodes``."""
    return sum(op.a_end - op.a_start for op in opcodes if op.tag == "equal")


def strict_first_mismatch(a: Sequence[Hashable], b: Sequence[Hashable]) -> int | None:
    """Index of the first position where ``a`` and ``b`` differ, or ``None`` if identical.

    If one is a proper prefix of the other, the length of the shorter is returned.
    """
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    if len(a) != len(b):
        return min(len(a), len(b))
    return None


# --- encoding -------------------------------------------------------------------------------


def _encode(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[Any, Any]:
    """Map items to dense ids; return ``str`` (one code point per item) or id lists."""
    ids: dict[Hashable, Any] = dict.fromkeys(chain(a, b))
    if len(ids) < _MAX_CHR:
        for i, key in enumerate(ids):
            ids[key] = chr(i)
        get = ids.__getitem__
        return "".join(map(get, a)), "".join(map(get, b))
    for i, key in enumerate(ids):  # pragma: no cover - more than 1.1M distinct items
        ids[key] = i
    get = ids.__getitem__  # pragma: no cover
    return list(map(get, a)), list(map(get, b))  # pragma: no cover


def _common_prefix(sa: Any, sb: Any, x: int, y: int, limit: int) -> int:
    """Length of the common run ``sa[x:] == sb[y:]`` (at most ``limit``), galloping."""
    if limit <= 0 or sa[x] != sb[y]:
        return 0
    lo, step = 1, 2
    while True:
        hi = lo + step
        if hi > limit:
            hi = limit
        if sa[x + lo : x + hi] == sb[y + lo : y + hi]:
            lo = hi
            if lo == limit:
                return lo
            step += step
        else:
            break
    # sa[x:x+lo] == sb[y:y+lo]; the first mismatch is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if sa[x + lo : x + mid] == sb[y + lo : y + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _common_suffix(sa: Any, sb: Any, n: int, m: int, limit: int) -> int:
    """Length of the common suffix of ``sa[:n]`` and ``sb[:m]`` (at most ``limit``)."""
    if limit <= 0 or sa[n - 1] != sb[m - 1]:
        return 0
    lo, step = 1, 2
    while True:
        hi = lo + step
        if hi > limit:
            hi = limit
        if sa[n - hi : n - lo] == sb[m - hi : m - lo]:
            lo = hi
            if lo == limit:
                return lo
            step += step
        else:
            break
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if sa[n - mid : n - lo] == sb[m - mid : m - lo]:
            lo = mid
        else:
            hi = mid
    return lo


# --- LCS engines ----------------------------------------------------------------------------


def _mark_changes(sa: Any, sb: Any, ca: bytearray, cb: bytearray, backend: Backend) -> None:
    """Set the change flags of a minimal edit script (unpaired items) in ``ca``/``cb``."""
    n, m = len(sa), len(sb)
    pre = _common_prefix(sa, sb, 0, 0, min(n, m))
    suf = _common_suffix(sa, sb, n, m, min(n, m) - pre)
    a0, a1, b0, b1 = pre, n - suf, pre, m - suf
    if a0 == a1 or b0 == b1:
        ca[a0 + 1 : a1 + 1] = b"\x01" * (a1 - a0)
        cb[b0 + 1 : b1 + 1] = b"\x01" * (b1 - b0)
        return
    ta, tb = sa[a0:a1], sb[b0:b1]
    if backend == "rapidfuzz":
        _rf_changes(ta, tb, ca, cb, a0, b0)
        return
    tn, tm = a1 - a0, b1 - b0
    rf = backend == "auto" and _rf_indel is not None
    # Give O(NP) the time the bit-parallel fallback would need for the whole matrix.
    budget = max(_ONP_MIN_ITER, tn * tm // (_RF_CELLS_PER_ITER if rf else _PY_CELLS_PER_ITER))
    if tn <= tm:
        done = _onp(ta, tb, ca, cb, a0, b0, budget)
    else:
        done = _onp(tb, ta, cb, ca, b0, a0, budget)
    if done:
        return
    if rf:
        _rf_changes(ta, tb, ca, cb, a0, b0)
    else:
        _bit_lcs(ta, tb, ca, cb, a0, b0)


def _rf_changes(ta: Any, tb: Any, ca: bytearray, cb: bytearray, a0: int, b0: int) -> None:
    if _rf_indel is None:
        raise ValueError("rapidfuzz is not installed")
    for op in _rf_indel.editops(ta, tb):
        if op.tag == "delete":
            ca[a0 + op.src_pos + 1] = 1
        else:
            cb[b0 + op.dest_pos + 1] = 1


def _onp(A: Any, B: Any, ca: bytearray, cb: bytearray, a0: int, b0: int, max_iter: int) -> bool:
    """Wu-Manber-Myers-Miller O(NP) algorithm; False if it needs more than ``max_iter`` steps.

    ``A`` must not be longer than ``B``. ``fp[k]`` is the furthest ``y`` on diagonal
    ``k = y - x``; every step records a node (previous node, edit) for the backtrack.
    """
    n, m = len(A), len(B)
    delta = m - n
    off = n + 1
    fp = [-1] * (n + m + 3)
    path = [-1] * (n + m + 3)
    prevs: list[int] = []
    edits: list[int] = []  # y > 0: B[y - 1] inserted; -x < 0: A[x - 1] deleted; 0: start
    prefix = _common_prefix
    dko = delta + off
    p = -1
    iters = 0
    while fp[dko] != m:
        p += 1
        iters += delta + 2 * p + 1
        if iters > max_iter:
            return False
        ks = [*range(off - p, dko), *range(dko + p, dko, -1), dko]
        for ko in ks:
            y = fp[ko - 1] + 1
            y2 = fp[ko + 1]
            if y > y2:
                prev = path[ko - 1]
                edit = y if prev >= 0 else 0
            else:
                y = y2
                prev = path[ko + 1]
                edit = ko - off - y  # -x with x = y - k
            x = y - ko + off
            if x < n and y < m and A[x] == B[y]:
                y += prefix(A, B, x, y, min(n - x, m - y))
            fp[ko] = y
            path[ko] = len(prevs)
            prevs.append(prev)
            edits.append(edit)
    node = path[dko]
    while node >= 0:
        e = edits[node]
        if e > 0:
            cb[b0 + e] = 1
        elif e < 0:
            ca[a0 - e] = 1
        node = prevs[node]
    return True


def _bit_lcs(A: Any, B: Any, ca: bytearray, cb: bytearray, a0: int, b0: int) -> None:
    """Exact LCS by Hyyrö's bit-parallel recurrence on Python ints, with row checkpoints."""
    n, m = len(A), len(B)
    positions: dict[Any, list[int]] = {}
    for i, ch in enumerate(A):
        positions.setdefault(ch, []).append(i)
    nbytes = (n + 7) >> 3
    pm: dict[Any, int] = {}
    for ch, pos in positions.items():
        buf = bytearray(nbytes)
        for i in pos:
            buf[i >> 3] |= 1 << (i & 7)
        pm[ch] = int.from_bytes(buf, "little")
    mask = (1 << n) - 1
    block = max(1, isqrt(m))
    checkpoints: list[int] = []
    s = mask
    for r in range(m):
        if r % block == 0:
            checkpoints.append(s)
        u = s & pm.get(B[r], 0)
        s = ((s + u) | (s - u)) & mask

    # rows[r] is S after processing B[r]; a zero bit c means LCS grows at column c.
    col, row = n, m
    while row and col:
        start = ((row - 1) // block) * block
        s = checkpoints[start // block]
        rows: list[int] = []
        for r in range(start, row):
            u = s & pm.get(B[r], 0)
            s = ((s + u) | (s - u)) & mask
            rows.append(s)
        while row > start and col:
            if (rows[row - 1 - start] >> (col - 1)) & 1:
                col -= 1
                ca[a0 + col + 1] = 1
                continue
            row -= 1
            if row > start:
                bit = (rows[row - 1 - start] >> (col - 1)) & 1
            elif row:  # checkpoints[start // block] is S after processing B[start - 1]
                bit = (checkpoints[start // block] >> (col - 1)) & 1
            else:
                bit = 1
            if not bit:
                cb[b0 + row + 1] = 1
            else:
                col -= 1  # match A[col] == B[row]
    while col:
        col -= 1
        ca[a0 + col + 1] = 1
    while row:
        row -= 1
        cb[b0 + row + 1] = 1


# --- normalization and output ---------------------------------------------------------------


def _shift_boundaries(eq: Any, other_eq: Any, ch: bytearray, other: bytearray) -> None:
    """Slide runs of changes in ``ch`` (GNU diff's ``shift_boundaries``).

    Runs merge with neighbouring runs where possible, then move to face a run of changes
    in ``other`` if one is reachable, else as far forward as possible. Flags are padded:
    ``ch[i + 1]`` belongs to ``eq[i]``.
    """
    i_end = len(ch) - 1
    i = j = 1
    while True:
        # Scan forward to the next run of changes, tracking the corresponding point j.
        p = ch.find(1, i, i_end)
        if p == -1:
            break
        cnt = p - i
        while cnt:
            q = other.find(1, j)
            if q == -1 or q - j >= cnt:
                j += cnt
                break
            cnt -= q - j
            j = other.find(0, q)
        i = start = p
        i += 1
        while ch[i]:
            i += 1
        while other[j]:
            j += 1
        while True:
            runlength = i - start
            # Move the run back while the previous unchanged item equals the last changed one.
            while start > 1 and eq[start - 2] == eq[i - 2]:
                start -= 1
                ch[start] = 1
                i -= 1
                ch[i] = 0
                while ch[start - 1]:
                    start -= 1
                j -= 1
                while other[j]:
                    j -= 1
            corresponding = i if other[j - 1] else i_end
            # Move it forward while the first changed item equals the next unchanged one.
            while i != i_end and eq[start - 1] == eq[i - 1]:
                ch[start] = 0
                start += 1
                ch[i] = 1
                i += 1
                while ch[i]:
                    i += 1
                j += 1
                while other[j]:
                    corresponding = i
                    j += 1
            if runlength == i - start:
                break
        # Move the merged run back to face a run of changes in the other sequence.
        while corresponding < i:
            start -= 1
            ch[start] = 1
            i -= 1
            ch[i] = 0
            j -= 1
            while other[j]:
                j -= 1


def _opcodes(ca: bytearray, cb: bytearray, n: int, m: int) -> list[Opcode]:
    ops: list[Opcode] = []
    i = j = 0
    while True:
        na = ca.find(1, i + 1, n + 1)
        na = n if na == -1 else na - 1
        nb = cb.find(1, j + 1, m + 1)
        nb = m if nb == -1 else nb - 1
        run = min(na - i, nb - j)
        if run:
            ops.append(Opcode("equal", i, i + run, j, j + run))
            i += run
            j += run
        if i == n and j == m:
            return ops
        ie = ca.find(0, i + 1) - 1 if i < n and ca[i + 1] else i
        je = cb.find(0, j + 1) - 1 if j < m and cb[j + 1] else j
        if ie > i and je > j:
            ops.append(Opcode("replace", i, ie, j, je))
        elif ie > i:
            ops.append(Opcode("delete", i, ie, j, j))
        else:
            ops.append(Opcode("insert", i, i, j, je))
        i, j = ie, je
