"""Restore from Arize Phoenix (REST API ``/v1``): :class:`PhoenixSource` and
:func:`phoenix_span`.

``GET /v1/projects/{project}/spans`` with the ``attribute=key:value`` filter (checkpoint by
``agent_replay.checkpoint.id``, session by ``agent_replay.session.id``) and cursor
pagination. Each span of the answer is rebuilt as an SDK ``ReadableSpan`` (nested attribute
objects flattened to dotted keys, ISO 8601 times to nanoseconds; Phoenix keeps times with
microsecond precision) and normalized with :func:`~otel_replay.model.steps.normalize_span`.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_replay.core import conventions as c
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointNotFoundError
from otel_replay.model.steps import Step, normalize_span
from otel_replay.model.stores import CheckpointStore
from otel_replay.restore.backend import (
    _HEX32,
    _BackendSource,
    _checkpoints_of,
    _one_checkpoint,
    _session_steps_after,
)
from otel_replay.restore.http_client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BackendResponseError,
    _excerpt,
    _Http,
)
from otel_replay.restore.sources import _checkpoint_after

__all__ = ["PhoenixSource", "phoenix_span"]

_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$"
)


def _iso_to_ns(value: Any, what: str) -> int:
    if not isinstance(value, str):
        raise ValueError(f"{what} is {type(value).__name__}, expected an ISO 8601 string")
    m = _ISO.match(value.strip())
    if m is None:
        raise ValueError(f"{what} {value!r:.60} is not an ISO 8601 date-time")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        if any(isinstance(x, (dict, list)) for x in value):
            for i, x in enumerate(value):
                _flatten(f"{prefix}.{i}", x, out)
        else:
            out[prefix] = tuple(value)
    elif isinstance(value, (str, bool, int, float)):
        out[prefix] = value
    else:
        raise ValueError(f"attribute {prefix!r} has a {type(value).__name__} value")


def _phoenix_attributes(raw: Any, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is {type(raw).__name__}, expected an object")
    out: dict[str, Any] = {}
    _flatten("", raw, out)
    return out


_PHOENIX_STATUS = {"OK": StatusCode.OK, "ERROR": StatusCode.ERROR, "UNSET": StatusCode.UNSET}


def phoenix_span(obj: Any) -> ReadableSpan:
    """A ``ReadableSpan`` from one span of Phoenix's ``/v1/projects/{p}/spans`` answer;
    raises :class:`ValueError` naming the bad field."""
    if not isinstance(obj, dict):
        raise ValueError(f"span is {type(obj).__name__}, expected an object")
    ctx = obj.get("context")
    if not isinstance(ctx, dict):
        raise ValueError("span has no context object")
    trace_id, span_id, parent = ctx.get("trace_id"), ctx.get("span_id"), obj.get("parent_id")
    if not isinstance(trace_id, str) or not _HEX32.match(trace_id):
        raise ValueError(f"context.trace_id {trace_id!r:.60} is not 32 hex digits")
    if not isinstance(span_id, str) or not _HEX16.match(span_id):
        raise ValueError(f"context.span_id {span_id!r:.60} is not 16 hex digits")
    if parent is not None and (not isinstance(parent, str) or not _HEX16.match(parent)):
        raise ValueError(f"parent_id {parent!r:.60} is not 16 hex digits")
    name = obj.get("name")
    if not isinstance(name, str):
        raise ValueError("span has no name")
    code = _PHOENIX_STATUS.get(str(obj.get("status_code") or "UNSET").upper())
    if code is None:
        raise ValueError(f"status_code {obj.get('status_code')!r:.40} is not OK, ERROR or UNSET")
    message = obj.get("status_message")
    status = Status(code, message or None) if code is StatusCode.ERROR else Status(code)
    events = []
    raw_events = obj.get("events") or []
    if not isinstance(raw_events, list):
        raise ValueError("events is not an array")
    for i, e in enumerate(raw_events):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise ValueError(f"events[{i}] is not an event object with a name")
        events.append(
            Event(
                e["name"],
                _phoenix_attributes(e.get("attributes"), f"events[{i}].attributes"),
                _iso_to_ns(e.get("timestamp"), f"events[{i}].timestamp"),
            )
        )
    flags = TraceFlags(TraceFlags.SAMPLED)
    tid = int(trace_id, 16)
    return ReadableSpan(
        name=name,
        context=SpanContext(tid, int(span_id, 16), False, flags),
        parent=SpanContext(tid, int(parent, 16), False, flags) if parent else None,
        resource=Resource.get_empty(),
        attributes=_phoenix_attributes(obj.get("attributes"), "attributes"),
        events=events,
        kind=SpanKind.INTERNAL,
        status=status,
        start_time=_iso_to_ns(obj.get("start_time"), "start_time"),
        end_time=_iso_to_ns(obj.get("end_time"), "end_time"),
    )


#: Empty pages in a row (each with a new ``next_cursor``) after which paging is given up.
MAX_EMPTY_PAGES = 3


class PhoenixSource(_BackendSource):
    """Checkpoints and steps stored in an Arize Phoenix project (REST API ``/v1``).

    ``api_key`` is sent as ``Authorization: Bearer <api_key>``. ``page_size`` (1..1000)
    is the ``limit`` of each page; listing more than ``max_spans`` spans for one query
    raises :class:`BackendResponseError`, and so does paging that does not progress: more
    than ``max_pages`` pages (default: enough for ``max_spans`` full pages, plus 10), a
    ``next_cursor`` seen before, or :data:`MAX_EMPTY_PAGES` empty pages in a row that still
    name a next cursor. ``checkpoint_store`` holds states recorded with
    ``agent_replay.checkpoint.state.location=store``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        project: str = "default",
        api_key: str | None = None,
        timeout: float | None = None,
        page_size: int = 1000,
        max_spans: int = 100_000,
        max_pages: int | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        checkpoint_store: CheckpointStore | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(project, str) or not project or any(ch in project for ch in "/?#"):
            raise ValueError(f"Phoenix project must be a name without /, ? or #, got {project!r}")
        if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be an int in 1..1000, got {page_size!r}")
        if not isinstance(max_spans, int) or max_spans <= 0:
            raise ValueError(f"max_spans must be a positive int, got {max_spans!r}")
        if max_pages is None:
            max_pages = -(-max_spans // page_size) + 10
        if not isinstance(max_pages, int) or max_pages <= 0:
            raise ValueError(f"max_pages must be a positive int, got {max_pages!r}")
        self.max_pages = max_pages
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self.project = project
        self.page_size = page_size
        self.max_spans = max_spans
        self._store = checkpoint_store
        self._http = _Http(
            "Phoenix",
            base_url,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            headers=all_headers,
            auth_hint="pass api_key= (a Phoenix API key) or check the credentials",
        )

    def __repr__(self) -> str:
        return f"PhoenixSource({self._http.base!r}, project={self.project!r})"

    def _where(self) -> str:
        return f"Phoenix project {self.project!r} at {self._http.base}"

    def page_url(
        self, attributes: Mapping[str, str | int | bool], cursor: str | None = None
    ) -> str:
        """The URL of one page of the spans whose attributes equal ``attributes``."""
        query = [("limit", str(self.page_size)), ("sort", "id"), ("order", "asc")]
        query += [("attribute", f"{k}:{json.dumps(v)}") for k, v in attributes.items()]
        if cursor is not None:
            query.append(("cursor", cursor))
        return self._http.url(["v1", "projects", self.project, "spans"], query)

    def spans(self, attributes: Mapping[str, str | int | bool]) -> list[ReadableSpan]:
        """Every span of the project whose attributes equal ``attributes`` (all pages)."""
        out: list[ReadableSpan] = []
        seen_cursors: set[str] = set()
        cursor: str | None = None
        received = 0
        pages = 0
        empty_run = 0
        while True:
            url = self.page_url(attributes, cursor)
            pages += 1
            if pages > self.max_pages:
                raise BackendResponseError(
                    f"Phoenix paging for {dict(attributes)} in {self._where()} did not end "
                    f"within max_pages={self.max_pages} pages ({received} spans so far); "
                    "raise max_pages if the project really holds that many",
                    url=url,
                    status=200,
                )
            body = self._http.get_json(url)
            data = body.get("data") if isinstance(body, dict) else None
            next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not isinstance(data, list) or not (
                next_cursor is None or isinstance(next_cursor, str)
            ):
                raise BackendResponseError(
                    f"Phoenix answered {url} with JSON that is not a page of spans "
                    f'(expected {{"data": [...], "next_cursor": ...}}): {_excerpt(json.dumps(body).encode())}',
                    url=url,
                    status=200,
                )
            received += len(data)
            if received > self.max_spans:
                raise BackendResponseError(
                    f"Phoenix returned more than max_spans={self.max_spans} spans with "
                    f"{dict(attributes)} in {self._where()}; raise max_spans",
                    url=url,
                    status=200,
                )
            for i, obj in enumerate(data):
                try:
                    span = phoenix_span(obj)
                except ValueError as exc:
                    raise BackendResponseError(
                        f"Phoenix answered {url} with a malformed span (data[{i}]): {exc}",
                        url=url,
                        status=200,
                    ) from None
                attrs = span.attributes or {}
                if all(attrs.get(k) == v for k, v in attributes.items()):
                    out.append(span)
            if not next_cursor:
                return out
            empty_run = empty_run + 1 if not data else 0
            if empty_run >= MAX_EMPTY_PAGES:
                raise BackendResponseError(
                    f"Phoenix answered {url} with the {empty_run}th empty page in a row that "
                    f"still names a next_cursor ({next_cursor!r}): pagination does not progress",
                    url=url,
                    status=200,
                )
            if next_cursor in seen_cursors:
                raise BackendResponseError(
                    f"Phoenix answered {url} with a next_cursor it already returned "
                    f"({next_cursor!r}): pagination does not advance",
                    url=url,
                    status=200,
                )
            seen_cursors.add(next_cursor)
            cursor = next_cursor

    def _steps(self, attributes: Mapping[str, str | int | bool]) -> list[Step]:
        return [normalize_span(s) for s in self.spans(attributes)]

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint with ``checkpoint_id`` (server-side attribute filter)."""
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise ValueError(f"checkpoint id must be a non-empty string, got {checkpoint_id!r}")
        where = self._where()
        ckpt = _one_checkpoint(self._steps({c.CHECKPOINT_ID: checkpoint_id}), checkpoint_id, where)
        if ckpt is None:
            raise CheckpointNotFoundError(f"checkpoint {checkpoint_id} is not in {where}")
        return ckpt

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        """Steps of the checkpoint's session with a higher step sequence, in order."""
        where = self._where()
        _checkpoint_after(checkpoint, where)
        steps = self._steps({c.SESSION_ID: checkpoint.session_id})
        return _session_steps_after(steps, checkpoint, min_importance, where)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """Checkpoints of ``session_id`` (or of the whole project)."""
        filters: dict[str, str | int | bool] = {c.STEP_KIND: c.KIND_CHECKPOINT}
        if session_id is not None:
            filters[c.SESSION_ID] = session_id
        return _checkpoints_of(self._steps(filters), session_id)
