"""The portfolio service backed by the store: the exact ledger lives in memory and is persisted
with every cycle (``SqliteHistoryRecorder`` writes it in the cycle's transaction); ``load`` and
``reload`` restore the latest stored ledger, so a restart or a failed commit never diverges."""

from __future__ import annotations

import time

from tradeloop.store.cycles import CycleStore
from tradeloop.trading.models import UserRequest
from tradeloop.trading.portfolio.in_memory import InMemoryPortfolioService


class SqlitePortfolioService(InMemoryPortfolioService):
    def __init__(
        self,
        cycles: CycleStore,
        strategy_id: str,
        request: UserRequest,
        *,
        opened_ts: int | None = None,
    ) -> None:
        """``opened_ts``: when the account was opened (the strategy's creation; default now),
        the time of its view until a cycle marks it."""
        self._opened_ts = time.time_ns() // 1_000_000 if opened_ts is None else opened_ts
        super().__init__(strategy_id, request, ts=self._opened_ts)
        self._cycles = cycles
        self._fresh = self.ledger

    @classmethod
    async def load(
        cls,
        cycles: CycleStore,
        strategy_id: str,
        request: UserRequest,
        *,
        opened_ts: int | None = None,
    ) -> SqlitePortfolioService:
        service = cls(cycles, strategy_id, request, opened_ts=opened_ts)
        await service.reload()
        return service

    async def reload(self) -> None:
        """Drop whatever is in memory and take the latest stored ledger (or a fresh account)."""
        stored = await self._cycles.latest_ledger(self.strategy_id)
        ledger, ts = stored or (self._fresh, self._opened_ts)
        self.restore(ledger, ts or self._opened_ts)  # ts 0: a cycle stored before it was fixed
