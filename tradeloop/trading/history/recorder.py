"""History recorder that keeps cycles and trades in memory (tests, embedding, backtests)."""

from __future__ import annotations

from collections import deque

from tradeloop.trading.history.interfaces import BaseHistoryRecorder
from tradeloop.trading.models import CycleResult, TradeHistoryEntry


class InMemoryHistoryRecorder(BaseHistoryRecorder):
    def __init__(self, keep_cycles: int | None = None) -> None:
        """``keep_cycles``: keep only that many of the latest cycles (every trade is kept)."""
        self._cycles: deque[CycleResult] = deque(maxlen=keep_cycles)
        self._trades: list[TradeHistoryEntry] = []

    async def record(self, result: CycleResult) -> None:
        self._cycles.append(result)
        if result.trades:
            self._trades.extend(result.trades)

    async def get_cycles(self, limit: int | None = None) -> list[CycleResult]:
        cycles = list(self._cycles)
        return cycles if limit is None else cycles[-limit:]

    async def get_trades(self, limit: int | None = None) -> list[TradeHistoryEntry]:
        return list(self._trades if limit is None else self._trades[-limit:])
