from __future__ import annotations

import dataclasses
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_replay._proto.otel_replay.v1 import drift_pb2
from otel_replay.core import conventions as c
from otel_replay.drift.compare import compare, compare_pair, compare_steps
from otel_replay.drift.findings import DriftFinding, StepRef
from otel_replay.drift.policy import DriftKind, DriftPolicy, Severity
from otel_replay.drift.report import DriftReport
from otel_replay.model.steps import Step
from tests.spanfactory import SpanFactory

ARGS = {
    "query": "cats",
    "filters": [{"op": "eq"}, {"op": "lt"}, {"op": "gt"}],
    "request_id": "call-1",
}


def spec() -> list[tuple]:
    """A small agent run: (method, args, kwargs) per step."""
    return [
        (
            "llm",
            ("gpt-4o",),
            {
                "output": [{"role": "assistant", "content": "plan"}],
                "input_tokens": 100,
                "output_tokens": 20,
            },
        ),
        ("decision", ("route", "search"), {"confidence": 0.9}),
        ("tool", ("search", ARGS, {"hits": 3, "timestamp": 1}), {}),
        (
            "llm",
            ("gpt-4o",),
            {
                "output": [{"role": "assistant", "content": "fetch more"}],
                "input_tokens": 150,
                "output_tokens": 30,
            },
        ),
        ("tool", ("fetch", {"url": "https://example.com"}, {"status": 200}), {}),
        ("decision", ("finish", "answer"), {"confidence": 0.8}),
        (
            "llm",
            ("gpt-4o",),
            {
                "output": [{"role": "assistant", "content": "done"}],
                "input_tokens": 200,
                "output_tokens": 40,
            },
        ),
    ]


def build(steps: list[tuple], session: str) -> list[Step]:
    f = SpanFactory(session)
    try:
        return [getattr(f, method)(*args, **kwargs) for method, args, kwargs in steps]
    finally:
        f.close()


def runs(edit=None) -> tuple[list[Step], list[Step]]:
    base = spec()
    cand = spec()
    if edit is not None:
        edit(cand)
    return build(base, "baseline"), build(cand, "candidate")


def only(report: DriftReport) -> DriftFinding:
    assert len(report.findings) == 1, report.render_table()
    return report.findings[0]


def test_identical_runs_have_no_drift():
    base, cand = runs()
    report = compare(base, cand)
    assert report.findings == []
    assert report.first_divergence is None
    assert report.has_drift is False
    assert report.max_severity is None
    assert (report.baseline_steps, report.candidate_steps) == (7, 7)
    strict = compare(base, cand, mode="strict")
    assert strict.findings == [] and strict.first_divergence is None


def test_one_inserted_step_is_exactly_one_unexpected_step():
    base, cand = runs(lambda s: s.insert(3, ("tool", ("calculator", {"x": 1}, 2), {})))
    report = compare(base, cand)
    f = only(report)
    assert f.kind is DriftKind.UNEXPECTED_STEP
    assert f.severity is Severity.WARNING
    assert f.position == 3
    assert f.baseline is None
    assert f.candidate == StepRef.from_step(cand[3])
    assert f.candidate.sequence == 4
    assert f.description == "unexpected step at 3: tool 'calculator'"
    fd = report.first_divergence
    assert fd is not None and fd.position == 3
    assert fd.expected_signature == ("llm", "gpt-4o")
    assert fd.actual_signature == ("tool", "calculator")


def test_one_deleted_step_is_exactly_one_missing_step():
    base, cand = runs(lambda s: s.pop(4))
    f = only(compare(base, cand))
    assert f.kind is DriftKind.MISSING_STEP
    assert f.baseline is not None and f.baseline.sequence == 5 and f.baseline.name == "fetch"
    assert f.candidate is None
    assert f.position == 4


def test_substituted_tool_is_one_tool_changed_at_the_right_pair():
    def edit(s):
        s[4] = ("tool", ("lookup", {"url": "https://example.org"}, {"status": 200}), {})

    base, cand = runs(edit)
    report = compare(base, cand)
    f = only(report)
    assert f.kind is DriftKind.TOOL_CHANGED
    assert f.severity is Severity.WARNING
    assert f.baseline is not None and f.candidate is not None
    assert (f.baseline.sequence, f.candidate.sequence) == (5, 5)
    assert (f.baseline.name, f.candidate.name) == ("fetch", "lookup")
    assert f.paths == ("$.tool", "$.arguments.url")
    assert f.expected == {"tool": "fetch", "arguments": {"url": "https://example.com"}}
    assert f.actual == {"tool": "lookup", "arguments": {"url": "https://example.org"}}
    assert f.description == "tool changed at step 4: 'fetch' -> 'lookup'"
    assert report.first_divergence is not None
    assert report.first_divergence.changes[0] == {
        "path": "$.tool",
        "op": "changed",
        "expected": "fetch",
        "actual": "lookup",
    }


def test_argument_and_output_diffs_have_paths_and_ignore_call_ids_and_timestamps():
    def edit(s):
        args = json.loads(json.dumps(ARGS))
        args["query"] = "dogs"
        args["filters"][2]["op"] = "ge"
        args["request_id"] = "call-2"  # ignored by default ($..request_id)
        s[2] = ("tool", ("search", args, {"hits": 4, "timestamp": 2}), {})

    base, cand = runs(edit)
    report = compare(base, cand)
    # the changed result of the same call is part of the arguments finding (its cause)
    assert [(f.kind, f.paths) for f in report.findings] == [
        (DriftKind.ARGUMENTS_CHANGED, ("$.query", "$.filters[2].op")),
    ]
    (args_f,) = report.findings
    (out_f,) = args_f.related
    assert (out_f.kind, out_f.paths) == (DriftKind.OUTPUT_CHANGED, ("$.hits",))
    assert args_f.severity is Severity.WARNING
    assert out_f.severity is Severity.WARNING
    assert args_f.expected == {"$.query": "cats", "$.filters[2].op": "gt"}
    assert args_f.actual == {"$.query": "dogs", "$.filters[2].op": "ge"}
    assert args_f.candidate is not None and args_f.candidate.sequence == 3
    assert args_f.position == 2
    assert report.first_divergence is not None
    assert [ch["path"] for ch in report.first_divergence.changes] == [
        "$.query",
        "$.filters[2].op",
        "$.hits",
    ]

    custom = DriftPolicy(ignore_paths=("$.query", "$.filters[*].op", "$..request_id", "$.hits"))
    assert compare(base, cand, custom).findings[0].paths == ("$.timestamp",)


def test_llm_output_change_is_a_warning():
    def edit(s):
        s[6] = (
            "llm",
            ("gpt-4o",),
            {
                "output": [{"role": "assistant", "content": "DONE"}],
                "input_tokens": 200,
                "output_tokens": 40,
            },
        )

    f = only(compare(*runs(edit)))
    assert (f.kind, f.severity, f.paths) == (
        DriftKind.OUTPUT_CHANGED,
        Severity.WARNING,
        ("$[0].content",),
    )


def test_model_change_is_model_changed():
    def edit(s):
        s[3] = ("llm", ("gpt-4o-mini",), s[3][2])

    f = only(compare(*runs(edit)))
    assert f.kind is DriftKind.MODEL_CHANGED
    assert f.severity is Severity.WARNING
    assert (f.expected, f.actual) == ({"model": "gpt-4o"}, {"model": "gpt-4o-mini"})


def test_decision_action_change_is_critical():
    f = only(
        compare(
            *runs(
                lambda s: s.__setitem__(5, ("decision", ("finish", "retry"), {"confidence": 0.8}))
            )
        )
    )
    assert f.kind is DriftKind.DECISION_CHANGED
    assert f.severity is Severity.CRITICAL
    assert (f.expected, f.actual) == ({"action": "answer"}, {"action": "retry"})


def decision_pair(before, after) -> tuple[Step, Step]:
    f = SpanFactory("b")
    b = f.decision("route", "search", confidence=before)
    g = SpanFactory("c")
    a = g.decision("route", "search", confidence=after)
    return b, a


@pytest.mark.parametrize(
    ("before", "after", "severity"),
    [
        (0.9, 0.3, Severity.CRITICAL),
        (0.9, 0.5, Severity.WARNING),  # delta 0.4000000000000001
        (0.7, 0.3, Severity.WARNING),  # delta 0.39999999999999997
        (0.9, 0.4, Severity.CRITICAL),  # delta 0.5
        (0.3, 0.9, Severity.CRITICAL),  # increases count too
        (0.9, 0.6, None),
        (0.9, 0.9, None),
        ("0.9", "0.3", Severity.CRITICAL),  # numeric strings are comparable
    ],
)
def test_confidence_thresholds(before, after, severity):
    b, a = decision_pair(before, after)
    findings = compare_steps(b, a)
    if severity is None:
        assert findings == []
    else:
        assert [(f.kind, f.severity) for f in findings] == [
            (DriftKind.CONFIDENCE_CHANGED, severity)
        ]


def test_non_comparable_confidence_gives_no_finding():
    b, high = decision_pair(0.9, "high")
    res = compare_pair(b, high)
    assert res.findings == [] and res.not_comparable == ["confidence"]

    f = SpanFactory("m")
    missing = f.decision("route", "search")
    assert missing.confidence is None
    res = compare_pair(b, missing)
    assert res.findings == [] and res.not_comparable == ["confidence"]

    # OTel drops None attribute values, so set it on the step directly.
    none = dataclasses.replace(b, attributes={**b.attributes, c.DECISION_CONFIDENCE: None})
    for other in (
        none,
        dataclasses.replace(b, attributes={**b.attributes, c.DECISION_CONFIDENCE: True}),
    ):
        res = compare_pair(b, other)
        assert res.findings == [] and res.not_comparable == ["confidence"]
    nan = dataclasses.replace(b, attributes={**b.attributes, c.DECISION_CONFIDENCE: float("nan")})
    assert compare_pair(nan, b).not_comparable == ["confidence"]
    assert compare([b], [high]).findings == []


def test_status_changes():
    ok = SpanFactory("b").tool("search", ARGS, {"hits": 1})
    err = SpanFactory("c").tool("search", ARGS, {"hits": 1}, status="error", message="boom")
    unset = SpanFactory("d").tool("search", ARGS, {"hits": 1}, status="unset")
    (f,) = compare_steps(ok, err)
    assert (f.kind, f.severity) == (DriftKind.STATUS_CHANGED, Severity.CRITICAL)
    assert f.description == "status of tool 'search' changed at step 0: ok -> error (boom)"
    (f,) = compare_steps(unset, err)
    assert f.severity is Severity.CRITICAL
    (f,) = compare_steps(err, ok)
    assert (f.kind, f.severity) == (DriftKind.STATUS_CHANGED, Severity.INFO)
    assert compare_steps(ok, unset) == []


def test_latency_regression_has_a_floor():
    fast = SpanFactory("b").tool("search", ARGS, duration_ms=100)
    slow = SpanFactory("c").tool("search", ARGS, duration_ms=250)
    (f,) = compare_steps(fast, slow)
    assert (f.kind, f.severity) == (DriftKind.LATENCY_REGRESSION, Severity.WARNING)
    assert f.expected == {"duration_ns": 100_000_000} and f.actual == {"duration_ns": 250_000_000}
    assert compare_steps(fast, SpanFactory("d").tool("search", ARGS, duration_ms=150)) == []
    tiny = SpanFactory("e").tool("search", ARGS, duration_ms=1)
    assert compare_steps(tiny, SpanFactory("f").tool("search", ARGS, duration_ms=20)) == []
    assert compare_steps(slow, fast) == []


def test_token_usage_regression():
    base = SpanFactory("b").llm("gpt-4o", "hi", input_tokens=100, output_tokens=20)
    more = SpanFactory("c").llm("gpt-4o", "hi", input_tokens=150, output_tokens=60)
    (f,) = compare_steps(base, more)
    assert (f.kind, f.severity) == (DriftKind.TOKEN_USAGE_REGRESSION, Severity.WARNING)
    assert f.expected == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
    assert f.actual["total_tokens"] == 210
    little = SpanFactory("d").llm("gpt-4o", "hi", input_tokens=120, output_tokens=40)
    assert compare_steps(base, little) == []
    unknown = SpanFactory("e").llm("gpt-4o", "hi")
    assert compare_steps(base, unknown) == []


def test_policy_overrides_and_disabled_kinds():
    base, cand = runs(lambda s: s.insert(3, ("tool", ("calculator", {"x": 1}, 2), {})))
    policy = DriftPolicy(severities={"unexpected_step": "critical"})
    assert only(compare(base, cand, policy)).severity is Severity.CRITICAL
    report = compare(base, cand, DriftPolicy(disabled={DriftKind.UNEXPECTED_STEP}))
    assert report.findings == [] and report.first_divergence is None
    with pytest.raises(ValueError):
        DriftPolicy(ignore_paths=("query",))


def test_checkpoint_and_replay_steps_are_skipped_by_default():
    f = SpanFactory("b")
    base = [f.llm("gpt-4o", "x"), f.tool("search", ARGS)]
    g = SpanFactory("c")
    cand = [g.llm("gpt-4o", "x"), g.checkpoint("after-llm"), g.tool("search", ARGS)]
    assert cand[1].kind == c.KIND_CHECKPOINT
    report = compare(base, cand)
    assert report.findings == [] and report.candidate_steps == 2
    f2 = only(compare(base, cand, DriftPolicy(ignore_kinds=frozenset())))
    assert f2.kind is DriftKind.UNEXPECTED_STEP and f2.candidate.kind == "checkpoint"


def test_strict_mode_reports_the_first_positional_mismatch():
    base, cand = runs(lambda s: s.insert(3, ("tool", ("calculator", {"x": 1}, 2), {})))
    report = compare(base, cand, mode="strict")
    assert report.mode == "strict"
    fd = report.first_divergence
    assert fd is not None
    assert fd.position == 3
    assert fd.expected_signature == ("llm", "gpt-4o")
    assert fd.actual_signature == ("tool", "calculator")
    assert fd.baseline is not None and fd.baseline.sequence == 4
    assert fd.candidate is not None and fd.candidate.sequence == 4
    assert min(f.position for f in report.findings) == 3
    # every later position is shifted: strict mode reports them all, align mode only one
    assert report.counts_by_kind == {"missing_step": 4, "unexpected_step": 5}
    assert len(compare(base, cand).findings) == 1


def test_strict_mode_substitution_and_tail():
    base, cand = runs(
        lambda s: s.__setitem__(
            4, ("tool", ("lookup", {"url": "https://example.com"}, {"status": 200}), {})
        )
    )
    report = compare(base, cand, mode="strict")
    f = only(report)
    assert (f.kind, f.position) == (DriftKind.TOOL_CHANGED, 4)
    assert f.paths == ("$.tool",)
    base, cand = runs(lambda s: s.pop())
    report = compare(base, cand, mode="strict")
    f = only(report)
    assert (f.kind, f.position) == (DriftKind.MISSING_STEP, 6)
    assert report.first_divergence is not None
    assert report.first_divergence.actual_signature is None


def repetitive_spec(n: int) -> list[tuple]:
    steps = []
    for i in range(n):
        steps.append(("tool", ("search", {"query": f"q{i}", "page": i % 3}, {"hits": i}), {}))
    return steps


def test_repetitive_signatures_with_one_insertion_is_one_finding():
    base_spec = repetitive_spec(300)
    cand_spec = list(base_spec)
    cand_spec.insert(150, ("tool", ("search", {"query": "extra"}, {"hits": 0}), {}))
    base, cand = build(base_spec, "b"), build(cand_spec, "c")
    report = compare(base, cand)
    f = only(report)
    assert f.kind is DriftKind.UNEXPECTED_STEP
    assert f.candidate is not None and f.candidate.sequence == 151
    assert f.position == 150
    # identical arguments everywhere: still exactly one finding
    same = [("tool", ("search", {"query": "q"}, {"hits": 1}), {})] * 300
    base, cand = build(same, "b"), build(same[:1] + same, "c")
    assert only(compare(base, cand)).kind is DriftKind.UNEXPECTED_STEP


def test_repetitive_signatures_with_one_substitution_is_one_tool_changed():
    base_spec = repetitive_spec(200)
    cand_spec = list(base_spec)
    cand_spec[120] = ("tool", ("lookup", {"query": "q120", "page": 0}, {"hits": 120}), {})
    f = only(compare(build(base_spec, "b"), build(cand_spec, "c")))
    assert f.kind is DriftKind.TOOL_CHANGED
    assert (f.baseline.sequence, f.candidate.sequence) == (121, 121)
    assert f.paths == ("$.tool",)


def sample_report() -> DriftReport:
    def edit(s):
        s.insert(3, ("tool", ("calculator", {"x": 1}, 2), {}))
        s[1] = ("decision", ("route", "answer"), {"confidence": 0.2})
        s[3 + 2] = (
            "tool",
            ("fetch", {"url": "https://example.com|x"}, {"status": 500}),
            {"status": "error", "message": "HTTP 500|upstream"},
        )

    return compare(*runs(edit))


def test_report_summaries():
    report = sample_report()
    assert report.counts_by_kind == {
        "decision_changed": 1,
        "confidence_changed": 1,
        "unexpected_step": 1,
        "arguments_changed": 1,  # with the changed output of the same call as related
        "status_changed": 1,
    }
    assert report.counts_by_severity == {"info": 0, "warning": 2, "critical": 3}
    assert report.max_severity is Severity.CRITICAL
    assert Severity.INFO < Severity.WARNING < Severity.CRITICAL
    assert max([Severity.WARNING, Severity.CRITICAL, Severity.INFO]) is Severity.CRITICAL
    assert Severity.CRITICAL.rank == 2
    fetch = [f for f in report.findings if f.candidate and f.candidate.name == "fetch"]
    assert report.findings_for_candidate(fetch[0].candidate.span_id) == fetch
    assert report.findings_for_baseline(fetch[0].baseline.span_id) == fetch
    assert report.findings_for_candidate("0" * 16) == []


def test_report_dict_json_and_proto_round_trips():
    report = sample_report()
    assert DriftReport.from_dict(report.to_dict()) == report
    assert DriftReport.from_json(report.to_json()) == report
    msg = report.to_proto()
    assert isinstance(msg, drift_pb2.DriftReport)
    assert DriftReport.from_proto(msg) == report
    assert DriftReport.from_proto(msg.SerializeToString()) == report
    empty = compare(*runs())
    assert DriftReport.from_proto(empty.to_proto()) == empty
    assert not empty.to_proto().HasField("first_divergence")
    assert json.loads(report.to_json())["max_severity"] == "critical"


def test_markdown_and_table_rendering():
    report = sample_report()
    md = report.to_markdown()
    assert md.startswith("### Drift report\n")
    assert "| # | Severity | Kind | Step | Baseline | Candidate | Description |" in md
    for f in report.findings:
        assert f"`{f.kind.value}`" in md
    assert "unexpected step at 3: tool 'calculator'" in md
    assert "(HTTP 500\\|upstream)" in md  # pipes are escaped inside cells
    assert len([line for line in md.splitlines() if line.startswith("| ")]) == 1 + len(
        report.findings
    )
    table = report.render_table()
    assert table.splitlines()[0] == report.summary()
    for f in report.findings:
        assert f.description in table
    assert "SEVERITY" in table and "critical" in table
    assert "no drift" in compare(*runs()).to_markdown()


def perturbed_specs(n: int) -> tuple[list[tuple], list[tuple]]:
    """A long repetitive run and a copy with 1% substitutions, insertions and deletions."""
    tools = ["search", "fetch", "search", "read", "search"]
    base: list[tuple] = []
    for i in range(n):
        if i % 3 == 0:
            out = [{"role": "assistant", "content": f"step {i}"}]
            base.append(("llm", ("gpt-4o", out), {"input_tokens": 100, "output_tokens": 10}))
        elif i % 3 == 1:
            base.append(("decision", ("route", "tool"), {"confidence": 0.9}))
        else:
            base.append(("tool", (tools[i % 5], {"query": f"q{i}"}, {"hits": i}), {}))
    cand = list(base)
    for k in reversed(range(n // 100)):  # from the end, so indices refer to the baseline
        if k % 3 == 0:
            i = 38 + k * 100  # a tool position (i % 3 == 2)
            cand[i] = ("tool", ("lookup", {"query": "x"}, {"hits": 0}), {})
        elif k % 3 == 1:
            cand.insert(37 + k * 100, ("tool", ("search", {"query": "new"}, {"hits": 0}), {}))
        else:
            del cand[37 + k * 100]
    return base, cand


@pytest.mark.slow
def test_compare_is_fast_on_large_runs():
    base_spec, cand_spec = perturbed_specs(10_000)
    base, cand = build(base_spec, "b"), build(cand_spec, "c")
    report = compare(base, cand)
    assert report.counts_by_kind == {"tool_changed": 34, "unexpected_step": 33, "missing_step": 33}
    assert len(report.findings) == 100
    best = min(_timed(compare, base, cand) for _ in range(3))
    assert best < 0.5  # target is ~50 ms on an idle 2-core machine; generous for loaded CI


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


_POOL: list[Step] = []


def pool() -> list[Step]:
    """A few distinct steps from real spans, reused to build random runs."""
    if not _POOL:
        f = SpanFactory("pool")
        _POOL.extend(
            [
                f.tool("search", {"query": "a"}, {"hits": 1}),
                f.tool("search", {"query": "b"}, {"hits": 2}),
                f.tool("fetch", {"url": "u"}, "page"),
                f.llm("gpt-4o", "thinking", input_tokens=10, output_tokens=5),
                f.llm("gpt-4o", "answer", input_tokens=10, output_tokens=5),
                f.decision("route", "search", confidence=0.9),
                f.decision("route", "answer", confidence=0.8),
            ]
        )
        f.close()
    return _POOL


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=40), st.integers(0, 6), st.data())
def test_single_insertion_or_deletion_is_a_single_finding(run, extra, data):
    steps = [pool()[i] for i in run]
    i = data.draw(st.integers(0, len(steps)))
    inserted = steps[:i] + [pool()[extra]] + steps[i:]
    (f,) = compare(steps, inserted).findings
    assert f.kind is DriftKind.UNEXPECTED_STEP
    assert f.candidate is not None and f.candidate.signature == pool()[extra].signature
    (f,) = compare(inserted, steps).findings
    assert f.kind is DriftKind.MISSING_STEP
    assert compare(steps, list(steps)).findings == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=40), st.integers(0, 6), st.data())
def test_single_substitution_is_reported_at_one_position(run, extra, data):
    steps = [pool()[i] for i in run]
    i = data.draw(st.integers(0, len(steps) - 1))
    changed = steps[:i] + [pool()[extra]] + steps[i + 1 :]
    report = compare(steps, changed)
    if run[i] == extra:
        assert report.findings == []
        return
    assert report.findings
    assert len({f.position for f in report.findings}) == 1
    assert report.first_divergence is not None
    assert report.first_divergence.position == report.findings[0].position
