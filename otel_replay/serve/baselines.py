"""Where ``otel-replay serve`` finds the baseline of a restored run: the steps recorded after
its checkpoint, in a recording directory (an index of its files, where a lookup reads only the
files that are new or changed) or a trace backend (Phoenix, Jaeger), with found baselines
cached."""

from __future__ import annotations

import os
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from otel_replay.model.steps import Step
from otel_replay.restore.resolve import source_from_url
from otel_replay.restore.sources import StepSource
from otel_replay.serve.store import RecordingIndex

__all__ = ["Provenance", "BaselineFinder", "parse_baseline_source"]

_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Provenance:
    """The replay provenance of a restored run, as read from its spans."""

    session_id: str
    checkpoint_id: str
    run_id: str | None = None
    source_session_id: str | None = None
    source_trace_id: str | None = None


class _NoBaseline(LookupError):
    """No baseline for a restored run (the message says where it was looked for)."""


def parse_baseline_source(spec: str) -> str:
    """``phoenix:URL`` / ``jaeger:URL`` -> the ``phoenix+URL`` / ``jaeger+URL`` form of
    :func:`~otel_replay.restore.resolve.source_from_url`; :class:`ValueError` otherwise."""
    backend, sep, url = spec.partition(":")
    if (
        not sep
        or backend not in ("phoenix", "jaeger")
        or not url.startswith(("http://", "https://"))
    ):
        raise ValueError(
            f"baseline source {spec!r} is not phoenix:URL or jaeger:URL "
            "(e.g. phoenix:http://127.0.0.1:6006/?project=default, jaeger:http://127.0.0.1:16686/)"
        )
    url = f"{backend}+{url}"
    source_from_url(url)  # validates host, parameters
    return url


class BaselineFinder:
    """Looks baselines up by checkpoint id in ``directory`` and/or the backend ``source_url``
    (``phoenix+http://...`` / ``jaeger+http://...``). Not thread-safe: one lookup thread."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        source_url: str | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        if directory is None and source_url is None:
            raise ValueError("a BaselineFinder needs a directory or a backend source")
        self.directory = Path(directory) if directory is not None else None
        self.source_url = source_url
        self.timeout = timeout
        self._cache: OrderedDict[str, list[Step]] = OrderedDict()
        #: The recording directory's index (``None`` without a directory).
        self.index = RecordingIndex(self.directory) if self.directory is not None else None

    @property
    def warnings(self) -> list[str]:
        """Warnings of the directory's files as last read (torn tails of files being
        written, ...)."""
        return self.index.warnings if self.index is not None else []

    def describe(self) -> str:
        where = []
        if self.directory is not None:
            where.append(f"recording directory {self.directory}")
        if self.source_url is not None:
            where.append(self.source_url)
        return " and ".join(where)

    def cached(self, checkpoint_id: str) -> list[Step] | None:
        """The baseline steps of ``checkpoint_id`` if already looked up (safe from any
        thread: one dictionary read)."""
        return self._cache.get(checkpoint_id)

    def lookup(self, prov: Provenance) -> list[Step]:
        """The baseline steps of ``prov``'s checkpoint; :class:`_NoBaseline` saying why."""
        cached = self._cache.get(prov.checkpoint_id)
        if cached is not None:
            self._cache.move_to_end(prov.checkpoint_id)
            return cached
        problems: list[str] = []
        for source in self._sources(prov, problems):
            try:
                ckpt = source.find_checkpoint(prov.checkpoint_id)
                steps = source.steps_after(ckpt)
            except Exception as exc:  # not there, or the source failed: say which
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            self._cache[prov.checkpoint_id] = steps
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return steps
        raise _NoBaseline(
            f"no baseline for checkpoint {prov.checkpoint_id} (restored run "
            f"{prov.run_id or '?'}, session {prov.session_id}) in {self.describe()}: "
            + "; ".join(problems)
        )

    def _sources(self, prov: Provenance, problems: list[str]) -> list[StepSource]:
        out: list[StepSource] = []
        if self.directory is not None:
            try:
                out.append(self._directory_source())
            except Exception as exc:
                problems.append(f"reading {self.directory}: {type(exc).__name__}: {exc}")
        if self.source_url is not None:
            url = self.source_url
            if url.startswith("jaeger+") and prov.source_trace_id and "trace_id=" not in url:
                parts = urllib.parse.urlsplit(url)
                query = "&".join(q for q in (parts.query, f"trace_id={prov.source_trace_id}") if q)
                url = urllib.parse.urlunsplit(parts._replace(query=query))
            try:
                out.append(source_from_url(url, timeout=self.timeout))
            except Exception as exc:
                problems.append(f"{url}: {type(exc).__name__}: {exc}")
        return out

    def _directory_source(self) -> RecordingIndex:
        assert self.index is not None
        self.index.refresh()  # reads only the files that are new or changed
        return self.index
