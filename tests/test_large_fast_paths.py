"""The fast paths of large recordings give exactly what the general code gives: the common
span shape of the compact JSON decoder, LLM fingerprints without integer token counts, and
the CLI start-up that loads only what its command needs."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from otel_replay.core import conventions as c
from otel_replay.drift.fields import _compare_same
from otel_replay.drift.fingerprint import fingerprint
from otel_replay.drift.policy import DriftKind, DriftPolicy
from otel_replay.formats import otlp_json_decode
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import load_recording
from otel_replay.model.steps import step_of_parts

ROOT = Path(__file__).resolve().parents[1]
TID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _span(**over: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TID,
        "spanId": "00f067aa0ba902b7",
        "parentSpanId": "1000000000000001",
        "flags": 257,
        "name": "execute_tool get_weather",
        "kind": 1,
        "startTimeUnixNano": "1796000000000000000",
        "endTimeUnixNano": "1796000000001500000",
        "attributes": [
            {"key": "agent_replay.session.id", "value": {"stringValue": "s-1"}},
            {"key": "agent_replay.step.sequence", "value": {"intValue": "2"}},
            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
            {"key": "gen_ai.tool.name", "value": {"stringValue": "get_weather"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "flag", "value": {"boolValue": True}},
        ],
        "status": {"code": 1},
    }
    for key, value in over.items():
        if value is _DROP:
            del span[key]
        else:
            span[key] = value
    return span


_DROP = object()

COMMON = [
    {},
    {"parentSpanId": _DROP},
    {"parentSpanId": ""},
    {"parentSpanId": "0000000000000000"},
    {"flags": _DROP, "kind": _DROP, "name": _DROP},
    {"startTimeUnixNano": 1796000000000000000, "endTimeUnixNano": _DROP},
    {"endTimeUnixNano": "0"},
    {"status": _DROP},
    {"status": {}},
    {"status": {"code": 2, "message": "boom"}},
    {"status": {"code": 2, "message": ""}},
    {"status": {"code": 5, "message": "ignored"}},
    {"attributes": _DROP},
    {"attributes": []},
    {"kind": 7},
]

OTHER = [  # shapes the fast path hands to the general code
    {"traceState": "a=b"},
    {"events": []},
    {"droppedAttributesCount": 0},
    {"trace_id": TID},
    {"kind": "SPAN_KIND_CLIENT"},
    {"flags": "257"},
    {"startTimeUnixNano": 1.796e18},
    {"traceId": "4BF92F3577B34DA6A3CE929D0E0E4736"[:31]},
    {"spanId": "APBnqguaArc="},
    {"status": {"code": "STATUS_CODE_ERROR", "message": "x"}},
    {"status": {"code": 2, "message": None}},
    {"name": None},
]


def _general(monkeypatch: pytest.MonkeyPatch, span: dict[str, Any]) -> Any:
    monkeypatch.setattr(otlp_json_decode, "_common_parts", lambda s: None)
    dec = otlp_json_decode._JsonDecoder()
    dec.compact = True
    dec.share_strings = False
    out: list[Any] = []
    dec.from_json({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, out)
    monkeypatch.undo()
    return out[0]


@pytest.mark.parametrize("over", COMMON, ids=[json.dumps(o, default=str) for o in COMMON])
def test_common_shape_gives_the_parts_of_the_general_decoder(
    monkeypatch: pytest.MonkeyPatch, over: dict[str, Any]
) -> None:
    span = _span(**over)
    fast = otlp_json_decode._common_parts(span)
    assert fast is not None
    assert fast == _general(monkeypatch, span)
    assert [type(v) for v in fast] == [type(v) for v in _general(monkeypatch, span)]


@pytest.mark.parametrize("over", OTHER, ids=[json.dumps(o, default=str) for o in OTHER])
def test_other_shapes_go_to_the_general_decoder(over: dict[str, Any]) -> None:
    assert otlp_json_decode._common_parts(_span(**over)) is None


@pytest.mark.parametrize(
    "over",
    [
        {"traceId": "zz" * 16},
        {"spanId": "-" * 16},
        {"startTimeUnixNano": "soon"},
        {"attributes": [{"key": "k", "value": {"intValue": "ten"}}]},
        {"attributes": [{"key": 3, "value": {"stringValue": "x"}}]},
        {"status": [1]},
    ],
)
def test_damaged_common_spans_are_reported_as_by_the_full_path(
    tmp_path: Path, over: dict[str, Any]
) -> None:
    good = {"resourceSpans": [{"scopeSpans": [{"spans": [_span()]}]}]}
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [_span(**over)]}]}]}
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    messages = []
    for keep in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = load_recording(path, keep_spans=keep)
        assert len(rec) == 1
        messages.append([str(w.message) for w in caught if w.category is RecordingWarning])
    assert messages[0] == messages[1]
    assert len(messages[0]) == 1 and f"{path}:2: skipped corrupt line" in messages[0][0]


def _llm(tokens: dict[str, Any], out: str = '[{"role":"assistant"}]') -> Any:
    attrs = {
        c.SESSION_ID: "s",
        c.STEP_SEQUENCE: 1,
        c.GEN_AI_OPERATION_NAME: "chat",
        c.GEN_AI_REQUEST_MODEL: "gpt-4o",
        c.GEN_AI_OUTPUT_MESSAGES: out,
        **tokens,
    }
    return step_of_parts((attrs, 1, 2, None, "chat gpt-4o", 1, None, 0, 1000), "s")


@pytest.mark.parametrize(
    ("base", "cand", "equal", "regressed"),
    [
        # only input tokens (the generated large recordings): equal runs, equal prints
        ({c.GEN_AI_USAGE_INPUT_TOKENS: 120}, {c.GEN_AI_USAGE_INPUT_TOKENS: 120}, True, False),
        ({}, {}, True, False),
        # another convention's keys: the count the comparison reads
        (
            {"gen_ai.usage.completion_tokens": 10},
            {"gen_ai.usage.completion_tokens": 10},
            True,
            False,
        ),
        (
            {"gen_ai.usage.completion_tokens": 100},
            {"gen_ai.usage.completion_tokens": 400},
            False,
            True,
        ),
        # floats are truncated by the comparison: equal counts, equal prints
        ({c.GEN_AI_USAGE_OUTPUT_TOKENS: 7.2}, {c.GEN_AI_USAGE_OUTPUT_TOKENS: 7.9}, True, False),
        ({c.GEN_AI_USAGE_OUTPUT_TOKENS: True}, {c.GEN_AI_USAGE_OUTPUT_TOKENS: 1}, False, False),
        ({c.GEN_AI_USAGE_OUTPUT_TOKENS: 1}, {"gen_ai.usage.completion_tokens": 1}, False, False),
    ],
)
def test_llm_fingerprints_without_integer_token_counts(
    base: dict[str, Any], cand: dict[str, Any], equal: bool, regressed: bool
) -> None:
    b, cs = _llm(base), _llm(cand)
    same = fingerprint(b.kind, b.attributes, b.status) == fingerprint(
        cs.kind, cs.attributes, cs.status
    )
    assert same is equal
    res = _compare_same(b, cs, DriftPolicy(), 0)
    kinds = [f.kind for f in res.findings] if res is not None else []
    assert kinds == ([DriftKind.TOKEN_USAGE_REGRESSION] if regressed else [])


def test_cli_start_up_loads_only_the_command_modules() -> None:
    code = (
        "import sys, otel_replay.cli.main\n"
        "print(sorted(m for m in sys.modules if m.startswith(('otel_replay.capture', "
        "'otel_replay.restore', 'otel_replay.replay', 'otel_replay.setup', "
        "'otel_replay.drift.processor', 'otel_replay.cli.demo_agent', 'otel_replay.pytest'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_the_package_names_resolve_on_first_use_and_restore_stays_the_function() -> None:
    code = (
        "import otel_replay, otel_replay.restore.api\n"
        "from otel_replay.restore.api import restore\n"
        "assert otel_replay.restore is restore, otel_replay.restore\n"
        "assert 'restore' in dir(otel_replay) and 'DriftProcessor' in dir(otel_replay)\n"
        "from otel_replay import DriftProcessor, load_recording\n"
        "print(DriftProcessor.__module__, load_recording.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["otel_replay.drift.processor", "otel_replay.formats.files"]
