"""History recorder that keeps cycles and trades in memory (tests, embedding, backtests)."""

from __future__ import annotations

from tradeloop.trading.history.interfaces import BaseHistoryRecorder
from tradeloop.trading.models import CycleResult, TradeHistoryEntry


class InMemoryHistoryRecorder(BaseHistoryRecorder):
    def __init__(self, keep_cycles: int | None = None) -> None:
        self._cycles: list[CycleResult] = []
        self._trades: list[TradeHistoryEntry] = []
        self._keep = keep_cycles

    async def record(self, result: CycleResult) -> None:
        self._cycles.append(result)
        self._trades.extend(result.trades)
        if self._keep is not None and len(self._cycles) > self._keep:
            del self._cycles[: len(self._cycles) - self._keep]

    async def get_cycles(self, limit: int | None = None) -> list[CycleResult]:
        return list(self._cycles if limit is None else self._cycles[-limit:])

    async def get_trades(self, limit: int | None = None) -> list[TradeHistoryEntry]:
        return list(self._trades if limit is None else self._trades[-limit:])
