"""``RecordingExporter(path)``: which paths are files and which are directories, the format
a file's extension names, and the warning for an existing file without an extension."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay import RecordingExporter, RecordingWarning, load_recording


def _spans(n: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for i in range(n):
        with provider.get_tracer("t").start_as_current_span(f"s{i}"):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _export(exporter: RecordingExporter, n: int = 2) -> None:
    assert exporter.export(_spans(n)) is SpanExportResult.SUCCESS
    exporter.shutdown()


def _no_warnings(target: str | Path, **kwargs: object) -> RecordingExporter:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return RecordingExporter(target, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["recA", "recA/", "recordings.d", "v1.2"])
def test_a_new_path_without_a_recording_extension_is_a_directory(tmp_path, name):
    target = str(tmp_path / name) if not name.endswith("/") else f"{tmp_path / name[:-1]}{os.sep}"
    exporter = _no_warnings(target)
    assert exporter.path is None  # a directory's file is named at the first export
    _export(exporter)
    directory = tmp_path / name.rstrip("/")
    assert directory.is_dir()
    [written] = os.listdir(directory)
    assert written.startswith(f"spans-{os.getpid()}-") and written.endswith(".jsonl")
    assert exporter.path == str(directory / written)
    assert [s.name for s in load_recording(directory).spans] == ["s0", "s1"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("rec.jsonl", "jsonl"), ("rec.json", "jsonl"), ("rec.binpb", "protobuf")],
)
def test_a_path_with_a_recording_extension_is_a_file_in_its_format(tmp_path, name, fmt):
    target = tmp_path / "new" / name
    exporter = _no_warnings(target)
    assert (exporter.path, exporter.format) == (str(target), fmt)
    _export(exporter)
    assert target.is_file()
    head = target.read_bytes()[:1]
    assert (head == b"{") is (fmt == "jsonl")
    assert [s.name for s in load_recording(target).spans] == ["s0", "s1"]


def test_an_existing_directory_is_a_directory_whatever_its_name(tmp_path):
    target = tmp_path / "looks-like.jsonl"
    target.mkdir()
    exporter = _no_warnings(target, format="protobuf")
    _export(exporter)
    [written] = os.listdir(target)
    assert written.endswith(".binpb")


def test_an_existing_file_without_an_extension_is_appended_to_with_a_warning(tmp_path):
    target = tmp_path / "recA"
    _export(RecordingExporter(tmp_path / "first.jsonl"))
    target.write_bytes((tmp_path / "first.jsonl").read_bytes())  # e.g. written by 0.1
    with pytest.warns(RecordingWarning) as caught:
        exporter = RecordingExporter(target)
    [warning] = caught
    assert str(warning.message) == (
        f"{target} exists as a file without a recording extension (.jsonl, .json, .binpb): "
        "RecordingExporter appends to it as one recording file (a new path without such an "
        f"extension is a directory of recording files); rename it to {target}.jsonl to "
        "silence this warning"
    )
    assert warning.filename == __file__
    _export(exporter)
    assert target.is_file()
    assert [s.name for s in load_recording(target).spans] == ["s0", "s1", "s0", "s1"]


def test_a_device_is_written_as_a_file_without_a_warning():
    exporter = _no_warnings(os.devnull)
    assert exporter.path == os.devnull
    _export(exporter)


@pytest.mark.parametrize(
    ("name", "fmt", "named"),
    [
        ("rec.jsonl", "protobuf", "jsonl"),
        ("rec.json", "protobuf", "jsonl"),
        ("rec.binpb", "jsonl", "protobuf"),
    ],
)
def test_a_format_that_contradicts_the_extension_is_an_error(tmp_path, name, fmt, named):
    target = tmp_path / name
    suffix = ".binpb" if fmt == "protobuf" else ".jsonl"
    with pytest.raises(ValueError) as err:
        RecordingExporter(target, format=fmt)
    assert str(err.value) == (
        f"recording file {target} has the extension of {named!r} recordings but "
        f"format={fmt!r}: drop format= or name the file with {suffix}"
    )
    assert not target.exists()
