"""The feature computation contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import Candle, FeaturesPipelineResult, FeatureVector


class BaseFeaturesPipeline(ABC):
    """Turns market data into the ``FeatureVector``s one cycle decides on.

    Prices: marks, guardrails and paper fills read a symbol's current price only from a vector with
    ``meta={"group_by_key": "market_snapshot"}`` and a positive ``values["price"]`` (what
    ``MarketSnapshotFeatureComputer`` makes from ``get_market_snapshot``). A pipeline may return
    indicator vectors only: the coordinator then adds snapshot vectors for the symbols left without
    one from the runtime's market data source (``Components.market_data``), if it has one; with
    neither, every order for such a symbol is dropped with "no current price for ...".

    Failure contract: data outages propagate as ``TemporaryError``; a symbol with too little history
    yields a vector with fewer keys, never NaN values.
    """

    @abstractmethod
    async def build(self) -> FeaturesPipelineResult: ...

    async def close(self) -> None:
        """Release the market data source. Default: nothing to release."""


class CandleBasedFeatureComputer(ABC):
    @abstractmethod
    def compute_features(self, candles: list[Candle]) -> list[FeatureVector]: ...
