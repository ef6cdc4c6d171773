"""The history recorder backed by the store: each cycle, its children and the after-cycle ledger
in one transaction (see ``CycleStore.insert``)."""

from __future__ import annotations

from tradeloop.store.cycles import CycleStore
from tradeloop.trading.history.interfaces import BaseHistoryRecorder
from tradeloop.trading.models import CycleResult, TradeHistoryEntry
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService


class SqliteHistoryRecorder(BaseHistoryRecorder):
    def __init__(
        self, cycles: CycleStore, strategy_id: str, portfolio: InMemoryPortfolioService
    ) -> None:
        self._cycles = cycles
        self._strategy_id = strategy_id
        self._portfolio = portfolio
        self.consecutive_failures = 0
        """As stored with the latest cycle this recorder wrote."""

    async def record(self, result: CycleResult) -> None:
        """A decision cycle (it went through the composer); raises ``SlotTaken`` for a used slot."""
        self.consecutive_failures = await self._cycles.insert(
            result, kind="decision", ledger=self._portfolio.ledger
        )

    async def record_failure(self, result: CycleResult) -> None:
        """A cycle that did not decide (an error, a missed slot): not folded into the digest."""
        self.consecutive_failures = await self._cycles.insert(
            result, kind="failure", ledger=self._portfolio.ledger
        )

    async def count(self) -> int:
        """How many cycles of this strategy are stored."""
        return await self._cycles.count(self._strategy_id)

    async def get_cycles(self, limit: int | None = None) -> list[CycleResult]:
        ids = await self._cycles.compose_ids(self._strategy_id, limit)
        found = [await self._cycles.get(compose_id) for compose_id in ids]
        return [result for result in found if result is not None]

    async def get_trades(self, limit: int | None = None) -> list[TradeHistoryEntry]:
        return await self._cycles.trades(self._strategy_id, limit)
