"""The errors of restoring: :class:`HookError` records, :class:`RestoreError` and
:class:`DriftTrackingError`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HookError", "RestoreError", "DriftTrackingError"]


@dataclass(frozen=True)
class HookError:
    """A restore hook that raised: which framework, which hook, and the exception (a record
    in ``RestoreResult.hook_errors``, not an exception itself)."""

    framework: str
    hook: str
    exception: BaseException

    def __str__(self) -> str:
        return (
            f"restore hook {self.hook} for framework {self.framework!r} failed: "
            f"{type(self.exception).__name__}: {self.exception}"
        )


class RestoreError(RuntimeError):
    """Raised by :meth:`~otel_replay.restore.api.RestoreResult.raise_for_hook_errors` when a
    restore hook failed; ``errors`` lists the failed hooks."""

    def __init__(self, errors: list[HookError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class DriftTrackingError(RuntimeError):
    """A tracked run cannot be compared with its baseline: no ``DriftProcessor`` is active
    (raised by ``restore(..., track_drift=True)``), or none saw the run's spans (raised when
    ``RestoreResult.report`` is read after the run ended)."""
