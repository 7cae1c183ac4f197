"""What ``source=`` may be: :func:`source_for` turns a
:class:`~otel_replay.capture.processor.ReplayProcessor`, a recording path, a trace-backend URL
or a :class:`~otel_replay.restore.sources.StepSource` into a source; :func:`source_from_url`
parses ``phoenix+http://host:port/?project=NAME`` and ``jaeger+http://host:port/`` URLs into
a :class:`~otel_replay.restore.phoenix.PhoenixSource` or
:class:`~otel_replay.restore.jaeger.JaegerSource`.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from otel_replay.capture.processor import ReplayProcessor
from otel_replay.model.stores import CheckpointStore
from otel_replay.restore.jaeger import JaegerSource
from otel_replay.restore.phoenix import PhoenixSource
from otel_replay.restore.sources import ProcessorSource, RecordingSource, StepSource

__all__ = ["source_for", "source_from_url"]


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


def source_for(obj: Any) -> StepSource:
    """A :class:`StepSource` for a ReplayProcessor, a recording path, a trace-backend URL
    (``phoenix+http://host:port/?project=p``, ``jaeger+http://host:port/``) or a source."""
    if isinstance(obj, ReplayProcessor):
        return ProcessorSource(obj)
    if isinstance(obj, str) and obj.startswith(("phoenix+", "jaeger+")):
        return source_from_url(obj)
    if isinstance(obj, (str, os.PathLike)):
        return RecordingSource(obj)
    if isinstance(obj, StepSource):
        return obj
    raise TypeError(
        "source must be a ReplayProcessor, a recording path or a StepSource, got "
        f"{type(obj).__qualname__}"
    )
