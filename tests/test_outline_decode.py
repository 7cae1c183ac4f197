"""``inspect --no-steps`` reads lines of the common shape through a typed decode
(``otel_replay.formats.outline_decode``): what it reports equals what ``load_recording``
reports, for every line it takes and every line it leaves to the general decoder (damage
included), and the lines of generated recordings are all taken."""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_replay.core import conventions as c
from otel_replay.formats import outline_decode
from otel_replay.formats.errors import RecordingWarning
from otel_replay.formats.files import write_recording
from otel_replay.formats.summary import RecordingSummary, summarize_recording
from tests.test_large_recordings import assert_same_recording

msgspec = pytest.importorskip("msgspec")  # extra "fast"

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
from large_recording import write_large  # noqa: E402

sys.path.remove(str(BENCH))

TID2 = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Per JSON line read by a summary: whether the typed decode took it."""
    seen: list[bool] = []
    read = outline_decode.OutlineLines.read

    def spy(self: Any, load: Any, raw: bytes) -> int | None:
        n = read(self, load, raw)
        seen.append(n is not None)
        return n

    monkeypatch.setattr(outline_decode.OutlineLines, "read", spy)
    return seen


def _docs(tmp_path: Path) -> list[dict[str, Any]]:
    """Three one-line records: 6 spans of session s-1, the same of s-2, and 4 spans of a
    second trace whose first two spans carry no session attribute."""
    docs = []
    for k, session in enumerate(("s-1", "s-2", "s-3")):
        path = tmp_path / f"{session}.jsonl"
        write_large(str(path), 6, session=session)
        docs.append(json.loads(path.read_bytes()))
        for span in _span_list(docs[-1]):  # span ids unique in the file
            span["spanId"] = f"{k + 1:x}{span['spanId'][1:]}"
            if "parentSpanId" in span:
                span["parentSpanId"] = f"{k + 1:x}{span['parentSpanId'][1:]}"
    spans = _span_list(docs[2])
    del spans[4:]
    for span in spans:
        span["traceId"] = TID2
    for span in spans[:2]:
        span["attributes"] = [a for a in span["attributes"] if a["key"] != c.SESSION_ID]
    return docs


def _span_list(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[no-any-return]


def _span(doc: dict[str, Any], i: int = 2) -> dict[str, Any]:
    return _span_list(doc)[i]


def _attr(span: dict[str, Any], key: str) -> dict[str, Any]:
    return next(a for a in span["attributes"] if a["key"] == key)


def _lines(docs: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(d, separators=(",", ":")).encode() + b"\n" for d in docs]


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = _span(doc)
        for step in path[:-1]:
            target = _attr(target, step) if isinstance(step, str) and "." in step else target[step]
        target[path[-1]] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        del _span(doc)[key]

    return edit


SEQ = c.STEP_SEQUENCE
#: (name, edit of the middle record, whether the typed decode takes that record)
EDITS: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("unchanged", lambda d: None, True),
    ("upper-case ids", _set(["spanId"], "10000000000000AB"), True),
    ("bad span id", _set(["spanId"], "xyz"), False),
    ("16 non-hex digits", _set(["spanId"], "zzzzzzzzzzzzzzzz"), False),
    ("signed span id", _set(["spanId"], "+123456789abcdef"), False),
    ("underscore in id", _set(["spanId"], "0123456789abcd_f"), False),
    ("space in id", _set(["spanId"], " 123456789abcdef"), False),
    ("unicode digits in id", _set(["spanId"], "\u0663" * 16), True),
    ("zero span id", _set(["spanId"], "0" * 16), True),
    ("zero trace id", _set(["traceId"], "0" * 32), True),
    ("unicode zero span id", _set(["spanId"], "\u0660" * 16), True),
    ("base64 span id", _set(["spanId"], "EAAAAAAAAAM="), False),
    ("base64 parent id", _set(["parentSpanId"], "APBnqguKArc="), False),
    ("empty parent id", _set(["parentSpanId"], ""), True),
    ("short parent id", _set(["parentSpanId"], "00f067aa"), False),
    ("null span id", _set(["spanId"], None), False),
    ("int time", _set(["startTimeUnixNano"], 1796000000000000000), True),
    ("spaced time", _set(["startTimeUnixNano"], " 1796000000000000000"), False),
    ("underscored time", _set(["endTimeUnixNano"], "1_796"), False),
    ("empty time", _set(["endTimeUnixNano"], ""), False),
    ("negative time", _set(["endTimeUnixNano"], "-5"), False),
    ("float time", _set(["endTimeUnixNano"], "1.5"), False),
    ("unicode digits time", _set(["endTimeUnixNano"], "\u0661\u0662"), True),
    ("5000-digit time", _set(["endTimeUnixNano"], "1" * 5000), False),
    ("int value text", _set([SEQ, "value", "intValue"], "abc"), False),
    ("int value spaced", _set([SEQ, "value", "intValue"], " 7"), True),
    ("int value number", _set([SEQ, "value", "intValue"], 7), True),
    ("int value float", _set([SEQ, "value", "intValue"], 7.0), False),
    ("int value fraction", _set([SEQ, "value", "intValue"], 7.5), False),
    ("int value null", _set([SEQ, "value", "intValue"], None), False),
    ("int value bool", _set([SEQ, "value", "intValue"], True), False),
    ("int value out of range", _set([SEQ, "value", "intValue"], "9" * 30), True),
    ("int value 5000 digits", _set([SEQ, "value", "intValue"], "9" * 5000), False),
    ("string value null", _set([c.SESSION_ID, "value", "stringValue"], None), False),
    ("string value number", _set([c.SESSION_ID, "value", "stringValue"], 5), False),
    ("session as int", _set([c.SESSION_ID, "value"], {"intValue": "5"}), True),
    ("session empty", _set([c.SESSION_ID, "value"], {}), True),
    ("session null value", _set([c.SESSION_ID, "value"], None), False),
    ("bool value text", _set([SEQ, "value"], {"boolValue": "true"}), False),
    ("bool value", _set([SEQ, "value"], {"boolValue": False}), True),
    ("double value", _set([SEQ, "value"], {"doubleValue": 1.5}), True),
    ("double value int", _set([SEQ, "value"], {"doubleValue": 2}), True),
    ("double value NaN text", _set([SEQ, "value"], {"doubleValue": "NaN"}), False),
    ("array value", _set([SEQ, "value"], {"arrayValue": {"values": [{"intValue": "1"}]}}), True),
    ("empty array", _set([SEQ, "value"], {"arrayValue": {}}), True),
    ("nested array", _set([SEQ, "value"], {"arrayValue": {"values": [{"arrayValue": {}}]}}), False),
    ("array of non-objects", _set([SEQ, "value"], {"arrayValue": {"values": [1]}}), False),
    ("kvlist value", _set([SEQ, "value"], {"kvlistValue": {"values": []}}), False),
    ("bytes value", _set([SEQ, "value"], {"bytesValue": "AAE="}), False),
    ("bad bytes value", _set([SEQ, "value"], {"bytesValue": "!"}), False),
    ("two value kinds", _set([SEQ, "value"], {"stringValue": "x", "intValue": "q"}), False),
    ("unknown value kind", _set([SEQ, "value"], {"fooValue": 1}), False),
    ("attribute without key", lambda d: _span(d)["attributes"].append({"value": {}}), False),
    ("attribute without value", lambda d: _span(d)["attributes"].append({"key": "k"}), True),
    ("attribute key number", lambda d: _span(d)["attributes"].append({"key": 5}), False),
    ("attributes null", _set(["attributes"], None), False),
    ("attributes object", _set(["attributes"], {}), False),
    (
        "repeated session key",
        lambda d: _span(d, 0)["attributes"].append(
            {"key": c.SESSION_ID, "value": {"stringValue": "later"}}
        ),
        True,
    ),
    (
        "conversation id",
        lambda d: _span(d, 0)["attributes"].insert(
            0, {"key": c.GEN_AI_CONVERSATION_ID, "value": {"stringValue": "conv"}}
        ),
        True,
    ),
    ("unknown span field", _set(["foo"], 1), False),
    ("events", _set(["events"], [{"name": "e", "timeUnixNano": "5"}]), False),
    ("links", _set(["links"], [{"traceId": TID2, "spanId": "00f067aa0ba902b7"}]), False),
    ("trace state", _set(["traceState"], "k=v"), False),
    ("bad trace state", _set(["traceState"], 5), False),
    ("dropped attributes", _set(["droppedAttributesCount"], 2), False),
    ("snake-case span", lambda d: _span(d).update(trace_id=_span(d).pop("traceId")), False),
    ("status null", _set(["status"], None), False),
    ("status text", _set(["status"], "x"), False),
    ("status error", _set(["status"], {"code": 2, "message": "boom"}), True),
    ("status by name", _set(["status"], {"code": "STATUS_CODE_ERROR"}), False),
    ("status message number", _set(["status"], {"code": 2, "message": 5}), False),
    ("kind by name", _set(["kind"], "SPAN_KIND_CLIENT"), False),
    ("kind float", _set(["kind"], 1.0), False),
    ("flags text", _set(["flags"], "257"), False),
    ("name null", _set(["name"], None), False),
    ("name number", _set(["name"], 5), False),
    ("no name", _drop("name"), True),
    ("no times", lambda d: (_drop("startTimeUnixNano")(d), _drop("endTimeUnixNano")(d)), True),
    ("no status", _drop("status"), True),
    (
        "span not an object",
        lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"].append(5),
        False,
    ),
    ("no spans", lambda d: d["resourceSpans"][0]["scopeSpans"][0].pop("spans"), True),
    ("no scope spans", lambda d: d["resourceSpans"][0].pop("scopeSpans"), True),
    ("no resource spans", lambda d: d.update(resourceSpans=[]), True),
    ("resource spans null", lambda d: d.update(resourceSpans=None), False),
    ("snake-case record", lambda d: d.update(resource_spans=d.pop("resourceSpans")), False),
    ("unknown record field", lambda d: d.update(foo=1), False),
    (
        "old scope name",
        lambda d: d["resourceSpans"][0].update(
            instrumentationLibrarySpans=d["resourceSpans"][0].pop("scopeSpans")
        ),
        False,
    ),
    ("resource null", lambda d: d["resourceSpans"][0].update(resource=None), True),
    ("resource text", lambda d: d["resourceSpans"][0].update(resource="x"), False),
    (
        "resource bad attribute",
        lambda d: d["resourceSpans"][0]["resource"]["attributes"].append(
            {"key": "k", "value": {"stringValue": 5}}
        ),
        False,
    ),
    (
        "resource array attribute",
        lambda d: d["resourceSpans"][0]["resource"]["attributes"].append(
            {"key": "k", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}
        ),
        True,
    ),
    (
        "resource dropped",
        lambda d: d["resourceSpans"][0]["resource"].update(droppedAttributesCount=3),
        True,
    ),
    (
        "scope name number",
        lambda d: d["resourceSpans"][0]["scopeSpans"][0].update(scope={"name": 5}),
        False,
    ),
    ("scope null", lambda d: d["resourceSpans"][0]["scopeSpans"][0].update(scope=None), True),
    ("schema url number", lambda d: d["resourceSpans"][0].update(schemaUrl=5), False),
    (
        "two resources",
        lambda d: d["resourceSpans"].append(copy.deepcopy(d["resourceSpans"][0])),
        True,
    ),
    (
        "checkpoint span",
        _set(["attributes"], [{"key": c.CHECKPOINT_ID, "value": {"stringValue": "ck"}}]),
        False,
    ),
]

#: (name, edit of the middle line's bytes, whether the typed decode takes that line)
RAW_EDITS: list[tuple[str, Callable[[bytes], bytes], bool]] = [
    ("lone surrogate", lambda b: b.replace(b'"chat gpt-4o"', b'"chat \\ud800"', 1), False),
    ("invalid UTF-8", lambda b: b.replace(b'"chat gpt-4o"', b'"chat \xff"', 1), False),
    ("invalid UTF-8 in resource", lambda b: b.replace(b"bench-agent", b"bench-\xff", 1), False),
    ("NUL byte", lambda b: b.replace(b'"chat gpt-4o"', b'"chat \x00"', 1), False),
    ("not JSON", lambda b: b[:50] + b"\n", False),
    ("trailing text", lambda b: b[:-1] + b" x\n", False),
    ("spaces around", lambda b: b"  " + b[:-1] + b"  \r\n", True),
    ("byte order mark", lambda b: b"\xef\xbb\xbf" + b, False),
    (
        "big int number",
        lambda b: b.replace(b'"flags":257', b'"flags":99999999999999999999999', 1),
        True,
    ),
    ("NaN", lambda b: b.replace(b'"flags":257', b'"flags":NaN', 1), False),
    ("repeated field", lambda b: b.replace(b'"flags":257', b'"flags":"x","flags":257', 1), False),
    ("repeated id", lambda b: b.replace(b'"flags":257', b'"spanId":"xyz","flags":257', 1), False),
    ("escaped key", lambda b: b.replace(b'"key":"gen_ai.', b'"key":"gen\\u005fai.'), False),
    ("other escape", lambda b: b.replace(b'"chat gpt-4o"', b'"chat \\u00e9"', 1), True),
    ("escaped ampersand", lambda b: b.replace(b'"chat gpt-4o"', b'"chat \\u0026"', 1), True),
    (
        "escaped checkpoint key",
        lambda b: b.replace(
            b'"key":"gen_ai.tool.name"', b'"key":"agent_replay\\u002echeckpoint.id"', 1
        ),
        False,
    ),
    ("empty line", lambda b: b"\n", False),
    ("an array", lambda b: b"[]\n", False),
]


def _check(tmp_path: Path, lines: list[bytes], taken: list[bool], expect: bool | None) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(lines))
    assert_same_recording(path)
    assert taken[:3] == [True, expect, True] if expect is not None else taken[0] and taken[-1]


@pytest.mark.parametrize(("name", "edit", "fast"), EDITS, ids=[e[0] for e in EDITS])
def test_a_record_reads_as_load_recording_reads_it(
    tmp_path: Path, taken: list[bool], name: str, edit: Callable[[Any], Any], fast: bool
) -> None:
    docs = _docs(tmp_path)
    edit(docs[1])
    _check(tmp_path, _lines(docs), taken, fast)


@pytest.mark.parametrize(("name", "edit", "fast"), RAW_EDITS, ids=[e[0] for e in RAW_EDITS])
def test_a_line_reads_as_load_recording_reads_it(
    tmp_path: Path, taken: list[bool], name: str, edit: Callable[[bytes], bytes], fast: bool
) -> None:
    lines = _lines(_docs(tmp_path))
    lines[1] = edit(lines[1])
    _check(tmp_path, lines, taken, None if lines[1] == b"\n" else fast)


def test_sessions_and_bad_ids_are_counted_as_by_load_recording(
    tmp_path: Path, taken: list[bool]
) -> None:
    docs = _docs(tmp_path)
    both = _span(docs[1], 3)
    both["traceId"], both["spanId"] = "0" * 32, "0" * 16
    _span(docs[1], 4)["spanId"] = "0" * 16
    _span(docs[1], 5)["traceId"] = "0" * 32
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(_lines(docs)))
    assert_same_recording(path)
    assert taken == [True, True, True]
    with pytest.warns(UserWarning, match="3 spans with an absent or all-zero trace id"):
        summary = summarize_recording(path)
    assert summary.sessions() == ["s-1", "s-2", "s-3"]
    # the records of s-1 and s-2 share a trace (the first session seen names it)
    assert summary.step_counts() == {"s-1": 10, "s-2": 2, "s-3": 4}


def test_generated_recordings_take_the_typed_decode_whole(
    tmp_path: Path, taken: list[bool]
) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 2500)
    summary = summarize_recording(path)
    assert taken == [True, True, True]
    assert (summary.span_count, summary.sessions(), summary.step_counts()) == (
        2500,
        ["s-1"],
        {"s-1": 2500},
    )


def test_torn_gzip_directory_and_protobuf_read_as_load_recording_reads_them(
    tmp_path: Path, taken: list[bool]
) -> None:
    lines = _lines(_docs(tmp_path))
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(lines[0] + lines[1] + lines[2][:-1])  # a complete last line, no newline
    assert_same_recording(torn)
    torn.write_bytes(lines[0] + lines[1] + lines[2][:200])
    assert_same_recording(torn)
    d = tmp_path / "dir"
    d.mkdir()
    with gzip.open(d / "a.jsonl.gz", "wb") as f:
        f.write(lines[0] + lines[1])
    (d / "b.jsonl").write_bytes(lines[2])
    (d / "c.jsonl").write_bytes(b"not json\n")
    from otel_replay.formats.files import load_recording

    with pytest.warns(RecordingWarning, match="skipped truncated last line"):
        spans = load_recording(torn).spans
    write_recording(d / "d.binpb", spans, format="protobuf")
    assert_same_recording(d)
    assert taken.count(True) >= 4


def test_a_collector_written_recording_reads_as_load_recording_reads_it(
    tmp_path: Path, taken: list[bool]
) -> None:
    data = ROOT / "tests" / "data" / "recordings" / "collector-ptrace.jsonl"
    assert_same_recording(data)
    assert taken == [False]  # trace state, events and links: the general decoder
    doc = json.loads(data.read_bytes())
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceState", "events", "links", "droppedAttributesCount"):
                    span.pop(key, None)
                span.pop("droppedEventsCount", None)
                span.pop("droppedLinksCount", None)
                span["attributes"] = [  # bytes and map values: the general decoder
                    a for a in span.get("attributes", []) if a["key"] not in ("bytes", "kvList")
                ]
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert spans[1]["traceId"] == ""  # an absent id: the general decoder
    spans[1].update(traceId=spans[0]["traceId"], spanId="2122232425262728")
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(doc).encode() + b"\n")
    assert_same_recording(path)
    assert taken[-1] is True


def test_without_msgspec_every_line_takes_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool]
) -> None:
    import otel_replay.formats.summary as summary_module

    monkeypatch.setattr(summary_module, "AVAILABLE", False)
    docs = _docs(tmp_path)
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(_lines(docs)))
    assert_same_recording(path)
    assert taken == []
    assert RecordingSummary()._lines is None


def test_inspect_imports_only_its_own_command(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_large(str(path), 3)
    code = (
        "import sys\n"
        "from otel_replay.cli.main import main\n"
        f"assert main(['inspect', {str(path)!r}, '--no-steps', '--quiet']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('otel_replay.cli.', "
        "'otel_replay.drift', 'opentelemetry.sdk.metrics'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.splitlines()[-1] == str(
        ["otel_replay.cli.inspect", "otel_replay.cli.load", "otel_replay.cli.main"]
        + ["otel_replay.cli.progress", "otel_replay.cli.render"]
    )


def test_strict_raises_at_the_same_record_as_load_recording(tmp_path: Path) -> None:
    from otel_replay.formats.errors import RecordingFormatError
    from otel_replay.formats.files import load_recording

    docs = _docs(tmp_path)
    _span(docs[1])["spanId"] = "xyz"
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(_lines(docs)))
    with pytest.raises(RecordingFormatError) as full:
        load_recording(path, strict=True)
    with pytest.raises(RecordingFormatError) as outline:
        summarize_recording(path, strict=True)
    assert str(outline.value) == str(full.value)
    assert str(full.value).startswith(f"{path}:2: ")


_FIELDS = ["traceId", "spanId", "parentSpanId", "flags", "name", "kind", "status", "foo"]
_FIELDS += ["startTimeUnixNano", "endTimeUnixNano", "attributes", "events", "traceState"]
_JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "0" * 16, "10000000000000ab", "0" * 32, TID2, "1796", " 7", "7"])
    | st.sampled_from([{"stringValue": "s"}, {"intValue": "5"}, {"boolValue": True}, {}])
    | st.sampled_from([{"doubleValue": 1}, {"arrayValue": {"values": []}}, {"code": 2}, []]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["stringValue", "intValue", "boolValue", "doubleValue", "arrayValue"])
            | st.sampled_from(["values", "key", "value", "code", "message", "name"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_TARGETS = st.one_of(
    st.tuples(st.just("span"), st.integers(0, 5), st.sampled_from(_FIELDS)),
    st.tuples(st.just("value"), st.integers(0, 5), st.sampled_from([c.SESSION_ID, SEQ])),
    st.tuples(st.just("record"), st.just(0), st.sampled_from(["resource", "scope", "schemaUrl"])),
)


@settings(
    max_examples=int(os.environ.get("OTEL_REPLAY_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(st.tuples(_TARGETS, _JUNK), min_size=1, max_size=3))
def test_any_damage_reads_as_load_recording_reads_it(edits: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        docs = _docs(Path(tmp))
        for (where, i, field), value in edits:
            if where == "span":
                _span(docs[1], i)[field] = value
            elif where == "value":  # a repeated key: the last one counts
                attrs = _span(docs[1], i).get("attributes")
                if isinstance(attrs, list):
                    attrs.append({"key": field, "value": value})
            elif field == "scope":
                docs[1]["resourceSpans"][0]["scopeSpans"][0]["scope"] = value
            else:
                docs[1]["resourceSpans"][0][field] = value
        path = Path(tmp) / "r.jsonl"
        path.write_bytes(b"".join(_lines(docs)))
        assert_same_recording(path)
