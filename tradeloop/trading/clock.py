"""Injected time: every stage asks a clock, so replays and tests control time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in milliseconds since the epoch, UTC."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SimulatedClock:
    """A clock that moves only when told to: replays, backtests and tests."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ts_ms: int) -> None:
        self._now = ts_ms

    def advance(self, seconds: float) -> int:
        self._now += int(seconds * 1000)
        return self._now
