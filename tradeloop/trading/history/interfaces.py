"""The history and digest contracts."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import CycleResult, TradeDigest, TradeHistoryEntry


class BaseHistoryRecorder(ABC):
    """Checkpoints every cycle.

    Failure contract: ``record`` stores the whole cycle or nothing.
    """

    @abstractmethod
    async def record(self, result: CycleResult) -> None: ...

    @abstractmethod
    async def get_cycles(self, limit: int | None = None) -> list[CycleResult]:
        """Most recent last."""

    @abstractmethod
    async def get_trades(self, limit: int | None = None) -> list[TradeHistoryEntry]:
        """Oldest first."""


class BaseDigestBuilder(ABC):
    """Summarises performance for the next cycle's context."""

    @abstractmethod
    async def update(self, result: CycleResult) -> TradeDigest: ...

    @abstractmethod
    async def build(self, ts: int | None = None) -> TradeDigest: ...
