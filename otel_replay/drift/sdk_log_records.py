"""Emitting through an OpenTelemetry SDK ``Logger`` with the record built directly: the same
``ReadWriteLogRecord`` that ``Logger.emit(...)`` builds, without its generic check of every
attribute value when the values are plain strings, booleans, integers and floats (as drift
events' are) and no attribute limit applies. Any other logger, SDK version or value takes
``Logger.emit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

__all__ = ["RecordEmitter"]

_PLAIN = frozenset({str, bool, int, float})
_LOGGER_FIELDS = (
    "_is_enabled",
    "_resource",
    "_instrumentation_scope",
    "_log_record_limits",
    "_logger_metrics",
    "_multi_log_record_processor",
)


def _sdk_types() -> tuple[Any, Any] | None:
    """The SDK's ``Logger`` and ``ReadWriteLogRecord`` classes, when they are as expected."""
    try:
        from dataclasses import fields

        from opentelemetry.sdk._logs._internal import Logger, ReadWriteLogRecord

        names = {f.name for f in fields(ReadWriteLogRecord)}
    except Exception:
        return None
    if names != {"log_record", "resource", "instrumentation_scope", "limits"}:
        return None
    return Logger, ReadWriteLogRecord


class RecordEmitter:
    """``emit(...)`` with the arguments of ``Logger.emit`` for one logger, building the SDK's
    record directly when it can (:attr:`direct` says whether it does)."""

    __slots__ = ("logger", "_record_type", "_limits")

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self._record_type: Any = None
        self._limits: Any = None
        types = _sdk_types()
        if types is None or type(logger) is not types[0]:
            return
        if not all(hasattr(logger, name) for name in _LOGGER_FIELDS):
            return
        limits = logger._log_record_limits
        if getattr(limits, "max_attribute_length", None) is not None:
            return  # values would be truncated: Logger.emit does it
        if getattr(limits, "max_log_record_attribute_length", None) is not None:
            return
        self._record_type = types[1]
        self._limits = limits

    @property
    def direct(self) -> bool:
        """Whether records are built directly (an SDK logger of a known version)."""
        return self._record_type is not None

    def emit(
        self,
        *,
        timestamp: int | None,
        context: Context,
        severity_number: SeverityNumber,
        attributes: Mapping[str, AttributeValue],
        event_name: str,
        severity_text: str | None = None,
        body: Any = None,
    ) -> None:
        """Emit one log record (as ``Logger.emit`` with these arguments)."""
        record_type = self._record_type
        logger = self.logger
        maxlen = self._limits.max_log_record_attributes if record_type is not None else None
        if (
            record_type is None
            or (maxlen is not None and len(attributes) > maxlen)
            or not all(type(v) in _PLAIN for v in attributes.values())
            or not all(type(k) is str and k for k in attributes)
        ):
            logger.emit(
                timestamp=timestamp,
                context=context,
                severity_number=severity_number,
                severity_text=severity_text,
                body=body,
                attributes=dict(attributes),
                event_name=event_name,
            )
            return
        if not logger._is_enabled():
            return
        bounded = BoundedAttributes(maxlen=maxlen, immutable=False, max_value_len=None)
        bounded._dict.update(attributes)  # values as the check would leave them
        api = LogRecord(
            timestamp=timestamp,
            context=context,
            severity_number=severity_number,
            severity_text=severity_text,
            body=body,
            event_name=event_name,
        )
        api.attributes = bounded
        record = record_type.__new__(record_type)
        record.log_record = api
        record.resource = logger._resource
        record.instrumentation_scope = logger._instrumentation_scope
        record.limits = self._limits
        logger._logger_metrics.emit_log()
        logger._multi_log_record_processor.on_emit(record)
