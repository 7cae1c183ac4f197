"""Deprecated: the names of ``otel_replay.recordings`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.formats import errors as _m0
from otel_replay.formats import exporter as _m1
from otel_replay.formats import files as _m2
from otel_replay.formats import otlp_json_decode as _m3
from otel_replay.formats import otlp_json_encode as _m4
from otel_replay.formats import otlp_proto as _m5
from otel_replay.formats import recording as _m6

__getattr__, __dir__ = moved(
    "otel_replay.recordings",
    {
        "JSONL_SUFFIXES": _m2,
        "PROTOBUF_SUFFIX": _m2,
        "Recording": _m6,
        "RecordingError": _m0,
        "RecordingExporter": _m1,
        "RecordingFormat": _m2,
        "RecordingFormatError": _m0,
        "RecordingSizeError": _m0,
        "RecordingWarning": _m0,
        "encode_spans": _m5,
        "load_recording": _m2,
        "spans_from_traces_data": _m5,
        "traces_data_from_json": _m3,
        "traces_data_to_json": _m4,
        "write_recording": _m2,
    },
)
