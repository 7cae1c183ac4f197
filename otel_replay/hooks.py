"""Deprecated: the names of ``otel_replay.hooks`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.restore import errors as _m0
from otel_replay.restore import hooks as _m1

__getattr__, __dir__ = moved(
    "otel_replay.hooks",
    {
        "HookError": _m0,
        "RestoreHook": _m1,
        "arun_restore_hook": _m1,
        "get_restore_hook": _m1,
        "hook_name": _m1,
        "register_restore_hook": _m1,
        "registered_restore_hooks": _m1,
        "restore_generic": _m1,
        "restore_hooks": _m1,
        "run_restore_hook": _m1,
        "unregister_restore_hook": _m1,
    },
)
