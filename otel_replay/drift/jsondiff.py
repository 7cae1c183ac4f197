"""Structural diff of JSON-like values with JSONPath-like paths.

Paths look like ``$``, ``$.query``, ``$.filters[2].op`` and ``$['a.b']`` (keys that are not
identifiers are quoted). Ignore patterns use the same syntax plus ``*`` for any one key or
index (``$.items[*].id``) and ``..`` for any depth (``$..id``).

Semantics: ``1 == 1.0``; NaN equals NaN; ``True`` is not ``1``; tuples are lists; strings at
the top level that contain JSON are decoded first; two strings that are equal once every
match of the ``volatile`` pattern (generated ids) is replaced by one placeholder are equal. Lists of different lengths are aligned
(a minimal edit script of their items), so one item inserted at the head is one ``added``
change: ``added`` paths give the index in ``actual``, ``removed`` and ``changed`` paths the
index in ``expected``. :func:`json_diff` never raises on values:
nesting deeper than ``max_depth`` and Python reference cycles are compared without recursing
and reported as one change at that path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from numbers import Number
from typing import Any, Literal

from otel_replay.drift.align import align
from otel_replay.model.span_shapes import decode_json_value

__all__ = ["JsonChange", "ChangeOp", "json_diff", "format_path", "type_name", "MAX_DEPTH"]

ChangeOp = Literal["changed", "added", "removed", "type_changed"]

#: Containers nested deeper than this are compared as a whole (one change, no recursion).
MAX_DEPTH = 64

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class JsonChange:
    """One difference: ``op`` at ``path``; ``None`` stands for the absent side."""

    path: str
    op: ChangeOp
    expected: Any
    actual: Any

    def to_dict(self) -> dict[str, Any]:
        """Plain dict form (values as given)."""
        return {"path": self.path, "op": self.op, "expected": self.expected, "actual": self.actual}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JsonChange:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["path"]), d["op"], d.get("expected"), d.get("actual"))


def format_path(segments: Iterable[str | int]) -> str:
    """Render path segments (keys and indices) as ``$.a[0]['b.c']``."""
    return "$" + "".join(_segment(s) for s in segments)


def _segment(seg: Any) -> str:
    if isinstance(seg, int) and not isinstance(seg, bool):
        return f"[{seg}]"
    key = seg if isinstance(seg, str) else str(seg)
    if _IDENT.match(key):
        return "." + key
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def json_diff(
    expected: Any,
    actual: Any,
    *,
    ignore: Iterable[str] = (),
    max_depth: int = MAX_DEPTH,
    volatile: re.Pattern[str] | None = None,
) -> list[JsonChange]:
    """Differences turning ``expected`` into ``actual``, in document order.

    ``ignore`` holds path patterns whose subtrees are skipped; a malformed pattern raises
    :class:`ValueError`. Strings equal up to matches of ``volatile`` are equal. Values never
    make this function raise.
    """
    patterns = _compile((ignore,) if isinstance(ignore, str) else tuple(ignore))
    try:
        x, y = _decode(expected), _decode(actual)
        states = tuple((i, 0) for i in range(len(patterns)))
        if any(not p for p in patterns):  # "$" ignores everything
            return []
        out: list[JsonChange] = []
        _Differ(patterns, max(0, max_depth), out, volatile).diff(x, y, [], states, 0)
        return out
    except Exception:  # pragma: no cover - last-resort guard for exotic objects
        if expected is actual:
            return []
        return [JsonChange("$", "changed", expected, actual)]


def _decode(v: Any) -> Any:
    """:func:`otel_replay.model.span_shapes.decode_json_value`, keeping the string if nesting is too deep."""
    try:
        return decode_json_value(v)
    except RecursionError:
        return v


# --- ignore patterns ------------------------------------------------------------------------

_DESC = ("..",)
_ANY = ("*",)
Token = tuple[Any, ...]


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> tuple[tuple[Token, ...], ...]:
    return tuple(_parse(p) for p in patterns)


def _parse(pattern: str) -> tuple[Token, ...]:
    """Tokens of an ignore pattern: ``("k", key)``, ``("i", index)``, ``*`` and ``..``."""
    if not isinstance(pattern, str) or not pattern.startswith("$"):
        raise ValueError(f"ignore pattern must start with '$': {pattern!r}")
    tokens: list[Token] = []
    i, n = 1, len(pattern)
    while i < n:
        c = pattern[i]
        if c == ".":
            if pattern.startswith("..", i):
                tokens.append(_DESC)
                i += 2
                if i < n and pattern[i] == "[":
                    continue
            else:
                i += 1
            j = i
            while j < n and pattern[j] not in ".[]'\"":
                j += 1
            name = pattern[i:j]
            if not name:
                raise ValueError(f"malformed ignore pattern {pattern!r} at offset {i}")
            tokens.append(_ANY if name == "*" else ("k", name))
            i = j
        elif c == "[" and i + 1 < n and pattern[i + 1] in "'\"":
            quote, j, key = pattern[i + 1], i + 2, []
            while j < n and pattern[j] != quote:
                if pattern[j] == "\\" and j + 1 < n:
                    j += 1
                key.append(pattern[j])
                j += 1
            if pattern[j + 1 : j + 2] != "]":
                raise ValueError(f"malformed ignore pattern {pattern!r} at offset {i}")
            tokens.append(("k", "".join(key)))
            i = j + 2
        elif c == "[":
            j = pattern.find("]", i)
            body = pattern[i + 1 : j] if j > i else ""
            if body == "*":
                tokens.append(_ANY)
            elif re.fullmatch(r"-?\d+", body):
                tokens.append(("i", int(body)))
            else:
                raise ValueError(f"malformed ignore pattern {pattern!r} at offset {i}")
            i = j + 1
        else:
            raise ValueError(f"malformed ignore pattern {pattern!r} at offset {i}")
    if tokens and tokens[-1] is _DESC:
        raise ValueError(f"ignore pattern must not end with '..': {pattern!r}")
    return tuple(tokens)


def _token_matches(tok: Token, seg: Any, is_index: bool) -> bool:
    if tok is _ANY:
        return True
    if tok[0] == "i":
        return is_index and tok[1] == seg
    return not is_index and tok[1] == (seg if isinstance(seg, str) else str(seg))


# --- diff -----------------------------------------------------------------------------------

_NULL, _BOOL, _NUM, _STR, _ARR, _OBJ, _OTHER = range(7)
_TYPE_NAMES = ("null", "boolean", "number", "string", "array", "object", "other")
_FAST_TYPES = {type(None): _NULL, bool: _BOOL, int: _NUM, float: _NUM, str: _STR}
_FAST_TYPES.update({list: _ARR, tuple: _ARR, dict: _OBJ})


def _jtype(v: Any) -> int:
    t = _FAST_TYPES.get(type(v))
    if t is not None:
        return t
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, Number):
        return _NUM
    if isinstance(v, str):
        return _STR
    if isinstance(v, Mapping):
        return _OBJ
    if isinstance(v, (list, tuple, set, frozenset)):
        return _ARR
    return _OTHER


def _items(v: Any) -> list[Any]:
    if isinstance(v, (set, frozenset)):
        try:
            return sorted(v, key=repr)
        except Exception:
            return list(v)
    return v if isinstance(v, list) else list(v)


def _is_nan(v: Any) -> bool:
    try:
        return bool(v != v)
    except Exception:
        return False


def _scalar_equal(x: Any, y: Any) -> bool:
    try:
        if x == y:
            return True
    except Exception:
        return False
    return _is_nan(x) and _is_nan(y)


class _Differ:
    __slots__ = ("patterns", "max_depth", "out", "stack_x", "stack_y", "volatile")

    def __init__(
        self,
        patterns: tuple[tuple[Token, ...], ...],
        max_depth: int,
        out: list,
        volatile: re.Pattern[str] | None = None,
    ) -> None:
        self.patterns = patterns
        self.max_depth = max_depth
        self.out: list[JsonChange] = out
        self.stack_x: set[int] = set()
        self.stack_y: set[int] = set()
        self.volatile = volatile

    def advance(self, states: tuple, seg: Any, is_index: bool) -> tuple | None:
        """NFA step over one segment; ``None`` if the child path is ignored."""
        out: list[tuple[int, int]] = []
        for pi, pos in states:
            toks = self.patterns[pi]
            while True:
                tok = toks[pos]
                if tok is _DESC:
                    if (pi, pos) not in out:
                        out.append((pi, pos))  # ".." swallows this segment
                    pos += 1  # ... or matches nothing and the next token takes it
                    continue
                if _token_matches(tok, seg, is_index):
                    if pos + 1 == len(toks):
                        return None
                    if (pi, pos + 1) not in out:
                        out.append((pi, pos + 1))
                break
        return tuple(out)

    def change(self, segs: list, op: ChangeOp, x: Any, y: Any) -> None:
        self.out.append(JsonChange(format_path(segs), op, x, y))

    def diff(self, x: Any, y: Any, segs: list, states: tuple, depth: int) -> None:
        if x is y:
            return
        tx, ty = _jtype(x), _jtype(y)
        if tx != ty:
            self.change(segs, "type_changed", x, y)
            return
        if tx == _OBJ or tx == _ARR:
            ix, iy = id(x), id(y)
            if depth >= self.max_depth or ix in self.stack_x or iy in self.stack_y:
                if not _container_equal(x, y):
                    self.change(segs, "changed", x, y)
                return
            self.stack_x.add(ix)
            self.stack_y.add(iy)
            try:
                if tx == _OBJ:
                    self.diff_object(x, y, segs, states, depth)
                else:
                    self.diff_array(_items(x), _items(y), segs, states, depth)
            finally:
                self.stack_x.discard(ix)
                self.stack_y.discard(iy)
            return
        if not _scalar_equal(x, y):
            vol = self.volatile
            if tx == _STR and vol is not None and vol.sub("\x00", x) == vol.sub("\x00", y):
                return
            self.change(segs, "changed", x, y)

    def diff_object(self, x: Any, y: Any, segs: list, states: tuple, depth: int) -> None:
        for key in list(x.keys()):
            child = self.advance(states, key, False) if states else states
            if child is None:
                continue
            segs.append(key if isinstance(key, str) else str(key))
            if key in y:
                self.diff(x[key], y[key], segs, child, depth + 1)
            else:
                self.change(segs, "removed", x[key], None)
            segs.pop()
        for key in list(y.keys()):
            if key in x:
                continue
            if states and self.advance(states, key, False) is None:
                continue
            segs.append(key if isinstance(key, str) else str(key))
            self.change(segs, "added", None, y[key])
            segs.pop()

    def diff_array(self, x: list, y: list, segs: list, states: tuple, depth: int) -> None:
        nx, ny = len(x), len(y)
        if nx != ny and nx and ny:
            self.diff_aligned(x, y, segs, states, depth)
            return
        for i in range(max(nx, ny)):
            child = self.advance(states, i, True) if states else states
            if child is None:
                continue
            segs.append(i)
            if i >= nx:
                self.change(segs, "added", None, y[i])
            elif i >= ny:
                self.change(segs, "removed", x[i], None)
            else:
                self.diff(x[i], y[i], segs, child, depth + 1)
            segs.pop()

    def diff_aligned(self, x: list, y: list, segs: list, states: tuple, depth: int) -> None:
        """Lists of different lengths: pair items along a minimal edit script of their
        content keys; paired items are diffed, the others are ``removed`` (index in ``x``)
        or ``added`` (index in ``y``)."""
        kx = [_canonical(v, self.volatile) for v in x]
        ky = [_canonical(v, self.volatile) for v in y]
        for tag, i1, i2, j1, j2 in align(kx, ky):  # minimal, near-linear when lists agree
            if tag == "equal":
                continue
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(paired):
                self.item(x, y, i1 + k, j1 + k, segs, states, depth)
            for i in range(i1 + paired, i2):
                self.item(x, None, i, None, segs, states, depth)
            for j in range(j1 + paired, j2):
                self.item(None, y, None, j, segs, states, depth)

    def item(
        self,
        x: list | None,
        y: list | None,
        i: int | None,
        j: int | None,
        segs: list,
        states: tuple,
        depth: int,
    ) -> None:
        idx = i if i is not None else j
        child = self.advance(states, idx, True) if states else states
        if child is None:
            return
        segs.append(idx)
        if x is None or i is None:
            assert y is not None and j is not None
            self.change(segs, "added", None, y[j])
        elif y is None or j is None:
            self.change(segs, "removed", x[i], None)
        else:
            self.diff(x[i], y[j], segs, child, depth + 1)
        segs.pop()


def _canonical(v: Any, volatile: re.Pattern[str] | None, depth: int = 0) -> str:
    """A stable text of ``v`` (the alignment key of a list item) where volatile strings
    are one placeholder; items with equal keys are taken as unchanged."""

    def norm(o: Any, d: int) -> Any:
        if d > 32:
            return repr(o)
        if isinstance(o, str):
            return volatile.sub("\x00", o) if volatile is not None else o
        if isinstance(o, Mapping):
            return {str(k): norm(val, d + 1) for k, val in o.items()}
        if isinstance(o, (list, tuple)):
            return [norm(val, d + 1) for val in o]
        return o

    try:
        return json.dumps(norm(v, depth), sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(v)


def _container_equal(x: Any, y: Any) -> bool:
    """Equality of containers compared without recursing (depth cap or cycle)."""
    if x is y:
        return True
    try:
        return bool(x == y)
    except Exception:  # RecursionError on very deep or cyclic values
        return False


def type_name(v: Any) -> str:
    """JSON type name of ``v`` (``null``, ``boolean``, ``number``, ``string``, ...)."""
    return _TYPE_NAMES[_jtype(v)]
