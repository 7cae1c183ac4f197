"""Restore from Jaeger v2 through its ``/api/v3`` query API: :class:`JaegerSource`.

``GET /api/v3/traces/{trace_id}`` answers OTLP JSON, read with
:func:`~otel_replay.formats.otlp_proto.spans_from_traces_data`. ``/api/v3`` ignores attribute
filters, so a checkpoint without a ``trace_id`` hint is found by searching the traces of each
service (``/api/v3/services``) started within ``lookback`` and matching the checkpoint id
here. The steps after a checkpoint are read from the checkpoint's trace: for a session spread
over several traces restore from Phoenix or a recording.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_replay.formats.otlp_json_decode import traces_data_from_json
from otel_replay.formats.otlp_proto import spans_from_traces_data
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointError, CheckpointNotFoundError
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
    BackendNotFoundError,
    BackendResponseError,
    TraceNotFoundError,
    _excerpt,
    _Http,
)
from otel_replay.restore.sources import _checkpoint_after

__all__ = ["JaegerSource"]


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JaegerSource(_BackendSource):
    """Checkpoints and steps stored in Jaeger v2, read through its ``/api/v3`` query API.

    ``trace_id`` (32 hex digits) makes :meth:`find_checkpoint` read that one trace.
    Otherwise the traces of ``service`` (or of every service in ``/api/v3/services``)
    started within ``lookback`` (seconds or a ``timedelta``) are searched, at most
    ``search_limit`` traces per service, most recent first. :meth:`steps_after` reads the
    checkpoint's trace. The service loop is bounded: more than ``max_services`` distinct
    services (duplicates are searched once) raise :class:`BackendResponseError`.
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
        max_services: int = 1000,
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
        if not isinstance(max_services, int) or max_services <= 0:
            raise ValueError(f"max_services must be a positive int, got {max_services!r}")
        self.search_limit = search_limit
        self.max_services = max_services
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
        unique = sorted(set(names))
        if len(unique) > self.max_services:
            raise BackendResponseError(
                f"Jaeger at {self._http.base} lists {len(unique)} services, more than "
                f"max_services={self.max_services} to search one by one; pass service= (or "
                "trace_id=), or raise max_services",
                url=url,
                status=200,
            )
        return unique

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
        _checkpoint_after(checkpoint, where)
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
