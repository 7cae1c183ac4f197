"""Reading the ``OTEL_REPLAY_*`` environment variables (defaults live in ``conventions``)."""

from __future__ import annotations

import logging
import os

_logger = logging.getLogger("otel_replay")
_warned: set[tuple[str, str]] = set()


def env_int(name: str, default: int) -> int:
    """The positive integer in ``$name``, else ``default``.

    An unset or empty variable gives the default silently; any other value that is not a
    positive integer gives the default with a warning (logged once per name and value).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value > 0:
        return value
    if (name, raw) not in _warned:
        _warned.add((name, raw))
        _logger.warning("%s=%r is not a positive integer; using the default %d", name, raw, default)
    return default
