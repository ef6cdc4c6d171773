"""The portfolio contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from tradeloop.trading.models import (
    FeatureVector,
    LevelAdjustment,
    PortfolioView,
    TradeHistoryEntry,
    TradeInstruction,
    TxResult,
)


class BasePortfolioService(ABC):
    """Owns cash, positions and PnL of one strategy.

    Failure contract: ``apply_trades`` either applies every fill or raises ``AccountingError`` and
    leaves the state unchanged. A dust fill (``fills.is_dust_fill``: at or below the ledger's
    precision) moves nothing and is skipped, never raised; the coordinator records it as rejected.
    """

    @abstractmethod
    async def get_view(self) -> PortfolioView: ...

    @abstractmethod
    async def mark(self, market_features: list[FeatureVector], ts: int) -> PortfolioView:
        """Update mark prices from the cycle's snapshot features and return the new view."""

    @abstractmethod
    async def apply_trades(
        self, trades: list[TxResult], market_features: list[FeatureVector] | None = None
    ) -> list[TradeHistoryEntry]:
        """Apply fills; return the history entries (opens and closes) they produced."""

    @abstractmethod
    async def apply_position_notes(
        self,
        *,
        held_before: Mapping[str, float],
        instructions: Sequence[TradeInstruction],
        adjustments: Sequence[LevelAdjustment],
        rationale: str | None,
        decided_ts: int,
    ) -> list[LevelAdjustment]:
        """After a cycle's fills: give the positions it opened their entry rationale, and apply the
        stop and target adjustments that passed the guardrails; returns those applied."""
