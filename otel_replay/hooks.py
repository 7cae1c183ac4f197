"""Deprecated: the names of ``otel_replay.hooks`` moved (see docs/architecture.md)."""

from otel_replay._compat import moved
from otel_replay.restore import hooks as _m0

__getattr__, __dir__ = moved(
    "otel_replay.hooks",
    {
        "HookError": _m0,
        "RestoreHook": _m0,
        "arun_restore_hook": _m0,
        "get_restore_hook": _m0,
        "hook_name": _m0,
        "register_restore_hook": _m0,
        "registered_restore_hooks": _m0,
        "restore_generic": _m0,
        "restore_hooks": _m0,
        "run_restore_hook": _m0,
        "unregister_restore_hook": _m0,
    },
)
