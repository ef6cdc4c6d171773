"""Injected time: every stage asks a clock, so replays and tests control time; and the one
conversion of a decision interval into slots (``slot_step_ms``)."""

from __future__ import annotations

import math
import time
from typing import Protocol

from tradeloop.trading.errors import ConfigError


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


def slot_step_ms(interval_s: float) -> int:
    """A decision interval (seconds) as the step between slots (milliseconds): the one place an
    interval becomes time. Slots are the multiples of this step since the epoch. A step rounds to
    the millisecond, at least 1 (a replay sped up past 1 ms per slot); an interval that is not a
    positive, finite number of seconds is a ConfigError naming ``decide_interval``."""
    if not math.isfinite(interval_s) or interval_s <= 0:
        raise ConfigError(
            f"decide_interval: must be a positive number of seconds (got {interval_s!r})"
        )
    return max(1, round(interval_s * 1000))


def slot_at_or_after(ts_ms: int, interval_s: float) -> int:
    """The first slot at or after ``ts_ms`` (a replay's or a backtest's first cycle)."""
    step = slot_step_ms(interval_s)
    return -(-ts_ms // step) * step


def slot_at_or_before(ts_ms: int, interval_s: float) -> int:
    """The slot ``ts_ms`` falls in (a scheduled job's slot on the wall clock)."""
    step = slot_step_ms(interval_s)
    return ts_ms - ts_ms % step
