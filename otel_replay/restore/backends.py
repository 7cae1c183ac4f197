"""Restore from trace backends: Arize Phoenix (REST API) and Jaeger v2 (``/api/v3``).

:class:`PhoenixSource` and :class:`JaegerSource` implement
:class:`~otel_replay.restore.sources.StepSource`: they fetch recorded spans over HTTP, rebuild SDK
``ReadableSpan`` objects and hand them to :func:`~otel_replay.model.steps.normalize_span`, so the
steps are the ones the live :class:`~otel_replay.capture.processor.ReplayProcessor` saw.

* Phoenix: ``GET /v1/projects/{project}/spans`` with the ``attribute=key:value`` filter
  (checkpoint by ``agent_replay.checkpoint.id``, session by ``agent_replay.session.id``)
  and cursor pagination. Phoenix keeps times with microsecond precision.
* Jaeger: ``GET /api/v3/traces/{trace_id}`` (OTLP JSON). ``/api/v3`` ignores attribute
  filters, so a checkpoint without a ``trace_id`` hint is found by searching the traces
  of each service (``/api/v3/services``) started within ``lookback`` and matching the
  checkpoint id here. The steps after a checkpoint are read from the checkpoint's trace:
  for a session spread over several traces restore from Phoenix or a recording.

HTTP uses only the standard library: every call has a timeout, responses are size-capped,
redirects are not followed, and failures raise :class:`BackendError` subclasses naming
the URL (never an empty answer in their place). :func:`source_from_url` accepts
``phoenix+http://host:port/?project=NAME`` and ``jaeger+http://host:port/`` URLs.
"""

from __future__ import annotations

import calendar
import http.client
import json
import math
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.message import Message
from typing import Any, NoReturn

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_replay.capture.processor import select_after
from otel_replay.core import conventions as c
from otel_replay.model.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointStore,
)
from otel_replay.model.steps import Step, normalize_span
from otel_replay.restore.sources import UnorderedHistoryError

__all__ = [
    "BackendError",
    "BackendUnreachableError",
    "BackendNotFoundError",
    "BackendAuthError",
    "BackendResponseError",
    "TraceNotFoundError",
    "PhoenixSource",
    "JaegerSource",
    "source_from_url",
    "phoenix_span",
    "DEFAULT_MAX_RESPONSE_BYTES",
]

#: Default cap on one HTTP response body (bytes).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_EXCERPT_CHARS = 200
_ERROR_BODY_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$"
)


# --------------------------------------------------------------------------------------------
# Errors


class BackendError(Exception):
    """A trace backend could not answer; ``url`` is the request URL, ``status`` the HTTP
    status (``None`` when there was no HTTP answer)."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, excerpt: str = ""
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.excerpt = excerpt


class BackendUnreachableError(BackendError):
    """No HTTP answer: connection refused, name resolution failed or timed out."""


class BackendNotFoundError(BackendError):
    """HTTP 404: wrong base URL, unknown project or trace."""


class TraceNotFoundError(BackendNotFoundError):
    """Jaeger has no trace with the requested id."""


class BackendAuthError(BackendError):
    """HTTP 401/403: missing or wrong credentials."""


class BackendResponseError(BackendError):
    """Any other HTTP status, a body that is not the expected JSON, or an oversize body."""


def _excerpt(body: bytes) -> str:
    text = " ".join(body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    if len(text) > _EXCERPT_CHARS:
        return text[:_EXCERPT_CHARS] + "..."
    return text or "(empty body)"


# --------------------------------------------------------------------------------------------
# HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError


def _timeout_seconds(timeout: float | None) -> float:
    if timeout is None:
        raw = os.environ.get(c.ENV_HTTP_TIMEOUT, "")
        try:
            timeout = float(raw) if raw else c.DEFAULT_HTTP_TIMEOUT_SECONDS
        except ValueError:
            timeout = c.DEFAULT_HTTP_TIMEOUT_SECONDS
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string, got {type(base_url).__qualname__}")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not carry credentials; pass api_key= or headers=")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class _Http:
    """GET JSON from one backend with a timeout, a size cap and mapped errors."""

    def __init__(
        self,
        backend: str,
        base_url: str,
        *,
        timeout: float | None,
        max_response_bytes: int,
        headers: Mapping[str, str] | None,
        auth_hint: str,
    ) -> None:
        if not isinstance(max_response_bytes, int) or max_response_bytes <= 0:
            raise ValueError(
                f"max_response_bytes must be a positive int, got {max_response_bytes!r}"
            )
        self.backend = backend
        self.base = _base_url(base_url)
        self.timeout = _timeout_seconds(timeout)
        self.max_bytes = max_response_bytes
        self.headers = {"Accept": "application/json", **dict(headers or {})}
        self.auth_hint = auth_hint
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, segments: Sequence[str], query: Sequence[tuple[str, str]] = ()) -> str:
        """``base`` + the quoted path ``segments`` + the encoded ``query``."""
        path = "/".join(urllib.parse.quote(s, safe="") for s in segments)
        url = urllib.parse.urljoin(self.base, path)
        return f"{url}?{urllib.parse.urlencode(list(query))}" if query else url

    def get(self, url: str) -> tuple[int, bytes, str]:
        """(status, body, content type) of a 2xx answer; raises :class:`BackendError`
        (an :class:`urllib.error.HTTPError` is passed to :meth:`_status_error`)."""
        req = urllib.request.Request(url, headers=self.headers, method="GET")
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
                body = self._read(resp, url, status, deadline)
        except BackendError:
            raise
        except urllib.error.HTTPError as exc:
            self._status_error(exc, url)
        except urllib.error.URLError as exc:
            self._unreachable(url, exc.reason)
        except OSError as exc:  # includes TimeoutError
            self._unreachable(url, exc)
        except http.client.HTTPException as exc:  # e.g. IncompleteRead, BadStatusLine
            raise BackendResponseError(
                f"{self.backend} sent a broken HTTP response for {url}: {type(exc).__name__}: {exc}",
                url=url,
            ) from exc
        return status, body, ctype

    def _read(self, resp: Any, url: str, status: int, deadline: float) -> bytes:
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise BackendResponseError(
                f"{self.backend} answered {url} with HTTP {status} and {int(length)} bytes, over "
                f"the cap of {self.max_bytes} bytes (max_response_bytes)",
                url=url,
                status=status,
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("response not complete")
            chunk = resp.read1(_CHUNK)  # returns what has arrived: the deadline is checked
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise BackendResponseError(
                    f"{self.backend} answered {url} with HTTP {status} and more than "
                    f"{self.max_bytes} bytes (max_response_bytes): "
                    f"{_excerpt((chunks[0] if chunks else chunk)[:1024])}",
                    url=url,
                    status=status,
                )
            chunks.append(chunk)

    def _unreachable(self, url: str, reason: object) -> NoReturn:
        if isinstance(reason, TimeoutError):
            raise BackendUnreachableError(
                f"{self.backend} at {url} did not answer within the timeout of {self.timeout:g}s",
                url=url,
            )
        if isinstance(reason, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(reason, socket.gaierror):
            what = f"cannot resolve the host name ({reason.strerror or reason})"
        else:
            what = (
                f"{type(reason).__name__}: {reason}"
                if isinstance(reason, BaseException)
                else str(reason)
            )
        raise BackendUnreachableError(
            f"{self.backend} at {url} is unreachable: {what} (timeout {self.timeout:g}s)", url=url
        )

    def _status_error(self, exc: urllib.error.HTTPError, url: str) -> NoReturn:
        status = exc.code
        try:
            body = exc.read(_ERROR_BODY_BYTES) if exc.fp is not None else b""
        except (OSError, ValueError, TimeoutError):
            body = b""
        finally:
            exc.close()
        text = _excerpt(body)
        if status == 404:
            raise BackendNotFoundError(
                f"{self.backend} answered HTTP 404 Not Found for {url}: {text}",
                url=url,
                status=404,
                excerpt=text,
            )
        if status in (401, 403):
            reason = "Unauthorized" if status == 401 else "Forbidden"
            raise BackendAuthError(
                f"{self.backend} answered HTTP {status} {reason} for {url}: {text}; "
                f"{self.auth_hint}",
                url=url,
                status=status,
                excerpt=text,
            )
        if 300 <= status < 400:
            headers: Message | None = exc.headers
            location = headers.get("Location") if headers is not None else None
            raise BackendResponseError(
                f"{self.backend} answered HTTP {status} for {url} (redirect to {location}); "
                f"redirects are not followed: use the final URL as base_url",
                url=url,
                status=status,
            )
        raise BackendResponseError(
            f"{self.backend} answered HTTP {status} for {url}: {text}",
            url=url,
            status=status,
            excerpt=text,
        )

    def get_json(self, url: str) -> Any:
        """The decoded JSON body of a 2xx answer to ``url``."""
        status, body, ctype = self.get(url)
        return self.decode(url, status, body, ctype)

    def decode(self, url: str, status: int, body: bytes, ctype: str) -> Any:
        """``body`` decoded as JSON, or :class:`BackendResponseError`."""
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            kind = f", content type {ctype}" if ctype else ""
            hint = f"; is {self.base} the {self.backend} base URL?" if "html" in ctype else ""
            raise BackendResponseError(
                f"{self.backend} answered {url} with HTTP {status}{kind} but the body is not "
                f"JSON ({type(exc).__name__}: {str(exc)[:80]}): {_excerpt(body)}{hint}",
                url=url,
                status=status,
                excerpt=_excerpt(body),
            ) from None


# --------------------------------------------------------------------------------------------
# Shared helpers


def _after(checkpoint: Checkpoint, where: str) -> int:
    if checkpoint.step_sequence is None:
        raise UnorderedHistoryError(
            f"checkpoint {checkpoint.id} in {where} has no step sequence number "
            f"(agent_replay.step.sequence): record with a ReplayProcessor installed"
        )
    return checkpoint.step_sequence


def _session_steps_after(
    steps: Iterable[Step], checkpoint: Checkpoint, min_importance: float | None, where: str
) -> list[Step]:
    after = _after(checkpoint, where)
    unique: dict[tuple[str, str], Step] = {}
    for s in steps:
        if s.session_id == checkpoint.session_id:
            unique.setdefault((s.trace_id, s.span_id), s)
    unordered = sum(1 for s in unique.values() if s.sequence is None)
    if unordered:
        raise UnorderedHistoryError(
            f"{unordered} steps of session {checkpoint.session_id} in {where} have no step "
            f"sequence number, so they cannot be placed before or after checkpoint "
            f"{checkpoint.id}"
        )
    return select_after(unique.values(), after, min_importance)


def _one_checkpoint(steps: Iterable[Step], checkpoint_id: str, where: str) -> Checkpoint | None:
    found: dict[tuple[str, str], Step] = {}
    for s in steps:
        if s.checkpoint_id == checkpoint_id and s.kind == c.KIND_CHECKPOINT:
            found.setdefault((s.trace_id, s.span_id), s)
    if not found:
        return None
    if len(found) > 1:
        spans = ", ".join(f"{t}/{sp}" for t, sp in sorted(found))
        raise CheckpointError(
            f"checkpoint {checkpoint_id} is on {len(found)} different spans in {where}: {spans}"
        )
    return Checkpoint.from_step(next(iter(found.values())))


def _checkpoints_of(steps: Iterable[Step], session_id: str | None) -> list[Checkpoint]:
    out: dict[str, Checkpoint] = {}
    for s in steps:
        cid = s.checkpoint_id
        if (
            cid is not None
            and s.kind == c.KIND_CHECKPOINT
            and (session_id is None or s.session_id == session_id)
        ):
            out.setdefault(cid, Checkpoint.from_step(s))
    return sorted(out.values(), key=lambda ck: (ck.session_id, ck.sequence))


# --------------------------------------------------------------------------------------------
# Phoenix


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


class _BackendSource:
    """What Phoenix and Jaeger sources share: the HTTP client and an optional store."""

    _http: _Http
    _store: CheckpointStore | None

    @property
    def base_url(self) -> str:
        return self._http.base

    @property
    def timeout(self) -> float:
        return self._http.timeout

    @property
    def checkpoint_store(self) -> CheckpointStore | None:
        return self._store


class PhoenixSource(_BackendSource):
    """Checkpoints and steps stored in an Arize Phoenix project (REST API ``/v1``).

    ``api_key`` is sent as ``Authorization: Bearer <api_key>``. ``page_size`` (1..1000)
    is the ``limit`` of each page; listing more than ``max_spans`` spans for one query
    raises :class:`BackendResponseError`. ``checkpoint_store`` holds states recorded with
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
        while True:
            url = self.page_url(attributes, cursor)
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
        _after(checkpoint, where)
        steps = self._steps({c.SESSION_ID: checkpoint.session_id})
        return _session_steps_after(steps, checkpoint, min_importance, where)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """Checkpoints of ``session_id`` (or of the whole project)."""
        filters: dict[str, str | int | bool] = {c.STEP_KIND: c.KIND_CHECKPOINT}
        if session_id is not None:
            filters[c.SESSION_ID] = session_id
        return _checkpoints_of(self._steps(filters), session_id)


# --------------------------------------------------------------------------------------------
# Jaeger


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JaegerSource(_BackendSource):
    """Checkpoints and steps stored in Jaeger v2, read through its ``/api/v3`` query API.

    ``trace_id`` (32 hex digits) makes :meth:`find_checkpoint` read that one trace.
    Otherwise the traces of ``service`` (or of every service in ``/api/v3/services``)
    started within ``lookback`` (seconds or a ``timedelta``) are searched, at most
    ``search_limit`` traces per service, most recent first. :meth:`steps_after` reads the
    checkpoint's trace.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None = None,
        service: str | None = None,
        lookback: float | timedelta = 3600.0,
        trace_id: str | None = None,
        search_limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        checkpoint_store: CheckpointStore | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        seconds = lookback.total_seconds() if isinstance(lookback, timedelta) else lookback
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"lookback must be a positive number of seconds, got {lookback!r}")
        if trace_id is not None and (not isinstance(trace_id, str) or not _HEX32.match(trace_id)):
            raise ValueError(f"trace_id must be 32 hex digits, got {trace_id!r}")
        if service is not None and (not isinstance(service, str) or not service):
            raise ValueError(f"service must be a non-empty string, got {service!r}")
        if not isinstance(search_limit, int) or search_limit <= 0:
            raise ValueError(f"search_limit must be a positive int, got {search_limit!r}")
        self.service = service
        self.lookback = float(seconds)
        self.trace_id = trace_id.lower() if trace_id else None
        self.search_limit = search_limit
        self._store = checkpoint_store
        self._http = _Http(
            "Jaeger",
            base_url,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            headers=headers,
            auth_hint="check the credentials (pass headers= for an authenticating proxy)",
        )

    def __repr__(self) -> str:
        extra = f", trace_id={self.trace_id!r}" if self.trace_id else ""
        extra += f", service={self.service!r}" if self.service else ""
        return f"JaegerSource({self._http.base!r}{extra})"

    def _spans_of(self, url: str, body: Any) -> list[ReadableSpan]:
        from otel_replay.formats.otlp_json_decode import traces_data_from_json
        from otel_replay.formats.otlp_proto import spans_from_traces_data

        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise BackendResponseError(
                f'Jaeger answered {url} with JSON that has no "result" object: '
                f"{_excerpt(json.dumps(body).encode())}",
                url=url,
                status=200,
            )
        try:
            return spans_from_traces_data(traces_data_from_json(json.dumps(result)))
        except ValueError as exc:
            raise BackendResponseError(
                f"Jaeger answered {url} with a result that is not OTLP JSON: {exc}",
                url=url,
                status=200,
            ) from None

    def services_url(self) -> str:
        return self._http.url(["api", "v3", "services"])

    def trace_url(self, trace_id: str) -> str:
        return self._http.url(["api", "v3", "traces", trace_id.lower()], [("raw_traces", "true")])

    def search_url(self, service: str | None, now: float | None = None) -> str:
        """The URL searching the traces of ``service`` started within ``lookback``."""
        now = time.time() if now is None else now
        query = [("query.service_name", service)] if service is not None else []
        query += [
            ("query.start_time_min", _rfc3339(now - self.lookback)),
            ("query.start_time_max", _rfc3339(now + 60.0)),
            ("query.num_traces", str(self.search_limit)),
            ("query.raw_traces", "true"),
        ]
        return self._http.url(["api", "v3", "traces"], query)

    def services(self) -> list[str]:
        """The service names Jaeger knows (``/api/v3/services``)."""
        url = self.services_url()
        body = self._http.get_json(url)
        names = body.get("services") if isinstance(body, dict) else None
        if names is None and isinstance(body, dict) and not body:
            return []  # jsonpb omits an empty repeated field
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BackendResponseError(
                f'Jaeger answered {url} with JSON that has no "services" list: '
                f"{_excerpt(json.dumps(body).encode())}",
                url=url,
                status=200,
            )
        return sorted(names)

    def trace(self, trace_id: str) -> list[ReadableSpan]:
        """Every span of one trace; :class:`TraceNotFoundError` if Jaeger has none."""
        if not isinstance(trace_id, str) or not _HEX32.match(trace_id):
            raise ValueError(f"trace_id must be 32 hex digits, got {trace_id!r}")
        url = self.trace_url(trace_id)
        try:
            body = self._http.get_json(url)
        except BackendNotFoundError as exc:
            raise TraceNotFoundError(
                f"trace {trace_id} is not in Jaeger at {self._http.base} "
                f"(HTTP 404 for {url}: {exc.excerpt})",
                url=url,
                status=404,
            ) from None
        return self._spans_of(url, body)

    def search(self, service: str | None) -> tuple[list[ReadableSpan], int, str]:
        """Spans of the traces of ``service`` started within ``lookback``; returns
        (spans, number of traces, URL). An empty search is ``([], 0, url)``."""
        url = self.search_url(service)
        try:
            status, raw, ctype = self._http.get(url)
        except BackendNotFoundError as exc:
            # /api/v3 answers an empty search with 404 {"error": {"message": "No traces found"}}
            if '"No traces found"' in exc.excerpt:
                return [], 0, url
            raise
        spans = self._spans_of(url, self._http.decode(url, status, raw, ctype))
        n_traces = len({s.context.trace_id for s in spans if s.context is not None})
        return spans, n_traces, url

    def find_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint with ``checkpoint_id`` (from the ``trace_id`` hint or a search)."""
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise ValueError(f"checkpoint id must be a non-empty string, got {checkpoint_id!r}")
        base = self._http.base
        if self.trace_id is not None:
            where = f"trace {self.trace_id} in Jaeger at {base}"
            steps = [normalize_span(s) for s in self.trace(self.trace_id)]
            ckpt = _one_checkpoint(steps, checkpoint_id, where)
            if ckpt is None:
                raise CheckpointNotFoundError(
                    f"checkpoint {checkpoint_id} is not in {where} ({len(steps)} spans)"
                )
            return ckpt
        services = [self.service] if self.service is not None else self.services()
        searched: list[str] = []
        for service in services:
            spans, n_traces, _url = self.search(service)
            where = f"service {service!r} in Jaeger at {base}"
            ckpt = _one_checkpoint([normalize_span(s) for s in spans], checkpoint_id, where)
            if ckpt is not None:
                return ckpt
            full = " (the search limit: older traces were not searched)"
            searched.append(
                f"{service!r}: {n_traces} trace{'' if n_traces == 1 else 's'}"
                f"{full if n_traces >= self.search_limit else ''}"
            )
        window = f"started in the last {self.lookback:g}s"
        detail = "; ".join(searched) if searched else "Jaeger knows no services"
        raise CheckpointNotFoundError(
            f"checkpoint {checkpoint_id} is not in Jaeger at {base}: searched traces {window} "
            f"with search_limit={self.search_limit} per service ({detail}); pass trace_id=, "
            f"service= or a longer lookback="
        )

    def steps_after(
        self, checkpoint: Checkpoint, min_importance: float | None = None
    ) -> list[Step]:
        """Steps of the checkpoint's session in the checkpoint's trace with a higher step
        sequence, in order."""
        trace_id = checkpoint.trace_id or self.trace_id
        if trace_id is None:
            raise CheckpointError(f"checkpoint {checkpoint.id} does not name its trace")
        where = f"trace {trace_id} in Jaeger at {self._http.base}"
        _after(checkpoint, where)
        steps = [normalize_span(s) for s in self.trace(trace_id)]
        return _session_steps_after(steps, checkpoint, min_importance, where)

    def checkpoints(self, session_id: str | None = None) -> list[Checkpoint]:
        """Checkpoints in the ``trace_id`` trace, or in the traces a search finds."""
        if self.trace_id is not None:
            spans = self.trace(self.trace_id)
        else:
            services = [self.service] if self.service is not None else self.services()
            spans = [s for svc in services for s in self.search(svc)[0]]
        return _checkpoints_of((normalize_span(s) for s in spans), session_id)


# --------------------------------------------------------------------------------------------
# URLs


_PHOENIX_PARAMS = {"project", "page_size"}
_JAEGER_PARAMS = {"service", "trace_id", "lookback", "search_limit"}


def source_from_url(
    url: str,
    *,
    checkpoint_store: CheckpointStore | None = None,
    timeout: float | None = None,
    api_key: str | None = None,
) -> PhoenixSource | JaegerSource:
    """A backend source for a URL.

    * ``phoenix+http://host:port/[prefix/]?project=NAME&page_size=N`` (or ``phoenix+https``):
      a :class:`PhoenixSource`; ``api_key`` defaults to ``$PHOENIX_API_KEY``.
    * ``jaeger+http://host:port/[prefix/]?service=NAME&trace_id=HEX&lookback=SECONDS&search_limit=N``
      (or ``jaeger+https``): a :class:`JaegerSource` (query API base URL, e.g. port 16686).

    Unknown or repeated query parameters raise :class:`ValueError`.
    """
    parts = urllib.parse.urlsplit(url)
    backend, _, scheme = parts.scheme.partition("+")
    if backend not in ("phoenix", "jaeger") or scheme not in ("http", "https"):
        raise ValueError(
            f"not a trace backend URL: {url!r} (expected phoenix+http://host:port/?project=NAME "
            f"or jaeger+http://host:port/)"
        )
    params: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in params:
            raise ValueError(f"query parameter {key!r} is repeated in {url!r}")
        params[key] = value
    allowed = _PHOENIX_PARAMS if backend == "phoenix" else _JAEGER_PARAMS
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"unknown query parameters {unknown} in {url!r}; {backend} accepts {sorted(allowed)}"
        )
    base = urllib.parse.urlunsplit((scheme, parts.netloc, parts.path or "/", "", ""))

    def number(key: str, kind: type) -> Any:
        try:
            return kind(params[key])
        except ValueError:
            raise ValueError(
                f"query parameter {key}={params[key]!r} in {url!r} is not a number"
            ) from None

    if backend == "phoenix":
        return PhoenixSource(
            base,
            project=params.get("project") or "default",
            api_key=api_key if api_key is not None else os.environ.get("PHOENIX_API_KEY") or None,
            timeout=timeout,
            page_size=number("page_size", int) if "page_size" in params else 1000,
            checkpoint_store=checkpoint_store,
        )
    return JaegerSource(
        base,
        timeout=timeout,
        service=params.get("service") or None,
        trace_id=params.get("trace_id") or None,
        lookback=number("lookback", float) if "lookback" in params else 3600.0,
        search_limit=number("search_limit", int) if "search_limit" in params else 100,
        checkpoint_store=checkpoint_store,
    )
