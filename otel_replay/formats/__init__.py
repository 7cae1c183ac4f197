"""Recordings on disk: OTLP JSON lines and protobuf codecs, the exporter, the loader.

``files`` (formats, load and write), ``exporter``, ``recording`` (the loaded spans and
steps), ``summary`` (a streaming outline of large recordings; ``outline_decode``, its typed decode of
JSON lines), ``errors``; the codecs ``otlp_proto``, ``otlp_json_encode``, ``otlp_json_decode``,
``otlp_json_fields``, ``json_text``, and ``sdk_spans`` (SDK spans from decoded parts).

May import: ``core``, ``model``.
"""

from otel_replay.formats.errors import (
    RecordingError,
    RecordingFormatError,
    RecordingSizeError,
    RecordingWarning,
)
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import (
    JSONL_SUFFIXES,
    PROTOBUF_SUFFIX,
    RecordingFormat,
    load_recording,
    write_recording,
)
from otel_replay.formats.otlp_json_decode import traces_data_from_json
from otel_replay.formats.otlp_json_encode import traces_data_to_json
from otel_replay.formats.otlp_proto import encode_spans, spans_from_traces_data
from otel_replay.formats.recording import Recording
from otel_replay.formats.summary import RecordingSummary, summarize_recording

__all__ = [
    "RecordingError",
    "RecordingFormatError",
    "RecordingSizeError",
    "RecordingWarning",
    "RecordingExporter",
    "Recording",
    "RecordingSummary",
    "RecordingFormat",
    "encode_spans",
    "traces_data_to_json",
    "traces_data_from_json",
    "spans_from_traces_data",
    "load_recording",
    "summarize_recording",
    "write_recording",
    "JSONL_SUFFIXES",
    "PROTOBUF_SUFFIX",
]
