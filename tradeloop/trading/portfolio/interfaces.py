"""The portfolio contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import FeatureVector, PortfolioView, TradeHistoryEntry, TxResult


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
