"""The feature computation contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tradeloop.trading.models import Candle, FeaturesPipelineResult, FeatureVector


class BaseFeaturesPipeline(ABC):
    """Turns market data into the ``FeatureVector``s one cycle decides on.

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
