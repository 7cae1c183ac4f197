"""Drift log events of ``otel-replay serve`` written as serialized OTLP ``LogRecord`` bytes
instead of SDK log records: :class:`LogBytesEmitter` has the interface of
:class:`~otel_replay.drift.events.LogEventEmitter` and emits the same records, field for
field, as the SDK Logs API and its OTLP encoding give (time, observed time, severity, body,
attributes, flags, trace and span id, event name); the encoding of each attribute that
repeats (names, labels, agent) is kept. The records go to a
:class:`~otel_replay.serve.log_export.LogExport`, which sends them in batches.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from time import time_ns
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.util.types import AttributeValue

from otel_replay.drift.events import (
    LogEvent,
    LogEventEmitter,
    LogMode,
    drift_log_events,
    not_compared_log_event,
)
from otel_replay.drift.findings import DriftFinding
from otel_replay.drift.report import DriftReport
from otel_replay.formats.protowire import delimited, varint

__all__ = ["LogBytesEmitter", "LogRecordEncoder", "RecordSink", "logs_request_prefix"]

_KEPT = 1024  # encoded attributes kept (by key, value and type)
_ATTR_TAG = b"\x32"  # LogRecord field 6 (attributes), length-delimited
_FIXED64 = b"\x09"  # LogRecord field 1 (time_unix_nano)
_NO_BODY = b"\x2a\x00"  # an empty AnyValue: the SDK's encoding of no body
_pack_q = struct.Struct("<Q").pack


def _any_value(value: Any) -> AnyValue:
    """``value`` as an OTLP ``AnyValue`` (the SDK exporter's mapping)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Mapping):
        return AnyValue(
            kvlist_value=KeyValueList(
                values=[KeyValue(key=str(k), value=_any_value(v)) for k, v in value.items()]
            )
        )
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _value_bytes(value: Any) -> bytes:
    """The serialized ``AnyValue`` of ``value``."""
    if type(value) is str:
        data = value.encode("utf-8")
        return b"\x0a" + varint(len(data)) + data
    return _any_value(value).SerializeToString()


def _key_value(key: str, value: Any) -> bytes:
    """The serialized ``KeyValue`` of one attribute."""
    k = key.encode("utf-8")
    v = _value_bytes(value)
    return (b"\x0a" + varint(len(k)) + k if k else b"") + b"\x12" + varint(len(v)) + v


def _current() -> tuple[int, int, int]:
    """``(trace id, span id, flags)`` of the current span: what the Logs API correlates a
    record given no span with (none on the worker's own threads)."""
    ctx = trace.get_current_span().get_span_context()
    return ctx.trace_id, ctx.span_id, int(ctx.trace_flags)


class LogRecordEncoder:
    """Serializes log records as the SDK's OTLP log encoding does, with the SDK's attribute
    limits (``OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT``, ``..._VALUE_LENGTH_LIMIT``) applied;
    an attribute that cannot be encoded is left out, as the SDK exporter leaves it out."""

    def __init__(self, max_attributes: int | None = 128, max_value_length: int | None = None):
        self.max_attributes = max_attributes
        self.max_value_length = max_value_length
        self._attrs: dict[tuple[str, type, Any], bytes] = {}
        self._fields: dict[Any, bytes] = {}  # severity, event name

    @classmethod
    def from_env(cls) -> LogRecordEncoder:
        """With the limits the SDK's ``LoggerProvider`` reads from the environment."""
        from opentelemetry.sdk._logs import LogRecordLimits

        limits = LogRecordLimits()
        return cls(limits.max_log_record_attributes, limits.max_log_record_attribute_length)

    def encode(
        self,
        *,
        timestamp: int | None,
        observed_timestamp: int,
        severity_number: SeverityNumber | None,
        severity_text: str | None,
        body: Any,
        attributes: Mapping[str, Any],
        trace_id: int = 0,
        span_id: int = 0,
        flags: int = 0,
        event_name: str | None = None,
    ) -> bytes:
        """One ``LogRecord`` serialized (the bytes of the SDK exporter's encoding)."""
        fields = self._fields
        head = fields.get((severity_number, severity_text))
        if head is None:
            head = b""
            if severity_number is not None and severity_number.value:
                head += b"\x10" + varint(severity_number.value)
            if severity_text:
                head += delimited(b"\x1a", severity_text.encode("utf-8"))
            if len(fields) >= 64:
                fields.clear()
            fields[(severity_number, severity_text)] = head
        tail = fields.get(event_name)
        if tail is None:
            tail = delimited(b"\x62", event_name.encode("utf-8")) if event_name else b""
            fields[event_name] = tail
        parts = [_FIXED64 + _pack_q(timestamp), head] if timestamp else [head]
        parts.append(delimited(b"\x2a", _value_bytes(body)) if body is not None else _NO_BODY)
        dropped = self._attributes(parts, attributes)
        if dropped:
            parts.append(b"\x38" + varint(dropped))
        if flags:
            parts.append(b"\x45" + struct.pack("<I", flags))
        if trace_id:
            parts.append(b"\x4a\x10" + trace_id.to_bytes(16, "big"))
        if span_id:
            parts.append(b"\x52\x08" + span_id.to_bytes(8, "big"))
        if observed_timestamp:
            parts.append(b"\x59" + _pack_q(observed_timestamp))
        parts.append(tail)
        return b"".join(parts)

    def _attributes(self, parts: list[bytes], attributes: Mapping[str, Any]) -> int:
        """Append the encoded attributes; how many the limits dropped."""
        limit = self.max_attributes
        if self.max_value_length is None and (limit is None or len(attributes) <= limit):
            kept = self._attrs
            start = len(parts)
            for key, value in attributes.items():
                t = type(value)
                if not key:
                    break  # dropped by the SDK: its way below
                if (t is list or t is tuple) and all(type(x) is str for x in value):
                    parts.append(delimited(_ATTR_TAG, _key_value(key, value)))  # paths
                    continue
                # not 0.0: equal to -0.0, encoded differently
                if not (t is str or t is int or t is bool or (t is float and value)):
                    break  # a value to check: the SDK's way below
                ck = (key, t, value)
                kv = kept.get(ck)
                if kv is None:
                    try:
                        kv = delimited(_ATTR_TAG, _key_value(key, value))
                    except Exception:
                        break
                    if len(kept) >= _KEPT:
                        kept.clear()
                    kept[ck] = kv
                parts.append(kv)
            else:
                return 0
            del parts[start:]
        # the SDK's own bounding and cleaning (an empty key is dropped), encoded as it is
        bounded = BoundedAttributes(
            maxlen=limit,
            attributes=attributes,
            immutable=False,
            max_value_len=self.max_value_length,
            extended_attributes=True,
        )
        for key, value in bounded.items():
            try:
                parts.append(delimited(_ATTR_TAG, _key_value(key, value)))
            except Exception:  # as the SDK exporter: the attribute is left out
                continue
        return bounded.dropped


def logs_request_prefix(resource_attributes: Mapping[str, Any], scope_name: str, version: str):
    """``(resource, scope)``: the serialized OTLP ``Resource`` and ``InstrumentationScope`` of
    the SDK's encoding of a ``LoggerProvider(resource=...)``'s ``get_logger(name, version)``."""
    resource = b"".join(
        delimited(b"\x0a", _key_value(k, v)) for k, v in resource_attributes.items()
    )
    scope = InstrumentationScope(name=scope_name, version=version).SerializeToString()
    return resource, scope


class RecordSink(Protocol):
    """Where serialized log records go (:class:`~otel_replay.serve.log_export.LogExport`)."""

    def put(self, records: Sequence[bytes]) -> int: ...


class LogBytesEmitter(LogEventEmitter):
    """:class:`~otel_replay.drift.events.LogEventEmitter`'s records written as OTLP bytes to
    ``export`` (``mode`` ``false``: none; ``auto`` and ``true``: all; ``evaluation``: whether
    verdicts are emitted)."""

    def __init__(
        self,
        mode: LogMode,
        export: RecordSink,
        evaluation: bool = True,
        encoder: LogRecordEncoder | None = None,
    ) -> None:
        super().__init__(mode, None, evaluation)
        self.export = export
        self.encoder = encoder or LogRecordEncoder.from_env()

    def logger(self) -> Any:
        """``self`` when log events are on, else ``None`` (as the Logs API emitter's)."""
        return None if self.mode == "false" else self

    def emit(
        self,
        report: DriftReport,
        base: Mapping[str, AttributeValue],
        root: tuple[int, int, int] | None,
        finding_attributes: Callable[[DriftFinding], dict[str, AttributeValue]],
        response_id: str | None = None,
    ) -> None:
        """Emit the findings and the verdict; ``root`` is ``(trace_id, span_id, end time)``
        of the run's root span (``None`` when it was not seen)."""
        if self.mode == "false":
            return
        events = drift_log_events(
            report, base, root, finding_attributes, response_id, self.evaluation
        )
        self.export.put(self._encode(events))

    def emit_not_compared(
        self, attributes: Mapping[str, AttributeValue], span: tuple[int, int, int] | None
    ) -> bool:
        """Emit the ``not_compared`` verdict of a run, correlated with ``span`` =
        ``(trace_id, span_id, end time)`` when given; whether it was emitted (log events and
        evaluation events on)."""
        if self.mode == "false" or not self.evaluation:
            return False
        self.export.put(self._encode([not_compared_log_event(attributes, span)]))
        return True

    def _encode(self, events: Sequence[LogEvent]) -> list[bytes]:
        """The records serialized; an uncorrelated one gets the current span's ids, as the
        Logs API gives it."""
        encode = self.encoder.encode
        current: tuple[int, int, int] | None = None
        records = []
        for event in events:
            if event.span is not None:
                (tid, sid), flags = event.span, 1
            else:
                if current is None:
                    current = _current()
                tid, sid, flags = current
            records.append(
                encode(
                    timestamp=event.timestamp,
                    observed_timestamp=time_ns(),
                    severity_number=event.severity_number,
                    severity_text=event.severity_text,
                    body=event.body,
                    attributes=event.attributes,
                    trace_id=tid,
                    span_id=sid,
                    flags=flags,
                    event_name=event.event_name,
                )
            )
        return records
