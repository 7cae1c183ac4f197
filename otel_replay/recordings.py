"""Deprecated: the names of ``otel_replay.recordings`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.formats import recordings as _m0

__getattr__, __dir__ = moved(
    "otel_replay.recordings",
    {
        "JSONL_SUFFIXES": _m0,
        "PROTOBUF_SUFFIX": _m0,
        "Recording": _m0,
        "RecordingError": _m0,
        "RecordingExporter": _m0,
        "RecordingFormat": _m0,
        "RecordingFormatError": _m0,
        "RecordingSizeError": _m0,
        "RecordingWarning": _m0,
        "encode_spans": _m0,
        "load_recording": _m0,
        "spans_from_traces_data": _m0,
        "traces_data_from_json": _m0,
        "traces_data_to_json": _m0,
        "write_recording": _m0,
    },
)
