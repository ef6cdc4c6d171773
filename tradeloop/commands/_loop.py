"""Running a long-lived command's event loop so that the process can leave right after."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_then_leave[T](main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a new event loop and return its result without closing the loop.

    Closing the loop joins the default executor's threads, and a cycle abandoned at shutdown may
    have left one computing for seconds (the first indicator compile). The caller leaves with
    ``os._exit`` (``tradeloop.cli.entry``) once ``main`` has closed the store, so nothing is
    lost by not waiting for them.
    """
    runner = asyncio.Runner()
    return runner.run(main)
