"""Running an awaitable to completion from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["run_awaitable"]


def run_awaitable(awaitable: Awaitable[Any], *, what: str) -> Any:
    """Run ``awaitable`` to completion from sync code (no event loop may be running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        close = getattr(awaitable, "close", None)
        if callable(close):
            close()
        raise RuntimeError(f"{what} is async and an event loop is running: use the async API")

    async def _wait() -> Any:
        return await awaitable

    return asyncio.run(_wait())
