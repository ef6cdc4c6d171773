"""The portfolio service backed by the store: the exact ledger lives in memory and is persisted
with every cycle (``SqliteHistoryRecorder`` writes it in the cycle's transaction); ``load`` and
``reload`` restore the latest stored ledger, so a restart or a failed commit never diverges."""

from __future__ import annotations

from tradeloop.store.cycles import CycleRepository
from tradeloop.trading.models import UserRequest
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService


class SqlitePortfolioService(InMemoryPortfolioService):
    def __init__(self, cycles: CycleRepository, strategy_id: str, request: UserRequest) -> None:
        super().__init__(strategy_id, request)
        self._cycles = cycles
        self._fresh = self.ledger

    @classmethod
    async def load(
        cls, cycles: CycleRepository, strategy_id: str, request: UserRequest
    ) -> SqlitePortfolioService:
        service = cls(cycles, strategy_id, request)
        await service.reload()
        return service

    async def reload(self) -> None:
        """Drop whatever is in memory and take the latest stored ledger (or a fresh account)."""
        stored = await self._cycles.latest_ledger(self.strategy_id)
        self.restore(*(stored or (self._fresh, 0)))
