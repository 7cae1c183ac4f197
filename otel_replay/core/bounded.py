"""Running a call that may hang (a downstream exporter's shutdown) with a time limit."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["run_bounded"]


def run_bounded(fn: Callable[[], object], timeout: float, name: str) -> bool:
    """Run ``fn`` in a daemon thread named ``name``; ``True`` if it returned within
    ``timeout`` seconds (else it is left running and ``False`` is returned)."""
    worker = threading.Thread(target=fn, name=name, daemon=True)
    worker.start()
    worker.join(max(0.0, timeout))
    return not worker.is_alive()
