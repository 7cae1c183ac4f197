"""The DriftProcessor's shortcut for runs that agree with their baseline.

Each span's signature and fingerprint are taken when it ends; a run whose profile equals
the baseline's gets the no-drift report without the full comparison. These tests prove, on
real spans from a real TracerProvider, that the shortcut is taken when it should be and that
the processor's report always equals the full ``compare()`` of the normalized run.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.capture.processor import ReplayProcessor
from otel_replay.core import conventions as c
from otel_replay.drift import processor as dp_mod
from otel_replay.drift.compare import compare, compare_pair
from otel_replay.drift.fingerprint import fingerprint
from otel_replay.drift.policy import DriftPolicy
from otel_replay.drift.processor import DriftProcessor
from otel_replay.model.steps import normalize_span
from otel_replay.restore.tracking import TrackingRegistry

MS = 1_000_000


class Rig:
    def __init__(self) -> None:
        mp = NoOpMeterProvider()
        self.provider = TracerProvider()
        self.replay = ReplayProcessor(meter_provider=mp)
        self.exporter = InMemorySpanExporter()
        self.drift = DriftProcessor(
            SimpleSpanProcessor(self.exporter), registry=TrackingRegistry(), meter_provider=mp
        )
        self.provider.add_span_processor(self.replay)
        self.provider.add_span_processor(self.drift)
        self.tracer = self.provider.get_tracer("shortcut")

    def run(self, sid: str, steps: list[dict[str, Any]], with_checkpoint: bool) -> str | None:
        """One agent run: a root span and one child span per step description."""
        cid = None
        t = 1_000 * MS
        with self.tracer.start_as_current_span(
            "invoke_agent a",
            attributes={
                c.SESSION_ID: sid,
                c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT,
                c.GEN_AI_AGENT_NAME: "a",
            },
        ):
            if with_checkpoint:
                cid = checkpoint({"s": 1}, label="start", tracer=self.tracer)
            prev = t
            for step in steps:
                start = prev if step.get("parallel") else t
                span = self.tracer.start_span(
                    step["name"], attributes=step["attrs"], start_time=start
                )
                if step["error"]:
                    span.set_status(Status(StatusCode.ERROR, "failed"))
                prev = start
                t = max(t, start + step["duration_ms"] * MS)
                span.end(end_time=start + step["duration_ms"] * MS)
        return cid

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def _tool(name: str = "search", **attrs: Any) -> dict[str, Any]:
    return {
        "name": f"execute_tool {name}",
        "attrs": {c.GEN_AI_OPERATION_NAME: c.OP_EXECUTE_TOOL, c.GEN_AI_TOOL_NAME: name, **attrs},
        "error": False,
        "duration_ms": 1,
    }


def test_agreeing_run_skips_the_full_comparison(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [
        _tool(**{c.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": 1}'}),  # no result attribute
        _tool("fetch", **{c.STEP_INPUT: '{"id": 2}', c.STEP_OUTPUT: '"text"'}),
    ]
    cid = rig.run("base", steps, with_checkpoint=True)
    assert cid is not None
    baseline = rig.replay.steps_after(cid)

    def full_comparison(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full comparison ran for an agreeing run")

    monkeypatch.setattr(dp_mod, "compare", full_comparison)
    rig.drift.track("cand", baseline)
    rig.run("cand", steps, with_checkpoint=False)
    report = rig.drift.reports["cand"]
    assert (report.findings, report.baseline_steps, report.candidate_steps) == ([], 2, 2)
    assert rig.drift.errors.count == 0


def test_slow_step_takes_the_full_comparison(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [_tool(**{c.GEN_AI_TOOL_CALL_ARGUMENTS: "{}"})]
    slow = [dict(fast[0], duration_ms=500)]
    cid = rig.run("base", fast, with_checkpoint=True)
    assert cid is not None
    calls: list[int] = []
    real = dp_mod.compare

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dp_mod, "compare", counting)
    rig.drift.track("cand", rig.replay.steps_after(cid))
    rig.run("cand", slow, with_checkpoint=False)
    assert calls == [1]
    assert rig.drift.reports["cand"].counts_by_kind == {"latency_regression": 1}


# ------------------------------------------------------------------ equivalence


def _step_strategy() -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["search", "fetch"])
    raw = st.sampled_from(['{"q": 1}', '{"q": 2}', '"x"', "[1, 2]", "plain text", "NaN"])
    tool = st.builds(
        lambda name, args, result, via_step_io, foreign: _tool(
            name,
            **(
                {c.STEP_INPUT: args, **({c.STEP_OUTPUT: result} if result else {})}
                if via_step_io
                else {
                    c.GEN_AI_TOOL_CALL_ARGUMENTS: args,
                    **({c.GEN_AI_TOOL_CALL_RESULT: result} if result else {}),
                }
            ),
            **({"openinference.span.kind": "TOOL"} if foreign else {}),
        ),
        names,
        raw,
        st.one_of(st.none(), raw),
        st.booleans(),
        st.booleans(),
    )
    llm = st.builds(
        lambda out, tokens: {
            "name": "chat m",
            "attrs": {
                c.GEN_AI_OPERATION_NAME: "chat",
                c.GEN_AI_REQUEST_MODEL: "m",
                **({c.GEN_AI_OUTPUT_MESSAGES: out} if out else {}),
                **({c.GEN_AI_USAGE_INPUT_TOKENS: tokens} if tokens is not None else {}),
            },
            "error": False,
            "duration_ms": 1,
        },
        st.one_of(st.none(), raw),
        st.one_of(st.none(), st.sampled_from([3, 4, 3.0])),
    )
    decision = st.builds(
        lambda action, conf: {
            "name": "decision d",
            "attrs": {c.DECISION_NAME: "d", c.DECISION_ACTION: action, c.DECISION_CONFIDENCE: conf},
            "error": False,
            "duration_ms": 1,
        },
        st.sampled_from(["go", "stop"]),
        st.sampled_from([0.9, 0.2, 1, 1.0, True]),
    )
    plumbing = st.builds(
        lambda out: {
            "name": "RunnableSequence",
            "attrs": {"openinference.span.kind": "CHAIN", "output.value": out},
            "error": False,
            "duration_ms": 1,
        },
        raw,
    )
    step = st.one_of(tool, llm, decision, plumbing)
    return st.builds(
        lambda s, error, slow, parallel: dict(
            s, error=error, duration_ms=300 if slow else 1, parallel=parallel
        ),
        step,
        st.booleans(),
        st.integers(0, 9).map(lambda n: n == 0),
        st.integers(0, 3).map(lambda n: n == 0),
    )


_RAW = ['{"q": 1}', '{"q": 2}', '"x"', "[1, 2]", "plain text", "NaN", 3, 3.0, True]


def _edit(step: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """``step`` with one change drawn by ``data``: an attribute set, added or removed, the
    status flipped, or the duration made slow."""
    what = data.draw(st.sampled_from(["set", "add", "remove", "error", "slow"]))
    attrs = dict(step["attrs"])
    if what == "error":
        return dict(step, error=not step["error"])
    if what == "slow":
        return dict(step, duration_ms=300)
    if what == "add":
        key = data.draw(
            st.sampled_from(
                [
                    c.GEN_AI_TOOL_CALL_RESULT,
                    c.STEP_INPUT,
                    c.STEP_OUTPUT,
                    c.GEN_AI_USAGE_OUTPUT_TOKENS,
                    "input.value",
                    "traceloop.entity.output",
                    "openinference.span.kind",
                ]
            )
        )
        attrs[key] = data.draw(st.sampled_from(_RAW))
    else:
        keys = sorted(k for k in attrs if k not in (c.GEN_AI_OPERATION_NAME,))
        if not keys:
            return step
        key = data.draw(st.sampled_from(keys))
        if what == "remove":
            del attrs[key]
        else:
            attrs[key] = data.draw(st.sampled_from(_RAW))
    return dict(step, attrs=attrs)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    base=st.lists(_step_strategy(), min_size=0, max_size=5),
    data=st.data(),
    strict=st.booleans(),
)
def test_report_equals_the_full_comparison(
    base: list[dict[str, Any]], data: st.DataObject, strict: bool
) -> None:
    rig = Rig()
    try:
        cid = rig.run("base", base, with_checkpoint=True)
        assert cid is not None
        baseline = rig.replay.steps_after(cid)
        cand = [_edit(step, data) if data.draw(st.integers(0, 3)) == 0 else step for step in base]
        if data.draw(st.booleans()):
            pos = data.draw(st.integers(0, len(cand)))
            cand.insert(pos, data.draw(_step_strategy()))
        if len(cand) > 1 and data.draw(st.booleans()):  # swap two neighbours (parallel calls)
            pos = data.draw(st.integers(0, len(cand) - 2))
            cand[pos], cand[pos + 1] = cand[pos + 1], cand[pos]
        rig.drift.track("cand", baseline, mode="strict" if strict else "align")
        rig.run("cand", cand, with_checkpoint=False)
        got = rig.drift.reports["cand"]
        spans = [
            s
            for s in rig.exporter.get_finished_spans()
            if s.attributes is not None
            and s.attributes.get(c.SESSION_ID) == "cand"
            and s.parent is not None
        ]
        steps = sorted((normalize_span(s, "cand") for s in spans), key=lambda s: s.sequence)
        want = compare(baseline, steps, DriftPolicy(), mode="strict" if strict else "align")
        assert got.to_dict() == want.to_dict()
        assert rig.drift.errors.count == 0
        # ground truth for the fingerprints both paths rely on: equal fingerprints of two
        # same-signature steps mean the field-by-field comparison finds nothing
        for b, cs in zip(baseline, steps, strict=False):
            if b.signature == cs.signature and fingerprint(
                b.kind, b.attributes, b.status
            ) == fingerprint(cs.kind, cs.attributes, cs.status):
                findings = compare_pair(b, cs, DriftPolicy(min_latency_ns=1 << 62)).findings
                assert findings == []
    finally:
        rig.close()


def test_spans_ending_while_the_run_finishes_are_all_exported(rig: Rig) -> None:
    """Child spans ending on other threads while the root ends (and the run is compared) are
    neither lost nor left held."""
    cid = rig.run("base", [_tool(**{c.GEN_AI_TOOL_CALL_ARGUMENTS: "{}"})], with_checkpoint=True)
    assert cid is not None
    baseline = rig.replay.steps_after(cid)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        _finish_under_concurrency(rig, baseline)
    finally:
        sys.setswitchinterval(interval)
    assert rig.drift.errors.count == 0


def _finish_under_concurrency(rig: Rig, baseline: list[Any]) -> None:
    for attempt in range(20):
        sid = f"cand-{attempt}"
        rig.drift.track(sid, baseline)
        root = rig.tracer.start_span(
            "invoke_agent a",
            attributes={c.SESSION_ID: sid, c.GEN_AI_OPERATION_NAME: c.OP_INVOKE_AGENT},
        )
        ctx = trace.set_span_in_context(root)
        start = threading.Barrier(5)

        def children(ctx: Any = ctx, start: threading.Barrier = start) -> None:
            start.wait()
            for _ in range(25):
                rig.tracer.start_span("execute_tool search", context=ctx).end()

        threads = [threading.Thread(target=children) for _ in range(4)]
        for t in threads:
            t.start()
        start.wait()
        root.end()
        for t in threads:
            t.join()
        exported = [
            s
            for s in rig.exporter.get_finished_spans()
            if s.attributes is not None and s.attributes.get(c.SESSION_ID) == sid
        ]
        assert len(exported) == 101
        assert len({s.context.span_id for s in exported}) == 101
        assert rig.drift._held == {}


def test_plumbing_parallel_calls_and_consequences_agree_with_the_full_comparison(
    rig: Rig,
) -> None:
    """Plumbing spans that differ, parallel calls that ran in another order and a changed
    tool call with its issuing LLM output: the processor's report equals compare()."""

    def llm(out: str) -> dict[str, Any]:
        return {
            "name": "chat m",
            "attrs": {
                c.GEN_AI_OPERATION_NAME: "chat",
                c.GEN_AI_REQUEST_MODEL: "m",
                c.GEN_AI_OUTPUT_MESSAGES: out,
            },
            "error": False,
            "duration_ms": 1,
        }

    def chain(out: str) -> dict[str, Any]:
        return {
            "name": "RunnableSequence",
            "attrs": {"openinference.span.kind": "CHAIN", "output.value": out},
            "error": False,
            "duration_ms": 1,
        }

    def call(name: str, q: int, parallel: bool = False) -> dict[str, Any]:
        return dict(
            _tool(name, **{c.GEN_AI_TOOL_CALL_ARGUMENTS: f'{{"q": {q}}}'}),
            duration_ms=5,
            parallel=parallel,
        )

    base = [chain('"a"'), llm('"plan 1"'), call("search", 1), call("fetch", 2, True), llm('"x"')]
    cid = rig.run("base", base, with_checkpoint=True)
    assert cid is not None
    baseline = rig.replay.steps_after(cid)
    cases = {
        "plumbing": [chain('"b"'), *base[1:]],
        "parallel": [base[0], base[1], call("fetch", 2), call("search", 1, True), base[4]],
        "changed": [base[0], llm('"plan 2"'), call("search", 9), base[3], base[4]],
    }
    want_kinds = {"plumbing": [], "parallel": [], "changed": [("arguments_changed", 1)]}
    for name, cand in cases.items():
        rig.drift.track(name, baseline)
        rig.run(name, cand, with_checkpoint=False)
        got = rig.drift.reports[name]
        spans = [
            s
            for s in rig.exporter.get_finished_spans()
            if s.attributes is not None
            and s.attributes.get(c.SESSION_ID) == name
            and s.parent is not None
        ]
        steps = sorted((normalize_span(s, name) for s in spans), key=lambda s: s.sequence)
        assert got.to_dict() == compare(baseline, steps).to_dict(), name
        assert [(f.kind.value, len(f.related)) for f in got.findings] == want_kinds[name]
    (f,) = rig.drift.reports["changed"].findings
    assert [(r.kind.value, r.candidate.kind) for r in f.related if r.candidate] == [
        ("output_changed", "llm")
    ]
    # the related change's span event is on the LLM span, marked with its cause
    llm_span = next(
        s
        for s in rig.exporter.get_finished_spans()
        if s.attributes is not None
        and s.attributes.get(c.SESSION_ID) == "changed"
        and s.name == "chat m"
        and s.events
    )
    (event,) = [e for e in llm_span.events if e.name == c.DRIFT_EVENT]
    assert event.attributes is not None
    assert event.attributes[c.DRIFT_CAUSED_BY] == f.candidate.span_id
    assert rig.drift.errors.count == 0
