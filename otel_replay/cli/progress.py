"""A progress bar on stderr for long command work, phase by phase (loading each file,
normalizing, aligning, comparing, rendering).

Shown when stderr is a terminal (redrawn in place), or on any stream with ``--progress`` (one
line per update); never with ``--quiet``. Redraws are throttled by the clock, so a phase of
a million updates costs a few writes; the start and end of every phase are always drawn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, TypeVar, overload

__all__ = ["Progress", "CountingSteps", "progress_enabled", "file_progress"]

T = TypeVar("T")
_WIDTH = 30


def progress_enabled(stream: IO[str], *, quiet: bool, forced: bool) -> bool:
    """``--quiet`` off, ``--progress`` on, else on when ``stream`` is a terminal."""
    if quiet:
        return False
    if forced:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """Draws ``[####....] 40% PHASE DONE/TOTAL UNIT 1.2s`` on ``stream``.

    ``clock`` gives seconds (``time.monotonic``); ``interval`` is the least time between two
    redraws within a phase (default 0.1 s on a terminal, 1 s for line output).
    """

    def __init__(
        self,
        stream: IO[str],
        enabled: bool,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = None,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.clock = clock
        try:
            self.tty = bool(stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.tty = False
        self.interval = interval if interval is not None else (0.1 if self.tty else 1.0)
        self.t0 = clock()
        self.name = ""
        self.unit = ""
        self.total = 0
        self.done_count = 0
        self._last = float("-inf")
        self._complete = False
        self._width = 0  # of the line drawn in place

    def phase(self, name: str, total: int, unit: str = "") -> None:
        """Start phase ``name`` of ``total`` units (drawn at 0)."""
        self.name, self.total, self.unit, self.done_count = name, max(0, total), unit, 0
        self._complete = False
        self._draw()

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` units of the phase are done (drawn when the interval has passed or the
        phase is complete)."""
        if total is not None:
            self.total = max(0, total)
        self.done_count = done
        if not self.enabled:
            return
        if done >= self.total:
            if not self._complete:
                self._draw()
                self._complete = True
        elif self.clock() - self._last >= self.interval:
            self._draw()

    def finish(self) -> None:
        """The work is done: a terminal line is cleared."""
        if self.enabled and self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _draw(self) -> None:
        if not self.enabled:
            return
        now = self.clock()
        self._last = now
        total, done = self.total, min(self.done_count, self.total)
        filled = _WIDTH * done // total if total else _WIDTH
        pct = 100 * done // total if total else 100
        unit = f" {self.unit}" if self.unit else ""
        line = (
            f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {pct:3d}% {self.name} "
            f"{_amount(done, self.unit)}/{_amount(total, self.unit)}{unit} ({now - self.t0:.1f}s)"
        )
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def file_progress(progress: Progress, role: str = "") -> Callable[[str, int, int], None]:
    """A ``load_recording(progress=)`` callback: one ``loading [ROLE] FILE`` phase per file,
    in MB."""
    current = [""]
    what = f"loading {role} " if role else "loading "

    def loading(file: str, done: int, total: int) -> None:
        if file != current[0]:
            current[0] = file
            progress.phase(what + os.path.basename(file), total, "MB")
        progress.update(done, total)

    return loading


def _amount(n: int, unit: str) -> str:
    return f"{n / 1e6:.1f}" if unit == "MB" else str(n)


class CountingSteps(Sequence[T]):
    """A sequence whose iteration reports to a :class:`Progress` (``compare()`` iterates each
    run once to prepare it); indexing and ``len()`` are the wrapped sequence's.

    ``start`` is added to the count (the second run continues the first's phase);
    ``then`` is called when the iteration ends (the next phase starts).
    """

    def __init__(
        self,
        items: Sequence[T],
        progress: Progress,
        *,
        start: int = 0,
        every: int = 4096,
        then: Callable[[], None] | None = None,
    ) -> None:
        self.items = items
        self.progress = progress
        self.start = start
        self.every = every
        self.then = then
        self._counted = False

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    def __iter__(self) -> Iterator[T]:
        if self._counted:  # reported once: later passes are plain
            yield from self.items
            return
        self._counted = True
        items, every, progress, start = self.items, self.every, self.progress, self.start
        for at in range(0, len(items), every):
            yield from items[at : at + every]
            progress.update(start + min(at + every, len(items)))
        if self.then is not None:
            self.then()
