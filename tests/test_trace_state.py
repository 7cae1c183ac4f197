"""Recorded ``tracestate`` strings: decoded leniently, without the SDK's logging, and written
back exactly as recorded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import TraceState

from otel_replay.formats.files import load_recording, write_recording
from otel_replay.formats.trace_state import (
    RecordedTraceState,
    parse_trace_state,
    trace_state_header,
)

DATA = Path(__file__).parent / "data" / "recordings"


def test_loading_the_collector_recording_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # Its spans and link carry traceState "state": not a W3C key=value member, which the
    # SDK's TraceState.from_header rejects with "Member doesn't match the w3c identifiers
    # format state" on the opentelemetry.trace.span logger.
    with caplog.at_level(logging.DEBUG):
        rec = load_recording(DATA / "collector-ptrace.jsonl")
    assert caplog.records == []
    span, empty = rec.spans
    assert dict(span.context.trace_state) == {}
    assert trace_state_header(span.context.trace_state) == "state"
    assert trace_state_header(span.links[0].context.trace_state) == "state"
    assert trace_state_header(empty.context.trace_state) == ""


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_recorded_trace_state_is_written_back_unchanged(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = load_recording(DATA / "collector-ptrace.jsonl")
    out = write_recording(tmp_path / f"copy.{fmt}", rec.spans, format=fmt)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG):
        again = load_recording(out)
    assert caplog.records == []
    assert [trace_state_header(s.context.trace_state) for s in again.spans] == ["state", ""]
    assert trace_state_header(again.spans[0].links[0].context.trace_state) == "state"
    if fmt == "jsonl":
        assert Path(out).read_text().count('"traceState":"state"') == 2


@pytest.mark.parametrize(
    "header, members",
    [
        ("state", {}),
        ("a=1,bad,b=2", {"a": "1", "b": "2"}),
        ("a=1,a=2", {"a": "1"}),
        (" a=1 ,\tb=x y", {"a": "1", "b": "x y"}),
        ("a=1,,b=2", {"a": "1", "b": "2"}),
        ("Upper=1,t@vendor=v", {"t@vendor": "v"}),
        (",".join(f"k{i}=v" for i in range(33)), {f"k{i}": "v" for i in range(32)}),
    ],
)
def test_invalid_members_are_dropped_from_the_mapping_and_kept_in_the_string(
    header: str, members: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        state = parse_trace_state(header)
    assert caplog.records == []
    assert type(state) is RecordedTraceState
    assert dict(state) == members
    assert trace_state_header(state) == header
    # the mapping is a valid W3C tracestate: the SDK's own parser accepts it unchanged
    assert dict(TraceState.from_header([state.to_header()])) == members


@pytest.mark.parametrize("header", ["", "a=1", "a=1,b=2", "t@vendor=x y"])
def test_a_valid_header_gives_a_plain_trace_state(header: str) -> None:
    state = parse_trace_state(header)
    assert type(state) is TraceState
    assert state.to_header() == header
    assert dict(state) == dict(TraceState.from_header([header]))


_member = st.from_regex(r"[a-z][a-z0-9_\-*/]{0,8}=[!-+\--<>-~]{1,8}", fullmatch=True)


@settings(max_examples=50)
@given(st.lists(_member, max_size=40))
def test_valid_members_agree_with_the_sdk(members: list[str]) -> None:
    header = ",".join(members)
    state = parse_trace_state(header)
    sdk = TraceState.from_header([header])
    keys = [m.split("=", 1)[0] for m in members]
    if len(set(keys)) == len(keys) and len(keys) <= 32:
        assert dict(state) == dict(sdk)
    assert trace_state_header(state) == header


@given(st.text(max_size=200))
def test_any_string_is_kept_and_never_logs(header: str) -> None:
    logger = logging.getLogger("opentelemetry")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        state = parse_trace_state(header)
    finally:
        logger.removeHandler(handler)
    assert records == []
    assert trace_state_header(state) == header
