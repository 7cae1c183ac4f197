"""Log records built directly are those ``Logger.emit`` builds."""

from __future__ import annotations

from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel_replay.drift.events import _context
from otel_replay.drift.sdk_log_records import RecordEmitter


def _provider(**kw: Any) -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource({"service.name": "t"}), **kw)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def _view(r: Any) -> tuple[Any, ...]:
    lr = r.log_record
    return (
        lr.timestamp,
        lr.trace_id,
        lr.span_id,
        lr.trace_flags,
        lr.severity_number,
        lr.severity_text,
        lr.body,
        lr.event_name,
        list(lr.attributes.items()),
        type(lr.attributes).__name__,
        lr.attributes.maxlen,
        lr.attributes.max_value_len,
        r.dropped_attributes,
        r.resource.attributes,
        r.instrumentation_scope,
    )


_ATTRS = {"s": "x", "b": True, "i": 3, "f": 0.5, "gen_ai.evaluation.name": "agent_replay.drift"}


def _both(provider: LoggerProvider, exporter: Any, attrs: dict[str, Any]) -> list[Any]:
    logger = provider.get_logger("otel_replay", "1")
    emitter = RecordEmitter(logger)
    args: dict[str, Any] = {
        "timestamp": 1_700_000_000_000_000_000,
        "context": _context(1 << 100, 1 << 50),
        "severity_number": SeverityNumber.WARN,
        "severity_text": "WARN",
        "body": "not compared: x",
        "event_name": "gen_ai.evaluation.result",
    }
    logger.emit(attributes=dict(attrs), **args)
    emitter.emit(attributes=attrs, **args)
    return [_view(r) for r in exporter.get_finished_logs()]


def test_a_direct_record_equals_the_sdk_loggers() -> None:
    provider, exporter = _provider()
    assert RecordEmitter(provider.get_logger("otel_replay", "1")).direct is True
    generic, direct = _both(provider, exporter, _ATTRS)
    assert direct == generic
    assert direct[8] == list(_ATTRS.items())


def test_a_list_value_takes_the_sdk_loggers_emit() -> None:
    provider, exporter = _provider()
    generic, direct = _both(provider, exporter, {**_ATTRS, "paths": ["$.a"]})
    assert direct == generic
    assert dict(direct[8])["paths"] == ("$.a",)


def test_attribute_limits_take_the_sdk_loggers_emit() -> None:
    provider, exporter = _provider(
        log_record_limits=LogRecordLimits(max_attribute_length=2, max_log_record_attributes=3)
    )
    assert RecordEmitter(provider.get_logger("otel_replay", "1")).direct is False
    generic, direct = _both(provider, exporter, {"s": "xyz"})
    assert direct == generic
    assert direct[8] == [("s", "xy")]


def test_a_logger_other_than_the_sdks_is_used_through_its_emit() -> None:
    seen: list[dict[str, Any]] = []

    class Other:
        def emit(self, **kw: Any) -> None:
            seen.append(kw)

    emitter = RecordEmitter(Other())
    assert emitter.direct is False
    emitter.emit(
        timestamp=5,
        context=_context(1, 2),
        severity_number=SeverityNumber.INFO,
        attributes={"a": 1},
        event_name="e",
    )
    assert [(k["timestamp"], k["attributes"], k["event_name"]) for k in seen] == [
        (5, {"a": 1}, "e")
    ]
