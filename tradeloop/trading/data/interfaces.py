"""The market data contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from tradeloop.trading.models import Candle


class BaseMarketDataSource(ABC):
    """Where candles and snapshots come from.

    Failure contract: raise ``MarketDataUnavailable`` (a ``TemporaryError``) when the venue cannot be
    reached; return only candles that had closed at the source's current time.
    """

    @abstractmethod
    async def get_recent_candles(
        self, symbols: list[str], interval: str, lookback: int
    ) -> list[Candle]:
        """The last ``lookback`` closed candles of each symbol, oldest first per symbol."""

    @abstractmethod
    async def get_market_snapshot(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        """Per symbol: ``price`` and, where the venue has them, ``funding_rate``, ``open_interest``."""

    async def close(self) -> None:
        """Release connections. Default: nothing to release."""
