"""Field comparison of one pair of steps: same signature (arguments, output, tokens,
decision, status, latency) or same kind under another name, as findings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otel_replay.core import conventions as c
from otel_replay.drift.findings import DriftFinding, PairComparison, StepRef
from otel_replay.drift.jsondiff import json_diff
from otel_replay.drift.policy import DriftKind, DriftPolicy, Severity
from otel_replay.model.span_shapes import (
    _OI_KIND_KEY,
    _TL_KIND_KEY,
    LLM_OUTPUT_KEYS,
    TOOL_INPUT_KEYS,
    TOOL_OUTPUT_KEYS,
)
from otel_replay.model.step_print import (
    _ACTION,
    _CONFIDENCE,
    _IN_TOKENS,
    _OUT_TOKENS,
    _source,
)
from otel_replay.model.steps import Step

_EPS = 1e-9

# Attribute holding each kind's raw inputs/outputs; equal raw strings mean equal values.
_RAW_INPUT = {c.KIND_TOOL: c.GEN_AI_TOOL_CALL_ARGUMENTS, c.KIND_LLM: c.GEN_AI_INPUT_MESSAGES}
_RAW_OUTPUT = {c.KIND_TOOL: c.GEN_AI_TOOL_CALL_RESULT, c.KIND_LLM: c.GEN_AI_OUTPUT_MESSAGES}


def _foreign(ba: Mapping[str, Any], ca: Mapping[str, Any]) -> bool:
    """Whether either step comes from another instrumentation (inputs and outputs assembled
    from several attributes: only the decoded values can be compared)."""
    return _TL_KIND_KEY in ba or _OI_KIND_KEY in ba or _TL_KIND_KEY in ca or _OI_KIND_KEY in ca


def _compare_same(b: Step, cs: Step, pol: DriftPolicy, pos: int) -> PairComparison | None:
    """Field comparison of two steps with the same signature; ``None`` when identical.

    Hot path: equal raw source attributes short-circuit before any JSON is decoded.
    """
    res: PairComparison | None = None
    kind = b.kind
    ba = b.attributes
    ca = cs.attributes
    if kind == "tool":
        exact = not _foreign(ba, ca)
        if not exact or _source(ba, TOOL_INPUT_KEYS) != _source(ca, TOOL_INPUT_KEYS):
            res = _field_diff(
                res,
                DriftKind.ARGUMENTS_CHANGED,
                "arguments",
                b,
                cs,
                b.inputs,
                cs.inputs,
                pol,
                pos,
            )
        if not exact or _source(ba, TOOL_OUTPUT_KEYS) != _source(ca, TOOL_OUTPUT_KEYS):
            res = _field_diff(
                res, DriftKind.OUTPUT_CHANGED, "output", b, cs, b.outputs, cs.outputs, pol, pos
            )
    elif kind == "llm":
        if (
            _OI_KIND_KEY in ba
            or _OI_KIND_KEY in ca
            or _source(ba, LLM_OUTPUT_KEYS) != _source(ca, LLM_OUTPUT_KEYS)
        ):
            res = _field_diff(
                res, DriftKind.OUTPUT_CHANGED, "output", b, cs, b.outputs, cs.outputs, pol, pos
            )
        x, y = ba.get(_IN_TOKENS), ba.get(_OUT_TOKENS)
        if (
            type(x) is not int
            or type(y) is not int
            or x != ca.get(_IN_TOKENS)
            or y != ca.get(_OUT_TOKENS)
        ):
            res = _tokens(res, b, cs, pol, pos)
    elif kind == "decision":
        x, y = ba.get(_ACTION), ca.get(_ACTION)
        p, q = ba.get(_CONFIDENCE), ca.get(_CONFIDENCE)
        if x != y or p != q or type(x) is not type(y) or type(p) is not type(q):
            res = _decision(res, b, cs, pol, pos)
    if b.status != cs.status:
        res = _status(res, b, cs, pol, pos)
    cd = cs.end_time_unix_nano - cs.start_time_unix_nano
    if cd >= pol.min_latency_ns:
        bd = max(b.end_time_unix_nano - b.start_time_unix_nano, 0)
        if cd - bd >= pol.min_latency_ns and cd >= pol.latency_ratio * bd:
            res = _latency(res, b, cs, pol, pos, bd, cd)
    return res


def _new(res: PairComparison | None) -> PairComparison:
    return res if res is not None else PairComparison()


def _finding(
    res: PairComparison | None,
    pol: DriftPolicy,
    kind: DriftKind,
    severity: Severity | None,
    description: str,
    b: Step | None,
    cs: Step | None,
    pos: int,
    expected: Any = None,
    actual: Any = None,
    paths: Iterable[str] = (),
) -> PairComparison | None:
    if not pol.enabled(kind):
        return res
    res = _new(res)
    limit = pol.max_value_chars
    res.findings.append(
        DriftFinding(
            kind=kind,
            severity=pol.severity(kind, severity),
            description=description,
            expected=_jsonable(expected, limit),
            actual=_jsonable(actual, limit),
            paths=tuple(paths),
            position=pos,
            baseline=StepRef.from_step(b) if b is not None else None,
            candidate=StepRef.from_step(cs) if cs is not None else None,
        )
    )
    return res


def _field_diff(
    res: PairComparison | None,
    kind: DriftKind,
    what: str,
    b: Step,
    cs: Step,
    bv: Any,
    cv: Any,
    pol: DriftPolicy,
    pos: int,
) -> PairComparison | None:
    if kind is DriftKind.OUTPUT_CHANGED and b.kind == c.KIND_LLM and not pol.parallel_order:
        bv, cv = parallel_canonical(bv), parallel_canonical(cv)
    changes = json_diff(bv, cv, ignore=pol.ignore_paths, volatile=pol.volatile)
    if not changes:
        return res
    paths = [ch.path for ch in changes]
    if pol.enabled(kind):
        res = _new(res)
        res.changes.extend(changes)
    return _finding(
        res,
        pol,
        kind,
        None,
        f"{what} of {b.kind} {b.name!r} changed at step {pos}: {_paths_text(paths)}",
        b,
        cs,
        pos,
        expected={ch.path: ch.expected for ch in changes if ch.op != "added"},
        actual={ch.path: ch.actual for ch in changes if ch.op != "removed"},
        paths=paths,
    )


def _paths_text(paths: Sequence[str], limit: int = 3) -> str:
    text = ", ".join(paths[:limit])
    if len(paths) > limit:
        text += f" (+{len(paths) - limit} more)"
    return text


def _tokens(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    bi, bo = b.input_tokens, b.output_tokens
    ci, co = cs.input_tokens, cs.output_tokens
    if (bi is None and bo is None) or (ci is None and co is None):
        return res
    bt = (bi or 0) + (bo or 0)
    ct = (ci or 0) + (co or 0)
    if bt <= 0 or ct <= bt or ct < pol.token_ratio * bt or ct - bt < pol.min_token_increase:
        return res
    return _finding(
        res,
        pol,
        DriftKind.TOKEN_USAGE_REGRESSION,
        None,
        f"token usage of {b.kind} {b.name!r} regressed at step {pos}: "
        f"{bt} -> {ct} tokens ({ct / bt:.1f}x)",
        b,
        cs,
        pos,
        expected={"input_tokens": bi, "output_tokens": bo, "total_tokens": bt},
        actual={"input_tokens": ci, "output_tokens": co, "total_tokens": ct},
    )


def _confidence_value(v: Any) -> float | None:
    """A finite float, or ``None`` when ``v`` is not comparable."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _decision(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    ba, ca = b.decision_action, cs.decision_action
    if not (ba is ca or (type(ba) is type(ca) and ba == ca)):
        res = _finding(
            res,
            pol,
            DriftKind.DECISION_CHANGED,
            None,
            f"decision {b.name!r} changed at step {pos}: action {ba!r} -> {ca!r}",
            b,
            cs,
            pos,
            expected={"action": ba},
            actual={"action": ca},
            paths=("$.action",),
        )
    bc, cc = b.confidence, cs.confidence
    if bc is cc or (type(bc) is type(cc) and bc == cc):
        return res
    bf, cf = _confidence_value(bc), _confidence_value(cc)
    if bf is None or cf is None:
        res = _new(res)
        res.not_comparable.append("confidence")
        return res
    delta = abs(cf - bf)
    if delta >= pol.confidence_critical - _EPS:
        sev = Severity.CRITICAL
    elif delta >= pol.confidence_warning - _EPS:
        sev = Severity.WARNING
    else:
        return res
    return _finding(
        res,
        pol,
        DriftKind.CONFIDENCE_CHANGED,
        sev,
        f"confidence of decision {b.name!r} changed at step {pos}: {bf:g} -> {cf:g} "
        f"(delta {cf - bf:+.2f})",
        b,
        cs,
        pos,
        expected={"confidence": bf},
        actual={"confidence": cf},
        paths=("$.confidence",),
    )


def _status(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int
) -> PairComparison | None:
    if cs.status == "error":
        sev = Severity.CRITICAL
    elif b.status == "error":
        sev = Severity.INFO
    else:
        return res  # ok <-> unset
    text = f"status of {b.kind} {b.name!r} changed at step {pos}: {b.status} -> {cs.status}"
    if cs.status == "error" and cs.status_message:
        text += f" ({cs.status_message})"
    return _finding(
        res,
        pol,
        DriftKind.STATUS_CHANGED,
        sev,
        text,
        b,
        cs,
        pos,
        expected={"status": b.status, "message": b.status_message},
        actual={"status": cs.status, "message": cs.status_message},
        paths=("$.status",),
    )


def _latency(
    res: PairComparison | None, b: Step, cs: Step, pol: DriftPolicy, pos: int, bd: int, cd: int
) -> PairComparison | None:
    ratio = f" ({cd / bd:.1f}x)" if bd > 0 else ""
    return _finding(
        res,
        pol,
        DriftKind.LATENCY_REGRESSION,
        None,
        f"latency of {b.kind} {b.name!r} regressed at step {pos}: "
        f"{bd / 1e6:.1f} ms -> {cd / 1e6:.1f} ms{ratio}",
        b,
        cs,
        pos,
        expected={"duration_ns": bd},
        actual={"duration_ns": cd},
    )


def _compare_renamed(b: Step, cs: Step, pol: DriftPolicy, pos: int) -> PairComparison:
    """One finding for a same-kind step under another name, with its field differences."""
    res = PairComparison()
    if b.kind == c.KIND_TOOL:
        kind, label = DriftKind.TOOL_CHANGED, "tool"
        expected: dict[str, Any] = {"tool": b.name, "arguments": b.inputs}
        actual: dict[str, Any] = {"tool": cs.name, "arguments": cs.inputs}
    elif b.kind == c.KIND_LLM:
        kind, label = DriftKind.MODEL_CHANGED, "model"
        expected, actual = {"model": b.name}, {"model": cs.name}
    else:
        kind, label = DriftKind.DECISION_CHANGED, "decision"
        expected = {"decision": b.name, "action": b.decision_action}
        actual = {"decision": cs.name, "action": cs.decision_action}
    changes = json_diff(
        expected, actual, ignore=_prefixed(pol.ignore_paths, label), volatile=pol.volatile
    )
    res.changes.extend(changes)
    _finding(
        res,
        pol,
        kind,
        None,
        f"{label} changed at step {pos}: {b.name!r} -> {cs.name!r}",
        b,
        cs,
        pos,
        expected=expected,
        actual=actual,
        paths=[ch.path for ch in changes],
    )
    if b.status != cs.status:
        _status(res, b, cs, pol, pos)
    return res


def _prefixed(patterns: tuple[str, ...], label: str) -> tuple[str, ...]:
    """Ignore patterns re-rooted under ``$.arguments`` for the renamed-tool diff."""
    if label != "tool":
        return ()
    out = []
    for p in patterns:
        if p.startswith("$.."):
            out.append(p)
        elif p != "$":
            out.append("$.arguments" + p[1:])
    return tuple(out)


# --- helpers --------------------------------------------------------------------------------


def parallel_canonical(messages: Any) -> Any:
    """GenAI-shaped messages with the order of parallel tool calls removed: in each
    message, consecutive ``tool_call`` parts sorted by (name, arguments); in the list,
    consecutive ``tool`` messages sorted by content. Anything else is returned as is."""
    if not isinstance(messages, list):
        return messages
    out: list[Any] = []
    run: list[Any] = []
    for m in messages:
        if isinstance(m, Mapping) and m.get("role") == "tool":
            run.append(m)
            continue
        if run:
            out.extend(sorted(run, key=_tool_message_key))
            run = []
        if isinstance(m, Mapping) and isinstance(m.get("parts"), list):
            parts = m["parts"]
            calls = [p for p in parts if isinstance(p, Mapping) and p.get("type") == "tool_call"]
            if len(calls) > 1:
                rest = [
                    p
                    for p in parts
                    if not (isinstance(p, Mapping) and p.get("type") == "tool_call")
                ]
                m = {**m, "parts": rest + sorted(calls, key=_call_key)}
        out.append(m)
    if run:
        out.extend(sorted(run, key=_tool_message_key))
    return out


def _call_key(part: Mapping[str, Any]) -> str:
    return json.dumps([part.get("name"), part.get("arguments")], sort_keys=True, default=repr)


def _tool_message_key(m: Mapping[str, Any]) -> str:
    parts = m.get("parts")
    body = [
        {k: v for k, v in p.items() if k != "id"} if isinstance(p, Mapping) else p
        for p in (parts if isinstance(parts, list) else [])
    ]
    return json.dumps([m.get("name"), body, m.get("content")], sort_keys=True, default=repr)


def _jsonable(v: Any, limit: int, depth: int = 0) -> Any:
    """A JSON-serializable copy of ``v`` (long strings truncated, NaN/inf as strings)."""
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v if len(v) <= limit else v[:limit] + f"...(+{len(v) - limit} chars)"
    if depth >= 64:
        return _jsonable(_safe_repr(v), limit)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x, limit, depth + 1) for k, x in list(v.items())}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x, limit, depth + 1) for x in v]
    return _jsonable(_safe_repr(v), limit)


def _safe_repr(v: Any) -> str:
    try:
        return repr(v)
    except Exception:
        return f"<{type(v).__name__}>"
