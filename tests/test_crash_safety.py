"""Recordings that survive crashes and damage: torn tails repaired on reopen, corrupt lines
and frames skipped with exact warnings, protobuf resynchronization, directories with bad
files, compressed recordings, non-regular files, lossless value fallbacks."""

from __future__ import annotations

import gzip
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.core import conventions as c
from otel_replay.formats.coercion import INT_PREFIX, STR_PREFIX, restore_value
from otel_replay.formats.errors import RecordingError, RecordingFormatError, RecordingWarning
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording, write_recording
from otel_replay.formats.otlp_proto import encode_spans
from tests.conftest import points_by_attributes

ROOT = Path(__file__).resolve().parents[1]


def _spans(n: int, prefix: str = "s") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "crash"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for i in range(n):
        with tracer.start_as_current_span(f"{prefix}{i}", attributes={"i": i}):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _lines(n: int) -> list[bytes]:
    from otel_replay.formats.exporter import RecordingExporter as _E

    out = []
    for span in _spans(n):
        out.append(_E("unused.jsonl")._encode([span]))
    return out


def _frames(n: int) -> list[bytes]:
    out = []
    for span in _spans(n):
        payload = encode_spans([span]).SerializeToString()
        out.append(len(payload).to_bytes(4, "big") + payload)
    return out


def _names(path: Path | str, **kwargs: object) -> list[str]:
    return [s.name for s in load_recording(path, **kwargs).spans]  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# A writer killed mid-write, and the next writer on the same file

_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from otel_replay.formats import exporter as mod

    path, fmt = sys.argv[1], sys.argv[2]
    exp = mod.RecordingExporter(path, format=fmt)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    tracer = provider.get_tracer("child")
    for i in range(5):
        with tracer.start_as_current_span(f"before{{i}}"):
            pass

    def torn_write(f, data):  # the process dies in the middle of writing one record
        f.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    mod._write_all = torn_write
    with tracer.start_as_current_span("torn"):
        pass
    """
)


@pytest.mark.parametrize("name", ["crash.jsonl", "crash.binpb", "crash.jsonl.gz", "crash.binpb.gz"])
def test_writer_killed_mid_write_then_reopened(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / name
    fmt = "protobuf" if ".binpb" in name else "jsonl"
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT)), str(path), fmt],
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    size_before = path.stat().st_size
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        exporter = RecordingExporter(path, format=fmt)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("after")
        for i in range(3):
            with tracer.start_as_current_span(f"after{i}"):
                pass
        provider.shutdown()
    torn = Path(str(path) + ".torn")
    assert torn.exists()
    good = size_before - torn.stat().st_size
    assert len(exporter.repairs) == 1
    assert exporter.repairs[0] == (
        f"recording file {path} ended in a torn record ({torn.stat().st_size} bytes at byte "
        f"offset {good}, left by a writer that stopped mid-write); moved them to {torn} and "
        "appending after the last complete record"
    )
    assert [r.getMessage() for r in caplog.records] == exporter.repairs
    loaded = load_recording(path)
    assert loaded.warnings == []
    assert [s.name for s in loaded.spans] == [f"before{i}" for i in range(5)] + [
        f"after{i}" for i in range(3)
    ]


def test_torn_tail_written_directly_is_moved_aside(tmp_path: Path) -> None:
    lines = _lines(3)
    path = tmp_path / "r.jsonl"
    path.write_bytes(lines[0] + lines[1] + lines[2][:40])
    exporter = RecordingExporter(path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("next"):
        pass
    provider.shutdown()
    assert Path(str(path) + ".torn").read_bytes() == lines[2][:40]
    assert _names(path) == ["s0", "s1", "next"]


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    lines = _lines(2)
    path = tmp_path / "r.jsonl"
    path.write_bytes(lines[0] + lines[1].rstrip(b"\n"))
    exporter = RecordingExporter(path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("next"):
        pass
    provider.shutdown()
    assert exporter.repairs == []
    assert not Path(str(path) + ".torn").exists()
    assert _names(path) == ["s0", "s1", "next"]


def test_protobuf_damage_in_the_middle_is_not_cut_on_reopen(tmp_path: Path) -> None:
    frames = _frames(4)
    bad = frames[1][:4] + b"\xff" * (len(frames[1]) - 4)
    path = tmp_path / "r.binpb"
    path.write_bytes(frames[0] + bad + frames[2] + frames[3][:9])
    exporter = RecordingExporter(path, format="protobuf")
    assert exporter.export(_spans(1, "new")) is not None
    exporter.shutdown()
    assert Path(str(path) + ".torn").read_bytes() == frames[3][:9]
    with pytest.warns(RecordingWarning):
        assert _names(path) == ["s0", "s2", "new0"]


def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    lazy = RecordingExporter(tmp_path / "lazy.jsonl")
    lazy.export(_spans(2))
    assert synced == []
    assert lazy.force_flush() is True
    assert len(synced) == 1
    lazy.shutdown()
    assert len(synced) == 2
    synced.clear()
    eager = RecordingExporter(tmp_path / "eager.jsonl", fsync=True)
    eager.export(_spans(1))
    eager.export(_spans(1))
    assert len(synced) == 2
    eager.shutdown()


# --------------------------------------------------------------------------------------------
# Loading damaged files


def test_corrupt_middle_line_is_skipped_and_later_lines_load(tmp_path: Path) -> None:
    lines = _lines(20)
    lines[5] = b"#" + lines[5][1:]
    path = tmp_path / "crash.jsonl"
    path.write_bytes(b"".join(lines))
    expected = (
        f"{path}:6: skipped corrupt line ({len(lines[5])} bytes, about 1 span lost): "
        "invalid JSON: Expecting value (column 1)"
    )
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(path)
    assert [str(w.message) for w in record] == [expected]
    assert [s.name for s in loaded.spans] == [f"s{i}" for i in range(20) if i != 5]
    assert [(k.path, k.line, k.offset, k.size, k.spans) for k in loaded.skipped] == [
        (str(path), 6, None, len(lines[5]), 1)
    ]
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    assert str(info.value) == f"{path}:6: invalid JSON: Expecting value (column 1)"


def test_line_that_is_not_otlp_counts_its_spans(tmp_path: Path) -> None:
    lines = _lines(3)
    bad = lines[1].replace(b'"name":"s1"', b'"name":7')
    path = tmp_path / "r.jsonl"
    path.write_bytes(lines[0] + bad + lines[2])
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["s0", "s2"]
    assert str(record[0].message) == (
        f"{path}:2: skipped corrupt line ({len(bad)} bytes, 1 span lost): "
        "resourceSpans[0].scopeSpans[0].spans[0]: name is a number, expected a string"
    )


def test_invalid_utf8_byte_is_named_with_its_offset(tmp_path: Path) -> None:
    lines = _lines(3)
    at = lines[1].index(b"s1")
    bad = lines[1][:at] + b"\xff" + lines[1][at + 1 :]
    path = tmp_path / "r.jsonl"
    path.write_bytes(lines[0] + bad + lines[2])
    offset = len(lines[0]) + at
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["s0", "s2"]
    assert str(record[0].message) == (
        f"{path}:2: skipped corrupt line ({len(bad)} bytes, about 1 span lost): invalid UTF-8 "
        f"at byte offset {offset} of the file (column {at + 1}: byte 0xff)"
    )
    single = tmp_path / "one.jsonl"
    single.write_bytes(bad)
    with pytest.raises(RecordingFormatError) as info:
        load_recording(single)
    assert str(info.value) == (
        f"{single}:1: invalid UTF-8 at byte offset {at} of the file (column {at + 1}: byte 0xff)"
    )


def test_bad_length_in_a_middle_frame_recovers_every_span(tmp_path: Path) -> None:
    frames = _frames(20)
    offset = sum(len(f) for f in frames[:9])
    real = len(frames[9]) - 4
    frames[9] = (real + 1000).to_bytes(4, "big") + frames[9][4:]
    path = tmp_path / "crash.binpb"
    path.write_bytes(b"".join(frames))
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(path)
    assert [s.name for s in loaded.spans] == [f"s{i}" for i in range(20)]
    assert [str(w.message) for w in record] == [
        f"{path}: at byte offset {offset}: the frame's length prefix ({real + 1000}) is wrong; "
        f"its {real} bytes up to the next valid frame decode as one frame: recovered 1 span"
    ]
    assert loaded.skipped == []


def test_bad_length_running_past_the_end_is_not_called_a_truncated_last_frame(
    tmp_path: Path,
) -> None:
    frames = _frames(20)
    offset = sum(len(f) for f in frames[:9])
    frames[9] = (10**6).to_bytes(4, "big") + frames[9][4:]
    path = tmp_path / "crash.binpb"
    path.write_bytes(b"".join(frames))
    with pytest.raises(RecordingFormatError) as info:
        load_recording(path, strict=True)
    assert str(info.value) == (
        f"{path}: at byte offset {offset}: frame length 1000000 runs past the end of the file "
        f"(at {path.stat().st_size - offset - 4} bytes) but a valid frame follows: corrupt "
        "length prefix"
    )
    with pytest.warns(RecordingWarning):
        assert _names(path) == [f"s{i}" for i in range(20)]


def test_garbage_middle_frame_is_skipped_and_the_reader_resynchronizes(tmp_path: Path) -> None:
    frames = _frames(20)
    offset = sum(len(f) for f in frames[:9])
    frames[9] = frames[9][:4] + b"\xff" * (len(frames[9]) - 4)
    path = tmp_path / "crash.binpb"
    path.write_bytes(b"".join(frames))
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(path)
    assert [s.name for s in loaded.spans] == [f"s{i}" for i in range(20) if i != 9]
    message = str(record[0].message)
    assert message.startswith(
        f"{path}: at byte offset {offset}: skipped corrupt bytes ({len(frames[9])} bytes, "
        "number of spans lost unknown): undecodable OTLP TracesData frame: "
    )
    assert message.endswith(
        f"; resumed at the next valid frame at byte offset {offset + len(frames[9])}"
    )
    assert [(k.offset, k.size, k.spans) for k in loaded.skipped] == [(offset, len(frames[9]), None)]


def test_nul_padding_after_good_frames(tmp_path: Path) -> None:
    frames = _frames(3)
    path = tmp_path / "padded.binpb"
    good = b"".join(frames)
    path.write_bytes(good + b"\x00" * (8 << 20))
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["s0", "s1", "s2"]
    assert [str(w.message) for w in record] == [
        f"{path}: at byte offset {len(good)}: skipped corrupt bytes ({8 << 20} bytes, number of "
        "spans lost unknown): zero-length frame (zero bytes where a frame length was "
        "expected); no valid frame follows (the rest of the file was skipped)"
    ]
    with pytest.raises(RecordingFormatError, match="zero-length frame"):
        load_recording(path, strict=True)


def test_directory_loads_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    write_recording(tmp_path / "a.jsonl", _spans(2, "a"))
    (tmp_path / "b.jsonl").write_bytes(b"\x00\x01garbage\n")
    write_recording(tmp_path / "c.binpb", _spans(1, "c"), format="protobuf")
    with pytest.warns(RecordingWarning) as record:
        loaded = load_recording(tmp_path)
    bad = str(tmp_path / "b.jsonl")
    assert [s.name for s in loaded.spans] == ["a0", "a1", "c0"]
    assert list(loaded.errors) == [bad]
    assert loaded.paths == [str(tmp_path / "a.jsonl"), str(tmp_path / "c.binpb")]
    assert [str(w.message) for w in record] == [
        f"skipped file: {bad}:1: NUL byte at byte offset 0 of the file (binary data in a JSON line)"
    ]
    with pytest.raises(RecordingFormatError, match=r"b\.jsonl:1: NUL byte"):
        load_recording(tmp_path, strict=True)
    (tmp_path / "a.jsonl").write_bytes(b"nope\n")
    (tmp_path / "c.binpb").write_bytes(b"\xff\xff\xff\xff")
    with (
        pytest.warns(RecordingWarning),
        pytest.raises(RecordingError, match="none of the 3 recording files could be loaded"),
    ):
        load_recording(tmp_path)


def test_zero_and_absent_ids_are_warned(tmp_path: Path) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_bytes(
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"},'
        b'{"name":"b","traceId":"00000000000000000000000000000000","spanId":"0000000000000000"},'
        b'{"name":"c","traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}'
        b"]}]}]}\n"
    )
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["a", "b", "c"]
    assert [str(w.message) for w in record] == [
        f"{path}: 2 spans with an absent or all-zero trace id or span id (invalid in OTLP; "
        "such spans cannot be linked to their parents or children)"
    ]


# --------------------------------------------------------------------------------------------
# Compressed recordings, non-regular files


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
@pytest.mark.parametrize("compression", ["gz", "zst"])
def test_compressed_recordings_round_trip(tmp_path: Path, fmt: str, compression: str) -> None:
    pytest.importorskip("zstandard") if compression == "zst" else None
    ext = ".jsonl" if fmt == "jsonl" else ".binpb"
    path = write_recording(tmp_path / f"r{ext}.{compression}", _spans(3), format=fmt)  # type: ignore[arg-type]
    assert _names(path) == ["s0", "s1", "s2"]
    exporter = RecordingExporter(tmp_path / f"e{ext}.{compression}", format=fmt)  # type: ignore[arg-type]
    exporter.export(_spans(2, "x"))
    exporter.export(_spans(1, "y"))
    exporter.shutdown()
    assert _names(tmp_path / f"e{ext}.{compression}") == ["x0", "x1", "y0"]
    magic = b"\x1f\x8b" if compression == "gz" else b"\x28\xb5\x2f\xfd"
    assert (tmp_path / f"e{ext}.{compression}").read_bytes()[:4].startswith(magic)


def test_compression_is_detected_by_magic_bytes_not_by_name(tmp_path: Path) -> None:
    lines = _lines(2)
    frames = _frames(2)
    named_jsonl = tmp_path / "plain.jsonl"
    named_jsonl.write_bytes(gzip.compress(b"".join(lines)))
    named_binpb = tmp_path / "plain.binpb"
    named_binpb.write_bytes(gzip.compress(b"".join(frames)))
    assert _names(named_jsonl) == ["s0", "s1"]
    assert _names(named_binpb) == ["s0", "s1"]


def test_truncated_gzip_keeps_the_complete_records(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    lines = _lines(3)
    members = [gzip.compress(line) for line in lines]
    path.write_bytes(members[0] + members[1] + members[2][:15])
    offset = len(members[0]) + len(members[1])
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["s0", "s1"]
    assert str(record[0].message) == (
        f"{path}: the gzip stream ends inside a member at compressed byte offset {offset} "
        "(15 bytes; the writer probably crashed); its decompressed part was kept"
    )


def test_unsupported_compression_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"BZh91AY&SY" + b"\x00" * 20)
    with pytest.raises(RecordingError) as info:
        load_recording(path)
    assert str(info.value) == (
        f"{path}: the file is bzip2-compressed, which recordings do not support (gzip and "
        "zstd are); decompress it first"
    )


def test_dev_zero_is_refused() -> None:
    with pytest.raises(RecordingError) as info:
        load_recording("/dev/zero")
    assert str(info.value) == (
        "/dev/zero: not a regular file (a character device); recordings are read from "
        "regular files only"
    )


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def run() -> None:
        try:
            load_recording(fifo)
        except RecordingError as exc:
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("load_recording blocked on a FIFO")
    assert [str(e) for e in result] == [
        f"{fifo}: not a regular file (a FIFO (named pipe)); recordings are read from regular "
        "files only"
    ]


# --------------------------------------------------------------------------------------------
# Values a recording cannot hold as they are


@pytest.mark.parametrize("fmt", ["jsonl", "protobuf"])
def test_big_ints_and_lone_surrogates_are_kept_counted_and_warned_once(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    ext = ".jsonl" if fmt == "jsonl" else ".binpb"
    exporter = RecordingExporter(tmp_path / f"r{ext}", format=fmt, meter_provider=meters)  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.WARNING, logger="otel_replay"):
        for _ in range(3):
            with tracer.start_as_current_span("s") as span:
                span.set_attribute("big", 2**70)
                span.set_attribute("sur", "a\udcffb")
    provider.shutdown()
    attrs = [dict(s.attributes or {}) for s in load_recording(tmp_path / f"r{ext}").spans]
    big = f"{INT_PREFIX}{2**70}"
    sur = "a\udcffb" if fmt == "jsonl" else STR_PREFIX + '"a\\udcffb"'
    assert attrs == [{"big": big, "sur": sur}] * 3
    assert restore_value(big) == 2**70
    assert restore_value(sur) == "a\udcffb"
    kinds = 1 if fmt == "jsonl" else 2
    assert len(caplog.records) == kinds
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            f"recording: attribute 'big' holds the integer {2**70}, outside the int64 range"
        )
    )
    points = points_by_attributes(reader, c.METRIC_PROCESSOR_ERRORS)
    assert points == {
        ((c.ATTR_COMPONENT, "recording_exporter"), (c.ATTR_ERROR_TYPE, "coerced_value")): 3.0
        * kinds
    }


def test_lone_surrogate_in_a_span_name_is_kept_in_protobuf(tmp_path: Path) -> None:
    exporter = RecordingExporter(tmp_path / "r.binpb", format="protobuf")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("a\udcffb"):
        pass
    provider.shutdown()
    assert exporter.failures == 0
    [span] = load_recording(tmp_path / "r.binpb").spans
    assert span.name == STR_PREFIX + '"a\\udcffb"'
    assert restore_value(span.name) == "a\udcffb"


def test_write_recording_warns_once_per_fallback_kind(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for _ in range(3):
        with provider.get_tracer("t").start_as_current_span("s") as span:
            span.set_attribute("big", -(2**64))
    provider.shutdown()
    path = tmp_path / "w.binpb"
    with pytest.warns(RecordingWarning) as record:
        write_recording(path, memory.get_finished_spans(), format="protobuf")
    assert [str(w.message) for w in record] == [
        f"{path}: recording: attribute 'big' holds the integer {-(2**64)}, outside the int64 "
        f"range of OTLP; recorded losslessly as the string {INT_PREFIX!r} + its digits"
    ]
    assert [restore_value(s.attributes["big"]) for s in load_recording(path).spans] == [
        -(2**64)
    ] * 3


def test_exporter_refuses_to_mix_compressed_and_plain_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    plain = tmp_path / "plain.jsonl"
    write_recording(plain, _spans(1))
    before = plain.read_bytes()
    exporter = RecordingExporter(plain, compression="gzip")
    with caplog.at_level(logging.ERROR, logger="otel_replay"):
        assert exporter.export(_spans(1)) is SpanExportResult.FAILURE
    assert plain.read_bytes() == before
    assert not Path(str(plain) + ".torn").exists()
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            f"cannot open recording file {plain}: {plain} exists with uncompressed content but this "
            "exporter writes gzip records; appending would mix them (use another file)"
        )
    )


def test_protobuf_exporter_on_an_unnamed_file_does_not_cut_its_frames(tmp_path: Path) -> None:
    path = tmp_path / "odd"  # an existing file without a recording extension is appended to
    path.touch()
    with pytest.warns(RecordingWarning):
        first = RecordingExporter(path, format="protobuf")
    first.export(_spans(3))
    first.shutdown()
    with pytest.warns(RecordingWarning):
        again = RecordingExporter(path, format="protobuf")
    again.export(_spans(1, "x"))
    again.shutdown()
    assert again.repairs == []
    assert not Path(str(path) + ".torn").exists()


def test_resync_work_is_bounded_on_hostile_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_replay.formats import readers

    monkeypatch.setattr(readers, "MAX_RESYNC_CANDIDATES", 50)
    frames = _frames(2)
    hostile = b"\x00\x00\x00\x10\x0a" * 200  # 200 plausible headers, none a real frame
    path = tmp_path / "hostile.binpb"
    path.write_bytes(frames[0] + b"\xff\xff" + hostile + frames[1])
    with pytest.warns(RecordingWarning) as record:
        assert _names(path) == ["s0"]
    assert str(record[0].message).endswith(
        "; no valid frame follows (the rest of the file was skipped)"
    )
    monkeypatch.setattr(readers, "MAX_RESYNC_CANDIDATES", 100_000)
    with pytest.warns(RecordingWarning):
        assert _names(path) == ["s0", "s1"]
